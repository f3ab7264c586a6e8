"""Deployed routines as pages list them: the latest version of each, by key."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.actor import Actor
from service.models import ProcessDefinition
from service.operations.instances import latest_versions


def latest_definitions(db: Session) -> list[ProcessDefinition]:
    """The latest version of every deployed routine, by name (as pages list them)."""
    return sorted(latest_versions(db), key=lambda d: d.name)


def routine_names(db: Session) -> dict[str, str]:
    return {d.key: d.name for d in latest_definitions(db)}


def may_start(actor: Actor, definition: ProcessDefinition) -> bool:
    """The rule ``start_instance`` applies: a role of the start event's lane, or admin."""
    return actor.has(*definition.starter_roles, "admin")
