"""Deployed routines as pages list them: the latest version of each, by key."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.actor import Actor
from service.models import ProcessDefinition


def latest_definitions(db: Session) -> list[ProcessDefinition]:
    """The latest version of every deployed routine, by key."""
    latest = select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("v")).group_by(
        ProcessDefinition.key).subquery()
    return list(db.scalars(select(ProcessDefinition).join(
        latest, (ProcessDefinition.key == latest.c.key) & (ProcessDefinition.version == latest.c.v))
        .order_by(ProcessDefinition.name)))


def routine_names(db: Session) -> dict[str, str]:
    return {d.key: d.name for d in latest_definitions(db)}


def may_start(actor: Actor, definition: ProcessDefinition) -> bool:
    """The rule ``start_instance`` applies: a role of the start event's lane, or admin."""
    return actor.has(*definition.starter_roles, "admin")
