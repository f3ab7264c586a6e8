"""What each viewer sees of a case (``service.access.projection``), decided by the forms' schemas."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from service.access.projection import case_data, deidentified, error_text
from service.actor import Actor

FORMS = {
    "start.schema.json": {"type": "object", "properties": {
        "namn": {"type": "string", "x-personal-data": True},
        "personnummer": {"type": "string", "x-personal-data": True},
        "utforare": {"type": "string", "x-organisation": "utforare"},
        "stadsomrade": {"type": "string", "enum": ["Nordost", "Hisingen"]},
        "antal": {"type": "integer"},
        "inkom": {"type": "string", "format": "date"},
        "beskrivning": {"type": "string"}}},
    "svara.schema.json": {"type": "object", "properties": {"svar": {"type": "string"}}},
}
DATA = {"namn": "Kalle Anka", "personnummer": "19121212-1212", "utforare": "omsorg_ab", "stadsomrade": "Nordost",
        "antal": 3, "inkom": "2026-12-01", "beskrivning": "Kalle Anka 19121212-1212 klagar", "svar": "Åtgärdat",
        "case_ref": "2026-SOC-1", "skriptflagga": True, "skripttext": "Kalle"}
DEFINITION: Any = SimpleNamespace(forms=FORMS)
PROVIDER = Actor("ulla", frozenset({"enhetschef_utforare"}), organisation="omsorg_ab", organisation_kind="utforare")


def test_an_operator_sees_closed_values_only() -> None:
    assert deidentified(DEFINITION, DATA) == {"utforare": "omsorg_ab", "stadsomrade": "Nordost", "antal": 3,
                                              "inkom": "2026-12-01", "skriptflagga": True}


def test_a_provider_that_started_the_case_sees_its_own_start_form_and_nothing_else() -> None:
    seen = case_data(PROVIDER, DEFINITION, DATA, [], [], started_by="ulla")
    assert seen == {k: DATA[k] for k in FORMS["start.schema.json"]["properties"]}
    assert case_data(PROVIDER, DEFINITION, DATA, [], [], started_by="sara") == {}


def test_an_error_shows_operators_the_step_not_the_message() -> None:
    admin = Actor("adam", frozenset({"admin"}))
    assert error_text(admin, "rakna: division by zero (Kalle Anka)") == "rakna: fel i steget"
    assert error_text(admin, "Kalle Anka") == "fel i ärendet"
    case_worker = Actor("sara", frozenset({"socialsekreterare"}))
    assert error_text(case_worker, "rakna: division by zero") == "rakna: division by zero"
