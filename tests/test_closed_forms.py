"""Forms are closed (DESIGN.md): a field the form does not declare is refused by name and changes nothing."""

from __future__ import annotations

import pytest

from service.errors import Invalid
from service.forms import validate_form

from .conftest import Harness
from .test_lifecycle import START, open_tasks, start

UNDECLARED = "fältet finns inte i formuläret"


def test_starting_with_an_undeclared_field_is_refused(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    sara = h.user("sara", "socialsekreterare")
    # the start form has no field "planterad": refused under that name, and no instance is started
    bad = sara.post("/api/v1/instances", json={"process": "core_demo", "data": {**START, "planterad": "ja"}})
    assert bad.status_code == 422 and bad.headers["Content-Type"] == "application/problem+json"
    assert bad.json()["errors"] == {"planterad": [UNDECLARED]}
    assert sara.ok("GET", "/api/v1/instances")["total"] == 0


def test_completing_with_an_undeclared_field_is_refused(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("sara", "socialsekreterare")
    instance = start(h)
    [task] = open_tasks(h, "sara")

    # a valid answer with two fields the form lacks: each is named, the task stays open
    bad = h.as_("sara").post(f"/api/v1/tasks/{task['id']}/complete",
                             json={"data": {"beslut": "godkant", "planterad": "ja", "stadsomrade": "Hisingen"}})
    assert bad.status_code == 422 and bad.headers["Content-Type"] == "application/problem+json"
    assert bad.json()["errors"] == {"planterad": [UNDECLARED], "stadsomrade": [UNDECLARED]}
    assert [t["id"] for t in open_tasks(h, "sara")] == [task["id"]]
    after = h.as_("sara").ok("GET", f"/api/v1/instances/{instance['id']}")
    assert "planterad" not in after["data"] and after["data"]["stadsomrade"] == START["stadsomrade"]
    assert "task_completed" not in {e["action"] for e in after["history"]}

    # the same answer without them completes the task, and the case data never gets the field
    h.as_("sara").ok("POST", f"/api/v1/tasks/{task['id']}/complete", json={"data": {"beslut": "godkant"}})
    assert open_tasks(h, "sara") == []
    assert "planterad" not in h.as_("sara").ok("GET", f"/api/v1/instances/{instance['id']}")["data"]


def test_a_nested_undeclared_field_is_named_by_its_path() -> None:
    row = {"type": "object", "properties": {"namn": {"type": "string"}}, "additionalProperties": False}
    schema = {"type": "object", "properties": {"brukare": {"type": "array", "items": row}},
              "additionalProperties": False}
    with pytest.raises(Invalid) as refused:
        validate_form(schema, {"brukare": [{"namn": "A"}, {"namn": "B", "x": 1, "y": 2}], "z": True})
    assert refused.value.errors == {"z": [UNDECLARED], "brukare.1.x": [UNDECLARED], "brukare.1.y": [UNDECLARED]}


def test_a_field_the_form_only_shows_cannot_be_overwritten(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("sara", "socialsekreterare")
    instance = start(h)
    [task] = open_tasks(h, "sara")
    # "arende" is shown read-only on the review form: sending it back unchanged is fine, changed is refused
    changed = h.as_("sara").post(f"/api/v1/tasks/{task['id']}/complete",
                                 json={"data": {"beslut": "godkant", "arende": "Något helt annat"}})
    assert changed.status_code == 422 and list(changed.json()["errors"]) == ["arende"]
    assert h.as_("sara").ok("GET", f"/api/v1/instances/{instance['id']}")["data"]["arende"] == START["arende"]
    h.as_("sara").ok("POST", f"/api/v1/tasks/{task['id']}/complete",
                     json={"data": {"beslut": "godkant", "arende": START["arende"]}})


def test_case_data_beyond_the_bound_is_refused(sqlite_url: str) -> None:
    from .conftest import FIXTURES, start_harness

    h = start_harness(sqlite_url, max_instance_data_bytes=1_000)
    try:
        h.deploy_dir(FIXTURES / "bpmn", FIXTURES / "forms")
        h.user("sara", "socialsekreterare")
        instance = start(h)
        [task] = open_tasks(h, "sara")
        # each answer fits its form, but together they would outgrow the case's bound: refused, nothing kept
        too_much = h.as_("sara").post(f"/api/v1/tasks/{task['id']}/complete",
                                      json={"data": {"beslut": "avvisat", "kommentar": "x" * 2000}})
        assert too_much.status_code == 422 and "för mycket data" in too_much.json()["errors"]["data"][0]
        assert [t["id"] for t in open_tasks(h, "sara")] == [task["id"]]
        assert "kommentar" not in h.as_("sara").ok("GET", f"/api/v1/instances/{instance['id']}")["data"]
        h.as_("sara").ok("POST", f"/api/v1/tasks/{task['id']}/complete",
                         json={"data": {"beslut": "avvisat", "kommentar": "Ofullständig ansökan"}})
    finally:
        h.server.stop()


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    schema = {"type": "object", "properties": {
        "galler_fran": {"type": "string", "format": "date-time", "title": "Träder i kraft"},
        "slut": {"type": "string", "format": "date", "title": "Slutdatum", "x-after": "galler_fran"},
        "grunder": {"type": "array", "items": {"type": "object", "properties": {
            "giltig_fran": {"type": "string", "format": "date", "title": "Giltig från"},
            "giltig_till": {"type": "string", "format": "date", "x-after": "giltig_fran"}}}}}}
    validate_form(schema, {"galler_fran": "2026-12-07T08:30:00+01:00", "slut": "2026-12-07"})
    with pytest.raises(Invalid) as refused:
        validate_form(schema, {"galler_fran": "2026-12-07T08:30:00+01:00", "slut": "2026-12-06",
                               "grunder": [{"giltig_fran": "2026-12-01", "giltig_till": "2026-11-30"}]})
    assert refused.value.errors == {"slut": ["får inte vara före träder i kraft"],
                                    "grunder.0.giltig_till": ["får inte vara före giltig från"]}
