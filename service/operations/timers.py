"""Fire timers: the one code path for the scheduler, ``samverkan timers run-due`` and the admin API.

Exactly-once: a node first *claims* due timers (a short transaction; on PostgreSQL
``FOR UPDATE SKIP LOCKED`` so nodes take disjoint batches), then fires each claimed timer in the
instance's command transaction, where the row must still be ``pending`` and claimed by this node.
A node that dies after claiming leaves a claim that goes stale after ``CLAIM_LEASE`` and is taken
by another node; the ``pending`` check under the instance lock keeps a late node from firing twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from service.actor import SYSTEM, Actor
from service.audit import record
from service.engine.adapter import NotWaiting
from service.errors import Forbidden, NotFound
from service.models import InstanceState, Timer, TimerState
from service.services import Services

from .instances import _after_commit, _run
from .persist import Changes

logger = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(seconds=60)
BATCH = 200


def claim_due(services: Services, now: datetime, *, limit: int = BATCH, timer_id: str | None = None) -> list[str]:
    """Claim up to ``limit`` pending timers due at ``now`` (or one timer by id, due or not)."""
    node = services.config.node_name
    stale = now - CLAIM_LEASE
    with services.db.command() as session:
        query = select(Timer).where(Timer.state == TimerState.PENDING,
                                    or_(Timer.claimed_by.is_(None), Timer.claimed_at < stale))
        if timer_id is not None:
            query = query.where(Timer.id == timer_id)
        else:
            query = query.where(Timer.due_at <= now).order_by(Timer.due_at).limit(limit)
        if not services.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        claimed = list(session.scalars(query))
        for timer in claimed:
            timer.claimed_by, timer.claimed_at = node, now
        return [t.id for t in claimed]


def fire_claimed(services: Services, timer_id: str, actor: Actor = SYSTEM) -> bool:
    """Fire one timer this node has claimed. Returns False when it was no longer ours to fire."""
    node = services.config.node_name
    changes = Changes()
    with services.db.command() as session:
        timer = session.get(Timer, timer_id)
        if timer is None:
            return False
        instance = services.db.lock_instance(session, timer.instance_id)
        session.refresh(timer)
        if timer.state != TimerState.PENDING or timer.claimed_by != node or instance is None:
            return False
        if instance.state not in (InstanceState.RUNNING, InstanceState.WAITING):
            # Suspended: fire later (release the claim); ended: the timer is moot.
            if instance.state == InstanceState.SUSPENDED:
                timer.claimed_by = None
                return False
            timer.state = TimerState.CANCELLED
            return False
        workflow = services.engine.load(instance.definition, instance.workflow_json)
        now = services.now()
        try:
            changes = _run(session, services, instance, workflow, actor,
                           lambda wf: services.engine.fire_timer(wf, timer.task_id), fired_timer_id=timer.id)
        except NotWaiting:
            timer.state = TimerState.CANCELLED
            return False
        timer.state, timer.fired_at = TimerState.FIRED, now
        if instance.state == InstanceState.ERROR:
            timer.error = instance.error
        late = (now - timer.due_at).total_seconds()
        record(session, actor, "timer_fired", instance_id=instance.id, timer_id=timer.id, task=timer.task_name,
               due_at=timer.due_at.isoformat(), late_seconds=round(late, 3))
    _after_commit(services, changes)
    for hook in services.hooks.timer_fired:
        hook(late)
    return True


def fire_due_timers(services: Services, now: datetime | None = None, *, limit: int | None = None) -> int:
    """Fire every timer due at ``now``; returns how many fired. Safe to run on several nodes at once."""
    fired = 0
    while True:
        moment = now or services.now()
        batch = claim_due(services, moment, limit=min(BATCH, limit - fired) if limit else BATCH)
        if not batch:
            return fired
        for timer_id in batch:
            try:
                fired += fire_claimed(services, timer_id)
            except Exception:  # one broken instance must not stop the others' timers
                logger.exception("timer %s could not be fired", timer_id)
        if limit and fired >= limit:
            return fired


def fire_timer(services: Services, actor: Actor, timer_id: str) -> bool:
    """Fire one pending timer now, due or not (the admin console's button)."""
    if not actor.has("admin"):
        raise Forbidden("firing timers needs the role admin")
    if not claim_due(services, services.now(), timer_id=timer_id):
        raise NotFound("no pending timer with that id")
    return fire_claimed(services, timer_id, actor)


def next_due(services: Services) -> datetime | None:
    with services.db.read() as session:
        return session.scalars(select(Timer.due_at).where(Timer.state == TimerState.PENDING)
                               .order_by(Timer.due_at).limit(1)).first()
