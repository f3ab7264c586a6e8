"""Moving running instances to a new version: dry run, batch, mapping, refusals, audit (issue 14, item 2)."""

from __future__ import annotations

from sqlalchemy import select

from service.models import Event, Timer, TimerState

from .conftest import FIXTURES, Harness
from .test_lifecycle import START, open_tasks, start

CORE = (FIXTURES / "bpmn" / "core_demo.bpmn").read_text(encoding="utf-8")
PERSONNUMMER = "19121212-1212"

# Version 2: a rejected case is followed up by the case worker before it ends.
FOLLOW_UP = CORE.replace(
    '<bpmn:flowNodeRef>avvisad</bpmn:flowNodeRef>',
    '<bpmn:flowNodeRef>avvisad</bpmn:flowNodeRef><bpmn:flowNodeRef>uppfolj</bpmn:flowNodeRef>',
).replace(
    '<bpmn:endEvent id="avvisad" name="Avvisat"><bpmn:incoming>f_bedomning_avvisad</bpmn:incoming></bpmn:endEvent>',
    '<bpmn:userTask id="uppfolj" name="Följ upp avvisat ärende"><bpmn:extensionElements><spiffworkflow:properties>'
    '<spiffworkflow:property name="formJsonSchemaFilename" value="eskalera.schema.json"/>'
    '<spiffworkflow:property name="assignee" value="handlaggare"/>'
    '</spiffworkflow:properties></bpmn:extensionElements>'
    '<bpmn:incoming>f_bedomning_avvisad</bpmn:incoming><bpmn:outgoing>f_uppfolj_slut</bpmn:outgoing></bpmn:userTask>'
    '<bpmn:endEvent id="avvisad" name="Avvisat"><bpmn:incoming>f_uppfolj_slut</bpmn:incoming></bpmn:endEvent>'
    '<bpmn:sequenceFlow id="f_uppfolj_slut" sourceRef="uppfolj" targetRef="avvisad"/>',
).replace('<bpmn:sequenceFlow id="f_bedomning_avvisad" sourceRef="bedomning" targetRef="avvisad"/>',
          '<bpmn:sequenceFlow id="f_bedomning_avvisad" sourceRef="bedomning" targetRef="uppfolj"/>')


def renamed_review(text: str) -> str:
    """The review step under a new id (``granska_arende``): an instance at ``granska`` needs a mapping."""
    for old, new in (('"granska"', '"granska_arende"'), (">granska<", ">granska_arende<"),
                     ('attachedToRef="granska"', 'attachedToRef="granska_arende"')):
        text = text.replace(old, new)
    return text


def deploy(h: Harness, text: str) -> int:
    body = h.as_("paula").ok("POST", "/api/v1/processes", 201,
                             files=[("files", ("core_demo.bpmn", text.encode("utf-8")))])
    return int(body["deployed"][0]["version"])


def migrate(h: Harness, who: str, **body: object) -> object:
    return h.as_(who).post("/api/v1/processes/core_demo/migrations", json=body)


def stored(h: Harness, instance_id: str) -> tuple[int, str, dict, list[str]]:
    from service.models import ProcessInstance

    with h.services.db.read() as session:
        row = session.get(ProcessInstance, instance_id)
        assert row is not None
        timers = sorted(t.task_name for t in session.scalars(select(Timer).where(
            Timer.instance_id == instance_id, Timer.state == TimerState.PENDING)))
        return row.definition.version, row.workflow_json, dict(row.data), timers


def due(h: Harness, instance_id: str) -> object:
    with h.services.db.read() as session:
        return session.scalars(select(Timer.due_at).where(Timer.instance_id == instance_id,
                                                          Timer.state == TimerState.PENDING)).one()


def test_a_waiting_case_moves_and_ends_on_the_new_path(harness: Harness) -> None:
    h = harness
    h.user("paula", "processagare")
    h.user("sara", "socialsekreterare")
    instance = start(h, data={**START, "arende": f"Brukare {PERSONNUMMER}"})
    [task] = open_tasks(h, "sara")
    assert deploy(h, FOLLOW_UP) == 2

    # the dry run says it can move and changes nothing
    dry = migrate(h, "paula", to_version=2, instances="all", dry_run=True)
    assert dry.status_code == 200, dry.text
    assert [v["instance_id"] for v in dry.json()["moved"]] == [instance["id"]] and dry.json()["refused"] == []
    assert stored(h, instance["id"])[0] == 1

    # a case worker may not move cases: 403 as for deploying, and nothing of the case in the answer
    refused = migrate(h, "sara", to_version=2, instances="all", dry_run=False)
    assert refused.status_code == 403 and PERSONNUMMER not in refused.text and instance["id"] not in refused.text
    assert stored(h, instance["id"])[0] == 1

    due_before = due(h, instance["id"])
    done = migrate(h, "paula", to_version=2, instances=[instance["id"]], dry_run=False)
    assert done.status_code == 200, done.text
    assert [v["instance_id"] for v in done.json()["moved"]] == [instance["id"]]
    assert "granska" in done.json()["moved"][0]["moved"]
    version, _, data, timers = stored(h, instance["id"])
    assert version == 2 and data["arende"] == f"Brukare {PERSONNUMMER}" and timers == ["granska_timeout"]
    assert due(h, instance["id"]) == due_before  # the timer keeps its due time: it does not start again
    again = migrate(h, "paula", to_version=2, instances=[instance["id"]], dry_run=True).json()
    assert again["refused"][0]["reasons"] == ["Ärendet ligger redan på version 2."]
    # the same task (same id) is still in the inbox, and completing it follows version 2's path
    [same] = open_tasks(h, "sara")
    assert same["id"] == task["id"]
    h.as_("sara").ok("POST", f"/api/v1/tasks/{task['id']}/complete",
                     json={"data": {"beslut": "avvisat", "kommentar": "Behovet tillgodoses redan"}})
    [follow_up] = open_tasks(h, "sara")
    assert follow_up["name"] == "uppfolj"
    h.as_("sara").ok("POST", f"/api/v1/tasks/{follow_up['id']}/complete", json={"data": {"atgard": "Ringt"}})
    final = h.as_("sara").ok("GET", f"/api/v1/instances/{instance['id']}")
    assert final["state"] == "completed" and final["outcome"] == "avvisad" and final["version"] == 2
    with h.services.db.read() as session:
        [event] = session.scalars(select(Event).where(Event.instance_id == instance["id"],
                                                      Event.action == "instance_migrated")).all()
    assert event.actor == "paula" and event.detail["from_version"] == 1 and event.detail["to_version"] == 2


def test_a_removed_step_is_refused_unchanged_until_mapped(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("paula", "processagare")
    h.user("sara", "socialsekreterare")
    instance = start(h)
    [task] = open_tasks(h, "sara")
    assert deploy(h, renamed_review(CORE)) == 2
    before = stored(h, instance["id"])

    answer = migrate(h, "paula", to_version=2, instances="all", dry_run=False)
    assert answer.status_code == 200, answer.text
    [verdict] = answer.json()["refused"]
    assert answer.json()["moved"] == [] and verdict["instance_id"] == instance["id"]
    assert "Granska ärendet" in verdict["reasons"][0] and "finns inte i version 2" in verdict["reasons"][0]
    assert stored(h, instance["id"]) == before  # version, state, data and timers untouched
    assert [t["id"] for t in open_tasks(h, "sara")] == [task["id"]]

    # bad input gets a Swedish reason and changes nothing
    bad = migrate(h, "paula", to_version=2, instances="all", mapping={"granska": "finns_inte"}, dry_run=False)
    assert bad.status_code == 422 and "finns_inte" in bad.text
    assert migrate(h, "paula", to_version=7, instances="all").status_code == 422
    assert migrate(h, "paula", to_version=2, instances="några").status_code == 422
    assert stored(h, instance["id"]) == before

    mapping = {"granska": "granska_arende"}
    dry = migrate(h, "paula", to_version=2, instances="all", mapping=mapping, dry_run=True).json()
    assert [v["instance_id"] for v in dry["moved"]] == [instance["id"]]
    moved = migrate(h, "paula", to_version=2, instances="all", mapping=mapping, dry_run=False).json()
    assert [v["instance_id"] for v in moved["moved"]] == [instance["id"]]
    version, _, _, timers = stored(h, instance["id"])
    assert version == 2 and timers == ["granska_timeout"]
    [same] = open_tasks(h, "sara")
    assert same["id"] == task["id"] and same["name"] == "granska_arende"
    h.as_("sara").ok("POST", f"/api/v1/tasks/{task['id']}/complete",
                     json={"data": {"beslut": "avvisat", "kommentar": "Behovet tillgodoses redan"}})
    final = h.as_("sara").ok("GET", f"/api/v1/instances/{instance['id']}")
    assert final["state"] == "completed" and final["outcome"] == "avvisad"
    actions = [e["action"] for e in final["history"]]
    assert "instance_migration_refused" in actions and "instance_migrated" in actions


def test_a_case_waiting_for_a_message_moves_and_the_message_ends_it(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("paula", "processagare")
    h.user("sara", "socialsekreterare")
    instance = start(h)
    [task] = open_tasks(h, "sara")
    h.as_("sara").ok("POST", f"/api/v1/tasks/{task['id']}/complete", json={"data": {"beslut": "godkant"}})
    assert deploy(h, FOLLOW_UP) == 2
    moved = migrate(h, "paula", to_version=2, instances="all", dry_run=False).json()
    assert [v["moved"] for v in moved["moved"]] == [["vanta_klart"]]
    h.as_("sara").ok("POST", f"/api/v1/instances/{instance['id']}/messages",
                     json={"name": "klart", "data": {"datum": "2026-12-01"}})
    final = h.as_("sara").ok("GET", f"/api/v1/instances/{instance['id']}")
    assert final["state"] == "completed" and final["outcome"] == "slut" and final["version"] == 2
