"""Fault scenarios against real service processes: kill -9 of a node, a PostgreSQL restart.

Each returns what happened (counts and the lateness of the timers it concerns), so the tests can
assert the promises (every timer fires, none twice, the service says 503 while the database is
down) and ``python -m tests.faults.measure`` can report the lateness figures. Waiting is always
on a condition with a bound (``tests.waiting``), never on time alone.
"""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from sqlalchemy import func, select

from service.models import ProcessInstance, Timer, TimerState
from service.operations.users import create_user
from service.services import Services

from ..conftest import DEFAULT_PASSWORD
from ..test_concurrency import _free_port
from ..test_lifecycle import START
from ..test_timers import _fired_events, _serve, _services, _start_waiting, _stop
from ..waiting import wait_until, wait_until_serving
from .cluster import PrivatePostgres

CREATION_SECONDS = 0.1  # a generous guess per instance the scenario writes before the due instant


@dataclass
class Outcome:
    timers: int = 0
    fired_once: int = 0
    fired_twice: int = 0
    completed: int = 0
    lateness: list[float] = field(default_factory=list)  # seconds past due, of the timers concerned
    notes: dict[str, object] = field(default_factory=dict)


def _tally(services: Services, instances: list[str], concerned: set[str] | None, outcome: Outcome) -> None:
    events = _fired_events(services)
    per_timer = Counter(e.detail["timer_id"] for e in events)
    outcome.fired_once = sum(1 for count in per_timer.values() if count == 1)
    outcome.fired_twice = sum(1 for count in per_timer.values() if count > 1)
    outcome.lateness = sorted(float(e.detail["late_seconds"]) for e in events
                              if concerned is None or e.detail["timer_id"] in concerned)
    with services.db.read() as session:
        outcome.completed = session.scalar(select(func.count()).where(
            ProcessInstance.id.in_(instances), ProcessInstance.state == "completed")) or 0


def _pending(services: Services) -> int:
    with services.db.read() as session:
        return session.scalar(select(func.count()).where(Timer.state == TimerState.PENDING)) or 0


def kill_9(url: str, logs: Path, count: int = 200) -> Outcome:
    """Two nodes, ``count`` timers due at one instant; node A is killed -9 while it holds claims.

    The lateness reported is that of the timers A had claimed but not fired when it died;
    ``notes["after_kill"]`` holds the seconds from the kill to each of their firings.
    """
    services = _services(url)
    outcome = Outcome(timers=count)
    ports = {name: _free_port() for name in ("node-a", "node-b")}
    nodes = {name: _serve(url, name, port, logs / f"{name}.log", wait=False) for name, port in ports.items()}
    try:
        for name, port in ports.items():
            wait_until_serving(nodes[name], port)
        # due once they are all written (so the lateness is the nodes', not the writing's)
        due = services.db.now() + timedelta(seconds=1 + CREATION_SECONDS * count)
        instances = _start_waiting(services, count, due)

        def held_by_a() -> set[str]:
            with services.db.read() as session:
                return set(session.scalars(select(Timer.id).where(Timer.state == TimerState.PENDING,
                                                                  Timer.claimed_by == "node-a")))

        orphaned: set[str] = set()

        def a_holds_claims() -> bool:
            nonlocal orphaned
            orphaned = held_by_a()
            return bool(orphaned) or _pending(services) == 0

        wait_until(a_holds_claims, what="node A to claim timers", interval=0.01)
        nodes["node-a"].send_signal(signal.SIGKILL)  # mid-batch: its claims stay behind
        killed_at = services.db.now()
        nodes["node-a"].wait(timeout=30)
        orphaned &= held_by_a()  # what it really left unfired
        outcome.notes["left_by_killed_node"] = len(orphaned)
        wait_until(lambda: _pending(services) == 0, what="every timer to fire", interval=0.1)
        _tally(services, instances, orphaned, outcome)
        with services.db.read() as session:
            fired_at = list(session.scalars(select(Timer.fired_at).where(Timer.id.in_(orphaned))))
        outcome.notes["after_kill"] = sorted((moment - killed_at).total_seconds() for moment in fired_at if moment)
    finally:
        _stop(*nodes.values())
        services.close()
    return outcome


def database_restart(logs: Path, count: int = 100, down_after_due: float = 2.0) -> Outcome:
    """One node on a private cluster; PostgreSQL stops before ``count`` timers fall due, starts again
    ``down_after_due`` s after. While it is down the node answers 503 with Retry-After.

    The lateness reported is past due (it includes the outage); ``notes["after_restart"]`` holds
    the seconds from the database's restart to each firing.
    """
    from service.migrate import upgrade

    cluster = PrivatePostgres()
    outcome = Outcome(timers=count)
    node: subprocess.Popen[bytes] | None = None
    services: Services | None = None
    try:
        cluster.start()
        upgrade(cluster.url)
        services = _services(cluster.url)
        create_user(services, "sara", roles=["socialsekreterare"], districts=["Nordost"], password=DEFAULT_PASSWORD)
        port = _free_port()
        node = _serve(cluster.url, None, port, logs / "node.log")
        base = f"http://127.0.0.1:{port}"
        token = requests.post(f"{base}/api/v1/auth/token", json={"username": "sara", "password": DEFAULT_PASSWORD},
                              timeout=30).json()["token"]
        due = services.db.now() + timedelta(seconds=3)
        instances = _start_waiting(services, count, due)
        cluster.stop()
        answer = requests.post(f"{base}/api/v1/instances", json={"process": "core_demo", "data": START},
                               headers={"Authorization": f"Bearer {token}"}, timeout=60)
        health = requests.get(f"{base}/healthz", timeout=60)
        outcome.notes["while_down"] = {"start": answer.status_code, "retry_after": answer.headers.get("Retry-After"),
                                       "type": answer.headers.get("Content-Type"), "healthz": health.status_code}
        back_at = due + timedelta(seconds=down_after_due)
        wait_until(lambda: datetime.now(UTC) >= back_at, what="the outage to outlast the due time")
        cluster.start()
        restarted = datetime.now(UTC)
        wait_until(lambda: _pending(services) == 0, what="every timer to fire after the restart", interval=0.1)
        _tally(services, instances, None, outcome)
        outcome.notes["after_restart"] = sorted(
            (due + timedelta(seconds=late) - restarted).total_seconds() for late in outcome.lateness)
    finally:
        if node is not None:
            _stop(node)
        if services is not None:
            services.close()
        cluster.remove()
    return outcome
