"""``timers``: N timers due at one instant, fired by two service nodes; and a single timer's lateness.

For each database (a SQLite file; PostgreSQL too when ``SAMVERKAN_TEST_POSTGRES_URL`` is set): N
instances of ``bench_timer`` (an intermediate timer event whose ``timeDate`` is the start data's
``frist``) are started in this process through ``service.operations`` with one and the same
``frist`` a little ahead — far enough that creating them all ends first (the creation rate is
measured on a few instances before). Then two ``samverkan serve`` processes start with their default
configuration (scheduler on) and fire them. Measured: seconds from the due instant until the bench
sees every timer ``fired`` in the database, and the lateness the nodes recorded (``late_seconds``
of each ``timer_fired`` event). Checked: every timer has exactly one ``timer_fired`` event.

Single-timer lateness: with both nodes still running, timers due ~2 s ahead are created through the
HTTP API of one node (so that node's scheduler is told of them), and the same number written by
this process, which serves nothing (as the CLI or a node that stopped would leave them: the nodes
must find them in the ``timer`` table); ``fired_at - due_at`` is read from the ``timer`` table.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from .common import (
    PG_URL,
    Client,
    Server,
    log,
    member,
    percentile,
    postgres_database,
    prepare,
    sig3,
    sqlite_url,
    workdir,
)
from .report import Section

KEY = "bench_timer"
FAR = "2099-01-01T00:00:00+00:00"
PILOT = 40
SERVER_START_BUDGET = 12.0  # seconds allowed for both nodes to come up before the due instant
SINGLE_SAMPLES = 5
CREATORS = 4


def _ours(model: Any) -> Any:
    """Timers of the mass test (the pilot's are due in 2099)."""
    return model.due_at < datetime(2098, 1, 1, tzinfo=UTC)


def create_timers(services: Any, actor: Any, count: int) -> tuple[datetime, float]:
    """Start ``count`` instances whose timers share one due instant; returns (due, creation seconds).

    Set-up, not measured: several writers, as a serving node would have. A pilot (due in 2099, never
    fired, left out of every count) measures the creation rate so the due instant falls after the end.
    """
    from service.operations.instances import start_instance

    def create(frist: str, how_many: int) -> float:
        started = time.perf_counter()
        with ThreadPoolExecutor(CREATORS) as pool:
            list(pool.map(lambda _: start_instance(services, actor, KEY, {"frist": frist, "stadsomrade": "Nordost"}),
                          range(how_many)))
        return time.perf_counter() - started

    per_instance = create(FAR, PILOT) / PILOT
    estimate = per_instance * count * 1.3 + 3
    due = (datetime.now(UTC) + timedelta(seconds=estimate + SERVER_START_BUDGET)).replace(microsecond=0)
    log(f"timers: creating {count} instances (~{per_instance * 1000:.1f} ms each), all due at {due:%H:%M:%S}Z")
    return due, create(due.isoformat(), count)


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def fired_count(services: Any) -> int:
    from service.models import Timer, TimerState

    with services.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Timer).where(
            _ours(Timer), Timer.state == TimerState.FIRED)) or 0)


def firing_events(services: Any) -> list[dict[str, Any]]:
    from service.models import Event

    with services.db.read() as session:
        return [dict(detail) for detail in session.scalars(select(Event.detail).where(Event.action == "timer_fired"))]


def mass_firing(section: Section, label: str, url: str, work: Path, count: int) -> None:
    from service.models import Timer, TimerState

    services = prepare(url)
    actor, token = member(services, "sara")
    due, creation_seconds = create_timers(services, actor, count)
    margin = (due - datetime.now(UTC)).total_seconds()
    log(f"timers[{label}]: created in {creation_seconds:.1f} s; starting two nodes, {margin:.1f} s before due")
    with ExitStack() as stack:
        nodes = [Server(url, work / f"node-{name}.log", scheduler=True, node=f"bench-node-{name}") for name in "ab"]
        for node in nodes:
            stack.callback(node.stop)
        ready_at = None  # when the first node answered (its timer loop runs from then on)
        for node in nodes:
            node.wait_ready()
            ready_at = ready_at or datetime.now(UTC)
        assert ready_at is not None
        late_start = ready_at > due
        if late_start:
            section.note(f"timers[{label}]: creation ran {(ready_at - due).total_seconds():.0f} s past the due "
                         "instant (a loaded machine); the nodes caught up on start, so the time counts from the "
                         "moment the first node answered, not from the due instant")
        wait_for(lambda: datetime.now(UTC) >= due, timeout=max(0.0, (due - datetime.now(UTC)).total_seconds()) + 5)
        limit = max(120.0, count * 0.1)
        log(f"timers[{label}]: due; waiting for {count} timers to fire (limit {limit:.0f} s)")
        all_fired = wait_for(lambda: fired_count(services) >= count or any(n.process.poll() is not None for n in nodes),
                             timeout=limit, interval=0.05)
        seen_at = datetime.now(UTC)
        for node in nodes:
            if node.process.poll() is not None:
                raise RuntimeError(f"node {node.node} exited with {node.process.returncode}:\n{node.log_tail()}")
        fired = fired_count(services)
        time.sleep(2)  # let a node that would fire something twice do it before we count
        events = [e for e in firing_events(services) if e.get("due_at", FAR) < "2098"]
        with services.db.read() as session:
            our_ids = set(session.scalars(select(Timer.id).where(_ours(Timer))))
            by_node = dict(collections.Counter(session.scalars(select(Timer.claimed_by).where(
                _ours(Timer), Timer.state == TimerState.FIRED))))
            last_fired_at = session.scalar(select(func.max(Timer.fired_at)).where(_ours(Timer)))
        per_timer = collections.Counter(e.get("timer_id") for e in events)
        twice = sum(1 for n in per_timer.values() if n > 1)
        missing = len(our_ids - set(per_timer))
        lateness = [float(e["late_seconds"]) for e in events if "late_seconds" in e]
        elapsed = (seen_at - max(due, ready_at)).total_seconds()
        target = "≤ 30 s for 10,000 on two nodes (PostgreSQL), none twice"
        if all_fired:
            section.add(f"{label}: {count} due at once, all fired in", elapsed, "s", target=target)
        else:
            section.add(f"{label}: {count} due at once, all fired in", None, "s", target=target,
                        text=f"{fired} of {count} fired in {elapsed:.0f} s")
        section.add(f"{label}: timers fired twice", float(twice), "timers",
                    text=f"{twice} of {len(per_timer)}", target="0")
        if lateness:
            section.add(f"{label}: late_seconds p50 / max", percentile(lateness, 50), "s",
                        text=f"{percentile(lateness, 50):.3g} / {max(lateness):.3g}")
        last = sig3((last_fired_at - max(due, ready_at)).total_seconds()) if last_fired_at else "n/a"
        section.note(f"timers[{label}]: {count} instances created in {creation_seconds:.1f} s (in-process); "
                     f"fired by node: {by_node}; timer_fired events: {len(events)}, timers without one: {missing}; "
                     f"last fired_at − max(due, nodes up) = {last} s")
        single_timer(section, label, services, actor, Client(nodes[0].base, token))
    services.close()


def single_timer(section: Section, label: str, services: Any, actor: Any, client: Client) -> None:
    """Timers due ~2 s ahead: created through a node's HTTP API, and written by a process that serves nothing."""
    from service.models import Timer, TimerState
    from service.operations.instances import start_instance

    def fired_rows(instance_ids: list[str], timeout: float) -> list[Any]:
        def rows() -> list[Any]:
            with services.db.read() as session:
                return list(session.scalars(select(Timer).where(Timer.instance_id.in_(instance_ids))))

        wait_for(lambda: all(t.state == TimerState.FIRED for t in rows()), timeout=timeout, interval=0.1)
        return rows()

    def report(what: str, instance_ids: list[str], timeout: float) -> None:
        late = [(t.fired_at - t.due_at).total_seconds() for t in fired_rows(instance_ids, timeout) if t.fired_at]
        if len(late) == len(instance_ids):
            section.add(f"{label}: 1 timer {what}, late p50", percentile(late, 50), "s", target="< 1 s")
            section.add(f"{label}: 1 timer {what}, late max", max(late), "s", target="< 1 s")
        else:
            section.add(f"{label}: 1 timer {what}, late", None, "s", target="< 1 s",
                        text=f"{len(late)} of {len(instance_ids)} fired in {timeout:.0f} s")

    def frist(number: int) -> str:
        return (datetime.now(UTC) + timedelta(seconds=2 + 0.37 * number)).isoformat()

    log(f"timers[{label}]: single-timer lateness, {SINGLE_SAMPLES} timers created through a node's API")
    via_api = [client.call("POST", "/api/v1/instances", 201,
                           json={"process": KEY, "data": {"frist": frist(n), "stadsomrade": "Nordost"}})["id"]
               for n in range(SINGLE_SAMPLES)]
    client.close()
    report("via API", via_api, timeout=30)
    # Written by this process, which serves nothing: no node is told; they must find it in the timer table.
    log(f"timers[{label}]: {SINGLE_SAMPLES} timers written outside the nodes")
    outside = [start_instance(services, actor, KEY, {"frist": frist(n), "stadsomrade": "Nordost"})[0].id
               for n in range(SINGLE_SAMPLES)]
    report("from outside", outside, timeout=45)


def run(sizes: Any, section: Section) -> None:
    """Measure and add the figures to ``section`` (figures added before a crash are kept)."""
    count = sizes.timers
    with workdir("timers") as work:
        mass_firing(section, "SQLite", sqlite_url(work), work, count)
    if PG_URL:
        with workdir("timers-pg") as work, postgres_database() as url:
            mass_firing(section, "PostgreSQL", url, work, count)
    else:
        section.note("timers: SAMVERKAN_TEST_POSTGRES_URL not set — PostgreSQL not measured")
    section.note(f"timers: '1 timer via API' = {SINGLE_SAMPLES} timers due ~2 s ahead created through node a's API; "
                 "'from outside' = written by the bench process, which serves nothing (no node is told of them)")
    section.note("timers: no raw-engine counterpart (the engine does not fire timers by itself)")
