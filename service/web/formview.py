"""Turn a form's JSON Schema + UI schema into fields a template renders as accessible HTML.

The same two files drive the API (returned to clients), server-side validation
(``service.forms.validate_form``) and these pages. Each field knows its dotted path
(``samtycke.giltig_till``, ``informerade_utforare.0.kanal``) — the key ``validate_form`` reports
errors under — so every error is shown next to its field. Fields that a schema requires only under
a condition (``allOf: [{if: …, then: {required: […]}}]``) carry that condition, so the page can
show them only when it holds (``static/forms.js``); without JavaScript every field is shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _

from service.clock import STOCKHOLM
from service.forms import enum_labels

from .i18n import when
from .layout import organisation_name, person_name
from .messages import field_message

MAX_ROWS = 50


@dataclass
class Field:
    """One thing to render: an input, a group of inputs (object) or a repeatable group (array)."""

    name: str
    kind: str
    label: str
    hint: str = ""
    required: bool = False
    value: Any = None
    errors: list[str] = field(default_factory=list)
    options: list[tuple[str, str]] = field(default_factory=list)
    children: list[Field] = field(default_factory=list)
    rows: list[list[Field]] = field(default_factory=list)
    show_when: list[dict[str, list[str]]] = field(default_factory=list)
    max_length: int | None = None
    text_rows: int = 4
    display: str = ""

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-")

    @property
    def input_value(self) -> str:
        """The value as an HTML input holds it."""
        if self.value is None:
            return ""
        if self.kind == "datetime":
            return _local_input(self.value)
        if self.kind == "lines" and isinstance(self.value, list):
            return "\n".join(str(v) for v in self.value)
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        return str(self.value)

    def is_checked(self, option: str) -> bool:
        if isinstance(self.value, list):
            return option in [choice_value(v) for v in self.value]
        return self.value is not None and choice_value(self.value) == option


@dataclass
class FormView:
    fields: list[Field]
    title: str
    description: str
    summary: list[tuple[str, str, str]]  # (field id, label, message) for the error summary


def choice_value(value: Any) -> str:
    """How a JSON value appears as an HTML option value (booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_form(schema: Mapping[str, Any] | None, ui: Mapping[str, Any] | None, values: Mapping[str, Any] | None,
               errors: Mapping[str, list[str]] | None = None) -> FormView:
    """The fields of ``schema`` filled with ``values``, each with its (Swedish) error messages."""
    schema = schema or {}
    errors = dict(errors or {})
    fields = build_fields(schema, ui or {}, values or {}, errors, "")
    summary: list[tuple[str, str, str]] = []
    placed: set[str] = set()
    _collect(fields, summary, placed)
    for path, messages in errors.items():
        if path not in placed:
            summary.extend(("", path if path != "data" else "", field_message(m)) for m in messages)
    return FormView(fields, str(schema.get("title", "")), str(schema.get("description", "")), summary)


def _collect(fields: list[Field], summary: list[tuple[str, str, str]], placed: set[str]) -> None:
    for f in fields:
        placed.add(f.name)
        summary.extend((f.id, f.label, message) for message in f.errors)
        _collect(f.children, summary, placed)
        for row in f.rows:
            _collect(row, summary, placed)


def build_fields(schema: Mapping[str, Any], ui: Mapping[str, Any], values: Mapping[str, Any],
                 errors: Mapping[str, list[str]], prefix: str) -> list[Field]:
    properties: Mapping[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    shown_when = conditions(schema)
    result = []
    for name in ordered(properties, ui):
        sub_ui = ui.get(name) if isinstance(ui.get(name), dict) else {}
        value = values.get(name) if isinstance(values, Mapping) else None
        item = build_field(properties[name], sub_ui, value, errors, prefix + name)
        item.required = name in required or name in shown_when
        item.show_when = [{prefix + prop: allowed for prop, allowed in alt.items()} for alt in shown_when.get(name, [])]
        result.append(item)
    return result


def ordered(properties: Mapping[str, Any], ui: Mapping[str, Any]) -> list[str]:
    """Property names in ``ui:order`` (``*`` standing for the rest), then any not listed."""
    order = [n for n in (ui.get("ui:order") or []) if n == "*" or n in properties]
    rest = [n for n in properties if n not in order]
    if "*" in order:
        index = order.index("*")
        return order[:index] + rest + order[index + 1:]
    return order + rest


def build_field(schema: Mapping[str, Any], ui: Mapping[str, Any], value: Any, errors: Mapping[str, list[str]],
                path: str) -> Field:
    kind = _kind(schema, ui)
    hint = " ".join(filter(None, [str(schema.get("description", "")), str(ui.get("ui:help", ""))]))
    item = Field(name=path, kind=kind, label=str(schema.get("title") or path.rsplit(".", 1)[-1]), hint=hint,
                 value=value, errors=[field_message(m, schema) for m in errors.get(path, [])],
                 max_length=schema.get("maxLength"),
                 text_rows=int((ui.get("ui:options") or {}).get("rows", 4)))
    if value is None and "default" in schema:
        item.value = schema["default"]
    if kind in ("radio", "select", "checkboxes", "readonly"):
        item.options = options_of(schema.get("items", {}) if schema.get("type") == "array" else schema)
    if kind == "boolean":
        item.options = [("true", _("Ja")), ("false", _("Nej"))]
    if kind == "readonly":
        item.display = display_value(schema, value)
    elif kind == "group":
        item.children = build_fields(schema, ui, value if isinstance(value, Mapping) else {}, errors, path + ".")
    elif kind == "list":
        rows = value if isinstance(value, list) else []
        item.rows = [build_fields(schema["items"], ui.get("items") or {}, row if isinstance(row, Mapping) else {},
                                  errors, f"{path}.{index}.") for index, row in enumerate(rows[:MAX_ROWS])]
        if not item.rows:
            item.rows = [build_fields(schema["items"], ui.get("items") or {}, {}, errors, f"{path}.0.")]
    return item


def _kind(schema: Mapping[str, Any], ui: Mapping[str, Any]) -> str:
    widget = ui.get("ui:widget")
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if schema.get("readOnly") or ui.get("ui:readonly"):
        return "readonly"
    if kind == "object":
        return "group"
    if kind == "array":
        items = schema.get("items") or {}
        if "enum" in items:
            return "checkboxes"
        return "list" if items.get("type") == "object" else "lines"
    if kind == "boolean":
        return "checkbox" if schema.get("const") is True or widget == "checkbox" else "boolean"
    if "enum" in schema:
        return "radio" if widget == "radio" or (widget is None and len(schema["enum"]) <= 4) else "select"
    if kind == "integer":
        return "integer"
    if kind == "number":
        return "number"
    if schema.get("format") == "date":
        return "date"
    if schema.get("format") == "date-time":
        return "datetime"
    if widget == "textarea" or (schema.get("maxLength") or 0) > 400:
        return "textarea"
    return "text"


def options_of(schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    labels = enum_labels(schema)  # a list parallel to ``enum``, or a mapping value → label
    return [(choice_value(v), labels.get(v, str(v))) for v in schema.get("enum") or []]


def display_value(schema: Mapping[str, Any], value: Any) -> str:
    """A stored value as a person reads it: enum labels, Ja/Nej, dates and times as ``when`` writes
    them (``1 dec. 2026``, ``7 dec. 2026 08:30`` in Stockholm), organisations and people by name,
    lists joined."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return _("Ja") if value else _("Nej")
    if isinstance(value, list):
        item_schema = schema.get("items") or {}
        return ", ".join(display_value(item_schema, v) for v in value) or "–"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {display_value({}, v)}" for k, v in value.items())
    labels = dict(options_of(schema))
    if choice_value(value) in labels:
        return labels[choice_value(value)]
    if isinstance(value, str):  # keys, usernames and ISO moments as people read them
        if schema.get("x-organisation"):
            return organisation_name(value)
        if schema.get("x-person"):
            return person_name(value)
        if schema.get("format") == "date":
            return when(value, "date")
        if schema.get("format") == "date-time":
            return when(value)
    return str(value)


def conditions(schema: Mapping[str, Any]) -> dict[str, list[dict[str, list[str]]]]:
    """Fields required only when a simple condition holds → the alternatives that make it hold.

    A condition is simple when its ``if`` names properties with ``const`` or ``enum`` (and
    ``required``); anything richer is left to the server and the field is always shown.
    """
    required = set(schema.get("required") or [])
    entries = [e for e in (schema.get("allOf") or []) if isinstance(e, Mapping)]
    if "if" in schema:
        entries.append(schema)
    found: dict[str, list[dict[str, list[str]]]] = {}
    for entry in entries:
        condition, then = entry.get("if"), entry.get("then") or {}
        if not isinstance(condition, Mapping) or set(condition) - {"properties", "required"}:
            continue
        alternative: dict[str, list[str]] = {}
        for prop, rule in (condition.get("properties") or {}).items():
            if isinstance(rule, Mapping) and "const" in rule:
                alternative[prop] = [choice_value(rule["const"])]
            elif isinstance(rule, Mapping) and "enum" in rule:
                alternative[prop] = [choice_value(v) for v in rule["enum"]]
            else:
                alternative = {}
                break
        if not alternative:
            continue
        for name in then.get("required") or []:
            if name not in required:
                found.setdefault(name, []).append(alternative)
    return found


def _local_input(value: Any) -> str:
    """An ISO 8601 moment as a ``datetime-local`` input value, in Stockholm time."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(STOCKHOLM)
    return moment.strftime("%Y-%m-%dT%H:%M")
