"""The engine adapter's own rules: timer values, cycle parsing, and stored state without the spec."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from service.clock import Clock
from service.config import ROOT
from service.engine.adapter import BpmnEngine, NotWaiting
from service.engine.specs import LaneRoles, parse_bundle
from service.engine.timers import _parse_cycle, due_from, timer_literal

from ..conftest import FIXTURES


@pytest.mark.parametrize("text,expected", [
    ("PT2H", "PT2H"), ("P14D", "P14D"), ("'P14D'", "P14D"), ('"PT5M"', "PT5M"), ("P1Y2M3DT4H5M6S", "P1Y2M3DT4H5M6S"),
    ("R/P1D", "R/P1D"), ("R3/PT1H", "R3/PT1H"), ("2026-12-01T08:00:00+01:00", "2026-12-01T08:00:00+01:00"),
    ("R/2026-12-01T08:00:00+01:00/P1D", "R/2026-12-01T08:00:00+01:00/P1D"), ("2026-12-01", "2026-12-01"),
    ("P", None), ("PT", None), ("add_working_hours(now(), 2)", None), ("forfaller", None), ("P1DX", None),
])
def test_timer_literals(text: str, expected: str | None) -> None:
    assert timer_literal(text) == expected


def test_durations_count_calendar_months_and_local_dates() -> None:
    start = datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert due_from("P1M", start) == datetime(2026, 3, 3, 12, tzinfo=UTC)  # 31 days in January
    assert due_from("PT90M", start) == start + timedelta(minutes=90)
    # a date without offset is Swedish local time (CET in December)
    assert due_from("2026-12-01T08:00:00", start) == datetime(2026, 12, 1, 7, tzinfo=UTC)


def test_cycle_parsing() -> None:
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert _parse_cycle("R/P1D", now) == {"cycles": -1, "next": "2026-12-02T09:00:00+00:00", "duration": 86400.0}
    assert _parse_cycle("R2/2026-12-05T08:00:00+00:00/PT12H", now)["cycles"] == 2
    with pytest.raises(ValueError):
        _parse_cycle("R/PT0S", now)


def _engine() -> tuple[BpmnEngine, object]:
    files = {"core_demo.bpmn": (FIXTURES / "bpmn" / "core_demo.bpmn").read_bytes()}
    for path in (FIXTURES / "forms" / "core_demo").iterdir():
        files[f"core_demo/{path.name}"] = path.read_bytes()
    lanes = LaneRoles.load(ROOT / "bpmn" / "lanes.json")
    bundle = parse_bundle(files, lanes)
    assert bundle.problems == []

    class Definition:  # what the adapter reads of a ProcessDefinition row
        id, key, bpmn_files = 1, "core_demo", bundle.bpmn_files

    return BpmnEngine(lanes, {}, Clock()), Definition()


def test_stored_state_has_no_spec_and_restores() -> None:
    engine, definition = _engine()
    workflow = engine.new(definition, {"arende": "A", "handlaggare": "sara", "stadsomrade": "Nordost"})
    snapshot = engine.start(workflow)
    [task] = snapshot.ready_tasks
    assert (task.name, task.assignee, task.district, task.title) == ("granska", "sara", "Nordost", "Granska A")
    text = engine.dump(workflow)
    state = json.loads(text)
    assert "spec" not in state and "subprocess_specs" not in state
    assert "Granska ärendet" not in text  # no element names: the spec is not in there
    restored = engine.load(definition, text)
    after = engine.complete(restored, task.id, {"beslut": "godkant"})
    assert after.ready_tasks == [] and after.waits_for_messages == ["klart"]
    with pytest.raises(NotWaiting):
        engine.complete(restored, task.id, {"beslut": "godkant"})
    final = engine.deliver_message(engine.load(definition, engine.dump(restored)), "klart", {"datum": "i dag"})
    assert final.completed and final.end_event == "slut" and final.data["summering"] == "A: i dag"


def test_timers_fire_only_when_the_service_says_so() -> None:
    engine, definition = _engine()
    workflow = engine.new(definition, {"arende": "A", "stadsomrade": "Nordost"})
    snapshot = engine.start(workflow)
    [timer] = snapshot.timers
    assert timer.task_name == "granska_timeout" and timer.kind == "duration"
    engine.clock.advance(days=2)  # long past due: the engine still waits for the service
    assert engine.snapshot(workflow).timers[0].task_id == timer.task_id
    after = engine.fire_timer(workflow, timer.task_id)
    assert [t.name for t in after.ready_tasks] == ["eskalera"] and after.timers == []
    with pytest.raises(NotWaiting):
        engine.fire_timer(workflow, timer.task_id)


def _gateway_engine() -> tuple[BpmnEngine, object]:
    files = {"gateway_demo.bpmn": (FIXTURES / "bpmn" / "gateway_demo.bpmn").read_bytes()}
    lanes = LaneRoles.load(ROOT / "bpmn" / "lanes.json")
    bundle = parse_bundle(files, lanes)
    assert bundle.problems == []

    class Definition:
        id, key, bpmn_files = 2, "gateway_demo", bundle.bpmn_files

    return BpmnEngine(lanes, {}, Clock()), Definition()


@pytest.mark.parametrize("first,outcome", [("message", "besvarat"), ("timer", "obesvarat")])
def test_event_based_gateway_takes_whichever_comes_first(first: str, outcome: str) -> None:
    engine, definition = _gateway_engine()
    workflow = engine.new(definition, {})
    snapshot = engine.start(workflow)
    assert snapshot.waits_for_messages == ["svar"]
    [timer] = snapshot.timers
    assert timer.kind == "duration"
    workflow = engine.load(definition, engine.dump(workflow))  # both waits survive a round trip
    if first == "message":
        final = engine.deliver_message(workflow, "svar", {"text": "ja"})
    else:
        final = engine.fire_timer(workflow, timer.task_id)
    assert final.completed and final.end_event == outcome and final.timers == []


GOLDEN = FIXTURES / "golden"


def test_golden_states_still_load_and_continue() -> None:
    """States stored by serializer format 1.5 must keep loading after a SpiffWorkflow upgrade."""
    engine, definition = _engine()
    waiting = engine.load(definition, (GOLDEN / "core_demo_at_granska.v1.5.json").read_text())
    [task] = engine.snapshot(waiting).ready_tasks
    assert (task.name, task.assignee) == ("granska", "sara")
    done = engine.complete(waiting, task.id, {"beslut": "avvisat", "kommentar": "Inget behov"})
    assert done.completed and done.end_event == "avvisad"
    escalated = engine.load(definition, (GOLDEN / "core_demo_escalated.v1.5.json").read_text())
    [task] = engine.snapshot(escalated).ready_tasks
    assert task.name == "eskalera" and task.lane == "Mottag"
    assert engine.complete(escalated, task.id, {"atgard": "Ringt"}).end_event == "eskalerad"
