"""Reads as data grows (issue 11 item 6): ``python -m bench.reads [--sizes 200 5000] [--requests 20]``.

For each size N the rows of one real instance of the lifecycle diagram are cloned N times (bulk, as
``bench.inbox`` does); two thirds of the clones are then completed with their task, as a soak
leaves them. A real server answers an admin's ``GET /api/v1/stats`` and ``GET /api/v1/instances``;
p50/p95 per size. A measurement, never a test: the figures go to stdout.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from .common import Client, Server, log, member, ms, percentile, prepare, sqlite_url, workdir
from .inbox import insert_open_instances
from .lifecycle import KEY, start_data


def complete_most(services: Any) -> None:
    """Complete about two thirds of the instances (ids from 0 to a) and their tasks, each after 1–10 h."""
    from service.models import HumanTask, InstanceState, ProcessInstance, TaskStatus

    with services.db.command() as session:
        done = list(session.scalars(select(ProcessInstance.id).where(ProcessInstance.id < "b")))
        tasks = session.execute(select(HumanTask.id, HumanTask.created_at).where(HumanTask.instance_id.in_(done)))
        session.execute(update(HumanTask), [
            {"id": task_id, "status": TaskStatus.COMPLETED, "completed_by": "sara",
             "completed_at": created + timedelta(minutes=60 + number % 540)}
            for number, (task_id, created) in enumerate(tasks)])
        session.execute(update(ProcessInstance).where(ProcessInstance.id.in_(done))
                        .values(state=InstanceState.COMPLETED, ended_at=ProcessInstance.updated_at),
                        execution_options={"synchronize_session": False})


def measure(size: int, requests_count: int) -> dict[str, float]:
    from service.operations.instances import start_instance

    with workdir("reads") as work:
        url = sqlite_url(work)
        services = prepare(url)
        actor, _ = member(services, "sara")
        _, token = member(services, "adam", roles=("admin",))
        template, _ = start_instance(services, actor, KEY, start_data("sara", 0))
        insert_open_instances(services, template.id, size)
        complete_most(services)
        figures: dict[str, float] = {}
        with Server(url, work / "server.log", scheduler=False, node="bench-reads") as server:
            client = Client(server.base, token)
            for path in ("/api/v1/stats", "/api/v1/instances"):
                client.call("GET", path)  # warm-up
                latencies = []
                for _ in range(requests_count):
                    before = time.perf_counter()
                    client.call("GET", path)
                    latencies.append(time.perf_counter() - before)
                figures[f"{path} p50"] = ms(percentile(latencies, 50))
                figures[f"{path} p95"] = ms(percentile(latencies, 95))
            client.close()
        services.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 5000])
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    for size in args.sizes:
        log(f"reads: {size} instances")
        figures = measure(size, args.requests)
        print(f"{size} instances: " + ", ".join(f"{name} {value:.1f} ms" for name, value in figures.items()),
              flush=True)


if __name__ == "__main__":
    main()
