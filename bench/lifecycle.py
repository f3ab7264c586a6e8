"""``lifecycle``: start → complete one user task → end, through the HTTP API of a real server process.

One ``samverkan serve --no-scheduler`` subprocess on a SQLite file in a temp dir. A lifecycle is
what a client does: ``POST /instances`` (start form validated), ``GET /tasks?instance=…&assigned=me``
to find the task, ``POST /tasks/{id}/complete``. Measured with one client (sequential) and with four
concurrent clients (each its own user and ``requests.Session``). The raw engine does the same
lifecycle in-process: create, run, serialize, deserialize, complete the task, run, serialize.
"""

from __future__ import annotations

import functools
import statistics
import threading
import time
from typing import Any

from .common import (
    Client,
    Server,
    cpu_seconds,
    growth,
    in_threads,
    log,
    member,
    ms,
    percentile,
    prepare,
    rss_mb,
    sqlite_url,
    stored_bytes,
    workdir,
)
from .raw import RawEngine
from .report import Section

KEY = "bench_livscykel"
FORM = {"beslut": "bifall"}
TARGET_RATE = "≥ 150/s and ≤ 4× raw (4 clients)"
TARGET_STORED = "≤ 4 KB (issue 12); ≤ 8 KB audit included (DESIGN)"
TARGET_RSS = "≤ 150 MB"
TARGET_CPU = "150/s in one process needs ≤ 6.7 ms"
CLIENTS = 4


def start_data(username: str, number: int) -> dict[str, Any]:
    return {"arende": f"Benchmark {number}", "handlaggare": username, "stadsomrade": "Nordost"}


def http_lifecycle(client: Client, username: str, number: int) -> tuple[float, float]:
    """One lifecycle; returns (whole lifecycle, the completion request) in seconds."""
    started = time.perf_counter()
    instance = client.call("POST", "/api/v1/instances", 201,
                           json={"process": KEY, "data": start_data(username, number)})
    tasks = client.call("GET", "/api/v1/tasks", params={"instance": instance["id"], "assigned": "me"})["items"]
    if len(tasks) != 1:
        raise RuntimeError(f"expected one open task after start, got {tasks}")
    before_complete = time.perf_counter()
    done = client.call("POST", f"/api/v1/tasks/{tasks[0]['id']}/complete", json={"data": FORM})
    finished = time.perf_counter()
    if done["instance"]["state"] != "completed":
        raise RuntimeError(f"the instance did not end: {done['instance']}")
    return finished - started, finished - before_complete


def raw_lifecycle(raw: RawEngine, number: int) -> tuple[float, float]:
    """The same lifecycle on the raw engine: (whole lifecycle, the completion part) in seconds."""
    started = time.perf_counter()
    text = raw.dumps(raw.new(start_data("sara", number)))
    before_complete = time.perf_counter()
    workflow = raw.loads(text)
    raw.complete(workflow, raw.ready_user_tasks(workflow)[0], FORM)
    raw.dumps(workflow)
    finished = time.perf_counter()
    if not workflow.is_completed():
        raise RuntimeError("the raw workflow did not end")
    return finished - started, finished - before_complete


def measure_raw(count: int) -> tuple[list[float], list[float]]:
    raw = RawEngine(KEY)
    for number in range(10):  # warm-up
        raw_lifecycle(raw, number)
    totals, completions = [], []
    for number in range(count):
        total, completion = raw_lifecycle(raw, number)
        totals.append(total)
        completions.append(completion)
    return totals, completions


def concurrent(base: str, users: list[tuple[Any, str]], per_client: int) -> tuple[float, list[float]]:
    """``per_client`` lifecycles by each user at once; returns the wall time and the completion times."""
    completions: list[float] = []
    lock = threading.Lock()

    def work_as(actor: Any, token: str) -> None:
        own = Client(base, token)
        try:
            for number in range(per_client):
                _, completion = http_lifecycle(own, actor.username, number)
                with lock:
                    completions.append(completion)
        finally:
            own.close()

    wall = in_threads([functools.partial(work_as, actor, token) for actor, token in users])
    return wall, completions


def _spent(before: float | None, after: float | None, lifecycles: int) -> float | None:
    """The server's CPU seconds per lifecycle between two readings (None where /proc is not there)."""
    return None if before is None or after is None else (after - before) / lifecycles


def run(sizes: Any, section: Section) -> None:
    """Measure and add the figures to ``section`` (figures added before a crash are kept)."""
    count = sizes.lifecycles
    with workdir("lifecycle") as work:
        url = sqlite_url(work)
        services = prepare(url)
        users = [member(services, name) for name in ("sara", "sam", "siv", "sune")[:CLIENTS]]
        services.close()
        empty = stored_bytes(url)
        with Server(url, work / "server.log", scheduler=False, node="bench-lifecycle") as server:
            log(f"lifecycle: server up on {server.base}; {count} sequential lifecycles")
            client = Client(server.base, users[0][1])
            for number in range(5):  # warm-up: spec cache, connections
                http_lifecycle(client, "sara", number)
            totals, completions = [], []
            cpu_before = cpu_seconds(server.process.pid)
            started = time.perf_counter()
            for number in range(count):
                total, completion = http_lifecycle(client, "sara", number)
                totals.append(total)
                completions.append(completion)
            sequential_wall = time.perf_counter() - started
            sequential_cpu = _spent(cpu_before, cpu_seconds(server.process.pid), count)
            client.close()

            log(f"lifecycle: {count} lifecycles over {CLIENTS} concurrent clients")
            per_client = max(1, count // CLIENTS)
            cpu_before = cpu_seconds(server.process.pid)
            concurrent_wall, concurrent_completions = concurrent(server.base, users, per_client)
            concurrent_cpu = _spent(cpu_before, cpu_seconds(server.process.pid), per_client * CLIENTS)
            server_rss = rss_mb(server.process.pid)
        grown = growth(empty, stored_bytes(url))
        instances = 5 + count + per_client * CLIENTS
        with Server(url, work / "server-2.log", scheduler=False, node="bench-lifecycle", workers=2) as server:
            log(f"lifecycle: {count} lifecycles over {CLIENTS} concurrent clients, serve --workers 2")
            concurrent(server.base, users, 5 // CLIENTS + 1)  # warm-up of both workers
            two_wall, _ = concurrent(server.base, users, per_client)

    log(f"lifecycle: raw engine, {max(count, 200)} lifecycles")
    raw_totals, raw_completions = measure_raw(max(count, 200))
    raw_mean = statistics.fmean(raw_totals)
    raw_rate = 1 / raw_mean
    section.add_rate("1 client: lifecycles/s", count / sequential_wall, raw_rate, target=TARGET_RATE)
    section.add("1 client: lifecycle p50", ms(percentile(totals, 50)), "ms", raw=ms(percentile(raw_totals, 50)))
    section.add("1 client: completion p50", ms(percentile(completions, 50)), "ms",
                raw=ms(percentile(raw_completions, 50)))
    section.add("1 client: completion p95", ms(percentile(completions, 95)), "ms",
                raw=ms(percentile(raw_completions, 95)))
    concurrent_count = per_client * CLIENTS
    section.add_rate(f"{CLIENTS} clients: lifecycles/s", concurrent_count / concurrent_wall, raw_rate,
                     target=TARGET_RATE)
    section.add(f"{CLIENTS} clients: completion p50", ms(percentile(concurrent_completions, 50)), "ms",
                raw=ms(percentile(raw_completions, 50)))
    section.add(f"{CLIENTS} clients: completion p95", ms(percentile(concurrent_completions, 95)), "ms",
                raw=ms(percentile(raw_completions, 95)))
    if sequential_cpu is not None and concurrent_cpu is not None:
        section.add("1 client: server CPU per lifecycle", ms(sequential_cpu), "ms", raw=ms(raw_mean),
                    target=TARGET_CPU)
        section.add(f"{CLIENTS} clients: server CPU per lifecycle", ms(concurrent_cpu), "ms", raw=ms(raw_mean),
                    target=TARGET_CPU)
    section.add("raw engine: lifecycle mean", ms(raw_mean), "ms", raw=ms(raw_mean))
    audit = sum(size for name, size in grown.items() if name == "event" or name.startswith("ix_event"))  # the audit log
    section.add("stored per completed instance, all rows", sum(grown.values()) / instances / 1000, "KB",
                target=TARGET_STORED)
    section.add("stored per completed instance, without audit", (sum(grown.values()) - audit) / instances / 1000,
                "KB", target=TARGET_STORED)
    section.add("server process RSS after the runs", server_rss, "MB", target=TARGET_RSS)
    concurrent_rate = concurrent_count / concurrent_wall
    section.add(f"{CLIENTS} clients, serve --workers 2: lifecycles/s", concurrent_count / two_wall, "/s",
                target="scaling shown (serve --workers N)")
    section.add("2 processes ÷ 1 process: lifecycles/s", concurrent_count / two_wall / concurrent_rate, "×",
                target="scaling shown (serve --workers N)")
    section.note(f"lifecycle: stored bytes per completed instance (packed SQLite pages over {instances} instances): "
                 + ", ".join(f"{name} {size / instances:.0f} B" for name, size in grown.items()))
    section.note(f"lifecycle: {count} sequential + {concurrent_count} concurrent lifecycles, each 3 requests "
                 "(start, find task, complete); every instance ended at its end event")
