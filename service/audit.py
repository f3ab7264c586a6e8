"""Append to the audit log (``Event``): every command, and every read of a client's case data.

A command's events are kept on its session and written together, one batched ``INSERT`` (Core,
``executemany``), when the session next flushes or commits: in the same transaction as the rest of
the command, in the order they were recorded, and visible to any query the command makes after a
flush. The audit log has no foreign keys, so its rows need no place in the ORM's insert order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import insert
from sqlalchemy.orm import Session

from .actor import Actor
from .clock import utcnow
from .models import Event

_PENDING = "samverkan_events"  # session.info: the rows recorded and not yet written


def record(session: Session, actor: Actor, action: str, *, instance_id: str | None = None,
           task_id: str | None = None, **detail: Any) -> None:
    session.info.setdefault(_PENDING, []).append(
        {"at": utcnow(), "actor": actor.username, "action": action, "instance_id": instance_id,
         "task_id": task_id, "detail": detail})


def write_pending(session: Session) -> None:
    """Write the events recorded on ``session`` (``record``) now, in its transaction."""
    rows = session.info.pop(_PENDING, None)
    if rows:
        session.connection().execute(insert(Event), rows)


@sa_event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    write_pending(session)


@sa_event.listens_for(Session, "do_orm_execute")
def _before_query(state: Any) -> None:
    if state.session.autoflush and state.session.info.get(_PENDING):  # as autoflush would
        write_pending(state.session)


@sa_event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    write_pending(session)


@sa_event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)  # rolled back with the command they describe
