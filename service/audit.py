"""Append to the audit log (``Event``): every command, and every read of a client's case data."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .actor import Actor
from .clock import utcnow
from .models import Event


def record(session: Session, actor: Actor, action: str, *, instance_id: str | None = None,
           task_id: str | None = None, **detail: Any) -> Event:
    event = Event(at=utcnow(), actor=actor.username, action=action, instance_id=instance_id,
                  task_id=task_id, detail=detail)
    session.add(event)
    return event
