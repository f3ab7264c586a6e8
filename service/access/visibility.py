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

from sqlalchemy import ColumnElement, Select, exists, or_, select
from sqlalchemy.orm import Session

from service.actor import Actor
from service.models import HumanTask, InstanceAccess, ProcessInstance, TaskStatus

from .lanes import OfferedLanes, lane_condition


def organisation_matches(is_internal: bool, organisation: Any) -> ColumnElement[bool]:
    """SQL: the task names the actor's organisation (its key, or a bound parameter for it), or names
    none and the actor is internal (``Actor.is_internal``)."""
    if is_internal:
        return or_(HumanTask.organisation.is_(None), HumanTask.organisation == organisation)
    return HumanTask.organisation == organisation


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
            organisation_matches(actor.is_internal, actor.organisation)))
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
