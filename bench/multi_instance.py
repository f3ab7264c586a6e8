"""``multi_instance``: a parallel multi-instance user task and a multi-instance script task over N items.

Through ``service.operations`` in-process on a temp SQLite file: the user-task variant is started
(one open task per item) and every task is completed, one at a time; the script variant runs to its
end within the start command. Total wall time of each. The raw engine does the same in-process,
saving and restoring the workflow with its own serializer around each completion, as a service must.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from .common import log, member, ms, prepare, sqlite_url, workdir
from .raw import RawEngine
from .report import Section

USER_KEY = "bench_mi_uppgift"
SCRIPT_KEY = "bench_mi_skript"
FORM = {"godkand": True}
TARGET = "≤ 0.5 s (SpiffArena: 33 s)"


def items(count: int) -> list[dict[str, int]]:
    return [{"nr": number} for number in range(count)]


def service_user_task(services: Any, actor: Any, count: int) -> tuple[float, float, list[float]]:
    """(total seconds, start seconds, per-completion seconds)."""
    from service.operations.instances import start_instance
    from service.operations.tasks import complete_task

    started = time.perf_counter()
    instance, changes = start_instance(services, actor, USER_KEY,
                                       {"handlaggare": "sara", "stadsomrade": "Nordost", "poster": items(count)})
    start_seconds = time.perf_counter() - started
    if len(changes.created_tasks) != count:
        raise RuntimeError(f"expected {count} open tasks, got {len(changes.created_tasks)}")
    completions = []
    for task in changes.created_tasks:
        before = time.perf_counter()
        _, _, instance = complete_task(services, actor, task.id, FORM)
        completions.append(time.perf_counter() - before)
    total = time.perf_counter() - started
    if instance.state.value != "completed":
        raise RuntimeError(f"the multi-instance did not end: {instance.state}")
    return total, start_seconds, completions


def service_script_task(services: Any, actor: Any, count: int) -> float:
    from service.operations.instances import start_instance

    started = time.perf_counter()
    instance, _ = start_instance(services, actor, SCRIPT_KEY, {"stadsomrade": "Nordost", "poster": items(count)})
    elapsed = time.perf_counter() - started
    if instance.state.value != "completed" or len(instance.data.get("resultat", [])) != count:
        raise RuntimeError(f"the multi-instance script did not finish: {instance.state}")
    return elapsed


def raw_user_task(count: int) -> float:
    raw = RawEngine(USER_KEY)
    started = time.perf_counter()
    text = raw.dumps(raw.new({"handlaggare": "sara", "stadsomrade": "Nordost", "poster": items(count)}))
    for _ in range(count):
        text, _elapsed = raw.step(text, FORM)
    elapsed = time.perf_counter() - started
    if not raw.loads(text).is_completed():
        raise RuntimeError("the raw multi-instance did not end")
    return elapsed


def raw_script_task(count: int) -> float:
    raw = RawEngine(SCRIPT_KEY)
    started = time.perf_counter()
    workflow = raw.new({"stadsomrade": "Nordost", "poster": items(count)})
    raw.dumps(workflow)
    elapsed = time.perf_counter() - started
    if not workflow.is_completed():
        raise RuntimeError("the raw multi-instance script did not end")
    return elapsed


def _around(values: list[float], index: int) -> float:
    """The median of the five values nearest ``index`` (single completions are noisy)."""
    low = max(0, min(index - 2, len(values) - 5))
    return statistics.median(values[low:low + 5])


def run(sizes: Any, section: Section) -> None:
    """Measure and add the figures to ``section`` (figures added before a crash are kept)."""
    count = sizes.items
    with workdir("mi") as work:
        services = prepare(sqlite_url(work))
        actor, _ = member(services, "sara")
        service_user_task(services, actor, 3)  # warm-up: spec cache, connections
        service_script_task(services, actor, 3)
        log(f"multi_instance: user task over {count} items through service.operations")
        total, start_seconds, completions = service_user_task(services, actor, count)
        log(f"multi_instance: script task over {count} items")
        script_seconds = service_script_task(services, actor, count)
        services.close()
    log("multi_instance: raw engine")
    raw_user_task(3)
    raw_total = raw_user_task(count)
    raw_script = raw_script_task(count)
    section.add(f"user task × {count}: total", total, "s", raw=raw_total)
    section.add(f"user task × {count}: start", start_seconds, "s")
    section.add(f"user task × {count}: first completion", ms(completions[0]), "ms")
    section.add(f"user task × {count}: last completion", ms(completions[-1]), "ms")
    first, last = _around(completions, 0), _around(completions, len(completions) - 1)
    section.add(f"user task × {count}: last / first completion", last / first, "×", target="≤ 1.2×")
    section.add(f"script task × {count}: total", script_seconds, "s", raw=raw_script, target=TARGET)
    section.note("multi_instance: last / first completion = median of the last 5 ÷ median of the first 5 completions")
    section.note(f"multi_instance: user task = start + {count} complete_task calls (in-process, SQLite); raw = "
                 "create + run + serialize, then per completion deserialize + complete + run + serialize")
