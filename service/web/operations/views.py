"""The operations console: cases in error (with retry), pending timers, finding a reported case by
its reference (admin); the audit log (auditor, admin).

Operators are not readers (``shared/DESIGN.md``): the console shows cases de-identified, as
``service.access`` projects them; reading one whole is the case page's break-glass.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from service.access import instance_summary, record_reads
from service.errors import Conflict, Invalid
from service.models import Event, InstanceState, ProcessInstance, Timer, TimerState
from service.operations.instances import retry_instance

from ..layout import actor_required, page_blueprint, services, signed_in
from ..messages import field_message
from ..routines import routine_names

bp = page_blueprint("operations", __name__)

LIST_LIMIT = 200
LOG_PAGE = 100


@bp.get("/drift")
@signed_in("admin")
def console() -> Any:
    """Cases in error, the next pending timers, and a search for a case by the reference someone reported."""
    actor = actor_required()
    svc = services()
    now = svc.now()
    reference = (request.args.get("arende") or "").strip()[:100]
    with svc.db.read() as db:
        names = routine_names(db)
        failed = [instance_summary(i, actor) for i in db.scalars(
            select(ProcessInstance).where(ProcessInstance.state == InstanceState.ERROR)
            .order_by(ProcessInstance.updated_at.desc()).limit(LIST_LIMIT)).unique()]
        timers = list(db.scalars(select(Timer).where(Timer.state == TimerState.PENDING)
                                 .order_by(Timer.due_at, Timer.id).limit(LIST_LIMIT)))
        pending = db.scalar(select(func.count()).select_from(Timer).where(Timer.state == TimerState.PENDING)) or 0
        found = [instance_summary(i, actor) for i in db.scalars(
            select(ProcessInstance).where(ProcessInstance.case_ref == reference)
            .order_by(ProcessInstance.started_at.desc()).limit(LIST_LIMIT)).unique()] if reference else []
    record_reads(svc, actor, [i["id"] for i in found], kind="list")
    return render_template("operations/console.html", failed=failed, timers=timers, pending=pending, now=now,
                           names=names, reference=reference, found=found, searched=bool(reference))


@bp.post("/drift/arenden/<instance_id>/forsok-igen")
@signed_in("admin")
def retry(instance_id: str) -> Any:
    """Run a failed case's step again (``retry_instance``), with the reason recorded."""
    actor = actor_required()
    try:
        retry_instance(services(), actor, instance_id, request.form.get("reason", ""))
    except Invalid:
        flash(_("Ange ett skäl för att köra om steget."), "error")
    except Conflict as err:
        flash(_("Det gick inte: %(reason)s", reason=field_message(err.detail)), "error")
    else:
        flash(_("Steget kördes om."), "success")
    return redirect(url_for("operations.console"))


@bp.get("/logg")
@signed_in("auditor", "admin")
def audit_log() -> Any:
    """The append-only event log, newest first, filtered by case, person and time."""
    svc = services()
    instance = (request.args.get("arende_id") or "").strip()[:36]
    person = (request.args.get("person") or "").strip()[:100]
    since_text = (request.args.get("fran") or "").strip()
    page = max(1, request.args.get("sida", 1, type=int) or 1)
    query = select(Event)
    if instance:
        query = query.where(Event.instance_id == instance)
    if person:
        query = query.where(Event.actor == person)
    since = _day(since_text)
    if since is not None:
        query = query.where(Event.at >= since)
    with svc.db.read() as db:
        total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
        events = list(db.scalars(query.order_by(Event.id.desc()).limit(LOG_PAGE).offset((page - 1) * LOG_PAGE)))
    return render_template("operations/audit.html", events=events, total=total, page=page, per_page=LOG_PAGE,
                           instance=instance, person=person, since=since_text if since else "",
                           bad_since=bool(since_text) and since is None)


def _day(text: str) -> datetime | None:
    """A YYYY-MM-DD from the filter as the start of that day in Stockholm, or None."""
    from service.clock import STOCKHOLM

    try:
        return datetime.fromisoformat(text).replace(tzinfo=STOCKHOLM) if len(text) == 10 else None
    except ValueError:
        return None
