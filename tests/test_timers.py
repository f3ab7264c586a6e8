"""Durable timers: exactly once across service processes, on time, and caught up after downtime."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from service.actor import SYSTEM
from service.models import Event, ProcessInstance, Timer, TimerState
from service.operations.deploy import deploy_tree
from service.operations.instances import start_instance
from service.services import Services

from .conftest import FIXTURES, make_config
from .test_concurrency import _free_port


def _services(url: str) -> Services:
    services = Services.create(make_config(url))
    deploy_tree(services, SYSTEM, FIXTURES / "bpmn", FIXTURES / "forms")
    return services


def _start_waiting(services: Services, count: int, due: datetime) -> list[str]:
    return [start_instance(services, SYSTEM, "timer_demo", {"forfaller": due.isoformat()})[0].id
            for _ in range(count)]


def _serve(url: str, node: str, port: int, log: Path | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SAMVERKAN_DATABASE_URL": url, "SAMVERKAN_NODE_NAME": node,
           "SAMVERKAN_BPMN_DIR": str(FIXTURES / "bpmn"), "SAMVERKAN_FORMS_DIR": str(FIXTURES / "forms"),
           "SAMVERKAN_SECRET_KEY": "test"}
    output = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115  (the child process owns it)
    return subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port)], env=env,
                            stdout=output, stderr=output)


def _wait_all_fired(services: Services, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with services.db.read() as session:
            pending = session.scalar(select(Timer.id).where(Timer.state == TimerState.PENDING).limit(1))
        if pending is None:
            return
        time.sleep(0.2)
    raise AssertionError("timers still pending")


def _stop(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _fired_events(services: Services) -> list[Event]:
    with services.db.read() as session:
        return list(session.scalars(select(Event).where(Event.action == "timer_fired")))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_processes_fire_each_timer_exactly_once(database_url: str, tmp_path: Path) -> None:
    services = _services(database_url)
    # 300 cases all waiting for the same moment, a few seconds from now
    due = services.now() + timedelta(seconds=4)
    instances = _start_waiting(services, 300, due)
    nodes = [_serve(database_url, node, _free_port(), tmp_path / f"{node}.log") for node in ("node-a", "node-b")]
    try:
        _wait_all_fired(services, timeout=90)
    finally:
        _stop(*nodes)
    events = _fired_events(services)
    per_timer = Counter(e.detail["timer_id"] for e in events)
    assert len(per_timer) == 300 and set(per_timer.values()) == {1}  # every timer fired, none twice
    with services.db.read() as session:
        states = Counter(session.scalars(select(ProcessInstance.state).where(ProcessInstance.id.in_(instances))))
        claimed_by = Counter(session.scalars(select(Timer.claimed_by)))
    assert states == {"completed": 300}
    assert set(claimed_by) == {"node-a", "node-b"}  # both nodes took a share of the work
    services.close()


def test_a_timer_fires_within_a_second_of_its_due_time(sqlite_url: str) -> None:
    services = _services(sqlite_url)
    server = _serve(sqlite_url, "node-a", _free_port())
    try:
        time.sleep(1.0)  # the service is up and idle: nothing is due
        due = services.now() + timedelta(seconds=3)
        [instance_id] = _start_waiting(services, 1, due)
        # the scheduler learns of the timer from its sweep or a wake-up; it must not wait for a poll
        _wait_all_fired(services, timeout=30)
    finally:
        _stop(server)
    [event] = _fired_events(services)
    assert event.instance_id == instance_id
    assert 0 <= event.detail["late_seconds"] < 1.0, event.detail
    services.close()


def test_overdue_timers_fire_on_start_up(sqlite_url: str) -> None:
    services = _services(sqlite_url)
    due = services.now() + timedelta(seconds=1)
    instances = _start_waiting(services, 20, due)
    time.sleep(1.5)  # the service was down when they fell due
    server = _serve(sqlite_url, "node-a", _free_port())
    started = time.monotonic()
    try:
        _wait_all_fired(services, timeout=30)
    finally:
        _stop(server)
    assert time.monotonic() - started < 10
    with services.db.read() as session:
        states = set(session.scalars(select(ProcessInstance.state).where(ProcessInstance.id.in_(instances))))
    assert states == {"completed"}
    services.close()


def test_run_due_cli_fires_what_is_due(sqlite_url: str, tmp_path: Path) -> None:
    services = _services(sqlite_url)
    _start_waiting(services, 3, services.now() - timedelta(minutes=1))
    _start_waiting(services, 2, services.now() + timedelta(days=1))
    env = {**os.environ, "SAMVERKAN_DATABASE_URL": sqlite_url}
    result = subprocess.run([sys.executable, "-m", "service.cli", "timers", "run-due"], env=env,
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "fired 3 timer(s)"
    result = subprocess.run([sys.executable, "-m", "service.cli", "timers", "run-due"], env=env,
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "fired 0 timer(s)"
    services.close()
