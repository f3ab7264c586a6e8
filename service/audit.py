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
from .db import Database
from .models import Event

_PENDING = "samverkan_events"  # session.info: the rows recorded and not yet written


_INSERT = insert(Event)  # built once: every command and every read writes events


def event_row(actor: Actor, action: str, *, instance_id: str | None = None, task_id: str | None = None,
              **detail: Any) -> dict[str, Any]:
    """One audit event as the row ``Event`` stores, stamped now."""
    return {"at": utcnow(), "actor": actor.username, "action": action, "instance_id": instance_id,
            "task_id": task_id, "detail": detail}


def record(session: Session, actor: Actor, action: str, *, instance_id: str | None = None,
           task_id: str | None = None, **detail: Any) -> None:
    session.info.setdefault(_PENDING, []).append(
        event_row(actor, action, instance_id=instance_id, task_id=task_id, **detail))


def append(db: Database, rows: list[dict[str, Any]]) -> None:
    """Write events (``event_row``) in a transaction of their own, committed before this returns:
    for what is not a command (a read), without a session's unit of work."""
    with db.append() as conn:
        conn.execute(_INSERT, rows)


def write_pending(session: Session) -> None:
    """Write the events recorded on ``session`` (``record``) now, in its transaction."""
    rows = session.info.pop(_PENDING, None)
    if rows:
        session.connection().execute(_INSERT, rows)


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
