"""Who sees a case and who is offered its tasks: need to know, not "same lane and district".

An instance is visible to (``shared/DESIGN.md``, "Access to case data"):

- its starter, whoever holds or held one of its tasks, the people its data names as responsible,
  and whoever a recorded hand-over of a task granted it (``InstanceAccess`` rows of kind ``user``);
- whoever is *offered* one of its open tasks (below);
- ``chef`` of the authority for its districts;
- ``admin``, who operates the service on de-identified views (``projection``).

Nothing else: not other providers, not the region before a task names it, not EKU beyond its own
tasks. A task is offered when it is unassigned and the person holds a role of its lane, works in its
district, and belongs to the organisation it names — or, for a task that names none, to the
administration's own units (the authority or EKU). Unknown and forbidden both answer 404.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, exists, false, func, or_, select, union, union_all
from sqlalchemy.orm import Session, defer

from service.actor import Actor
from service.models import HumanTask, InstanceAccess, ProcessInstance, TaskStatus

from .lanes import OfferedLanes, lane_condition


def _organisation_matches(actor: Actor) -> ColumnElement[bool]:
    """SQL: the task names the actor's organisation, or names none and the actor is internal."""
    if actor.is_internal:
        return or_(HumanTask.organisation.is_(None), HumanTask.organisation == actor.organisation)
    return HumanTask.organisation == actor.organisation


def _district_matches(actor: Actor) -> ColumnElement[bool]:
    if actor.districts:
        return or_(HumanTask.district.is_(None), HumanTask.district.in_(sorted(actor.districts)))
    return HumanTask.district.is_(None)


def visible_instances(session: Session, actor: Actor, lanes: Iterable[str]) -> Select[Any]:
    """A query of the instances ``actor`` may see (ORM select, to be filtered and paginated).

    ``lanes`` are the lanes the actor's roles act in (``access.lanes.offered_lanes(services, actor.roles)``).
    """
    query = select(ProcessInstance)
    if actor.is_system or actor.has("admin"):
        return query
    conditions: list[ColumnElement[bool]] = [exists().where(
        InstanceAccess.instance_id == ProcessInstance.id, InstanceAccess.kind == "user",
        InstanceAccess.value == actor.username)]
    offered = lanes if isinstance(lanes, OfferedLanes) else sorted(set(lanes))
    if offered:
        conditions.append(exists().where(
            HumanTask.instance_id == ProcessInstance.id, HumanTask.status == TaskStatus.OPEN,
            HumanTask.assignee.is_(None), lane_condition(offered), _district_matches(actor),
            _organisation_matches(actor)))
    if actor.has("chef") and actor.is_authority:
        conditions.append(chef_districts(actor))
    return query.where(or_(*conditions))


def chef_districts(actor: Actor, instance_id: Any = ProcessInstance.id) -> ColumnElement[bool]:
    """SQL: the instance lies in one of the actor's districts, or in none (the authority's chef's view).

    ``instance_id`` is ``ProcessInstance.id`` or a column referring to it (``Timer.instance_id``).
    """
    district = (InstanceAccess.instance_id == instance_id) & (InstanceAccess.kind == "district")
    return or_(~exists().where(district), exists().where(district, InstanceAccess.value.in_(sorted(actor.districts))))


def can_see_instance(session: Session, actor: Actor, instance: ProcessInstance, lanes: Iterable[str]) -> bool:
    query = visible_instances(session, actor, lanes).where(ProcessInstance.id == instance.id)
    return session.scalars(query.with_only_columns(ProcessInstance.id)).first() is not None


def _actionable_parts(actor: Actor, lanes: Iterable[str],
                      assigned: str) -> tuple[list[tuple[ColumnElement[bool], ...]], bool]:
    """The conditions of each index-friendly part of ``actionable_tasks``, and whether two parts may
    name the same task (the chef's parts overlap the others)."""
    open_ = HumanTask.status == TaskStatus.OPEN
    parts: list[tuple[ColumnElement[bool], ...]] = []
    if assigned in ("me", "all"):
        parts.append((open_, HumanTask.assignee == actor.username))
    if assigned in ("unassigned", "all") and lanes:
        unassigned = (open_, HumanTask.assignee.is_(None), lane_condition(lanes), _organisation_matches(actor))
        parts.append((*unassigned, HumanTask.district.is_(None)))
        if actor.districts:
            parts.append((*unassigned, HumanTask.district.in_(sorted(actor.districts))))
    overlap = False
    if assigned == "all" and actor.has("chef") and actor.is_authority:
        overlap = bool(parts)
        parts.append((open_, HumanTask.district.is_(None)))
        if actor.districts:
            parts.append((open_, HumanTask.district.in_(sorted(actor.districts))))
    return parts, overlap


def actionable_tasks(actor: Actor, lanes: Iterable[str], assigned: str = "all") -> Select[Any]:
    """Open tasks ``actor`` may act on: assigned to them, or offered to them (unassigned in their lanes,
    districts and organisation); for the authority's ``chef``, anything in their districts.

    Built as a union of index-friendly parts selected by id, because one condition with ORs across
    columns makes the database read every open task (measured: 180 ms at 100,000 open tasks
    against a few ms this way). Lists use ``actionable_page``, which reads the same parts from the
    inbox's covering indexes.
    """
    parts, _ = _actionable_parts(actor, lanes, assigned)
    if not parts:
        return select(HumanTask).where(false())
    return select(HumanTask).where(HumanTask.id.in_(
        union_all(*(select(HumanTask.id).where(*part) for part in parts)).scalar_subquery()))


def actionable_keys(actor: Actor, lanes: Iterable[str], assigned: str = "all",
                    *where: ColumnElement[bool]) -> Subquery | None:
    """The tasks of ``actionable_tasks`` (narrowed by ``where``) as ``(id, due_at, created_at)`` rows:
    each part read from a covering index (``ix_human_task_inbox_*``, migration 0025) without
    touching the table, so counting and ordering them never loads a task row. None: no part."""
    parts, overlap = _actionable_parts(actor, lanes, assigned)
    if not parts:
        return None
    selects = [select(HumanTask.id, HumanTask.due_at, HumanTask.created_at).where(*part, *where) for part in parts]
    if len(selects) == 1:
        return selects[0].subquery()
    return (union(*selects) if overlap else union_all(*selects)).subquery()


def actionable_page(session: Session, actor: Actor, lanes: Iterable[str], assigned: str = "all",
                    *where: ColumnElement[bool], limit: int, offset: int = 0) -> tuple[list[HumanTask], int]:
    """A page of ``actionable_tasks`` (narrowed by ``where``), overdue first — no due date last, then by
    due date, oldest first — and how many there are in all.

    Counted and ordered on ``actionable_keys`` (index only); then only the page's rows are loaded,
    without the task's data (JSON the lists do not show).
    """
    keys = actionable_keys(actor, lanes, assigned, *where)
    if keys is None:
        return [], 0
    total = session.scalar(select(func.count()).select_from(keys)) or 0
    ids = list(session.scalars(select(keys.c.id).order_by(keys.c.due_at.is_(None), keys.c.due_at,
                                                           keys.c.created_at, keys.c.id).limit(limit).offset(offset)))
    if not ids:
        return [], total
    # by primary key only: a condition on status here would lead SQLite to scan the open tasks instead
    rows = {t.id: t for t in session.scalars(select(HumanTask).where(HumanTask.id.in_(ids)).options(
        defer(HumanTask.data), defer(HumanTask.submitted)))}
    return [rows[i] for i in ids if i in rows and rows[i].status == TaskStatus.OPEN], total


def _in_district(actor: Actor, task: HumanTask) -> bool:
    return actor.shares_district([task.district] if task.district else None)


def _in_organisation(actor: Actor, task: HumanTask) -> bool:
    if task.organisation is None:
        return actor.is_internal
    return task.organisation == actor.organisation


def in_mandate(actor: Actor, task: HumanTask) -> bool:
    """The actor holds a role of the task's lane, in its district and organisation: its colleagues."""
    return bool(set(task.roles) & actor.roles) and _in_district(actor, task) and _in_organisation(actor, task)


def is_offered(actor: Actor, task: HumanTask) -> bool:
    """Open, unassigned, and in the actor's mandate."""
    return task.status == TaskStatus.OPEN and task.assignee is None and in_mandate(actor, task)


def may_act_on_task(actor: Actor, task: HumanTask) -> bool:
    """Complete or claim: the assignee, or (unassigned) someone the task is offered to."""
    if task.assignee is not None:
        return task.assignee == actor.username
    return in_mandate(actor, task)


def manages_task(actor: Actor, task: HumanTask) -> bool:
    """Release or hand over anyone's task: the authority's ``chef`` of the task's district."""
    return actor.has("chef") and actor.is_authority and _in_district(actor, task)


def holds_or_held(actor: Actor, task: HumanTask) -> bool:
    return actor.username in (task.assignee, task.completed_by)


def may_see_task(actor: Actor, task: HumanTask) -> bool:
    """Read a task: whoever may act on it or manages it, and whoever completed it."""
    return may_act_on_task(actor, task) or manages_task(actor, task) or holds_or_held(actor, task)


def own_tasks(actor: Actor, tasks: Iterable[HumanTask]) -> list[HumanTask]:
    """The tasks of a case that the actor holds, held or is offered: what their projection rests on."""
    return [t for t in tasks if holds_or_held(actor, t) or is_offered(actor, t)]
