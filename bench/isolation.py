"""``isolation``: what running diagram code where the OS can stop it costs, per evaluation and per step.

Diagram code runs in worker processes (``service/engine/isolation``); short read-only expressions
stay in-process. Measured in this process, no database, no HTTP, each figure the p50 over
``isolation_rounds`` runs, beside the same work without isolation:

- per evaluation: a read-only expression (stays in process), an expression that must go to a worker
  (a comprehension), and a script (a worker round trip with the changed task data back) — the
  isolated engine, the in-process sandbox alone, and the raw engine (plain ``eval``/``exec``);
- per step: completing the loop diagram's user task (deserialize, complete, gateway, the next
  task's properties, serialize) with ``BpmnEngine`` isolated and with the sandbox alone; and a
  step of a multi-instance script over ten items (ten scripts, so ten round trips). The difference
  is what isolation adds per step (target ≤ 0.3 ms at p50 for the loop step).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .common import BPMN_DIR, FORMS_DIR, log, percentile
from .report import Section

TARGET = "≤ 0.3 ms"
CONTEXT = {"arende": "Daglig uppföljning", "handlaggare": "sara", "stadsomrade": "Nordost", "klar": False,
           "varv": 7, "poster": [{"nr": n} for n in range(10)]}
CHEAP = "'Följ upp ' + arende"
WORKER = "len([p for p in poster if p['nr'] > 4]) > 0"
SCRIPT = "summa = poster[3]['nr'] * 2"


def p50_us(*actions: Callable[[], Any], rounds: int) -> list[float]:
    """p50 in µs of each action, run in turn round after round, so a machine busy with other work
    slows them alike and their difference stays."""
    for _ in range(min(50, rounds)):  # warm-up: workers started, caches filled
        for action in actions:
            action()
    times: list[list[float]] = [[] for _ in actions]
    for _ in range(rounds):
        for action, spent in zip(actions, times, strict=True):
            started = time.perf_counter()
            action()
            spent.append(time.perf_counter() - started)
    return [percentile(spent, 50) * 1e6 for spent in times]


def evaluation(environment: Any, source: str) -> Callable[[], Any]:
    return lambda: environment.evaluate(source, dict(CONTEXT))


def engines(key: str) -> tuple[Any, Any, Any]:
    """(isolated engine, the same with the in-process sandbox only, the definition) for a bench diagram."""
    from processes import script_functions
    from service.clock import Clock
    from service.config import ROOT
    from service.engine.adapter import BpmnEngine
    from service.engine.sandbox import SandboxedScriptEngine
    from service.engine.specs import LaneRoles, parse_bundle

    files = {f"{key}.bpmn": (BPMN_DIR / f"{key}.bpmn").read_bytes()}
    for path in (FORMS_DIR / key).glob("*.json"):
        files[f"{key}/{path.name}"] = path.read_bytes()
    lanes = LaneRoles.load(ROOT / "bpmn" / "lanes.json")
    bundle = parse_bundle(files, lanes)
    if bundle.problems:
        raise RuntimeError(f"{key}: {bundle.problems}")

    class Definition:  # what the adapter reads of a ProcessDefinition row
        id, bpmn_files = abs(hash(key)) % 10_000, bundle.bpmn_files

    Definition.key = key  # type: ignore[attr-defined]
    clock = Clock()
    isolated = BpmnEngine(lanes, script_functions(), clock)
    in_process = BpmnEngine(lanes, script_functions(), clock)
    in_process.close()
    in_process.script_engine = SandboxedScriptEngine(  # type: ignore[assignment]  # the engine before isolation
        {**script_functions(), "now": lambda: clock.local_now().isoformat(timespec="seconds")})
    return isolated, in_process, Definition()


def loop_step(engine: Any, definition: Any) -> Callable[[], None]:
    """One loop step: load, complete the user task, describe the next one, dump."""
    workflow = engine.new(definition, {"arende": "Daglig uppföljning", "handlaggare": "sara",
                                       "stadsomrade": "Nordost"})
    snapshot = engine.start(workflow)
    state = {"text": engine.dump(workflow), "task": snapshot.ready_ids[0], "varv": 0}

    def step() -> None:
        state["varv"] += 1
        loaded = engine.load(definition, state["text"])
        after = engine.complete(loaded, state["task"], {"klar": False, "varv": state["varv"]})
        [ready] = after.ready_tasks  # the next task's title and assignee, as the task index needs them
        state["task"], state["text"] = ready.id, engine.dump(loaded)

    return step


def mi_script_step(engine: Any, definition: Any) -> Callable[[], None]:
    """Starting the multi-instance script diagram over ten items (ten scripts) and running it to its end."""
    def step() -> None:
        workflow = engine.new(definition, {"poster": [{"nr": n} for n in range(10)]})
        if not engine.start(workflow).completed:
            raise RuntimeError("the multi-instance script did not end")

    return step


def run(sizes: Any, section: Section) -> None:
    """Measure and add the figures to ``section``."""
    from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment

    from processes import script_functions
    from service.engine.isolation import IsolatedEnvironment
    from service.engine.sandbox import SandboxedEnvironment

    rounds = sizes.isolation_rounds
    log(f"isolation: {rounds} evaluations of each kind")
    isolated = IsolatedEnvironment(script_functions(), now=lambda: "2026-03-02T09:00:00+01:00")
    sandboxed = SandboxedEnvironment(script_functions())
    raw = TaskDataEnvironment()
    try:
        for label, source in (("read-only expression (in process)", CHEAP), ("expression in a worker", WORKER)):
            value, before, plain = p50_us(*(evaluation(env, source) for env in (isolated, sandboxed, raw)),
                                          rounds=rounds)
            section.add(f"{label}: p50", value, "µs", raw=plain)
            section.add(f"{label}, sandbox only: p50", before, "µs", raw=plain)
        value, before, plain = p50_us(lambda: isolated.execute(SCRIPT, dict(CONTEXT)),
                                      lambda: sandboxed.execute(SCRIPT, dict(CONTEXT)),
                                      lambda: raw.execute(SCRIPT, dict(CONTEXT)), rounds=rounds)
        section.add("script in a worker: p50", value, "µs", raw=plain)
        section.add("script, sandbox only: p50", before, "µs", raw=plain)
    finally:
        isolated.close()

    steps = max(50, rounds // 4)
    log(f"isolation: {steps} loop steps, isolated and sandbox only")
    engine, in_process, definition = engines("bench_slinga")
    try:
        isolated_step, sandbox_step = p50_us(loop_step(engine, definition), loop_step(in_process, definition),
                                             rounds=steps)
        section.add("loop step, isolated: p50", isolated_step / 1000, "ms", raw=sandbox_step / 1000)
        section.add("isolation per loop step: p50", (isolated_step - sandbox_step) / 1000, "ms", target=TARGET)
    finally:
        engine.close()

    steps = max(20, rounds // 20)
    log(f"isolation: {steps} multi-instance script steps (10 scripts each), isolated and sandbox only")
    engine, in_process, definition = engines("bench_mi_skript")
    try:
        isolated_mi, sandbox_mi = p50_us(mi_script_step(engine, definition), mi_script_step(in_process, definition),
                                         rounds=steps)
        section.add("10-script step, isolated: p50", isolated_mi / 1000, "ms", raw=sandbox_mi / 1000)
        section.add("isolation per script in a step: p50", (isolated_mi - sandbox_mi) / 10 / 1000, "ms")
    finally:
        engine.close()
    section.note("isolation: raw engine column = SpiffWorkflow's plain eval/exec for evaluations, and the same "
                 "step with the in-process sandbox only (the engine before isolation) for steps; 'isolation per "
                 "…' = isolated p50 − sandbox-only p50, measured in turn. Read-only expressions bounded by what "
                 "they read run in process (service/engine/isolation/cheap.py); the rest costs a worker round trip.")
