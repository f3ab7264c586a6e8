"""The inbox: the open tasks a person may act on, counted and paged (``shared/DESIGN.md``, "Access to
case data", says who is offered what; "Targets", how fast).

Those are the tasks assigned to them, the tasks offered to them (unassigned, in their lanes,
districts and organisation; see ``visibility``) and, for the authority's ``chef``, anything in their
districts. They are read as a union of index-friendly parts selected by id, because one condition
with ORs across columns makes the database read every open task (measured: 180 ms at 100,000 open
tasks against a few ms this way); each part is read from a covering index
(``ix_human_task_inbox_*``, migration 0025), so counting and ordering never load a task row.

The inbox is asked on every page and in every lifecycle, and building its statements cost more than
running them: the statements are built once per shape (which parts, which narrowing) with the
person's values and the narrowing's as parameters, and kept (``_statements``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select, union, union_all
from sqlalchemy.orm import Session, defer

from service.actor import Actor
from service.models import HumanTask, TaskStatus

from .lanes import OfferedLanes, lane_condition
from .projection import shows_identity
from .visibility import organisation_matches

ASSIGNED = ("me", "unassigned", "all")


@dataclass(frozen=True)
class TaskFilter:
    """What a list of actionable tasks is narrowed to; a field left unset does not narrow it.

    ``text`` is looked for in the title and the step, and in the case reference for whom case
    references show (``shows_identity``).
    """

    process: str | None = None
    instance: str | None = None
    district: str | None = None
    due_before: datetime | None = None
    text: str | None = None

    def names(self) -> tuple[str, ...]:
        """The fields that narrow: with the viewer's kind, what the statements are built for."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)

    def values(self) -> dict[str, Any]:
        """The statements' parameters for the fields that narrow (``text`` as a LIKE pattern)."""
        values = {name: getattr(self, name) for name in self.names()}
        if self.text is not None:
            values["text"] = "%" + self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return values


@dataclass(frozen=True)
class _Shape:
    """What the statements of a list depend on besides parameters: equal shapes share statements."""

    assigned: str
    lanes: OfferedLanes
    is_internal: bool
    has_districts: bool
    is_district_chef: bool
    narrowed_by: tuple[str, ...]
    text_in_case_ref: bool


def _shape(actor: Actor, lanes: OfferedLanes, assigned: str, narrow: TaskFilter) -> _Shape:
    assert assigned in ASSIGNED, assigned
    return _Shape(assigned, lanes, actor.is_internal, bool(actor.districts), actor.has("chef") and actor.is_authority,
                  narrow.names(), narrow.text is not None and shows_identity(actor))


def _parameters(actor: Actor, narrow: TaskFilter) -> dict[str, Any]:
    """Every parameter a shape's statements may name (those they do not name are ignored)."""
    return {"username": actor.username, "organisation": actor.organisation, "districts": sorted(actor.districts),
            **narrow.values()}


def _narrowing(shape: _Shape) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for name in shape.narrowed_by:
        if name == "text":
            columns = [HumanTask.title, HumanTask.step] + ([HumanTask.case_ref] if shape.text_in_case_ref else [])
            conditions.append(or_(*(column.ilike(bindparam("text"), escape="\\") for column in columns)))
        elif name == "due_before":
            conditions.append(HumanTask.due_at < bindparam("due_before"))
        else:
            column = {"process": HumanTask.process_key, "instance": HumanTask.instance_id,
                      "district": HumanTask.district}[name]
            conditions.append(column == bindparam(name))
    return conditions


def _parts(shape: _Shape) -> tuple[list[tuple[ColumnElement[bool], ...]], bool]:
    """The conditions of each index-friendly part, and whether two parts may name the same task (the
    chef's parts overlap the others)."""
    open_ = HumanTask.status == TaskStatus.OPEN
    in_districts = HumanTask.district.in_(bindparam("districts", expanding=True))
    parts: list[tuple[ColumnElement[bool], ...]] = []
    if shape.assigned in ("me", "all"):
        parts.append((open_, HumanTask.assignee == bindparam("username")))
    if shape.assigned in ("unassigned", "all") and shape.lanes:
        unassigned = (open_, HumanTask.assignee.is_(None), lane_condition(shape.lanes),
                      organisation_matches(shape.is_internal, bindparam("organisation")))
        parts.append((*unassigned, HumanTask.district.is_(None)))
        if shape.has_districts:
            parts.append((*unassigned, in_districts))
    overlap = False
    if shape.assigned == "all" and shape.is_district_chef:
        overlap = bool(parts)
        parts.append((open_, HumanTask.district.is_(None)))
        if shape.has_districts:
            parts.append((open_, in_districts))
    return parts, overlap


@lru_cache(maxsize=256)
def _statements(shape: _Shape) -> tuple[Select[Any], Select[Any]] | None:
    """The count and the page of ids (overdue first — no due date last, then by due date, oldest
    first) for a shape; None when no part applies. Built once per shape, as the module says."""
    parts, overlap = _parts(shape)
    if not parts:
        return None
    narrowing = _narrowing(shape)
    selects = [select(HumanTask.id, HumanTask.due_at, HumanTask.created_at).where(*part, *narrowing)
               for part in parts]
    keys = selects[0].subquery() if len(selects) == 1 else (union if overlap else union_all)(*selects).subquery()
    count = select(func.count()).select_from(keys)
    ids = select(keys.c.id).order_by(keys.c.due_at.is_(None), keys.c.due_at, keys.c.created_at, keys.c.id).limit(
        bindparam("limit")).offset(bindparam("offset"))
    return count, ids


# by primary key only: a condition on status here would lead SQLite to scan the open tasks instead
_ROWS = select(HumanTask).where(HumanTask.id.in_(bindparam("ids", expanding=True))).options(
    defer(HumanTask.data), defer(HumanTask.submitted))


def actionable_count(session: Session, actor: Actor, lanes: OfferedLanes, assigned: str = "all",
                     narrow: TaskFilter = TaskFilter()) -> int:
    """How many open tasks ``actor`` may act on (``assigned``: me, unassigned or all), counted on the
    covering indexes without reading a task row. ``lanes``: ``access.lanes.offered_lanes`` for the actor."""
    statements = _statements(_shape(actor, lanes, assigned, narrow))
    if statements is None:
        return 0
    return session.connection().scalar(statements[0], _parameters(actor, narrow)) or 0  # a column: no ORM


def actionable_page(session: Session, actor: Actor, lanes: OfferedLanes, assigned: str = "all",
                    narrow: TaskFilter = TaskFilter(), *, limit: int, offset: int = 0) -> tuple[list[HumanTask], int]:
    """A page of the open tasks ``actor`` may act on, overdue first, and how many there are in all.

    Counted and ordered on the covering indexes; then only the page's rows are loaded, without the
    task's data (JSON the lists do not show).
    """
    statements = _statements(_shape(actor, lanes, assigned, narrow))
    if statements is None:
        return [], 0
    count, page = statements
    parameters = _parameters(actor, narrow)
    connection = session.connection()  # the count and the ids are columns: no ORM execution needed
    total = connection.scalar(count, parameters) or 0
    ids = list(connection.scalars(page, {**parameters, "limit": limit, "offset": offset}))
    if not ids:
        return [], total
    rows = {t.id: t for t in session.scalars(_ROWS, {"ids": ids})}
    return [rows[i] for i in ids if i in rows and rows[i].status == TaskStatus.OPEN], total
