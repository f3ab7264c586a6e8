"""The inbox: my tasks and my lanes' unassigned tasks, overdue first, due dates in working time."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from sqlalchemy import Select, select

from service.access import actionable_tasks, record_reads, shows_identity, task_summary
from service.actor import Actor
from service.models import HumanTask, InstanceState, ProcessInstance

from ..layout import actor_required, page_blueprint, services
from ..routines import routine_names
from ..worktime import due_in_working_time

bp = page_blueprint("inbox", __name__)

PAGE_SIZE = 200


def _overdue_first(query: Select[tuple[HumanTask]]) -> Select[tuple[HumanTask]]:
    # The API's order: tasks without a due date last, then by due date, then oldest first.
    return query.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at, HumanTask.id)


def inbox_rows(actor: Actor, kind: str, process: str | None) -> list[dict[str, Any]]:
    svc = services()
    now = svc.now()
    query = actionable_tasks(actor, svc.lanes.lanes_for(actor.roles), kind)
    if process:
        query = query.where(HumanTask.process_key == process)
    with svc.db.read() as db:
        tasks = list(db.scalars(_overdue_first(query).limit(PAGE_SIZE)))
        paused = set(db.scalars(select(ProcessInstance.id).where(
            ProcessInstance.id.in_({t.instance_id for t in tasks}), ProcessInstance.state == InstanceState.SUSPENDED)))
    rows = []
    for task in tasks:
        row = task_summary(task, actor, now)
        row["due"] = due_in_working_time(task.due_at, now)
        row["case_ref"] = task.case_ref if shows_identity(actor) else None
        row["paused"] = task.instance_id in paused
        rows.append(row)
    record_reads(svc, actor, [t.instance_id for t in tasks], kind="inbox")
    return rows


@bp.get("/inkorg")
def inbox() -> Any:
    actor = actor_required()
    process = request.args.get("rutin") or None
    with services().db.read() as db:
        names = routine_names(db)
    if process not in names:
        process = None
    return render_template("inbox/inbox.html", mine=inbox_rows(actor, "me", process),
                           claimable=inbox_rows(actor, "unassigned", process), names=names, process=process)
