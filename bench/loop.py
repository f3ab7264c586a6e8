"""``loop``: does a step cost the same at a loop's 200th iteration as at its 1st?

A one-task loop (``bench_slinga``: user task → gateway back to it until the form says ``klar``)
completed ``iterations`` times through ``service.operations.tasks.complete_task`` on a temp SQLite
file, no HTTP. The raw engine walks the same loop with a deserialize + complete + run + serialize
per step. A step's cost at iteration *i* is the median over all runs of iterations *i*-2 … *i*+2
(single steps are noisy); the stored state is ``len(ProcessInstance.workflow_json)`` after step *i*
(raw: the length of SpiffWorkflow's own JSON, which includes the spec).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from .common import log, member, ms, prepare, sqlite_url, workdir
from .raw import RawEngine
from .report import Section

KEY = "bench_slinga"
START = {"arende": "Daglig uppföljning", "handlaggare": "sara", "stadsomrade": "Nordost"}
POINTS = (1, 50, 100, 200)


def service_runs(iterations: int, runs: int) -> tuple[list[list[float]], list[int]]:
    """Step times per run and the state size after each step (of the last run)."""
    from service.operations.instances import start_instance
    from service.operations.tasks import complete_task

    times: list[list[float]] = []
    sizes: list[int] = []
    with workdir("loop") as work:
        services = prepare(sqlite_url(work))
        actor, _ = member(services, "sara")
        for run_number in range(runs + 1):  # run 0 warms up (spec cache, connections) and is dropped
            _, changes = start_instance(services, actor, KEY, START)
            task_id = changes.created_tasks[0].id
            steps, sizes = [], []
            for iteration in range(1, (iterations if run_number else 5) + 1):
                started = time.perf_counter()
                _, created, instance = complete_task(services, actor, task_id, {"klar": False, "varv": iteration})
                steps.append(time.perf_counter() - started)
                sizes.append(len(instance.workflow_json))
                [task] = created
                task_id = task.id
            _, created, instance = complete_task(services, actor, task_id, {"klar": True})
            if instance.state.value != "completed" or created:
                raise RuntimeError(f"the loop did not end: {instance.state}")
            if run_number:
                times.append(steps)
                log(f"loop: service run {run_number}/{runs} done ({iterations} steps)")
        services.close()
    return times, sizes


def raw_runs(iterations: int, runs: int) -> tuple[list[list[float]], list[int]]:
    raw = RawEngine(KEY)
    times: list[list[float]] = []
    sizes: list[int] = []
    for run_number in range(runs + 1):
        text = raw.dumps(raw.new(START))
        steps, sizes = [], []
        for iteration in range(1, (iterations if run_number else 5) + 1):
            text, elapsed = raw.step(text, {"klar": False, "varv": iteration})
            steps.append(elapsed)
            sizes.append(len(text))
        text, _ = raw.step(text, {"klar": True})
        if not raw.loads(text).is_completed():
            raise RuntimeError("the raw loop did not end")
        if run_number:
            times.append(steps)
    return times, sizes


def at(times: list[list[float]], iteration: int) -> float:
    """Median step time around ``iteration`` (1-based) over all runs."""
    window = [run[i - 1] for run in times for i in range(max(1, iteration - 2), min(len(run), iteration + 2) + 1)]
    return statistics.median(window)


def run(sizes: Any, section: Section) -> None:
    """Measure and add the figures to ``section`` (figures added before a crash are kept)."""
    iterations, runs = sizes.iterations, sizes.loop_runs
    points = [p for p in POINTS if p <= iterations] or [1]
    if points[-1] != iterations:
        points.append(iterations)
    log(f"loop: {runs} run(s) of {iterations} steps through service.operations")
    service_times, service_sizes = service_runs(iterations, runs)
    log(f"loop: {runs} run(s) of {iterations} steps on the raw engine")
    raw_times, raw_sizes = raw_runs(iterations, runs)
    target = "≤ 1.2× (raw engine: 16×)"
    for point in points:
        section.add(f"step at iteration {point}", ms(at(service_times, point)), "ms", raw=ms(at(raw_times, point)))
    last = points[-1]
    service_growth = at(service_times, last) / at(service_times, 1)
    raw_growth = at(raw_times, last) / at(raw_times, 1)
    section.add(f"step cost {last}th / 1st", service_growth, "×", raw=raw_growth, target=target)
    for point in points:
        section.add(f"state after iteration {point}", service_sizes[point - 1] / 1000, "KB",
                    raw=raw_sizes[point - 1] / 1000)
    section.add(f"state {last}th / 1st", service_sizes[last - 1] / service_sizes[0], "×",
                raw=raw_sizes[last - 1] / raw_sizes[0])
    section.note(f"loop: step = complete_task (service) or deserialize+complete+run+serialize (raw); median of "
                 f"iterations i±2 over {runs} run(s); state = len(workflow_json) (service, spec stored once per "
                 "version) / len(serialize_json) (raw, spec included)")
