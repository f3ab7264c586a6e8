"""Form validation and personal-data redaction, both driven by the forms' JSON Schemas."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any

import re2
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend

from .errors import Invalid

logger = logging.getLogger(__name__)

_FORMAT_CHECKER = FormatChecker()
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a pattern re2 refuses is reported as a form error, not on stderr


# --- Patterns: matched in linear time ---------------------------------------------------------------
# A form's ``pattern`` runs against text anyone may submit. Python's ``re`` backtracks: ``^(a+)+$``
# against 26 × "a" + "!" takes seconds. RE2 matches in time linear in the text, for every pattern;
# deploy also refuses nested quantifiers (``service/engine/specs.py``), so a form says what it means.
@lru_cache(maxsize=1024)
def _pattern_regex(pattern: str) -> Any:
    return re2.compile(pattern, _RE2_OPTIONS)


def pattern_error(pattern: str) -> str | None:
    """Why RE2 cannot match ``pattern`` (backreferences, lookaround, bad syntax), or None."""
    try:
        _pattern_regex(pattern)
    except re2.error as err:
        return str(err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else err)
    return None


def pattern_search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` matches somewhere in ``text`` (JSON Schema's ``pattern``), in linear time.
    A pattern RE2 cannot compile (deploy refuses those) matches nothing."""
    try:
        return _pattern_regex(pattern).search(text) is not None
    except re2.error:
        logger.warning("form pattern %r cannot be matched in linear time; the field is refused", pattern)
        return False


def _pattern(validator: Validator, pattern: str, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not pattern_search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Validator, patterns: Mapping[str, Any], instance: Any,
                        schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if pattern_search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Validator, additional: Any, instance: Any,
                           schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    extras = _undeclared(schema, instance)
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        yield ValidationError(f"Additional properties are not allowed ({', '.join(map(repr, extras))} unexpected)")


_FormValidator = extend(Draft202012Validator, {
    "pattern": _pattern, "patternProperties": _pattern_properties, "additionalProperties": _additional_properties})


@lru_cache(maxsize=512)
def _validator(schema_json: str) -> Draft202012Validator:
    import json

    validator: Draft202012Validator = _FormValidator(json.loads(schema_json), format_checker=_FORMAT_CHECKER)
    return validator


def validate_form(schema: Mapping[str, Any] | None, data: Any, case: Mapping[str, Any] | None = None,
                  case_titles: Mapping[str, str] | None = None) -> None:
    """Raise ``Invalid`` listing every field that fails the form, with the reason.

    Forms are closed (``additionalProperties: false``): a field the form does not declare is
    refused under its own path (``brukare.0.x``), so nothing rides along into the case data.
    A top-level ``x-after`` naming a field the form does not carry is checked against ``case``
    (the case data; ``case_titles`` names its fields), e.g. a stop lifted before it began.
    """
    import json

    if not isinstance(data, dict):
        raise Invalid("form data must be a JSON object", errors={"data": ["must be an object"]})
    if schema is None:
        return
    validator = _validator(json.dumps(schema, sort_keys=True))
    errors: dict[str, list[str]] = {}
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        for field in _fields(error):
            errors.setdefault(field, []).append(_reason(error))
    _check_order(schema, data, "", errors)  # beside the schema's own errors: one round of corrections
    if case:
        _check_order_against_case(schema, data, case, case_titles or {}, errors)
    if errors:
        raise Invalid("the form has errors", errors=errors)


def _check_order(schema: Mapping[str, Any], value: Any, prefix: str, errors: dict[str, list[str]]) -> None:
    """``"x-after": "<field>"``: a period's end may not come before its start (dates or date-times,
    compared by their date when one of them has no time)."""
    if isinstance(value, list):
        items = schema.get("items")
        for index, item in enumerate(value):
            if isinstance(items, Mapping):
                _check_order(items, item, f"{prefix}{index}.", errors)
        return
    if not isinstance(value, Mapping):
        return
    props = schema.get("properties") or {}
    for name, field in props.items():
        if not isinstance(field, Mapping) or name not in value:
            continue
        _check_order(field, value[name], f"{prefix}{name}.", errors)
        start = field.get("x-after")
        if isinstance(start, str) and isinstance(value.get(start), str) and isinstance(value[name], str):
            first, then = value[start], value[name]
            if len(first) != len(then):
                first, then = first[:10], then[:10]
            if then < first:
                title = str((props.get(start) or {}).get("title") or start).lower()
                errors.setdefault(f"{prefix}{name}", []).append(f"får inte vara före {title}")


def _check_order_against_case(schema: Mapping[str, Any], data: Mapping[str, Any], case: Mapping[str, Any],
                              titles: Mapping[str, str], errors: dict[str, list[str]]) -> None:
    for name, field in (schema.get("properties") or {}).items():
        start = field.get("x-after") if isinstance(field, Mapping) else None
        if not isinstance(start, str) or start in (schema.get("properties") or {}) or name in errors:
            continue
        first, then = case.get(start), data.get(name)
        if isinstance(first, str) and isinstance(then, str):
            if len(first) != len(then):
                first, then = first[:10], then[:10]
            if then < first:
                errors.setdefault(name, []).append(f"får inte vara före {titles.get(start, start).lower()} ({first})")


def _fields(error: ValidationError) -> list[str]:
    """The dotted paths of the fields an error is about; "data" for the form as a whole."""
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        # One error per missing property; its message names it ("'x' is a required property").
        absent = [f for f in error.validator_value if f not in error.instance]
        missing = next((f for f in absent if error.message.startswith(repr(f))), absent[0] if absent else None)
        if missing is not None:
            path.append(str(missing))
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        # One error for all undeclared fields of an object: name each one where it was sent.
        undeclared = _undeclared(error.schema, error.instance)
        if undeclared:
            return [".".join([*path, name]) for name in undeclared]
    return [".".join(path) or "data"]


def _undeclared(schema: Mapping[str, Any], instance: Mapping[str, Any]) -> list[str]:
    """The keys of ``instance`` that ``schema`` neither lists in ``properties`` nor matches by pattern."""
    declared = schema.get("properties") or {}
    patterns = list(schema.get("patternProperties") or {})
    return [str(key) for key in instance
            if key not in declared and not any(pattern_search(pattern, str(key)) for pattern in patterns)]


_FORMATS = {"date": "ett datum (ÅÅÅÅ-MM-DD)", "date-time": "en tidpunkt med tidszon (ÅÅÅÅ-MM-DDTTT:MM+01:00)",
            "email": "en e-postadress", "time": "en tid (TT:MM)"}


def enum_labels(schema: Mapping[str, Any]) -> dict[Any, str]:
    """A field's Swedish choice labels: ``x-enum-labels`` as a mapping, or a list parallel to ``enum``."""
    labels = schema.get("x-enum-labels")
    if isinstance(labels, dict):
        return {k: str(v) for k, v in labels.items()}
    if isinstance(labels, list):
        return {v: str(label) for v, label in zip(schema.get("enum") or [], labels, strict=False)}
    return {}


def _reason(error: Any) -> str:
    """The reason a field failed, in Swedish, for the person filling in the form."""
    value = error.validator_value
    match error.validator:
        case "required":
            return "måste fyllas i"
        case "enum":
            return "måste vara ett av: " + ", ".join(enum_labels(error.schema).get(v, str(v)) for v in value)
        case "const":
            return f"måste vara {value!r}" if not isinstance(value, bool) else "måste bekräftas"
        case "type":
            return "har fel typ"
        case "format":
            return f"måste vara {_FORMATS.get(value, value)}"
        case "minLength":
            return "måste fyllas i" if value == 1 else f"måste ha minst {value} tecken"
        case "maxLength":
            return f"får ha högst {value} tecken"
        case "minimum":
            return f"måste vara minst {value}"
        case "maximum":
            return f"får vara högst {value}"
        case "minItems":
            return f"måste ha minst {value} val"
        case "maxItems":
            return f"får ha högst {value} val"
        case "contains":
            return "saknar ett val som måste finnas med"
        case "uniqueItems":
            return "får inte innehålla dubbletter"
        case "pattern":
            return "har fel format"
        case "additionalProperties":
            return "fältet finns inte i formuläret"
    return str(error.message)


def read_only_changes(schema: Mapping[str, Any] | None, data: Mapping[str, Any],
                      current: Mapping[str, Any]) -> dict[str, list[str]]:
    """Fields a form shows read-only (``readOnly``) that the submission tries to change.

    A read-only field shows the case to the person filling in the form; sending it back with
    another value would let them overwrite what someone else recorded (a provider rewriting the
    complaint it answers). Sending it back unchanged is harmless.
    """
    errors: dict[str, list[str]] = {}
    for name, field in ((schema or {}).get("properties") or {}).items():
        if isinstance(field, Mapping) and field.get("readOnly") and name in data and data[name] != current.get(name):
            errors[name] = ["fältet visas bara och kan inte ändras"]
    return errors


def personal_fields(schemas: Iterable[Mapping[str, Any]]) -> set[str]:
    """Names of every field (at any depth) marked ``x-personal-data`` in the given schemas."""
    return marked_fields(schemas, "x-personal-data")


def responsible_fields(schemas: Iterable[Mapping[str, Any]]) -> set[str]:
    """Names of every field (at any depth) marked ``x-responsible``: it holds the username of someone
    responsible for the case (e.g. the client's socialsekreterare), who therefore sees it."""
    return marked_fields(schemas, "x-responsible")


def named_values(data: Any, names: set[str]) -> set[str]:
    """Every string value of a field called one of ``names``, at any depth of ``data``."""
    found: set[str] = set()
    if isinstance(data, Mapping):
        for key, value in data.items():
            if key in names and isinstance(value, str) and value:
                found.add(value)
            else:
                found |= named_values(value, names)
    elif isinstance(data, list):
        for item in data:
            found |= named_values(item, names)
    return found


def marked_fields(schemas: Iterable[Mapping[str, Any]], marker: str) -> set[str]:
    """Names of every field (at any depth) whose schema carries ``marker`` (an ``x-`` keyword)."""
    found: set[str] = set()

    def walk(node: Any, name: str | None) -> None:
        if isinstance(node, dict):
            if node.get(marker) and name:
                found.add(name)
            for key, child in (node.get("properties") or {}).items():
                walk(child, key)
            for key in ("items", "then", "else", "if", "additionalProperties"):
                walk(node.get(key), name if key == "items" else None)
            for key in ("allOf", "anyOf", "oneOf"):
                for child in node.get(key) or []:
                    walk(child, None)
            for child in (node.get("$defs") or {}).values():
                walk(child, None)

    for schema in schemas:
        walk(schema, None)
    return found


def redact(data: Any, personal: set[str]) -> Any:
    """A copy of ``data`` without personal fields and without free text (de-identified projection).

    Kept: numbers, booleans, dates and values from closed sets are what de-identified statistics
    need; any string that is not a short code is treated as free text and removed, since free text
    about a case routinely names the person.
    """
    if isinstance(data, dict):
        return {k: redact(v, personal) for k, v in data.items() if k not in personal and k != "case_ref"
                and not _is_free_text(v)}
    if isinstance(data, list):
        return [redact(v, personal) for v in data if not _is_free_text(v)]
    return data


def _is_free_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    is_code = value.replace("_", "").replace("-", "").isalnum() or _looks_like_date(value)
    return not (len(value) <= 40 and is_code)


def _looks_like_date(value: str) -> bool:
    return len(value) >= 10 and value[4] == "-" and value[:4].isdigit()
