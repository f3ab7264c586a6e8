"""Fire timers: the one code path for the scheduler, ``samverkan timers run-due`` and the admin API.

Exactly-once: a node first *claims* due timers (a short transaction; on PostgreSQL
``FOR UPDATE SKIP LOCKED`` so nodes take disjoint batches), then fires claimed timers in command
transactions that lock their instances, where each row must still be ``pending`` and claimed by
this node. Firing goes in chunks (``FIRE_CHUNK`` timers, one transaction: their instances locked
in id order, their rows read in a few queries, written in one flush); a chunk that fails is rolled
back whole and its timers fired one by one, so one broken instance never holds up the others.

Claims are short leases on the database's clock (``CLAIM_LEASE``), renewed while their node works
through its batch (``RENEW_EVERY``). A node that dies (kill -9, lost database) stops renewing, so
another node takes its claims once the lease has run out: an idle node in its next scheduler round,
a busy one between two timers of its own batch (``take_over_every``), so a backlog never delays a
take-over by a whole batch. A node that starts again on the same host first releases the claims its
earlier life left (``release_orphaned_claims``).
A late or duplicate firing is impossible either way: the ``pending``-and-ours check under the
instance lock lets only one node fire a timer.

Timers of suspended instances are neither claimed nor reported by ``next_due``: they wait, without
anyone looking at them again, until the instance resumes.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import deque
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from service.actor import SYSTEM, Actor
from service.audit import record
from service.engine.adapter import NotWaiting
from service.errors import Conflict, Forbidden, NotFound
from service.models import InstanceState, ProcessInstance, Timer, TimerState
from service.services import Services

from .instances import _after_commit, _run
from .persist import Changes, Prefetched

logger = logging.getLogger(__name__)

# A dead node's claims are free CLAIM_LEASE after its last renewal (at most RENEW_EVERY plus one timer
# before it died); a survivor takes them within RENEW_EVERY plus one timer (or one 1 s round when
# idle), then fires the at most BATCH it left: within 5 s of the death on a loaded 2-core machine.
CLAIM_LEASE = timedelta(seconds=2)
RENEW_EVERY = 0.5  # seconds (monotonic) between renewals of the claims a node still holds
BATCH = 100  # claims per round: a dead node leaves at most this many, which the survivor fires in chunks
FIRE_CHUNK = 20  # timers fired per transaction (SQLite: the write lock is held for one chunk, ~0.1 s)
MAX_CLOCK_SKEW = timedelta(seconds=5)  # service clock vs database clock before a warning
SKEW_WARNING_EVERY = 600.0  # seconds (monotonic) between repeated warnings while the skew lasts
_HOST_PID = re.compile(r"^(?P<host>.+):(?P<pid>\d+)$")


_last_skew_warning: float | None = None


def clock_skew(services: Services) -> tuple[datetime, timedelta]:
    """The database clock, and how far the service clock is ahead of it (negative: behind)."""
    before = services.now()
    database_now = services.db.now()
    after = services.now()
    return database_now, before + (after - before) / 2 - database_now


def due_clock(services: Services) -> datetime:
    """The moment to decide what is due by: the database's clock, which every node shares.

    A service clock that disagrees by more than ``MAX_CLOCK_SKEW`` fires nothing early or late
    because of it; it is logged as a warning (and ``/healthz`` shows it).
    """
    global _last_skew_warning
    database_now, skew = clock_skew(services)
    if abs(skew) > MAX_CLOCK_SKEW:
        moment = time.monotonic()
        if _last_skew_warning is None or moment - _last_skew_warning > SKEW_WARNING_EVERY:
            _last_skew_warning = moment
            logger.warning("the service clock is %+.0f s off the database clock; timers fire by the database's",
                           skew.total_seconds())
    return database_now


def _not_suspended():  # type: ignore[no-untyped-def]  # a SQL condition
    return ~select(ProcessInstance.id).where(ProcessInstance.id == Timer.instance_id,
                                             ProcessInstance.state == InstanceState.SUSPENDED).exists()


def claim_due(services: Services, now: datetime, *, limit: int = BATCH, timer_id: str | None = None,
              lapsed_only: bool = False) -> list[str]:
    """Claim up to ``limit`` pending timers due at ``now`` (or one timer by id, due or not).

    A timer of a suspended instance is never claimed; a claim of another node counts only while
    its lease (on the database clock) is live. ``lapsed_only``: only timers whose claim has lapsed
    (a dead node's), which a busy node takes between the timers of its own batch.
    """
    node = services.config.node_name
    claimed_at = services.db.now()
    lapsed = Timer.claimed_at < claimed_at - CLAIM_LEASE
    with services.db.command() as session:
        query = select(Timer).where(Timer.state == TimerState.PENDING, _not_suspended(),
                                    lapsed if lapsed_only else or_(Timer.claimed_by.is_(None), lapsed))
        if timer_id is not None:
            query = query.where(Timer.id == timer_id)
        else:
            # among timers due alike, those a dead node left (stale claims) first: they waited longest
            query = query.where(Timer.due_at <= now).order_by(Timer.due_at, Timer.claimed_by.is_(None)).limit(limit)
        if not services.db.is_sqlite:
            query = query.with_for_update(of=Timer, skip_locked=True)
        claimed = list(session.scalars(query.with_only_columns(Timer.id)))
        if claimed:
            session.execute(update(Timer).where(Timer.id.in_(claimed)).values(claimed_by=node, claimed_at=claimed_at))
        return claimed


def renew_claims(services: Services, timer_ids: list[str]) -> None:
    """Keep this node's claims on ``timer_ids`` live while it is still working through them."""
    if not timer_ids:
        return
    moment = services.db.now()
    with services.db.command() as session:
        session.execute(update(Timer).where(Timer.id.in_(timer_ids), Timer.claimed_by == services.config.node_name,
                                            Timer.state == TimerState.PENDING).values(claimed_at=moment))


def _release(services: Services, timer_ids: list[str]) -> None:
    if not timer_ids:
        return
    with services.db.command() as session:
        session.execute(update(Timer).where(Timer.id.in_(timer_ids), Timer.claimed_by == services.config.node_name,
                                            Timer.state == TimerState.PENDING).values(claimed_by=None, claimed_at=None))


def release_orphaned_claims(services: Services) -> int:
    """Release the claims an earlier life of this node left: its own name, or ``host:pid`` names of
    this host whose process is gone. Run at start-up, before the catch-up; returns claims released."""
    node = services.config.node_name
    own = _HOST_PID.match(node)
    with services.db.read() as session:
        holders = set(session.scalars(select(Timer.claimed_by).distinct().where(
            Timer.state == TimerState.PENDING, Timer.claimed_by.is_not(None))))
    orphaned = [name for name in holders if name and (name == node or (
        own is not None and (match := _HOST_PID.match(name)) is not None
        and match["host"] == own["host"] and not _process_alive(int(match["pid"]))))]
    if not orphaned:
        return 0
    with services.db.command() as session:
        result = session.execute(update(Timer).where(Timer.state == TimerState.PENDING,
                                                     Timer.claimed_by.in_(orphaned))
                                 .values(claimed_by=None, claimed_at=None))
        released = int(getattr(result, "rowcount", 0) or 0)
    if released:
        logger.info("released %d timer claim(s) left by %s", released, ", ".join(sorted(orphaned)))
    return released


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own pid in another name's claim: that name is not us, so it is dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fire_claimed(services: Services, timer_id: str, actor: Actor = SYSTEM) -> bool:
    """Fire one timer this node has claimed. Returns False when it was no longer ours to fire."""
    node = services.config.node_name
    with services.db.command() as session:
        timer = session.get(Timer, timer_id)
        if timer is None:
            return False
        instance = services.db.lock_instance(session, timer.instance_id)
        session.refresh(timer)
        if timer.state != TimerState.PENDING or timer.claimed_by != node or instance is None:
            return False
        fired = _fire_locked(session, services, instance, timer, actor)
    if fired is None:
        return False
    changes, late = fired
    _after_commit(services, changes)
    for hook in services.hooks.timer_fired:
        hook(late)
    return True


def fire_claimed_batch(services: Services, timer_ids: list[str]) -> int:
    """Fire timers this node has claimed in one transaction; returns how many fired.

    Their instances are locked in id order (on PostgreSQL ``FOR UPDATE``, so two nodes never
    deadlock; on SQLite the command's write lock), then each timer row is checked as ``fire_claimed``
    does — still ``pending`` and ours — and fired under its instance's version counter. What the
    instances' commands read (definitions, open tasks, pending timers, access rows) is read once for
    the chunk. If anything fails, nothing of the chunk is kept and each timer is fired on its own.
    """
    if len(timer_ids) == 1:
        return int(fire_claimed(services, timer_ids[0]))
    try:
        fired, after = _fire_chunk(services, timer_ids)
    except Exception:  # one instance broke the chunk: the chunk is rolled back, fire them one at a time
        logger.warning("a chunk of %d timers failed; firing them one by one", len(timer_ids), exc_info=True)
        fired = 0
        for timer_id in timer_ids:
            try:
                fired += fire_claimed(services, timer_id)
            except Exception:  # one broken instance must not stop the others' timers
                logger.exception("timer %s could not be fired", timer_id)
        return fired
    for changes, late in after:
        _after_commit(services, changes)
        for hook in services.hooks.timer_fired:
            hook(late)
    return fired


def _fire_chunk(services: Services, timer_ids: list[str]) -> tuple[int, list[tuple[Changes, float]]]:
    node = services.config.node_name
    postgres = not services.db.is_sqlite
    after: list[tuple[Changes, float]] = []
    with services.db.command() as session:
        instance_ids = sorted(set(session.scalars(select(Timer.instance_id).where(Timer.id.in_(timer_ids)))))
        query = select(ProcessInstance).where(ProcessInstance.id.in_(instance_ids)).order_by(ProcessInstance.id)
        if postgres:
            query = query.with_for_update(of=ProcessInstance)
        instances = {i.id: i for i in session.scalars(query)}
        timer_query = select(Timer).where(Timer.id.in_(timer_ids)).execution_options(populate_existing=True)
        if postgres:
            timer_query = timer_query.with_for_update(of=Timer)
        timers = {t.id: t for t in session.scalars(timer_query)}
        prefetched = Prefetched.load(session, list(instances))
        for timer_id in timer_ids:
            timer = timers.get(timer_id)
            instance = instances.get(timer.instance_id) if timer is not None else None
            if timer is None or instance is None or timer.state != TimerState.PENDING or timer.claimed_by != node:
                continue
            late = _fire_locked(session, services, instance, timer, SYSTEM, prefetched)
            if late is not None:
                after.append(late)
    return len(after), after


def _fire_locked(session: Session, services: Services, instance: ProcessInstance, timer: Timer, actor: Actor,
                 prefetched: Prefetched | None = None) -> tuple[Changes, float] | None:
    """Fire ``timer``, pending and claimed by this node, of ``instance``, locked by the caller's
    transaction; ``(changes, seconds late)``, or None when it no longer fires."""
    if instance.state not in (InstanceState.RUNNING, InstanceState.WAITING):
        # Suspended: fire later (release the claim); ended: the timer is moot.
        if instance.state == InstanceState.SUSPENDED:
            timer.claimed_by = None
            return None
        timer.state = TimerState.CANCELLED
        return None
    workflow = services.engine.load(instance.definition, instance.workflow_json)
    now = services.now()
    try:
        changes = _run(session, services, instance, workflow, actor,
                       lambda wf: services.engine.fire_timer(wf, timer.task_id), fired_timer_id=timer.id,
                       prefetched=prefetched)
    except NotWaiting:
        timer.state = TimerState.CANCELLED
        return None
    timer.state, timer.fired_at = TimerState.FIRED, now
    if instance.state == InstanceState.ERROR:
        timer.error = instance.error
    late = (now - timer.due_at).total_seconds()
    record(session, actor, "timer_fired", instance_id=instance.id, timer_id=timer.id, task=timer.task_name,
           due_at=timer.due_at.isoformat(), late_seconds=round(late, 3))
    return changes, late


def fire_due_timers(services: Services, now: datetime | None = None, *, limit: int | None = None) -> int:
    """Fire every timer due at ``now``; returns how many fired. Safe to run on several nodes at once.

    Each timer is looked at once per call: one that could not be fired (its instance was suspended
    in the meantime, or it broke) is left for a later call, never claimed again in a loop. Every
    ``RENEW_EVERY`` s between two timers the node renews its remaining claims and takes the lapsed
    claims of a dead node, which it fires next.
    """
    fired = 0
    seen: set[str] = set()

    def room() -> int:
        return min(BATCH, limit - fired) if limit else BATCH

    while True:
        moment = now or services.now()
        queue = deque(t for t in claim_due(services, moment, limit=room()) if t not in seen)
        if not queue:
            return fired
        seen.update(queue)
        renewed = time.monotonic()
        while queue:
            if time.monotonic() - renewed > RENEW_EVERY:
                renew_claims(services, list(queue))
                taken = [t for t in claim_due(services, moment, limit=room(), lapsed_only=True) if t not in seen]
                seen.update(taken)
                queue.extendleft(reversed(taken))  # they waited longest: fire them first
                renewed = time.monotonic()
            size = min(FIRE_CHUNK, len(queue), limit - fired) if limit else min(FIRE_CHUNK, len(queue))
            chunk = [queue.popleft() for _ in range(size)]
            fired += fire_claimed_batch(services, chunk)
            if limit and fired >= limit:
                _release(services, list(queue))  # not fired in this call: free for any node at once
                return fired


def fire_timer(services: Services, actor: Actor, timer_id: str) -> bool:
    """Fire one pending timer now, due or not (the admin console's button)."""
    if not actor.has("admin"):
        raise Forbidden("firing timers needs the role admin")
    if not claim_due(services, services.now(), timer_id=timer_id):
        with services.db.read() as session:
            state = session.scalar(select(ProcessInstance.state).join(Timer, Timer.instance_id == ProcessInstance.id)
                                   .where(Timer.id == timer_id, Timer.state == TimerState.PENDING))
        if state == InstanceState.SUSPENDED:
            raise Conflict("the instance is suspended; its timers wait until it resumes")
        raise NotFound("no pending timer with that id")
    return fire_claimed(services, timer_id, actor)


def next_due(services: Services, now: datetime) -> datetime | None:
    """When there may next be a timer for this node to claim (``now`` is the database clock).

    The earliest unclaimed pending timer of an instance that is not suspended; a timer another node
    holds counts only from the moment its lease runs out, so a node never spins on claims it may
    not take. One indexed row each, never a workflow.
    """
    with services.db.read() as session:
        unclaimed = session.scalars(select(Timer.due_at).where(
            Timer.state == TimerState.PENDING, Timer.claimed_by.is_(None), _not_suspended())
            .order_by(Timer.due_at).limit(1)).first()
        oldest_claim = session.scalar(select(func.min(Timer.claimed_at)).where(
            Timer.state == TimerState.PENDING, Timer.due_at <= now, Timer.claimed_by.is_not(None),
            _not_suspended()))
    lease_ends = oldest_claim + CLAIM_LEASE if oldest_claim is not None else None
    candidates = [moment for moment in (unclaimed, lease_ends) if moment is not None]
    return min(candidates) if candidates else None
