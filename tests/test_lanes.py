"""Lanes a process owner maps at deploy: the ``lanes`` field, kept with the version, deciding who is
offered its tasks and so who sees the case — through the real HTTP API."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Harness

FOLDER = Path(__file__).parent / "fixtures" / "lanes"
DIAGRAM = (FOLDER / "egna_lanes.bpmn").read_bytes()
FORM = (FOLDER / "steg.schema.json").read_bytes()
MAPPING = {"Handläggare X": ["bistandshandlaggare"], "Team Y": ["eku"]}


def _files(diagram: bytes = DIAGRAM) -> list[tuple[str, tuple[str, bytes]]]:
    return [("files", ("egna_lanes.bpmn", diagram)), ("files", ("egna_lanes/steg.schema.json", FORM))]


def _deploy(h: Harness, lanes: object = None, expected: int = 201) -> dict:
    data = {} if lanes is None else {"lanes": lanes if isinstance(lanes, str) else json.dumps(lanes)}
    response = h.as_("paula").post("/api/v1/processes", files=_files(), data=data)
    assert response.status_code == expected, response.text
    return response.json()


def _tasks(h: Harness, who: str) -> list[dict]:
    return [t for t in h.as_(who).ok("GET", "/api/v1/tasks")["items"] if t["process"] == "egna_lanes"]


def _staff(h: Harness) -> None:
    """The process owner, the starter, a handläggare of the mapped lane, one outside it, and EKU (the
    authority's own, like the others: the mapping decides, not the organisation)."""
    h.user("paula", "processagare")
    h.user("mona", "mottag")
    h.user("bea", "bistandshandlaggare")
    h.user("sara", "socialsekreterare")
    h.user("ebba", "eku", organisation="myndighet")


def _nothing_deployed(h: Harness) -> None:
    assert h.as_("paula").get("/api/v1/processes/egna_lanes").status_code == 404


def test_a_lane_mapped_at_deploy_offers_its_tasks_to_those_roles_only(harness: Harness) -> None:
    h = harness
    _staff(h)
    # a lane lanes.json does not know is a problem naming the lane (the editor offers to map it)
    refused = _deploy(h, expected=422)
    unmapped = {p.get("lane") for p in refused["problems"]}
    assert {"Handläggare X", "Team Y"} <= unmapped, refused["problems"]
    assert any("Lanen ”Handläggare X” motsvarar ingen roll. Välj vilka roller" in p["text"]
               for p in refused["problems"])
    _nothing_deployed(h)

    body = _deploy(h, MAPPING)
    [deployed] = body["deployed"]
    assert deployed["version"] == 1 and deployed["lanes"] == MAPPING
    assert deployed["starter_roles"] == ["mottag"]  # the start event's lane: Mottag from lanes.json
    detail = h.as_("paula").ok("GET", "/api/v1/processes/egna_lanes")
    assert detail["lanes"] == MAPPING
    assert detail["lane_roles"] == {"Handläggare X": ["bistandshandlaggare"], "Mottag": ["mottag"],
                                    "Team Y": ["eku"]}
    assert detail["versions"][0]["lanes"] == MAPPING

    instance = h.as_("mona").ok("POST", "/api/v1/instances", 201, json={"process": "egna_lanes", "data": {}})
    [task] = _tasks(h, "bea")
    assert task["lane"] == "Handläggare X" and task["assignee"] is None
    assert h.as_("bea").ok("GET", f"/api/v1/instances/{instance['id']}")["id"] == instance["id"]
    for outsider in ("sara", "ebba"):
        assert not _tasks(h, outsider)
        assert h.as_(outsider).get(f"/api/v1/instances/{instance['id']}").status_code == 404
        assert h.as_(outsider).get(f"/api/v1/tasks/{task['id']}").status_code in (403, 404)
        assert instance["id"] not in h.as_(outsider).get("/api/v1/instances").text
    h.as_("bea").ok("POST", f"/api/v1/tasks/{task['id']}/complete", json={"data": {"anteckning": "ok"}})
    # camunda:candidateGroups="Team Y" goes through the same mapping
    [task] = _tasks(h, "ebba")
    assert task["lane"] == "Team Y" and task["name"] == "granska"
    assert not _tasks(h, "bea") and not _tasks(h, "sara")
    h.as_("ebba").ok("POST", f"/api/v1/tasks/{task['id']}/complete", json={"data": {}})
    assert h.as_("mona").ok("GET", f"/api/v1/instances/{instance['id']}")["state"] == "completed"


def test_a_redeploy_keeps_the_mapping_and_versions_mapping_a_lane_apart_stay_apart(harness: Harness) -> None:
    h = harness
    _staff(h)
    _deploy(h, MAPPING)
    first = h.as_("mona").ok("POST", "/api/v1/instances", 201, json={"process": "egna_lanes", "data": {}})
    # the same files without lanes: the latest version's own lanes hold, nothing new
    again = _deploy(h)
    assert again["unchanged"] == ["egna_lanes"] and again["deployed"][0]["version"] == 1
    # another mapping is another version; the running case stays with the people of its version
    moved = _deploy(h, {"Handläggare X": ["socialsekreterare"]})
    assert moved["deployed"][0]["version"] == 2
    assert moved["deployed"][0]["lanes"] == {"Handläggare X": ["socialsekreterare"], "Team Y": ["eku"]}
    second = h.as_("mona").ok("POST", "/api/v1/instances", 201, json={"process": "egna_lanes", "data": {}})
    assert second["version"] == 2
    assert [t["instance_id"] for t in _tasks(h, "bea")] == [first["id"]]
    assert [t["instance_id"] for t in _tasks(h, "sara")] == [second["id"]]
    assert h.as_("bea").get(f"/api/v1/instances/{second['id']}").status_code == 404
    assert h.as_("sara").get(f"/api/v1/instances/{first['id']}").status_code == 404
    assert second["id"] not in h.as_("bea").get("/api/v1/instances").text
    assert first["id"] not in h.as_("sara").get("/api/v1/instances").text


def test_a_lane_of_lanes_json_remapped_by_one_routine_is_remapped_there_only(harness: Harness) -> None:
    h = harness
    h.user("paula", "processagare")
    h.user("mona", "mottag")
    h.user("erik", "enhetschef_myndighet")
    h.user("sara", "socialsekreterare")
    # this routine's "Mottag" is the unit managers; core_demo's "Mottag" stays mottag's
    _deploy(h, {**MAPPING, "Mottag": ["enhetschef_myndighet"]})
    assert h.as_("mona").post("/api/v1/instances", json={"process": "egna_lanes", "data": {}}).status_code == 403
    instance = h.as_("erik").ok("POST", "/api/v1/instances", 201, json={"process": "egna_lanes", "data": {}})
    assert h.as_("mona").get(f"/api/v1/instances/{instance['id']}").status_code == 404
    core = h.as_("sara").ok("POST", "/api/v1/instances", 201, json={
        "process": "core_demo", "case_ref": "2026-SOC-0042",
        "data": {"arende": "A", "handlaggare": "sara", "stadsomrade": "Nordost"}})
    assert h.as_("erik").get(f"/api/v1/instances/{core['id']}").status_code == 404


def test_bad_lanes_are_refused_with_a_reason_and_deploy_nothing(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("paula", "processagare")
    cases = [
        ('{"Handläggare X": ["bistandshandlaggare"]', "lanes is not valid JSON", "Fältet lanes är inte giltig JSON"),
        ('["bistandshandlaggare"]', "lanes must be a JSON object", "ska vara ett objekt"),
        ({"Handläggare X": ["trollkarl"], "Team Y": ["eku"]}, "unknown role key(s) trollkarl",
         "Lanen ”Handläggare X” anger rollen trollkarl, som inte finns"),
        ({"Handläggare X": ["admin"], "Team Y": ["eku"]}, "unknown role key(s) admin", "anger rollen admin"),
        ({"Handläggare X": [], "Team Y": ["eku"]}, "give a non-empty list", "Välj minst en roll för lanen"),
        ({"Handläggare X": "eku", "Team Y": ["eku"]}, "give a non-empty list", "Välj minst en roll"),
        ({"": ["eku"]}, "a lane name is 1 to 100 characters", "1–100 tecken"),
    ]
    for lanes, message, text in cases:
        body = _deploy(h, lanes, expected=422)
        assert any(message in p["message"] and text in p["text"] for p in body["problems"]), (lanes, body)
        assert body["errors"]["lanes"], body
        _nothing_deployed(h)
    # a lane given but drawn nowhere is said, not refused
    body = _deploy(h, {**MAPPING, "Ingenstans": ["eku"]})
    assert any("”Ingenstans” finns inte i något diagram" in w["text"] for w in body["warnings"])
    assert "Ingenstans" not in body["deployed"][0]["lanes"]


def test_a_draft_keeps_the_chosen_lanes_and_refuses_bad_ones_in_swedish(sqlite_harness: Harness) -> None:
    import pytest

    from service.actor import Actor
    from service.errors import Invalid
    from service.operations.drafts import load_draft, save_draft
    from service.roles import LANE_ROLES, ROLE_LABELS, ROLES

    assert set(ROLE_LABELS) == ROLES and "admin" not in LANE_ROLES  # every role has its Swedish name
    h = sqlite_harness
    h.user("paula", "processagare")
    paula = Actor(username="paula", roles=frozenset({"processagare"}), districts=frozenset())
    _deploy(h, MAPPING)
    files, forms = {"egna_lanes.bpmn": DIAGRAM.decode()}, {"steg.schema.json": json.loads(FORM)}
    save_draft(h.services, paula, "egna_lanes", files, forms, base_version=1, lanes={"Handläggare X": ["eku"]})
    assert load_draft(h.services, paula, "egna_lanes").lanes == {"Handläggare X": ["eku"]}  # type: ignore[union-attr]
    with pytest.raises(Invalid) as refused:
        save_draft(h.services, paula, "egna_lanes", files, forms, base_version=1, lanes={"Handläggare X": ["troll"]})
    assert refused.value.errors == {"draft": ["Lanen ”Handläggare X” anger rollen troll, som inte finns. Välj bland"
                                              " rollerna i listan."]}
    assert load_draft(h.services, paula, "egna_lanes").lanes == {"Handläggare X": ["eku"]}  # type: ignore[union-attr]
