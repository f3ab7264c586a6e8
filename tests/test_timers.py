"""Durable timers: exactly once across service processes, on time, and caught up after downtime."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from service.actor import SYSTEM, Actor
from service.clock import Clock
from service.errors import Conflict
from service.models import Event, ProcessInstance, Timer, TimerState
from service.operations import timers as timer_operations
from service.operations.deploy import deploy_tree
from service.operations.instances import set_state, start_instance
from service.operations.timers import CLAIM_LEASE, fire_due_timers, fire_timer, next_due
from service.scheduler import RESYNC_SECONDS, TimerScheduler
from service.services import Services

from .conftest import FIXTURES, Harness, make_config
from .test_concurrency import _free_port
from .test_lifecycle import START
from .waiting import BOUND, wait_until, wait_until_serving


def _services(url: str) -> Services:
    services = Services.create(make_config(url))
    deploy_tree(services, SYSTEM, FIXTURES / "bpmn", FIXTURES / "forms")
    return services


def _start_waiting(services: Services, count: int, due: datetime) -> list[str]:
    return [start_instance(services, SYSTEM, "timer_demo", {"forfaller": due.isoformat()})[0].id
            for _ in range(count)]


def _serve(url: str, node: str | None, port: int, log: Path | None = None, *,
           wait: bool = True) -> subprocess.Popen[bytes]:
    """A service process with its timer loop (node name ``node``, or the default ``host:pid``)."""
    env = {**os.environ, "SAMVERKAN_DATABASE_URL": url, "SAMVERKAN_BPMN_DIR": str(FIXTURES / "bpmn"),
           "SAMVERKAN_FORMS_DIR": str(FIXTURES / "forms"), "SAMVERKAN_SECRET_KEY": "test"}
    if node:
        env["SAMVERKAN_NODE_NAME"] = node
    output = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115  (the child process owns it)
    process = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port)], env=env,
                               stdout=output, stderr=output)
    if wait:
        wait_until_serving(process, port)
    return process


def _pending(services: Services) -> int:
    with services.db.read() as session:
        return len(session.scalars(select(Timer.id).where(Timer.state == TimerState.PENDING)).all())


def _wait_all_fired(services: Services, timeout: float = BOUND) -> None:
    wait_until(lambda: _pending(services) == 0, what="every timer to fire", timeout=timeout, interval=0.2)


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
    nodes = [_serve(database_url, node, _free_port(), tmp_path / f"{node}.log") for node in ("node-a", "node-b")]
    try:
        # 300 cases all waiting for the same moment, once both nodes are up
        due = services.db.now() + timedelta(seconds=1)
        instances = _start_waiting(services, 300, due)
        _wait_all_fired(services, timeout=3 * BOUND)  # a bound for a machine others keep busy, not a speed
    finally:
        _stop(*nodes)
    events = _fired_events(services)
    per_timer = Counter(e.detail["timer_id"] for e in events)
    assert len(per_timer) == 300 and set(per_timer.values()) == {1}  # every timer fired, none twice
    with services.db.read() as session:
        states = Counter(session.scalars(select(ProcessInstance.state).where(ProcessInstance.id.in_(instances))))
        claimed_by = set(session.scalars(select(Timer.claimed_by)))
    assert states == {"completed": 300}
    assert claimed_by <= {"node-a", "node-b"}  # which node takes how much is the scheduler's business
    services.close()


def test_two_schedulers_share_a_backlog_of_due_timers_none_twice_none_missed(database_url: str) -> None:
    """A backlog (200 timers already due) found by two nodes' timer loops at once: they claim in
    batches (PostgreSQL: ``SKIP LOCKED``, so each takes its own; SQLite: one node's batch at a time)
    and fire in chunks; every timer fires exactly once."""
    services = _services(database_url)
    instances = _start_waiting(services, 200, services.now() - timedelta(minutes=1))
    nodes = [Services.create(make_config(database_url, node_name=name)) for name in ("node-a", "node-b")]
    schedulers = [TimerScheduler(node) for node in nodes]
    try:
        for scheduler in schedulers:
            scheduler.start()
        _wait_all_fired(services, timeout=3 * BOUND)  # a bound for a machine others keep busy, not a speed
    finally:
        for scheduler in schedulers:
            scheduler.shutdown()
        for node in nodes:
            node.close()
    per_timer = Counter(e.detail["timer_id"] for e in _fired_events(services))
    with services.db.read() as session:
        timer_ids = set(session.scalars(select(Timer.id)))
        states = Counter(session.scalars(select(ProcessInstance.state).where(ProcessInstance.id.in_(instances))))
        claimed_by = set(session.scalars(select(Timer.claimed_by)))
    assert set(per_timer) == timer_ids and set(per_timer.values()) == {1}  # none missed, none twice
    assert states == {"completed": 200}
    assert claimed_by <= {"node-a", "node-b"}
    services.close()


def test_a_running_node_fires_a_timer_another_process_writes(sqlite_url: str) -> None:
    services = _services(sqlite_url)
    server = _serve(sqlite_url, "node-a", _free_port())
    try:
        # up and idle: nothing is due
        [instance_id] = _start_waiting(services, 1, services.now() + timedelta(seconds=2))
        # the node learns of the timer from its own resync, not from a wake-up of this process
        _wait_all_fired(services)
    finally:
        _stop(server)
    [event] = _fired_events(services)
    assert event.instance_id == instance_id
    assert event.detail["late_seconds"] >= 0  # never early; how late is scripts/bench's business
    services.close()


def test_overdue_timers_fire_on_start_up(sqlite_url: str) -> None:
    services = _services(sqlite_url)
    instances = _start_waiting(services, 20, services.now() - timedelta(minutes=5))  # due while it was down
    server = _serve(sqlite_url, "node-a", _free_port(), wait=False)
    try:
        _wait_all_fired(services, timeout=3 * BOUND)  # includes the start of the service on a loaded machine
    finally:
        _stop(server)
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
                            capture_output=True, text=True, timeout=3 * BOUND, check=True)
    assert result.stdout.strip() == "fired 3 timer(s)"
    result = subprocess.run([sys.executable, "-m", "service.cli", "timers", "run-due"], env=env,
                            capture_output=True, text=True, timeout=3 * BOUND, check=True)
    assert result.stdout.strip() == "fired 0 timer(s)"
    services.close()


# --- faults (issue 11): claims, suspended instances, clocks --------------------------------------

ADMIN = Actor("adam", roles=frozenset({"admin"}))


def _count_claims(monkeypatch: pytest.MonkeyPatch, bound: int = 20) -> list[list[str]]:
    """Record every claim round; fail instead of looping forever past ``bound`` rounds."""
    rounds: list[list[str]] = []
    real = timer_operations.claim_due

    def counting(*args: Any, **kwargs: Any) -> list[str]:
        claimed = real(*args, **kwargs)
        rounds.append(claimed)
        if len(rounds) > bound:
            raise AssertionError(f"claimed again and again: {rounds[-3:]}")
        return claimed

    monkeypatch.setattr(timer_operations, "claim_due", counting)
    return rounds


def _claim_as(services: Services, node: str, claimed_at: datetime) -> None:
    with services.db.command() as session:
        session.execute(update(Timer).where(Timer.state == TimerState.PENDING)
                        .values(claimed_by=node, claimed_at=claimed_at))


def test_a_suspended_instance_with_a_due_timer_does_not_loop_the_scheduler(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    services = _services(database_url)
    [suspended] = _start_waiting(services, 1, services.now() - timedelta(minutes=1))
    [running] = _start_waiting(services, 1, services.now() - timedelta(minutes=1))
    set_state(services, ADMIN, suspended, "suspend", "utredning pågår")
    rounds = _count_claims(monkeypatch)
    assert fire_due_timers(services, services.db.now()) == 1  # the running one; run-due returns
    assert len(rounds) <= 2
    # the node goes idle: nothing is due for it until the instance resumes
    assert next_due(services, services.db.now()) is None
    with services.db.read() as session:
        waiting = session.scalar(select(Timer.id).where(Timer.instance_id == suspended))
    with pytest.raises(Conflict):  # an operator's "fire now" says why it does not
        fire_timer(services, ADMIN, waiting)
    set_state(services, ADMIN, suspended, "resume", "klart")
    assert fire_due_timers(services, services.db.now()) == 1
    with services.db.read() as session:
        states = set(session.scalars(select(ProcessInstance.state).where(
            ProcessInstance.id.in_([suspended, running]))))
    assert states == {"completed"}
    services.close()


def test_run_due_cli_finishes_with_a_suspended_instance_due(sqlite_url: str) -> None:
    services = _services(sqlite_url)
    [suspended] = _start_waiting(services, 1, services.now() - timedelta(minutes=1))
    set_state(services, ADMIN, suspended, "suspend", "utredning pågår")
    env = {**os.environ, "SAMVERKAN_DATABASE_URL": sqlite_url}
    result = subprocess.run([sys.executable, "-m", "service.cli", "timers", "run-due"], env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "fired 0 timer(s)"
    services.close()


def test_a_node_waits_out_another_live_nodes_claims_instead_of_spinning(database_url: str) -> None:
    services = _services(database_url)
    _start_waiting(services, 3, services.now() - timedelta(minutes=1))
    claimed_at = services.db.now()
    _claim_as(services, "other-host:4242", claimed_at)  # a live node is firing them right now
    scheduler = TimerScheduler(services)
    assert scheduler.step() > 0  # nothing it may take: it waits, it does not run again at once
    assert next_due(services, services.db.now()) == claimed_at + CLAIM_LEASE
    assert fire_due_timers(services, services.db.now()) == 0
    services.close()


def test_a_dead_nodes_claims_are_taken_once_its_lease_runs_out(database_url: str) -> None:
    services = _services(database_url)
    instances = _start_waiting(services, 3, services.now() - timedelta(minutes=1))
    # a node on another host claimed them, then died: its lease is not renewed
    _claim_as(services, "other-host:4242", services.db.now() - CLAIM_LEASE - timedelta(milliseconds=100))
    assert fire_due_timers(services, services.db.now()) == 3
    with services.db.read() as session:
        states = set(session.scalars(select(ProcessInstance.state).where(ProcessInstance.id.in_(instances))))
    assert states == {"completed"}
    # the survivor fires within 5 s of the death: a lease plus one scheduler round
    assert CLAIM_LEASE + timedelta(seconds=RESYNC_SECONDS) <= timedelta(seconds=5)
    services.close()


def test_a_busy_node_takes_a_dead_nodes_lapsed_claims_between_its_own_timers(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    services = _services(database_url)
    dead = _start_waiting(services, 3, services.now() - timedelta(minutes=1))
    # live: not in the busy node's batch (a lease of an hour, so a slow machine cannot lapse it early)
    monkeypatch.setattr(timer_operations, "CLAIM_LEASE", timedelta(hours=1))
    _claim_as(services, "other-host:4242", services.db.now())
    monkeypatch.setattr(timer_operations, "BATCH", 5)  # a full batch of the busy node's own: 5 claims,
    monkeypatch.setattr(timer_operations, "FIRE_CHUNK", 2)  # fired 2 per transaction
    own = _start_waiting(services, timer_operations.BATCH, services.now() - timedelta(minutes=1))
    monkeypatch.setattr(timer_operations, "RENEW_EVERY", 0.0)  # look between every two chunks
    chunks: list[list[str]] = []
    real = timer_operations.fire_claimed_batch

    def firing(services_: Services, timer_ids: list[str]) -> int:
        with services.db.read() as session:
            by_id = dict(session.execute(select(Timer.id, Timer.instance_id).where(Timer.id.in_(timer_ids))).all())
        chunks.append([by_id[t] for t in timer_ids])
        fired = real(services_, timer_ids)
        if len(chunks) == 1:  # the other node dies during the first chunk of the batch: its lease runs out
            _claim_as_lapsed(services, "other-host:4242")
        return fired

    monkeypatch.setattr(timer_operations, "fire_claimed_batch", firing)
    assert fire_due_timers(services, services.db.now()) == len(dead) + len(own)
    order = [instance for chunk in chunks for instance in chunk]
    assert set(chunks[0]) <= set(own)
    assert set(order[len(chunks[0]):len(chunks[0]) + 3]) == set(dead)  # taken over at once, not after the batch
    services.close()


def _claim_as_lapsed(services: Services, node: str) -> None:
    with services.db.command() as session:
        session.execute(update(Timer).where(Timer.state == TimerState.PENDING, Timer.claimed_by == node)
                        .values(claimed_at=services.db.now() - timer_operations.CLAIM_LEASE - timedelta(seconds=1)))


def test_a_restarted_node_fires_its_own_earlier_claims_at_start_up(database_url: str) -> None:
    services = _services(database_url)
    instances = _start_waiting(services, 3, services.now() - timedelta(minutes=1))
    # the node claimed them a moment ago and was killed; it starts again on the same host (new pid)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    _claim_as(services, f"{os.uname().nodename}:{dead}", services.db.now())
    assert TimerScheduler(services).catch_up() == 3  # no waiting out the lease
    with services.db.read() as session:
        states = set(session.scalars(select(ProcessInstance.state).where(ProcessInstance.id.in_(instances))))
    assert states == {"completed"}
    services.close()


def test_a_node_whose_clock_runs_two_days_ahead_withdraws_no_task_early(
        sqlite_harness: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    h = sqlite_harness
    sara = h.user("sara", "socialsekreterare")
    sara.ok("POST", "/api/v1/instances", 201, json={"process": "core_demo", "data": START})
    [task] = sara.ok("GET", "/api/v1/tasks")["items"]  # granska, withdrawn by a one-hour boundary timer
    ahead = Clock()
    ahead.advance(days=2)
    skewed = dataclasses.replace(h.services, clock=ahead)
    monkeypatch.setattr(timer_operations, "_last_skew_warning", None)
    scheduler = TimerScheduler(skewed)
    with caplog.at_level(logging.WARNING, logger="service.operations.timers"):
        assert scheduler.catch_up() == 0
        scheduler.step()
    assert [t["id"] for t in sara.ok("GET", "/api/v1/tasks")["items"]] == [task["id"]]  # still hers
    assert any("clock" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    health = h.anonymous.ok("GET", "/healthz")
    assert health["clock"] == "ok"  # this node's own clock is right


def test_a_node_whose_clock_steps_back_an_hour_still_fires_what_other_nodes_write(sqlite_url: str) -> None:
    writer = _services(sqlite_url)  # another node: its commands cannot wake this node's loop
    behind = Clock()
    node = Services.create(make_config(sqlite_url, node_name="node-behind"), clock=behind)
    scheduler = TimerScheduler(node)
    scheduler.start()
    try:
        wait_until(lambda: scheduler.rounds >= 1, what="the loop's first round")
        behind.advance(hours=-1)  # the host's clock is stepped back while the loop waits
        rounds = scheduler.rounds
        wait_until(lambda: scheduler.rounds > rounds, what="a round after the step")
        [instance_id] = _start_waiting(writer, 1, writer.db.now() + timedelta(seconds=1))
        _wait_all_fired(writer)  # no request, no wake-up: the loop's own resync finds it
    finally:
        scheduler.shutdown()
    with writer.db.read() as session:
        assert session.scalar(select(ProcessInstance.state).where(ProcessInstance.id == instance_id)) == "completed"
        fired_by = session.scalar(select(Timer.claimed_by).where(Timer.instance_id == instance_id))
    assert fired_by == "node-behind"
    node.close()
    writer.close()


TWO_TIMERS = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="two_timers_definitions" targetNamespace="http://samverkan.example/test">
  <bpmn:process id="two_timers" name="Tva timers" isExecutable="true">
    <bpmn:laneSet id="two_timers_lanes">
      <bpmn:lane id="lane_socialsekreterare" name="Socialsekreterare">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" name="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:parallelGateway id="dela"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>fa</bpmn:outgoing><bpmn:outgoing>fb</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:intermediateCatchEvent id="vanta_a" name="Vanta A"><bpmn:incoming>fa</bpmn:incoming>
      <bpmn:outgoing>fa2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="a_def"><bpmn:timeDate>forfaller</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="vanta_b" name="Vanta B"><bpmn:incoming>fb</bpmn:incoming>
      <bpmn:outgoing>fb2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="b_def"><bpmn:timeDate>forfaller</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:scriptTask id="markera_a" name="Markera A"><bpmn:incoming>fa2</bpmn:incoming>
      <bpmn:outgoing>fa3</bpmn:outgoing><bpmn:script>a = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="markera_b" name="Markera B"><bpmn:incoming>fb2</bpmn:incoming>
      <bpmn:outgoing>fb3</bpmn:outgoing><bpmn:script>b = 2</bpmn:script></bpmn:scriptTask>
    <bpmn:parallelGateway id="foga"><bpmn:incoming>fa3</bpmn:incoming><bpmn:incoming>fb3</bpmn:incoming>
      <bpmn:outgoing>f9</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:endEvent id="slut" name="Klart"><bpmn:incoming>f9</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="dela"/>
    <bpmn:sequenceFlow id="fa" sourceRef="dela" targetRef="vanta_a"/>
    <bpmn:sequenceFlow id="fb" sourceRef="dela" targetRef="vanta_b"/>
    <bpmn:sequenceFlow id="fa2" sourceRef="vanta_a" targetRef="markera_a"/>
    <bpmn:sequenceFlow id="fb2" sourceRef="vanta_b" targetRef="markera_b"/>
    <bpmn:sequenceFlow id="fa3" sourceRef="markera_a" targetRef="foga"/>
    <bpmn:sequenceFlow id="fb3" sourceRef="markera_b" targetRef="foga"/>
    <bpmn:sequenceFlow id="f9" sourceRef="foga" targetRef="slut"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_two_timers_of_one_case_fired_in_one_batch_both_count(database_url: str) -> None:
    """Both timers of a case due at once land in one chunk: the second fire must see what the first
    wrote in the same transaction (its timer fired, the case moved on), or the case would lose a branch."""
    from service.operations.deploy import deploy_files

    services = _services(database_url)
    deploy_files(services, SYSTEM, {"two_timers.bpmn": TWO_TIMERS})
    due = services.now() - timedelta(minutes=1)
    cases = [start_instance(services, SYSTEM, "two_timers", {"forfaller": due.isoformat()})[0].id for _ in range(3)]
    assert fire_due_timers(services) == 6
    with services.db.read() as session:
        rows = {i.id: i for i in session.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(cases)))}
        timers = Counter(session.scalars(select(Timer.state).where(Timer.instance_id.in_(cases))))
    assert {i: (r.state, r.data.get("a"), r.data.get("b")) for i, r in rows.items()} == {
        i: ("completed", 1, 2) for i in cases}
    assert timers == {TimerState.FIRED: 6}
    per_timer = Counter(e.detail["timer_id"] for e in _fired_events(services))
    assert len(per_timer) == 6 and set(per_timer.values()) == {1}
    services.close()
