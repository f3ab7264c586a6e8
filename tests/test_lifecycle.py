"""A small routine end to end through the HTTP API, on SQLite and PostgreSQL.

The core diagram (tests/fixtures/bpmn/core_demo.bpmn): a start form, a user task for the named
handläggare with a one-hour interrupting boundary timer that escalates to Mottag, a gateway, a
message wait (``klart``) and a script task.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from service.clock import SYSTEM_CLOCK
from service.models import ProcessInstance
from service.operations.timers import fire_due_timers

from .conftest import Harness

START = {"arende": "Stopp i hemtjänst, brukare A", "handlaggare": "sara", "stadsomrade": "Nordost"}


def start(h: Harness, who: str = "sara", data: dict | None = None) -> dict:
    return h.as_(who).ok("POST", "/api/v1/instances", 201, json={"process": "core_demo", "data": data or START,
                                                                 "case_ref": "2026-SOC-0042"})


def open_tasks(h: Harness, who: str, **params: str) -> list[dict]:
    return h.as_(who).ok("GET", "/api/v1/tasks", params=params)["items"]


def test_start_complete_message_end(harness: Harness) -> None:
    h = harness
    h.user("sara", "socialsekreterare")
    # the case worker starts the routine; the first task is hers, titled from the data, due in an hour
    instance = start(h)
    assert instance["state"] == "running" and instance["version"] == 1
    [task] = open_tasks(h, "sara", assigned="me")
    assert task["name"] == "granska" and task["title"] == "Granska Stopp i hemtjänst, brukare A"
    due = datetime.fromisoformat(task["due_at"])
    assert timedelta(minutes=59) < due - datetime.fromisoformat(task["created_at"]) <= timedelta(hours=1)
    detail = h.as_("sara").ok("GET", f"/api/v1/tasks/{task['id']}")
    assert detail["form"]["schema"]["properties"]["beslut"]["enum"] == ["godkant", "avvisat"]
    assert detail["form"]["ui_schema"]["ui:order"][0] == "beslut"
    assert detail["data"]["arende"] == START["arende"]

    # a form that fails its schema is refused with the field and the reason, and changes nothing
    bad = h.as_("sara").post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"beslut": "avvisat"}})
    assert bad.status_code == 422 and bad.headers["Content-Type"] == "application/problem+json"
    assert "kommentar" in bad.json()["errors"]
    assert open_tasks(h, "sara")[0]["id"] == task["id"]

    # approved: the instance now waits for the message "klart"
    done = h.as_("sara").ok("POST", f"/api/v1/tasks/{task['id']}/complete",
                            json={"data": {"beslut": "godkant", "antal": 3}})
    assert done["instance"]["state"] == "waiting" and done["next_tasks"] == []
    assert h.as_("sara").ok("GET", f"/api/v1/instances/{instance['id']}")["waits_for"] == ["klart"]
    assert open_tasks(h, "sara") == []
    again = h.as_("sara").post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"beslut": "godkant"}})
    assert again.status_code == 409

    # an unknown message is a conflict; the expected one ends the routine through the script task
    wrong = h.as_("sara").post(f"/api/v1/instances/{instance['id']}/messages", json={"name": "stopp_havt"})
    assert wrong.status_code == 409
    h.as_("sara").ok("POST", f"/api/v1/instances/{instance['id']}/messages",
                     json={"name": "klart", "data": {"datum": "2026-12-01"}})
    final = h.as_("sara").ok("GET", f"/api/v1/instances/{instance['id']}")
    assert final["state"] == "completed" and final["outcome"] == "slut"
    assert final["data"]["summering"] == "Stopp i hemtjänst, brukare A: 2026-12-01"
    assert final["ended_at"] is not None
    actions = [e["action"] for e in final["history"]]
    assert actions[:2] == ["instance_started", "task_created"]
    assert {"task_completed", "message_delivered", "instance_completed"} <= set(actions)

    # the ended case keeps its data and history, not its engine state (nothing runs it again)
    with h.services.db.read() as session:
        assert session.get(ProcessInstance, instance["id"]).workflow_json == ""
    late = h.as_("sara").post(f"/api/v1/instances/{instance['id']}/messages",
                              json={"name": "klart", "data": {"datum": "2026-12-02"}})
    assert late.status_code == 409
    assert h.as_("sara").ok("GET", f"/api/v1/instances/{instance['id']}")["history"] == final["history"]


def test_rejected_path_ends_without_message(harness: Harness) -> None:
    h = harness
    h.user("sara", "socialsekreterare")
    instance = start(h)
    [task] = open_tasks(h, "sara")
    h.as_("sara").ok("POST", f"/api/v1/tasks/{task['id']}/complete",
                     json={"data": {"beslut": "avvisat", "kommentar": "Behovet tillgodoses redan"}})
    final = h.as_("sara").ok("GET", f"/api/v1/instances/{instance['id']}")
    assert final["state"] == "completed" and final["outcome"] == "avvisad"


def test_boundary_timer_escalates_to_mottag(harness: Harness) -> None:
    h = harness
    h.user("sara", "socialsekreterare")
    h.user("mona", "mottag")
    h.user("mona.hisingen", "mottag", districts=("Hisingen",))
    h.user("adam", "admin")
    instance = start(h)
    [timer] = h.as_("adam").ok("GET", "/api/v1/timers", params={"instance": instance["id"]})["items"]
    assert timer["task"] == "granska_timeout" and timer["kind"] == "duration"
    assert open_tasks(h, "mona") == []  # Mottag has nothing until the hour has passed

    # nobody answers within the hour: the admin console fires the timer
    fired = h.as_("adam").ok("POST", f"/api/v1/timers/{timer['id']}/fire")
    assert fired["fired"] is True and fired["timer"]["state"] == "fired"
    assert open_tasks(h, "sara") == []  # the case worker's task was withdrawn
    [escalated] = open_tasks(h, "mona")
    assert escalated["name"] == "eskalera" and escalated["lane"] == "Mottag" and escalated["district"] == "Nordost"
    assert open_tasks(h, "mona.hisingen") == []  # another district's Mottag does not see it
    assert h.as_("adam").post(f"/api/v1/timers/{timer['id']}/fire").status_code == 404  # fired once only

    h.as_("mona").ok("POST", f"/api/v1/tasks/{escalated['id']}/claim")
    h.as_("mona").ok("POST", f"/api/v1/tasks/{escalated['id']}/complete", json={"data": {"atgard": "Ringt brukaren"}})
    final = h.as_("sara").ok("GET", f"/api/v1/instances/{instance['id']}")
    assert final["state"] == "completed" and final["outcome"] == "eskalerad"


def test_advancing_the_clock_fires_due_timers_once(harness: Harness) -> None:
    h = harness
    h.user("sara", "socialsekreterare")
    h.user("mona", "mottag")
    start(h)
    assert fire_due_timers(h.services) == 0  # not due yet
    SYSTEM_CLOCK.advance(minutes=61)
    assert fire_due_timers(h.services) == 1
    assert fire_due_timers(h.services) == 0
    assert [t["name"] for t in open_tasks(h, "mona")] == ["eskalera"]


def test_completing_before_the_deadline_cancels_the_timer(harness: Harness) -> None:
    h = harness
    h.user("sara", "socialsekreterare")
    h.user("adam", "admin")
    instance = start(h)
    [task] = open_tasks(h, "sara")
    h.as_("sara").ok("POST", f"/api/v1/tasks/{task['id']}/complete", json={"data": {"beslut": "godkant"}})
    assert h.as_("adam").ok("GET", "/api/v1/timers", params={"instance": instance["id"]})["items"] == []
    SYSTEM_CLOCK.advance(hours=2)
    assert fire_due_timers(h.services) == 0


def test_a_failing_script_puts_the_instance_in_error_and_an_admin_retries(harness: Harness) -> None:
    h = harness
    sara = h.user("sara", "socialsekreterare")
    adam = h.user("adam", "admin")
    # the diagram divides by a number the starter gave as zero
    instance = sara.ok("POST", "/api/v1/instances", 201, json={"process": "error_demo", "data": {"antal": 0}})
    assert instance["state"] == "error" and "rakna" in instance["error"] and "division" in instance["error"]
    assert adam.ok("GET", "/api/v1/instances", params={"state": "error"})["total"] == 1
    refused = sara.post(f"/api/v1/instances/{instance['id']}/retry", json={"reason": "nytt försök"})
    assert refused.status_code == 403
    # retrying without fixing the cause fails the same way; with the number corrected it completes
    again = adam.ok("POST", f"/api/v1/instances/{instance['id']}/retry", json={"reason": "nytt försök"})
    assert again["state"] == "error"
    fixed = adam.ok("POST", f"/api/v1/instances/{instance['id']}/retry",
                    json={"reason": "antal rättat efter samtal med handläggaren", "data": {"antal": 4}})
    assert fixed["state"] == "completed" and fixed["error"] is None
    detail = sara.ok("GET", f"/api/v1/instances/{instance['id']}")
    assert detail["data"]["andel"] == 25
    assert [e["action"] for e in detail["history"]].count("instance_retried") == 2
    assert adam.post(f"/api/v1/instances/{instance['id']}/retry", json={"reason": "x"}).status_code == 409


def test_a_task_named_for_someone_without_the_mandate_goes_to_the_lane(harness: Harness) -> None:
    h = harness
    sara = h.user("sara", "socialsekreterare")
    h.user("eva", "eku")
    # a mistyped handläggare, and one who holds no role of the lane: neither may hold the task
    for named, why in (("sarah", "finns inte"), ("eva", "saknar mandat")):
        instance = sara.ok("POST", "/api/v1/instances", 201,
                           json={"process": "core_demo", "data": {**START, "handlaggare": named}})
        [task] = [t for t in open_tasks(h, "sara", assigned="unassigned") if t["instance_id"] == instance["id"]]
        assert task["name"] == "granska" and task["assignee"] is None
        history = sara.ok("GET", f"/api/v1/instances/{instance['id']}")["history"]
        [refused] = [e for e in history if e["action"] == "task_assignee_refused"]
        assert refused["detail"]["named"] == named and why in refused["detail"]["reason"]
        assert open_tasks(h, "eva") == []
