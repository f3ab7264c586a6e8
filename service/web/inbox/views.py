"""The inbox: my tasks and my lanes' unassigned tasks, overdue first, due dates in working time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import render_template, request
from sqlalchemy import select

from service.access import TaskFilter, actionable_page, record_reads, shows_identity, task_summary
from service.access.lanes import offered_lanes
from service.actor import Actor
from service.models import InstanceState, ProcessInstance
from service.roles import DISTRICTS

from ..layout import actor_required, page_blueprint, services
from ..routines import routine_names
from ..worktime import due_for

bp = page_blueprint("inbox", __name__)

PAGE_SIZE = 50


@dataclass(frozen=True)
class InboxFilter:
    """What the inbox shows: a routine, a district, a case reference or step name, a page of each table."""

    process: str | None = None
    district: str | None = None
    text: str = ""
    page: int = 1


def inbox_rows(actor: Actor, kind: str, wanted: InboxFilter) -> tuple[list[dict[str, Any]], int]:
    """One table of the inbox (``me`` or ``unassigned``): a page of rows and how many there are."""
    svc = services()
    now = svc.now()
    narrow = TaskFilter(process=wanted.process or None, district=wanted.district or None, text=wanted.text or None)
    with svc.db.read() as db:
        lanes = offered_lanes(svc, actor.roles, db)
        tasks, total = actionable_page(db, actor, lanes, kind, narrow,
                                       limit=PAGE_SIZE, offset=(wanted.page - 1) * PAGE_SIZE)
        paused = set(db.scalars(select(ProcessInstance.id).where(
            ProcessInstance.id.in_({t.instance_id for t in tasks}), ProcessInstance.state == InstanceState.SUSPENDED)))
    rows = []
    for task in tasks:
        row = task_summary(task, actor, now)
        row["due"] = due_for(task.due_at, now, task.roles, task.due_counts)
        row["case_ref"] = task.case_ref if shows_identity(actor) else None
        row["paused"] = task.instance_id in paused
        rows.append(row)
    record_reads(svc, actor, [t.instance_id for t in tasks], kind="inbox")
    return rows, total


@bp.get("/inkorg")
def inbox() -> Any:
    actor = actor_required()
    process = request.args.get("rutin") or None
    with services().db.read() as db:
        names = routine_names(db)
    if process not in names:
        process = None
    district = request.args.get("stadsomrade") if request.args.get("stadsomrade") in DISTRICTS else None
    text = (request.args.get("sok") or "").strip()[:100]
    mine, mine_total = inbox_rows(actor, "me", InboxFilter(process, district, text,
                                                           max(1, request.args.get("sida_mina", 1, type=int) or 1)))
    claimable, claimable_total = inbox_rows(actor, "unassigned", InboxFilter(
        process, district, text, max(1, request.args.get("sida_att_ta", 1, type=int) or 1)))
    return render_template("inbox/inbox.html", mine=mine, mine_total=mine_total, claimable=claimable,
                           claimable_total=claimable_total, names=names, process=process, district=district,
                           districts=sorted(DISTRICTS), text=text,
                           per_page=PAGE_SIZE)
