"""Decision tables (DMN) deployed with their diagram and run by business rule tasks, through the API.

The diagram ``prioritering`` calls two decisions: ``prioritet`` (hit policy UNIQUE, from ``alder``
and ``behov``; written the SpiffArena way) and ``handlaggare`` (FIRST; written the Camunda way).
The first one's output steers the gateway.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import FIXTURES, Harness

DMN = FIXTURES / "dmn"
DIAGRAM = (DMN / "prioritering.bpmn").read_bytes()
PRIORITET = (DMN / "prioritet.dmn").read_bytes()
HANDLAGGARE = (DMN / "handlaggare.dmn").read_bytes()


def _upload(**replace: bytes) -> list[tuple[str, tuple[str, bytes]]]:
    files = {"prioritering.bpmn": DIAGRAM, "prioritet.dmn": PRIORITET, "handlaggare.dmn": HANDLAGGARE, **replace}
    return [("files", (name, content)) for name, content in files.items() if content]


@pytest.fixture
def people(sqlite_harness: Harness) -> Harness:
    sqlite_harness.user("paula", "processagare")
    sqlite_harness.user("sara", "socialsekreterare")
    sqlite_harness.user("mona", "mottag")
    return sqlite_harness


def _count(h: Harness) -> int:
    return int(h.as_("paula").ok("GET", "/api/v1/processes")["total"])


def test_decision_tables_deploy_with_the_diagram_and_steer_the_case(harness: Harness) -> None:
    h = harness
    paula = h.user("paula", "processagare")
    sara = h.user("sara", "socialsekreterare")
    h.user("mona", "mottag")
    # the process owner uploads the diagram and its two decision tables together
    body = paula.ok("POST", "/api/v1/processes", 201, files=_upload())
    assert [d["key"] for d in body["deployed"]] == ["prioritering"] and body["warnings"] == []
    # the decision tables are versioned with the diagram: the same upload again is no new version
    again = paula.ok("POST", "/api/v1/processes", 201, files=_upload())
    assert again["unchanged"] == ["prioritering"]

    # a child: UNIQUE row 1 gives "hog", FIRST row 1 gives the children's group; the urgent path
    child = sara.ok("POST", "/api/v1/instances", 201,
                    json={"process": "prioritering", "data": {"alder": 15, "behov": "planerat"}})
    detail = sara.ok("GET", f"/api/v1/instances/{child['id']}")
    assert detail["data"]["prioritet"] == "hog" and detail["data"]["grupp"] == "barn"
    assert detail["data"]["frist_dagar"] == 1
    [task] = [t for t in sara.ok("GET", "/api/v1/tasks")["items"] if t["instance_id"] == child["id"]]
    assert task["title"] == "Agera snabbt"
    sara.ok("POST", f"/api/v1/tasks/{task['id']}/complete", json={"data": {}})
    ended = sara.ok("GET", f"/api/v1/instances/{child['id']}")
    assert ended["state"] == "completed" and ended["outcome"] == "klart_akut"

    # an adult with an urgent need: row 2, then FIRST skips row 1 (not a child) and takes row 2
    urgent = sara.ok("POST", "/api/v1/instances", 201,
                     json={"process": "prioritering", "data": {"alder": 40, "behov": "akut"}})
    assert sara.ok("GET", f"/api/v1/instances/{urgent['id']}")["data"]["grupp"] == "vuxen_akut"

    # an adult with a planned need: "normal", the default flow, the case ends at once
    planned = sara.ok("POST", "/api/v1/instances", 201,
                      json={"process": "prioritering", "data": {"alder": 40, "behov": "planerat"}})
    assert planned["state"] == "completed" and planned["outcome"] == "klart_normal"
    assert sara.ok("GET", f"/api/v1/instances/{planned['id']}")["data"]["grupp"] == "vuxen"

    # no row matches: the outputs are None and the gateway takes its default flow
    unknown = sara.ok("POST", "/api/v1/instances", 201,
                      json={"process": "prioritering", "data": {"alder": 40, "behov": "annat"}})
    assert unknown["state"] == "completed"
    data = sara.ok("GET", f"/api/v1/instances/{unknown['id']}")["data"]
    assert data["prioritet"] is None and data["grupp"] == "vuxen"
    # people without a need to know see none of it
    assert h.as_("mona").get(f"/api/v1/instances/{child['id']}").status_code == 404


def test_a_unique_table_with_two_matching_rows_fails_the_instance_cleanly(people: Harness) -> None:
    h = people
    overlapping = PRIORITET.replace(b'<text>"akut"</text>', b"<text>-</text>")  # row 2 now matches any adult
    h.as_("paula").ok("POST", "/api/v1/processes", 201, files=_upload(**{"prioritet.dmn": overlapping}))
    instance = h.as_("sara").ok("POST", "/api/v1/instances", 201,
                                json={"process": "prioritering", "data": {"alder": 40, "behov": "planerat"}})
    assert instance["state"] == "error"
    detail = h.as_("sara").ok("GET", f"/api/v1/instances/{instance['id']}")
    assert "UNIQUE" in detail["error"] and "rows 2, 3" in detail["error"] and "Traceback" not in detail["error"]
    assert h.anonymous.get("/healthz").json()["status"] == "ok"


def test_a_table_the_sandbox_stops_at_run_time_fails_the_instance_cleanly(people: Harness) -> None:
    h = people
    # compiles, but would build a 10-million-character text: the sandbox stops it while it runs
    greedy = PRIORITET.replace(b'<text>"normal"</text>', b'<text>"normal" * 10**7</text>')
    h.as_("paula").ok("POST", "/api/v1/processes", 201, files=_upload(**{"prioritet.dmn": greedy}))
    instance = h.as_("sara").ok("POST", "/api/v1/instances", 201,
                                json={"process": "prioritering", "data": {"alder": 40, "behov": "planerat"}})
    assert instance["state"] == "error"
    error = h.as_("sara").ok("GET", f"/api/v1/instances/{instance['id']}")["error"]
    assert "limit" in error and "Traceback" not in error
    # other cases of the routine go on: a child never reaches row 3
    child = h.as_("sara").ok("POST", "/api/v1/instances", 201,
                             json={"process": "prioritering", "data": {"alder": 9, "behov": "planerat"}})
    assert child["state"] == "running"


@pytest.mark.parametrize(("where", "text"), [
    ("input", b'<text>__import__("os").system("id")</text>'),
    ("rule", b"<text>().__class__.__base__.__subclasses__()</text>"),
    ("output", b"<text>open('/etc/passwd').read()</text>"),
])
def test_a_table_the_sandbox_refuses_is_refused_at_deploy(people: Harness, where: str, text: bytes) -> None:
    h = people
    target = {"input": b"<text>alder</text>", "rule": b'<text>"akut"</text>', "output": b'<text>"normal"</text>'}[where]
    hostile = PRIORITET.replace(target, text, 1)
    before = _count(h)
    response = h.as_("paula").post("/api/v1/processes", files=_upload(**{"prioritet.dmn": hostile}))
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert [p["file"] for p in problems] == ["prioritet.dmn"]
    assert re.search(r"not allowed|invalid (variable|attribute) name", problems[0]["message"])
    assert "DMN expressions are Python" in problems[0]["message"]
    assert "Python" in problems[0]["text"] and "Traceback" not in problems[0]["text"]
    assert _count(h) == before


def test_a_missing_decision_is_named_at_its_task(people: Harness) -> None:
    h = people
    before = _count(h)
    response = h.as_("paula").post("/api/v1/processes", files=_upload(**{"handlaggare.dmn": b""}))
    assert response.status_code == 422, response.text
    [problem] = response.json()["problems"]
    assert problem["file"] == "prioritering.bpmn" and problem["element"] == "valj_grupp"
    assert "'handlaggare'" in problem["message"]
    assert problem["text"] == ("”Välj grupp” använder beslutet ”handlaggare”, som inte finns i någon .dmn-fil i"
                               " uppladdningen. Ladda upp beslutstabellen tillsammans med diagrammet.")
    assert _count(h) == before


@pytest.mark.parametrize(("content", "words", "swedish"), [
    (b"<definitions", "not well-formed", "inte giltig XML"),
    (b'<?xml version="1.0"?><bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"/>',
     "not a DMN document", "inte en DMN-beslutstabell"),
    (PRIORITET.replace(b'hitPolicy="UNIQUE"', b'hitPolicy="PRIORITY"'), "hit policy PRIORITY", "Träffpolicyn"),
    (PRIORITET.replace(b'<inputEntry id="r3_b"><text>"planerat"</text></inputEntry>', b""),
     "rule 3 has 1 input and 1 output entries", "Regel 3"),
    (PRIORITET.replace(b'<outputEntry id="r1_o"><text>"hog"</text>', b'<outputEntry id="r1_o"><text>"hog</text>'),
     "syntax error", "Python"),
    (PRIORITET.replace(b"</decision>", b'</decision><decision id="annat"><decisionTable id="t2"/></decision>'),
     "exactly one decision; this one holds 2", "exakt ett beslut"),
])
def test_a_broken_dmn_file_is_refused_in_plain_words(people: Harness, content: bytes, words: str,
                                                      swedish: str) -> None:
    h = people
    before = _count(h)
    response = h.as_("paula").post("/api/v1/processes", files=_upload(**{"prioritet.dmn": content}))
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    mine = [p for p in problems if p["file"] == "prioritet.dmn"]
    assert len(mine) == 1 and words in mine[0]["message"], problems
    assert swedish in mine[0]["text"] and not any(
        w in mine[0]["message"] + mine[0]["text"] for w in ("Traceback", "Error:", "Exception", "0x"))
    # when the file is no decision table at all, the task calling it is named too; nothing was deployed
    assert {p["element"] for p in problems if p["file"] == "prioritering.bpmn"} <= {"bestam_prioritet"}
    assert _count(h) == before


def test_a_routine_tree_deploys_with_its_decision_tables(people: Harness, tmp_path: Path) -> None:
    from service.operations.deploy import read_tree

    (tmp_path / "bpmn").mkdir()
    for name in ("prioritering.bpmn", "prioritet.dmn", "handlaggare.dmn"):
        (tmp_path / "bpmn" / name).write_bytes((DMN / name).read_bytes())
    files = read_tree(tmp_path / "bpmn", tmp_path / "forms")
    assert sorted(files) == ["handlaggare.dmn", "prioritering.bpmn", "prioritet.dmn"]
    [definition] = people.deploy_dir(tmp_path / "bpmn", tmp_path / "forms")
    assert definition.key == "prioritering" and {"prioritet.dmn", "handlaggare.dmn"} <= set(definition.bpmn_files)


def test_samverkan_deploy_of_a_folder_picks_up_its_decision_tables(sqlite_url: str) -> None:
    from .test_cli import samverkan

    result = samverkan(sqlite_url, "deploy", str(DMN))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["prioritering version 1"]
    # without the tables, the folder is refused, naming both tasks
    lonely = samverkan(sqlite_url, "deploy", str(DMN / "prioritering.bpmn"))
    assert lonely.returncode == 1 and "Traceback" not in lonely.stderr
    assert "[bestam_prioritet]: business rule task calls the decision 'prioritet'" in lonely.stderr
    assert "[valj_grupp]: business rule task calls the decision 'handlaggare'" in lonely.stderr


def test_a_draft_keeps_its_decision_tables_and_refuses_a_broken_one(people: Harness) -> None:
    from service.actor import SYSTEM
    from service.errors import Invalid
    from service.operations.deploy import deploy
    from service.operations.drafts import load_draft, save_draft

    h = people
    deploy(h.services, SYSTEM, {"prioritering.bpmn": DIAGRAM, "prioritet.dmn": PRIORITET,
                                "handlaggare.dmn": HANDLAGGARE})
    files = {"prioritering.bpmn": DIAGRAM.decode(), "prioritet.dmn": PRIORITET.decode(),
             "handlaggare.dmn": HANDLAGGARE.decode()}
    with pytest.raises(Invalid) as refused:
        save_draft(h.services, SYSTEM, "prioritering", {**files, "prioritet.dmn": "<definitions"}, {},
                   base_version=1)
    assert refused.value.errors == {"draft": ["prioritet.dmn: beslutstabellen är inte giltig XML."]}
    assert load_draft(h.services, SYSTEM, "prioritering") is None  # nothing was saved
    save_draft(h.services, SYSTEM, "prioritering", files, {}, base_version=1)
    draft = load_draft(h.services, SYSTEM, "prioritering")
    assert draft is not None and set(draft.bpmn_files) == set(files)
