"""One task: its form, the case context, claim/unclaim, hand-over, and completion."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import select

from service.access import (
    Lens,
    case_data,
    case_rows,
    manages_task,
    may_act_on_task,
    may_see_task,
    record_reads,
    shows_identity,
    task_detail,
)
from service.actor import Actor
from service.directory import with_choices
from service.errors import Conflict, Invalid, NotFound
from service.models import Event, HumanTask, InstanceState, ProcessInstance, TaskStatus, User
from service.operations.persist import in_organisation
from service.operations.tasks import assign, claim, complete_task, unclaim

from .. import casedata
from ..formdata import read_submission
from ..formview import build_form
from ..layout import actor_required, page_blueprint, person_name, safe_next, services
from ..messages import field_message
from ..monitor.stats import element_names
from ..worktime import due_for

bp = page_blueprint("tasks", __name__)


def _load(actor: Actor, task_id: str) -> tuple[HumanTask, ProcessInstance]:
    with services().db.read() as db:
        task = db.get(HumanTask, task_id)
        if task is None or not may_see_task(actor, task):
            raise NotFound("no such task")
        instance = db.get(ProcessInstance, task.instance_id)
        if instance is None:
            raise NotFound("no such task")
        return task, instance


def _render(actor: Actor, task: HumanTask, instance: ProcessInstance, values: dict[str, Any] | None = None,
            errors: dict[str, list[str]] | None = None, status: int = 200, detail_error: str | None = None,
            handover: dict[str, Any] | None = None) -> Any:
    svc = services()
    now = svc.now()
    definition = instance.definition
    with svc.db.read() as db:
        detail = task_detail(db, actor, task, instance, now)
        rows = case_rows(db, instance.id)
        tasks = rows.tasks
        events = list(db.scalars(select(Event).where(Event.instance_id == instance.id).order_by(Event.id)))
        candidates = _substitutes(db, task)
        schema = with_choices(db, actor, detail["form"]["schema"], district=task.district)
    ui = detail["form"]["ui_schema"]
    if values is None:  # prefill from the task's data: earlier answers to the same fields
        values = {k: v for k, v in detail["data"].items() if k in ((schema or {}).get("properties") or {})}
    view = build_form(schema, ui, values, errors)
    # the case as this viewer may see it (``service.access.projection``), as in the API
    data = case_data(actor, definition, instance.data, tasks, rows.disclosures, started_by=instance.started_by)
    may_act = task.status == TaskStatus.OPEN and may_act_on_task(actor, task)
    return render_template(
        "tasks/task.html", task=detail, view=view, may_act=may_act, routine=definition.name,
        due=due_for(task.due_at, now, task.roles, task.due_counts), instance=instance, detail_error=detail_error,
        steps=casedata.steps(definition, data, tasks, Lens(actor)),
        timeline=casedata.timeline(events, tasks, Lens(actor), element_titles=element_names(definition)),
        may_hand_over=task.status == TaskStatus.OPEN and (manages_task(actor, task) or task.assignee == actor.username),
        may_release=task.status == TaskStatus.OPEN and task.assignee is not None
        and (task.assignee == actor.username or manages_task(actor, task)),
        may_open_case=shows_identity(actor), paused=instance.state == InstanceState.SUSPENDED,
        may_claim=task.status == TaskStatus.OPEN and task.assignee is None and may_act,
        candidates=candidates, handover=handover or {"username": "", "reason": "", "errors": {}},
    ), status


def _substitutes(db: Any, task: HumanTask) -> list[User]:
    """Active users with the task's mandate (a role of its lane, in the organisation it is offered to)."""
    users = db.scalars(select(User).where(User.is_active).order_by(User.display_name))
    return [u for u in users if set(u.roles) & set(task.roles) and u.username != task.assignee
            and in_organisation(u, task.organisation)]


def _instance_state(instance_id: str) -> InstanceState | None:
    with services().db.read() as db:
        instance = db.get(ProcessInstance, instance_id)
        return instance.state if instance else None


@bp.get("/uppgifter/<task_id>")
def task_page(task_id: str) -> Any:
    actor = actor_required()
    task, instance = _load(actor, task_id)
    page = _render(actor, task, instance)
    record_reads(services(), actor, [task.instance_id], kind="task", task_id=task_id)
    return page


@bp.post("/uppgifter/<task_id>")
def complete(task_id: str) -> Any:
    """Complete the task with the submitted form; on errors the page comes back with the input kept."""
    actor = actor_required()
    task, instance = _load(actor, task_id)
    definition = instance.definition
    schema = definition.forms.get(task.form_file) if task.form_file else None
    ui = definition.forms.get(task.ui_form_file) if task.ui_form_file else None
    values, is_row_action = read_submission(schema, ui, request.form)
    if is_row_action:
        return _render(actor, task, instance, values)
    try:
        _done, created, _instance = complete_task(services(), actor, task_id, values)
    except Invalid as err:
        return _render(actor, task, instance, values, err.errors, status=422, detail_error=err.detail)
    except Conflict as err:
        if _instance_state(instance.id) == InstanceState.SUSPENDED:  # keep what was typed: it can be sent later
            kept = _("Ärendet är pausat. Det du fyllt i finns kvar; skicka igen när ärendet återupptas.")
            return _render(actor, task, instance, values, status=409, detail_error=kept)
        flash(_("Uppgiften kunde inte slutföras: %(reason)s", reason=field_message(err.detail)), "error")
        return redirect(url_for("inbox.inbox"))
    flash(_("Klart: %(title)s", title=task.title), "success")
    for new in created:
        if may_act_on_task(actor, new):  # the next step is the user's own: one click away
            link = Markup('<a href="{}">{}</a>').format(url_for("tasks.task_page", task_id=new.id), new.title)
            text = escape(_("Nästa steg: %(title)s (%(lane)s)"))  # Markup's % escapes what goes in
            flash(text % {"title": link, "lane": new.lane or "–"}, "info")
        elif may_see_task(actor, new):
            flash(_("Nästa steg: %(title)s (%(lane)s)", title=new.title, lane=new.lane or "–"), "info")
        else:  # someone else's step: say where the case went, not what it says
            flash(_("Ärendet går vidare till %(lane)s.", lane=new.lane or "–"), "info")
    return redirect(url_for("inbox.inbox"))


@bp.post("/uppgifter/<task_id>/ta")
def claim_action(task_id: str) -> Any:
    """Claim (``action=claim``) or release (``action=unclaim``) a task."""
    actor = actor_required()
    back = safe_next(request.form.get("next"), url_for("tasks.task_page", task_id=task_id))
    try:
        if request.form.get("action") == "unclaim":
            task = unclaim(services(), actor, task_id)
            flash(_("Du släppte uppgiften %(title)s.", title=task.title), "success")
        else:
            task = claim(services(), actor, task_id)
            flash(_("Uppgiften %(title)s är din.", title=task.title), "success")
            back = url_for("tasks.task_page", task_id=task_id)  # claimed to be done: go to it
    except Conflict as err:
        flash(_("Det gick inte: %(reason)s", reason=field_message(err.detail)), "error")
    return redirect(back)


@bp.post("/uppgifter/<task_id>/overlamna")
def hand_over(task_id: str) -> Any:
    """Hand the task to a substitute or delegate, with a reason that is recorded."""
    actor = actor_required()
    task, instance = _load(actor, task_id)
    username = request.form.get("username", "")
    reason = request.form.get("reason", "")
    errors: dict[str, list[str]] = {}  # both fields at once, each with what it needs
    if not username.strip():
        errors["username"] = [_("Välj vem som tar över uppgiften i listan.")]
    if not reason.strip():
        errors["reason"] = [_("Skriv varför du lämnar över uppgiften, till exempel ”Semester vecka 49”.")]
    try:
        if errors:
            raise Invalid("the hand-over form has errors", errors=errors)
        assign(services(), actor, task_id, username, reason)
    except Invalid as err:
        errors = errors or {k: [field_message(m) for m in v] for k, v in (err.errors or {}).items()}
        return _render(actor, task, instance, status=422,
                       handover={"username": username, "reason": reason, "errors": errors})
    except Conflict as err:
        flash(_("Det gick inte: %(reason)s", reason=field_message(err.detail)), "error")
        return redirect(url_for("tasks.task_page", task_id=task_id))
    flash(_("Uppgiften lämnades över till %(user)s.", user=person_name(username)), "success")
    return redirect(url_for("inbox.inbox"))

