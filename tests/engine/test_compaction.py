"""Finished history is dropped, so long repetitions cost the same per step and stay small."""

from __future__ import annotations

import time

import pytest

from service.clock import Clock
from service.config import ROOT
from service.engine.adapter import BpmnEngine
from service.engine.specs import LaneRoles, parse_bundle

from ..conftest import FIXTURES


def _engine(key: str, threshold: int) -> tuple[BpmnEngine, object]:
    files = {f"{key}.bpmn": (FIXTURES / "bpmn" / f"{key}.bpmn").read_bytes()}
    for path in (FIXTURES / "forms" / key).glob("*.json"):
        files[f"{key}/{path.name}"] = path.read_bytes()
    lanes = LaneRoles.load(ROOT / "bpmn" / "lanes.json")
    bundle = parse_bundle(files, lanes)
    assert bundle.problems == []

    class Definition:
        id, bpmn_files = hash(key) % 1000, bundle.bpmn_files

    Definition.key = key  # type: ignore[attr-defined]
    return BpmnEngine(lanes, {}, Clock(), compact_threshold=threshold), Definition()


def _run_loop(engine: BpmnEngine, definition: object, rounds: int) -> tuple[list[int], list[float], dict]:
    workflow = engine.new(definition, {"varv": 0})
    snapshot = engine.start(workflow)
    sizes, costs = [], []
    for round_no in range(rounds):
        [task] = snapshot.ready_tasks
        assert task.title == f"Uppföljning {round_no + 1}"
        started = time.perf_counter()
        workflow = engine.load(definition, text) if round_no else workflow  # noqa: F821  (text set below)
        snapshot = engine.complete(workflow, task.id, {"avsluta": round_no == rounds - 1, "anteckning": f"v{round_no}"})
        text = engine.dump(workflow)
        costs.append(time.perf_counter() - started)
        sizes.append(len(text))
    return sizes, costs, snapshot.data


def test_a_long_loop_keeps_its_state_small_and_its_data_whole() -> None:
    engine, definition = _engine("loop_demo", threshold=60)
    sizes, _, data = _run_loop(engine, definition, 200)
    assert data["varv"] == 200 and data["senaste"] == "v199"
    # without compaction the state grows by every step; with it the tree stays bounded
    assert max(sizes[150:]) <= max(sizes[:60]) * 1.1, (sizes[:60], sizes[150:])


def test_without_compaction_the_state_grows() -> None:
    engine, definition = _engine("loop_demo", threshold=10**9)
    sizes, _, data = _run_loop(engine, definition, 100)
    assert data["varv"] == 100
    assert sizes[-1] > 3 * sizes[20]


@pytest.mark.parametrize("threshold", [0, 5])
def test_aggressive_compaction_keeps_timers_and_messages_working(threshold: int) -> None:
    engine, definition = _engine("core_demo", threshold)
    workflow = engine.new(definition, {"arende": "A", "handlaggare": "sara", "stadsomrade": "Nordost"})
    snapshot = engine.start(workflow)
    [task] = snapshot.ready_tasks
    workflow = engine.load(definition, engine.dump(workflow))
    snapshot = engine.complete(workflow, task.id, {"beslut": "godkant"})
    assert snapshot.waits_for_messages == ["klart"]
    workflow = engine.load(definition, engine.dump(workflow))
    final = engine.deliver_message(workflow, "klart", {"datum": "nu"})
    assert final.completed and final.end_event == "slut" and final.data["summering"] == "A: nu"


def test_the_instance_data_stays_current_when_history_is_dropped() -> None:
    engine, definition = _engine("loop_demo", threshold=0)
    workflow = engine.new(definition, {"varv": 0})
    snapshot = engine.start(workflow)
    for round_no in range(3):
        [task] = snapshot.ready_tasks
        workflow = engine.load(definition, engine.dump(workflow))
        snapshot = engine.complete(workflow, task.id, {"avsluta": False, "anteckning": f"v{round_no}"})
        # what reads show of the running instance is what the scripts have written so far
        assert snapshot.data["varv"] == round_no + 1 and snapshot.data["senaste"] == f"v{round_no}"
