"""``complete``: what completing one user task costs through the HTTP API, and without HTTP, vs the raw engine.

Instances of the lifecycle diagram are started first (not timed); then their tasks are completed
one at a time by one client, and by four concurrent clients. The same completion through
``service.operations.tasks.complete_task`` in this process (no HTTP, same database) shows what the
HTTP layer adds. The raw engine's completion: deserialize, complete the task, run, serialize.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

from .common import (
    Client,
    Server,
    StatementCounter,
    in_threads,
    log,
    member,
    ms,
    percentile,
    prepare,
    sqlite_url,
    workdir,
)
from .lifecycle import FORM, KEY, start_data
from .raw import RawEngine
from .report import Section

CLIENTS = 4


def open_task(client: Client, username: str, number: int) -> str:
    instance = client.call("POST", "/api/v1/instances", 201,
                           json={"process": KEY, "data": start_data(username, number)})
    [task] = client.call("GET", "/api/v1/tasks", params={"instance": instance["id"], "assigned": "me"})["items"]
    return str(task["id"])


def complete_over_http(client: Client, task_id: str) -> float:
    started = time.perf_counter()
    done = client.call("POST", f"/api/v1/tasks/{task_id}/complete", json={"data": FORM})
    elapsed = time.perf_counter() - started
    if done["instance"]["state"] != "completed":
        raise RuntimeError(f"the instance did not end: {done['instance']}")
    return elapsed


def run(sizes: Any, section: Section) -> None:
    """Measure and add the figures to ``section`` (figures added before a crash are kept)."""
    from service.operations.instances import start_instance
    from service.operations.tasks import complete_task

    count = sizes.completions
    with workdir("complete") as work:
        url = sqlite_url(work)
        services = prepare(url)
        users = [member(services, name) for name in ("sara", "sam", "siv", "sune")[:CLIENTS]]
        with Server(url, work / "server.log", scheduler=False, node="bench-complete") as server:
            log(f"complete: starting {count} + {count} instances (not timed)")
            clients = [Client(server.base, token) for _, token in users]
            for number in range(5):  # warm-up
                complete_over_http(clients[0], open_task(clients[0], "sara", number))
            sequential_ids = [open_task(clients[0], "sara", n) for n in range(count)]
            per_client = max(1, count // CLIENTS)
            concurrent_ids = [[open_task(c, actor.username, n) for n in range(per_client)]
                              for (actor, _), c in zip(users, clients, strict=True)]

            log(f"complete: {count} completions, one client")
            started = time.perf_counter()
            sequential = [complete_over_http(clients[0], task_id) for task_id in sequential_ids]
            sequential_wall = time.perf_counter() - started

            log(f"complete: {per_client * CLIENTS} completions, {CLIENTS} concurrent clients")
            concurrent: list[float] = []
            lock = threading.Lock()

            def work_as(client: Client, task_ids: list[str]) -> None:
                for task_id in task_ids:
                    elapsed = complete_over_http(client, task_id)
                    with lock:
                        concurrent.append(elapsed)

            concurrent_wall = in_threads([functools.partial(work_as, c, ids)
                                          for c, ids in zip(clients, concurrent_ids, strict=True)])
            for client in clients:
                client.close()

        log(f"complete: {count} completions through service.operations in-process")
        actor = users[0][0]
        task_ids = []
        statements = StatementCounter(services.db.engine)
        for number in range(count + 5):
            _, changes = start_instance(services, actor, KEY, start_data("sara", number))
            task_ids.append(changes.created_tasks[0].id)
        start_statements = statements.count / (count + 5)
        for task_id in task_ids[:5]:  # warm-up
            complete_task(services, actor, task_id, FORM)
        in_process = []
        statements.count = 0
        for task_id in task_ids[5:]:
            started = time.perf_counter()
            _, _, instance = complete_task(services, actor, task_id, FORM)
            in_process.append(time.perf_counter() - started)
            if instance.state.value != "completed":
                raise RuntimeError(f"the instance did not end: {instance.state}")
        complete_statements = statements.count / count
        statements.close()
        services.close()

    log(f"complete: raw engine, {max(count, 200)} completions")
    raw = RawEngine(KEY)
    saved = [raw.dumps(raw.new(start_data("sara", n))) for n in range(max(count, 200) + 10)]
    raw_times = [raw.step(text, FORM)[1] for text in saved][10:]
    raw_p50 = ms(percentile(raw_times, 50))
    raw_rate = len(raw_times) / sum(raw_times)

    section.add("HTTP, 1 client: p50", ms(percentile(sequential, 50)), "ms", raw=raw_p50)
    section.add("HTTP, 1 client: p95", ms(percentile(sequential, 95)), "ms", raw=ms(percentile(raw_times, 95)))
    section.add_rate("HTTP, 1 client: completions/s", count / sequential_wall, raw_rate)
    section.add_rate(f"HTTP, {CLIENTS} clients: completions/s", len(concurrent) / concurrent_wall, raw_rate)
    section.add(f"HTTP, {CLIENTS} clients: p50", ms(percentile(concurrent, 50)), "ms", raw=raw_p50)
    section.add("operations, no HTTP: p50", ms(percentile(in_process, 50)), "ms", raw=raw_p50, target="≤ 3× raw")
    section.add("SQL statements per start (in-process)", start_statements, "stmts")
    section.add("SQL statements per completion (in-process)", complete_statements, "stmts")
    section.add("raw engine: p50", raw_p50, "ms", raw=raw_p50)
    section.note("complete: HTTP = POST /api/v1/tasks/{id}/complete (auth, form validation, lock, engine, "
                 "index rows, audit, commit); raw = deserialize + complete + run + serialize")
