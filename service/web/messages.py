"""Reasons from ``validate_form`` and the operations (English, for the API) as page text.

The API keeps its reasons in English for integrators; a case worker reads them in the page's
language. Known reasons are matched by shape; anything else is shown as it came.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask_babel import gettext as _


def _type_name(kind: str) -> str:
    names = {"integer": _("ett heltal"), "number": _("ett tal"), "string": _("text"), "boolean": _("ja eller nej"),
             "array": _("en lista"), "object": _("en grupp av svar")}
    return names.get(kind, kind)


_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    # validate_form's reasons (service/forms.py, Swedish) as sentences in the page's language
    (re.compile(r"^måste fyllas i$"), lambda m: _("Obligatoriskt – fyll i.")),
    (re.compile(r"^måste vara ett av: "), lambda m: _("Välj ett av alternativen.")),
    (re.compile(r"^måste bekräftas$"), lambda m: _("Måste vara ikryssat.")),
    (re.compile(r"^har fel typ$"), lambda m: _("Fel sorts svar.")),
    (re.compile(r"^måste vara ett datum"), lambda m: _("Ange ett datum (ÅÅÅÅ-MM-DD).")),
    (re.compile(r"^måste vara en tidpunkt"), lambda m: _("Ange datum och tid.")),
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
    (re.compile(r"^is required$"), lambda m: _("Obligatoriskt – fyll i.")),
    (re.compile(r"^must be one of "), lambda m: _("Välj ett av alternativen.")),
    (re.compile(r"^must be of type (\w+)"), lambda m: _("Ange %(what)s.", what=_type_name(m[1]))),
    (re.compile(r"is too short$"), lambda m: _("För kort – fyll i.")),
    (re.compile(r"is too long$"), lambda m: _("För långt.")),
    (re.compile(r"should be non-empty$"), lambda m: _("Välj eller fyll i minst ett.")),
    (re.compile(r"is not a 'date'$"), lambda m: _("Ange ett datum (ÅÅÅÅ-MM-DD).")),
    (re.compile(r"is not a 'date-time'$"), lambda m: _("Ange datum och tid.")),
    (re.compile(r"does not match "), lambda m: _("Formatet stämmer inte.")),
    (re.compile(r"^True was expected$"), lambda m: _("Måste vara ikryssat.")),
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
                                                                        user=m[1])),
    (re.compile(r"^the task is already (completed|cancelled)$"), lambda m: _("Uppgiften är redan avslutad.")),
    (re.compile(r"^the instance is suspended$"), lambda m: _("Ärendet är pausat.")),
    (re.compile(r"^the instance is (completed|terminated)$"), lambda m: _("Ärendet är avslutat.")),
]


def field_message(reason: str) -> str:
    """The reason a field failed, in the page's language."""
    for pattern, message in _RULES:
        match = pattern.search(reason)
        if match:
            return message(match)
    return reason
