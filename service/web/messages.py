"""Reasons from ``validate_form`` and the operations (English, for the API) as page text.

The API keeps its reasons in English for integrators; a case worker reads them in the page's
language. Known reasons are matched by shape; anything else is shown as it came.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from flask_babel import gettext as _

from service.forms import enum_labels

from .layout import person_name


def _type_name(kind: str) -> str:
    names = {"integer": _("ett heltal"), "number": _("ett tal"), "string": _("text"), "boolean": _("ja eller nej"),
             "array": _("en lista"), "object": _("en grupp av svar")}
    return names.get(kind, kind)


_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    # validate_form's reasons (service/forms.py, Swedish) as sentences in the page's language
    (re.compile(r"^måste fyllas i$"), lambda m: _("Fältet får inte vara tomt – skriv svaret här.")),
    (re.compile(r"^måste vara ett av: (.+)$"), lambda m: _("Välj ett av alternativen: %(choices)s.", choices=m[1])),
    (re.compile(r"^måste bekräftas$"), lambda m: _("Kryssa i rutan – det måste bekräftas för att gå vidare.")),
    (re.compile(r"^har fel typ$"), lambda m: _("Svaret har fel form: skriv siffror i sifferfält och välj bland "
                                                "alternativen där sådana finns.")),
    (re.compile(r"^måste vara ett datum"), lambda m: _("Skriv datumet som år-månad-dag, till exempel 2026-12-07.")),
    (re.compile(r"^måste vara en tidpunkt"), lambda m: _("Skriv datum och tid, till exempel 2026-12-07 08:30.")),
    (re.compile(r"^måste ha minst (\d+) tecken$"), lambda m: _("Minst %(n)s tecken.", n=m[1])),
    (re.compile(r"^får ha högst (\d+) tecken$"), lambda m: _("Högst %(n)s tecken.", n=m[1])),
    (re.compile(r"^måste ha minst (\d+) val$"), lambda m: _("Välj minst %(n)s.", n=m[1])),
    (re.compile(r"^får ha högst (\d+) val$"), lambda m: _("Välj högst %(n)s.", n=m[1])),
    (re.compile(r"^måste vara minst (\S+)$"), lambda m: _("Minst %(n)s.", n=m[1])),
    (re.compile(r"^får vara högst (\S+)$"), lambda m: _("Högst %(n)s.", n=m[1])),
    (re.compile(r"^får inte innehålla dubbletter$"), lambda m: _("Samma val förekommer flera gånger.")),
    (re.compile(r"^har fel format$"), lambda m: _("Formatet stämmer inte.")),
    (re.compile(r"^fältet finns inte i (formuläret|meddelandet)$"), lambda m: _("Okända fält skickades.")),
    (re.compile(r"^får inte vara före (.+)$"), lambda m: _("Får inte vara före %(start)s.", start=m[1])),
    (re.compile(r"^fältet visas bara och kan inte ändras$"), lambda m: _("Fältet visas bara och kan inte ändras.")),
    (re.compile(r"^måste vara '?(.*?)'?$"), lambda m: _("Måste vara %(value)s.", value=m[1])),
    # the same reasons as the API gave them before they were Swedish (and jsonschema's own)
    (re.compile(r"^is required$"), lambda m: _("Fältet får inte vara tomt – skriv svaret här.")),
    (re.compile(r"^must be one of "), lambda m: _("Välj ett av alternativen.")),
    (re.compile(r"^must be of type (\w+)"), lambda m: _("Ange %(what)s.", what=_type_name(m[1]))),
    (re.compile(r"is too short$"), lambda m: _("För kort – fyll i.")),
    (re.compile(r"is too long$"), lambda m: _("För långt.")),
    (re.compile(r"should be non-empty$"), lambda m: _("Välj eller fyll i minst ett.")),
    (re.compile(r"is not a 'date'$"), lambda m: _("Skriv datumet som år-månad-dag, till exempel 2026-12-07.")),
    (re.compile(r"is not a 'date-time'$"), lambda m: _("Skriv datum och tid, till exempel 2026-12-07 08:30.")),
    (re.compile(r"does not match "), lambda m: _("Formatet stämmer inte.")),
    (re.compile(r"^True was expected$"), lambda m: _("Kryssa i rutan – det måste bekräftas för att gå vidare.")),
    (re.compile(r"^False was expected$"), lambda m: _("Kan inte vara ja här.")),
    (re.compile(r"^'?(.*?)'? was expected$"), lambda m: _("Måste vara %(value)s.", value=m[1])),
    (re.compile(r"is less than the minimum of (\S+)$"), lambda m: _("Minst %(n)s.", n=m[1])),
    (re.compile(r"is greater than the maximum of (\S+)$"), lambda m: _("Högst %(n)s.", n=m[1])),
    (re.compile(r"has non-unique elements$"), lambda m: _("Samma val förekommer flera gånger.")),
    (re.compile(r"should not be valid under"), lambda m: _("Ska inte fyllas i med det här svaret.")),
    (re.compile(r"^Additional properties are not allowed"), lambda m: _("Okända fält skickades.")),
    # what the operations answer (service.operations), for the flash messages and the hand-over form
    (re.compile(r"^no active user with that name$"), lambda m: _("Det finns ingen aktiv användare med det namnet.")),
    (re.compile(r"^needs one of the roles (.+)$"), lambda m: _("Behöver en av rollerna %(roles)s.", roles=m[1])),
    (re.compile(r"^the task is already claimed by (\S+)$"), lambda m: _("Uppgiften är redan tagen av %(user)s.",
                                                                        user=person_name(m[1]))),
    (re.compile(r"^the task is already (completed|cancelled)$"), lambda m: _("Uppgiften är redan avslutad.")),
    (re.compile(r"^the instance is suspended$"), lambda m: _("Ärendet är pausat.")),
    (re.compile(r"^the instance is (completed|terminated)$"), lambda m: _("Ärendet är avslutat.")),
]


def _or_list(labels: list[str]) -> str:
    """``A, B eller C``."""
    return labels[0] if len(labels) == 1 else _("%(first)s eller %(last)s", first=", ".join(labels[:-1]),
                                                 last=labels[-1])


def _kind_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return str(kind or "string")


def _choices(schema: Mapping[str, Any]) -> list[str]:
    labels = enum_labels(schema)
    return [labels.get(v, str(v)) for v in schema.get("enum") or []]


def _example_format(schema: Mapping[str, Any]) -> str | None:
    """How the field's value is written, with an example, when its format or pattern says so."""
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return _("Skriv till exempel %(example)s.", example=examples[0])
    pattern = str(schema.get("pattern") or "")
    if schema.get("format") == "date":
        return _("Skriv datumet som år-månad-dag, till exempel 2026-12-07.")
    if schema.get("format") == "date-time" or pattern.startswith("^[0-9]{4}-[0-9]{2}-[0-9]{2}T"):
        return _("Skriv datum och tid, till exempel 2026-12-07 08:30.")
    if "[0-9]{6}" in pattern and "[0-9]{4}$" in pattern:
        return _("Skriv personnumret med tolv siffror och bindestreck, till exempel 19380512-1234.")
    if pattern == r"^[^\s]+$":
        return _("Skriv utan mellanslag.")
    if pattern == "^[A-Za-z0-9._@-]+$":
        return _("Använd bara a–z, siffror och tecknen . _ @ - (inga mellanslag eller å, ä, ö).")
    return None


def _missing(schema: Mapping[str, Any]) -> str:
    """What an empty required field needs, by the kind of answer it takes."""
    kind = _kind_of(schema)
    if kind == "boolean" and schema.get("const") is True:
        return _("Kryssa i rutan – det måste bekräftas för att gå vidare.")
    if kind == "boolean":
        return _("Välj Ja eller Nej.")
    choices = _choices(schema)
    if choices:
        return (_("Välj ett av alternativen: %(choices)s.", choices=_or_list(choices)) if len(choices) <= 5
                else _("Välj ett alternativ i listan."))
    if kind == "array":
        items = schema.get("items") or {}
        return (_("Välj minst ett av alternativen.") if isinstance(items, Mapping) and "enum" in items
                else _("Fyll i minst en rad."))
    if kind in ("integer", "number"):
        return _("Fyll i ett tal med siffror, till exempel 3.")
    example = _example_format(schema)
    if example:
        return _("Fältet får inte vara tomt. %(how)s", how=example)
    return _("Fältet får inte vara tomt – skriv svaret här.")


def _with_rule(reason: str, schema: Mapping[str, Any]) -> str | None:
    """The reason as the rule of this field says it: which choices, what format, with an example."""
    if reason in ("måste fyllas i", "is required") or reason.endswith("should be non-empty") or (
            reason.endswith("is too short") and schema.get("minLength") == 1):
        return _missing(schema)
    if reason in ("måste bekräftas", "True was expected"):
        return _missing({**schema, "type": "boolean", "const": True})
    if reason.startswith(("måste vara ett av: ", "must be one of ")) and _choices(schema):
        return _("Välj ett av alternativen: %(choices)s.", choices=_or_list(_choices(schema)))
    if reason == "har fel typ" or reason.startswith("must be of type") or " is not of type " in reason:
        kind = _kind_of(schema)
        if kind == "integer":
            return _("Skriv ett heltal med siffror, till exempel 3.")
        if kind == "number":
            return _("Skriv ett tal med siffror, till exempel 2,5.")
        return _missing(schema)
    if (reason.startswith(("måste vara ett datum", "måste vara en tidpunkt")) or reason == "har fel format"
            or reason.endswith(("is not a 'date'", "is not a 'date-time'")) or " does not match " in reason):
        example = _example_format(schema)
        return _("Formatet stämmer inte. %(how)s", how=example) if example else None
    return None


def field_message(reason: str, schema: Mapping[str, Any] | None = None) -> str:
    """The reason a field failed, in the page's language; with the field's ``schema``, saying the
    rule the answer must follow (which choices there are, how a date is written, an example)."""
    if schema:
        specific = _with_rule(reason, schema)
        if specific:
            return specific
    for pattern, message in _RULES:
        match = pattern.search(reason)
        if match:
            return message(match)
    return reason
