"""Start a routine; the instances a user may see; one instance with its diagram, timeline and actions."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from service.access import may_see_task, visible_instances
from service.actor import Actor
from service.api.present import data_for, instance_summary, task_summary
from service.audit import record
from service.errors import Conflict, Invalid, NotFound
from service.models import Event, HumanTask, InstanceState, ProcessInstance, TaskStatus, Timer, TimerState
from service.operations.instances import latest_definition, load_visible, set_state, start_instance
from service.operations.timers import fire_timer

from .. import assets, casedata
from ..formdata import read_submission
from ..formview import build_form
from ..layout import actor_required, page_blueprint, services
from ..messages import field_message
from ..routines import latest_definitions, may_start, routine_names
from .diagram import path_taken

bp = page_blueprint("instances", __name__)

STATE_ACTIONS = ("suspend", "resume", "terminate")


@bp.get("/starta")
def start_list() -> Any:
    """The routines the user's roles may start."""
    actor = actor_required()
    with services().db.read() as db:
        definitions = [d for d in latest_definitions(db) if may_start(actor, d)]
    return render_template("instances/start_list.html", definitions=definitions)


def _start_definition(actor: Actor, key: str) -> Any:
    with services().db.read() as db:
        definition = latest_definition(db, key)
    if definition is None or not may_start(actor, definition):
        raise NotFound("no such routine")
    return definition


@bp.route("/starta/<key>", methods=["GET", "POST"])
def start_form(key: str) -> Any:
    """The start form of a routine; a valid submission starts an instance (``start_instance``)."""
    actor = actor_required()
    definition = _start_definition(actor, key)
    form_name = services().engine.start_form(definition)
    schema = definition.forms.get(form_name) if form_name else None
    ui = definition.forms.get(form_name.replace(".schema.json", ".uischema.json")) if form_name else None
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] | None = None
    case_ref = request.form.get("case_ref", "").strip()
    status = 200
    if request.method == "POST":
        values, is_row_action = read_submission(schema, ui, request.form)
        if not is_row_action:
            try:
                instance, changes = start_instance(services(), actor, key, values, case_ref=case_ref or None)
            except Invalid as err:
                errors, status = err.errors or {"data": [err.detail]}, 422
            else:
                flash(_("%(routine)s startades.", routine=definition.name), "success")
                mine = [t for t in changes.created_tasks if t.assignee == actor.username]
                if mine:
                    return redirect(url_for("tasks.task_page", task_id=mine[0].id))
                return redirect(url_for("instances.instance_page", instance_id=instance.id))
    view = build_form(schema, ui, values, errors)
    return render_template("instances/start_form.html", definition=definition, view=view, case_ref=case_ref,
                           case_ref_error=[field_message(m) for m in (errors or {}).get("case_ref", [])]), status


@bp.get("/arenden")
def instance_list() -> Any:
    """Instances the user may see (``visible_instances``), newest first, filtered by routine and state."""
    actor = actor_required()
    process = request.args.get("rutin") or None
    state = request.args.get("status") or None
    svc = services()
    with svc.db.read() as db:
        names = routine_names(db)
        query = visible_instances(db, actor)
        if process in names:
            query = query.where(ProcessInstance.process_key == process)
        if state in {s.value for s in InstanceState}:
            query = query.where(ProcessInstance.state == state)
        rows = [instance_summary(i, actor) for i in db.scalars(
            query.order_by(ProcessInstance.started_at.desc(), ProcessInstance.id).limit(200)).unique()]
    return render_template("instances/instance_list.html", rows=rows, names=names, process=process, state=state,
                           states=[s.value for s in InstanceState])


def _visible(actor: Actor, instance_id: str) -> ProcessInstance:
    with services().db.read() as db:
        return load_visible(db, services(), actor, instance_id)


@bp.get("/arenden/<instance_id>")
def instance_page(instance_id: str) -> Any:
    """The diagram (active tasks highlighted, the path taken marked), timeline, timers, data, actions."""
    actor = actor_required()
    svc = services()
    now = svc.now()
    instance = _visible(actor, instance_id)
    with svc.db.read() as db:
        tasks = list(db.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)
                                .order_by(HumanTask.created_at, HumanTask.id)))
        timers = list(db.scalars(select(Timer).where(Timer.instance_id == instance.id,
                                                     Timer.state == TimerState.PENDING).order_by(Timer.due_at)))
        all_timers = list(db.scalars(select(Timer).where(Timer.instance_id == instance.id)))
        events = list(db.scalars(select(Event).where(Event.instance_id == instance.id).order_by(Event.id)))
    definition = instance.definition
    open_tasks = [t for t in tasks if t.status == TaskStatus.OPEN]
    diagram = {
        "xmlUrl": url_for("api.get_bpmn", key=instance.process_key, version=definition.version),
        "active": sorted({t.name for t in open_tasks}),
        "waiting": sorted({t.task_name for t in timers}),
        "done": path_taken(definition.bpmn_xml, tasks, all_timers, events, instance.outcome),
    }
    page = render_template(
        "instances/instance.html", instance=instance_summary(instance, actor), routine=definition.name,
        state_reason=instance.state_reason, diagram=diagram, has_viewer=assets.available(),
        open_tasks=[{**task_summary(t, now), "visible": may_see_task(actor, t)} for t in open_tasks],
        timers=timers, steps=casedata.steps(definition, data_for(actor, definition, instance.data), tasks),
        timeline=casedata.timeline(events, tasks, with_detail=actor.has_case_access,
                                   element_titles={t.task_name: t.title for t in all_timers}),
        may_change_state=actor.has("chef", "admin"), may_fire=actor.has("admin"),
    )
    if actor.has_case_access:
        with svc.db.command() as db:
            record(db, actor, "case_read", instance_id=instance.id)
    return page


@bp.post("/arenden/<instance_id>/status")
def change_state(instance_id: str) -> Any:
    """Suspend, resume or terminate (chef, admin) with a reason — ``set_state``."""
    actor = actor_required()
    action = request.form.get("action", "")
    if action not in STATE_ACTIONS:
        raise NotFound("unknown action")
    try:
        set_state(services(), actor, instance_id, action, request.form.get("reason", ""))
    except Invalid:
        flash(_("Ange ett skäl."), "error")
    except Conflict as err:
        flash(_("Det gick inte: %(reason)s", reason=field_message(err.detail)), "error")
    else:
        done = {"suspend": _("Ärendet är pausat."), "resume": _("Ärendet är återupptaget."),
                "terminate": _("Ärendet är avbrutet.")}
        flash(done[action], "success")
    return redirect(url_for("instances.instance_page", instance_id=instance_id))


@bp.post("/arenden/<instance_id>/timers/<timer_id>")
def fire(instance_id: str, timer_id: str) -> Any:
    """Fire a pending timer now (admin) — ``fire_timer``, as the API's monitoring button does."""
    actor = actor_required()
    _visible(actor, instance_id)
    fired = fire_timer(services(), actor, timer_id)
    flash(_("Tidsgränsen löstes ut.") if fired else _("Tidsgränsen kunde inte lösas ut just nu."),
          "success" if fired else "error")
    return redirect(url_for("instances.instance_page", instance_id=instance_id))
