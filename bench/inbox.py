"""``inbox``: ``GET /api/v1/tasks?assigned=all`` for a lane member with N open instances in the database.

The rows are shaped like those a real start writes (``service/operations/persist.py``): one real
instance of the lifecycle diagram is started through the operations, and its ``ProcessInstance``
(with its ``workflow_json``), its open ``HumanTask`` and its ``InstanceAccess`` rows are cloned N
times with bulk inserts (SQLAlchemy Core ``executemany``), spread over five lanes, four districts,
500 other case workers and a year of creation dates; half of the tasks are assigned, a few to the
member who asks. Then a real server answers the member's inbox; p50/p95 over the requests, first
quiet, then (the target's figure) while ``WRITERS`` other clients complete tasks through the same
server — each in a loop: start a lifecycle instance, find its task, complete it — so every inbox
request competes with completions for the server and the database's write lock. The
same query run in this process without HTTP shows what the HTTP layer adds. The audit ``event``
rows a real start also writes are not inserted: the inbox does not read them. No ``ANALYZE`` is run
(the service does not run it either).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, inspect, select, text

from .common import Client, Server, log, member, ms, percentile, prepare, sqlite_url, workdir
from .complete import complete_over_http, open_task
from .lifecycle import KEY, start_data
from .report import Section

LANES = ("Socialsekreterare", "Mottag", "Myndighet", "Biståndshandläggare", "Enhetschef utförare")
DISTRICTS = ("Centrum", "Hisingen", "Nordost", "Sydväst")
OTHER_USERS = 500
OWN_EVERY = 2500  # every 2500th task is assigned to the member who asks
CHUNK = 5000
WRITERS = ("sam", "siv", "sune", "svea")  # the 4 clients completing tasks while the inbox is measured


def insert_open_instances(services: Any, template_id: str, count: int) -> None:
    """Clone the template instance's rows ``count`` times with bulk inserts."""
    from service.models import HumanTask, InstanceAccess, InstanceState, ProcessInstance, TaskStatus

    with services.db.read() as session:
        instance = session.get(ProcessInstance, template_id)
        [task] = session.scalars(select(HumanTask).where(HumanTask.instance_id == template_id))
        assert instance is not None
        # Every column as the real start wrote it (so columns added later are filled too); overridden below.
        base_instance, base_task = columns_of(instance), columns_of(task)
        task_data = dict(task.data)
    now = services.now()
    lane_roles = {lane: services.lanes.roles(lane) or [] for lane in LANES}
    instances: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    access: list[dict[str, Any]] = []

    def flush(conn: Any) -> None:
        for table, rows in ((ProcessInstance.__table__, instances), (HumanTask.__table__, tasks),
                            (InstanceAccess.__table__, access)):
            if rows:
                conn.execute(insert(table), rows)
                rows.clear()

    chance = random.Random(2026)  # noqa: S311  # a reproducible spread of rows, not a secret
    with services.db.engine.begin() as conn:
        for number in range(count):
            instance_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
            lane, district = chance.choice(LANES), chance.choice(DISTRICTS)
            other = f"handlaggare{chance.randrange(OTHER_USERS):03d}"
            if number % OWN_EVERY == 0:
                assignee: str | None = "sara"
            elif chance.random() < 0.5:
                assignee = other
            else:
                assignee = None
            created = now - timedelta(minutes=chance.randrange(365 * 24 * 60))
            data = {**task_data, "arende": f"Ärende {number}", "stadsomrade": district,
                    "handlaggare": assignee or other}
            instances.append({
                **base_instance, "id": instance_id, "state": InstanceState.RUNNING,
                "case_ref": f"2026-SOC-{number:06d}", "started_by": other, "started_at": created,
                "updated_at": created, "ended_at": None, "data": data, "districts": [district], "error": None,
                "outcome": None, "state_reason": None, "version": 1,
            })
            tasks.append({
                **base_task, "id": task_id, "instance_id": instance_id, "title": f"Handlägg Ärende {number}",
                "lane": lane, "roles": lane_roles[lane], "district": district, "assignee": assignee,
                "status": TaskStatus.OPEN, "case_ref": f"2026-SOC-{number:06d}", "data": data,
                "created_at": created, "due_at": created + timedelta(days=7), "completed_at": None,
                "completed_by": None, "assign_reason": None,
            })
            access.append({"instance_id": instance_id, "kind": "user", "value": other})
            access.append({"instance_id": instance_id, "kind": "district", "value": district})
            if assignee and assignee != other:
                access.append({"instance_id": instance_id, "kind": "user", "value": assignee})
            if len(instances) >= CHUNK:
                flush(conn)
        flush(conn)
    if services.db.is_sqlite:
        with services.db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def columns_of(row: Any) -> dict[str, Any]:
    """A mapped row's column values keyed by column name (what a Core insert takes)."""
    mapper = inspect(row).mapper
    return {attr.columns[0].key: getattr(row, attr.key) for attr in mapper.column_attrs}


def query_in_process(services: Any, actor: Any) -> tuple[float, int]:
    """The inbox's own queries (count + first page, ``access.actionable_page``), as ``GET /tasks`` runs them,
    without HTTP."""
    from service.access import actionable_page
    from service.access.lanes import offered_lanes

    started = time.perf_counter()
    lanes = offered_lanes(services, actor.roles)
    with services.db.read() as session:
        rows, total = actionable_page(session, actor, lanes, "all", limit=50)
    elapsed = time.perf_counter() - started
    if not rows:
        raise RuntimeError("the inbox query found nothing")
    return elapsed, int(total or 0)


def run(sizes: Any, section: Section) -> None:
    """Measure and add the figures to ``section`` (figures added before a crash are kept)."""
    from service.operations.instances import start_instance

    count, requests_count = sizes.inbox_instances, sizes.inbox_requests
    with workdir("inbox") as work:
        url = sqlite_url(work)
        services = prepare(url)
        actor, token = member(services, "sara")
        template, _ = start_instance(services, actor, KEY, start_data("sara", 0))
        log(f"inbox: inserting {count} open instances (bulk)")
        started = time.perf_counter()
        insert_open_instances(services, template.id, count)
        insert_seconds = time.perf_counter() - started
        with services.db.read() as session:
            open_tasks = session.scalar(text("SELECT count(*) FROM human_task WHERE status = 'open'"))
        size_mb = (work / "samverkan.sqlite3").stat().st_size / 1e6
        log(f"inbox: {open_tasks} open tasks, {size_mb:.0f} MB; {requests_count} inbox requests")
        writers = [member(services, name) for name in WRITERS]
        with Server(url, work / "server.log", scheduler=False, node="bench-inbox") as server:
            client = Client(server.base, token)
            for _ in range(3):  # warm-up: connections, page cache
                client.call("GET", "/api/v1/tasks", params={"assigned": "all"})
            quiet, total = inbox_requests(client, requests_count)
            log(f"inbox: {requests_count} inbox requests while {len(writers)} clients complete tasks")
            with Completing(server.base, writers) as completing:
                busy, total = inbox_requests(client, requests_count)
                busy_seconds = time.perf_counter() - completing.started
            client.close()
        direct = [query_in_process(services, actor) for _ in range(min(10, requests_count))]
        services.close()
    section.add(f"setup: bulk insert {count} instances", insert_seconds, "s")
    section.add("GET /tasks?assigned=all p50, quiet", ms(percentile(quiet, 50)), "ms")
    section.add("GET /tasks?assigned=all p95, quiet", ms(percentile(quiet, 95)), "ms")
    section.add(f"GET /tasks?assigned=all p50, {len(writers)} clients completing", ms(percentile(busy, 50)), "ms")
    section.add(f"GET /tasks?assigned=all p95, {len(writers)} clients completing", ms(percentile(busy, 95)), "ms",
                target="≤ 50 ms (p95) at 100,000, 4 clients completing")
    section.add("completions/s meanwhile (start + complete)", len(completing.times) / busy_seconds, "/s")
    section.add("same queries in-process (no HTTP) p50", ms(percentile([d[0] for d in direct], 50)), "ms")
    section.note(f"inbox: {open_tasks} open tasks in {count + 1} instances ({size_mb:.0f} MB SQLite file); the "
                 f"member (socialsekreterare, Nordost) may act on {total} of them; page of 50, overdue first; "
                 f"{requests_count} requests quiet, then {requests_count} while {len(writers)} clients (own "
                 f"users) each start an instance and complete its task in a loop ({len(completing.times)} "
                 "completions meanwhile); no raw-engine counterpart (reads never touch the engine)")


def inbox_requests(client: Client, count: int) -> tuple[list[float], int]:
    """``count`` inbox requests one after another: their latencies and the total the last one gave."""
    latencies = []
    total = 0
    for _ in range(count):
        before = time.perf_counter()
        body = client.call("GET", "/api/v1/tasks", params={"assigned": "all"})
        latencies.append(time.perf_counter() - before)
        total = body["total"]
        if not body["items"]:
            raise RuntimeError("the inbox answered with no tasks")
    return latencies, total


class Completing:
    """While open: one thread per user, each starting an instance and completing its task, in a loop."""

    def __init__(self, base: str, users: list[tuple[Any, str]]) -> None:
        self.base, self.users = base, users
        self.times: list[float] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, args=user, daemon=True) for user in users]
        self.started = 0.0

    def _work(self, actor: Any, token: str) -> None:
        client = Client(self.base, token)
        try:
            number = 0
            while not self._stop.is_set():
                task_id = open_task(client, actor.username, number)
                self.times.append(complete_over_http(client, task_id))
                number += 1
        except BaseException as err:  # reported when the block ends
            self.errors.append(err)
        finally:
            client.close()

    def __enter__(self) -> Completing:
        for thread in self._threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(self.times) < len(self.users) and time.monotonic() < deadline and not self.errors:
            time.sleep(0.05)  # every writer is under way before the inbox is measured
        self.started = time.perf_counter()
        self.times.clear()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)
        if self.errors:
            raise self.errors[0]
