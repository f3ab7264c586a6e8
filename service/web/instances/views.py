"""Start a routine; the instances a user may see; one instance with its diagram, timeline and actions."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from service.access import (
    Lens,
    case_data,
    case_rows,
    instance_summary,
    may_see_task,
    record_reads,
    sendable,
    shows_identity,
    task_summary,
    task_title,
    visible_instances,
)
from service.access.lanes import offered_lanes
from service.actor import Actor
from service.directory import with_choices
from service.errors import Conflict, Forbidden, Invalid, NotFound
from service.models import (
    Event,
    HumanTask,
    InstanceAccess,
    InstanceState,
    ProcessInstance,
    TaskStatus,
    Timer,
    TimerState,
)
from service.operations.instances import (
    deliver_message,
    latest_definition,
    load_visible,
    message_form,
    message_title,
    set_state,
    start_instance,
)
from service.operations.retention import HOLD_ROLES, hold_state, lift_hold, place_hold
from service.operations.timers import fire_timer
from service.roles import DISTRICTS

from .. import assets, casedata
from ..formdata import read_submission
from ..formview import build_form
from ..layout import actor_required, page_blueprint, services
from ..messages import field_message
from ..monitor.stats import element_names
from ..routines import latest_definitions, may_start, routine_names
from .diagram import path_taken

bp = page_blueprint("instances", __name__)

STATE_ACTIONS = ("suspend", "resume", "terminate")
LIST_PAGE = 50
#: The case list's orders (the query-string word → SQL order).
LIST_ORDERS = {
    "senast_startade": (ProcessInstance.started_at.desc(), ProcessInstance.id),
    "forst_startade": (ProcessInstance.started_at, ProcessInstance.id),
    "senast_andrade": (ProcessInstance.updated_at.desc(), ProcessInstance.id),
}
#: A case is terminated for good: the reason must say something ("x" is not a reason).
MIN_TERMINATE_REASON = 10


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
    with services().db.read() as db:
        schema = with_choices(db, actor, definition.forms.get(form_name) if form_name else None)
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
    form_has_case_ref = any(isinstance(field, dict) and field.get("x-case-ref")
                            for field in ((schema or {}).get("properties") or {}).values())
    return render_template("instances/start_form.html", definition=definition, view=view, case_ref=case_ref,
                           form_has_case_ref=form_has_case_ref,
                           case_ref_error=[field_message(m) for m in (errors or {}).get("case_ref", [])]), status


@bp.get("/arenden")
def instance_list() -> Any:
    """Instances the user may see (``visible_instances``): filtered by routine, state, district and case
    reference, sorted, a page at a time, with the step each waits at."""
    actor = actor_required()
    process = request.args.get("rutin") or None
    state = request.args.get("status") or None
    district = request.args.get("stadsomrade") or None
    reference = (request.args.get("arende") or "").strip()[:100]
    order = request.args.get("sortera") if request.args.get("sortera") in LIST_ORDERS else "senast_startade"
    step = (request.args.get("steg") or "").strip()[:100]
    overdue = request.args.get("forsenade") == "1"
    page = max(1, request.args.get("sida", 1, type=int) or 1)
    svc = services()
    now = svc.now()
    with svc.db.read() as db:
        names = routine_names(db)
        query = visible_instances(db, actor, offered_lanes(svc, actor.roles))
        if process in names:
            query = query.where(ProcessInstance.process_key == process)
        if state in {s.value for s in InstanceState}:
            query = query.where(ProcessInstance.state == state)
        if district in DISTRICTS:
            query = query.where(ProcessInstance.id.in_(select(InstanceAccess.instance_id).where(
                InstanceAccess.kind == "district", InstanceAccess.value == district)))
        if step or overdue:  # the monitor's drill-down: cases waiting at a step, or late
            waiting_at = select(HumanTask.instance_id).where(HumanTask.status == TaskStatus.OPEN)
            if step:
                waiting_at = waiting_at.where(HumanTask.name == step)
            if overdue:
                waiting_at = waiting_at.where(HumanTask.due_at < now)
            query = query.where(ProcessInstance.id.in_(waiting_at))
        step_name = db.scalar(select(HumanTask.step).where(HumanTask.name == step).limit(1)) if step else None
        if reference and shows_identity(actor):
            query = query.where(ProcessInstance.case_ref.startswith(reference, autoescape=True))
        total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
        instances = list(db.scalars(query.order_by(*LIST_ORDERS[order]).limit(LIST_PAGE)
                                    .offset((page - 1) * LIST_PAGE)).unique())
        waiting: dict[str, list[str]] = {}
        for task in db.scalars(select(HumanTask).where(HumanTask.instance_id.in_([i.id for i in instances]),
                                                       HumanTask.status == TaskStatus.OPEN)):
            waiting.setdefault(task.instance_id, []).append(task_title(task, actor))
        rows = [{**instance_summary(i, actor), "steps": sorted(set(waiting.get(i.id, [])))} for i in instances]
    record_reads(svc, actor, [r["id"] for r in rows], kind="list")
    return render_template("instances/instance_list.html", rows=rows, names=names, process=process, state=state,
                           states=[s.value for s in InstanceState], districts=sorted(DISTRICTS), district=district,
                           reference=reference, order=order, orders=LIST_ORDERS, page=page, total=total,
                           per_page=LIST_PAGE, may_search_reference=shows_identity(actor), now=now, step=step,
                           step_name=step_name or step, overdue=overdue)


def _visible(actor: Actor, instance_id: str) -> ProcessInstance:
    with services().db.read() as db:
        return load_visible(db, services(), actor, instance_id)


@bp.get("/arenden/<instance_id>")
def instance_page(instance_id: str) -> Any:
    """The diagram (active tasks highlighted, the path taken marked), timeline, timers, data, actions."""
    actor = actor_required()
    instance = _visible(actor, instance_id)
    page = _render_instance(actor, instance)
    record_reads(services(), actor, [instance.id], kind="instance")
    return page


@bp.post("/arenden/<instance_id>/nodatkomst")
def break_glass(instance_id: str) -> Any:
    """An admin reads the whole case with a stated reason: logged, and shown in the case's history."""
    actor = actor_required()
    if not actor.has("admin"):
        raise Forbidden("break-glass is for admin")
    instance = _visible(actor, instance_id)
    reason = request.form.get("reason", "").strip()[:2000]
    if not reason:
        flash(_("Ange ett skäl för att läsa ärendet."), "error")
        return redirect(url_for("instances.instance_page", instance_id=instance_id))
    record_reads(services(), actor, [instance.id], kind="instance", reason=reason)
    return _render_instance(actor, instance, break_glass=True)


def _render_instance(actor: Actor, instance: ProcessInstance, *, break_glass: bool = False,
                     message_errors: dict[str, dict[str, list[str]]] | None = None,
                     message_values: dict[str, dict[str, Any]] | None = None, status: int = 200) -> Any:
    svc = services()
    now = svc.now()
    with svc.db.read() as db:
        rows = case_rows(db, instance.id)
        tasks = rows.tasks
        timers = list(db.scalars(select(Timer).where(Timer.instance_id == instance.id,
                                                     Timer.state == TimerState.PENDING).order_by(Timer.due_at)))
        all_timers = list(db.scalars(select(Timer).where(Timer.instance_id == instance.id)))
        events = list(db.scalars(select(Event).where(Event.instance_id == instance.id).order_by(Event.id)))
        retention = hold_state(db, instance.id)
    definition = instance.definition
    open_tasks = [t for t in tasks if t.status == TaskStatus.OPEN]
    diagram = {
        "xmlUrl": url_for("api.get_bpmn", key=instance.process_key, version=definition.version),
        "active": sorted({t.name for t in open_tasks}),
        "waiting": sorted({t.task_name for t in timers}),
        "done": path_taken(definition.bpmn_xml, tasks, all_timers, events, instance.outcome),
    }
    lens = Lens(actor, break_glass)
    identity = lens.identity
    messages = _message_forms(actor, instance, message_values or {}, message_errors or {})
    return render_template(
        "instances/instance.html", instance=instance_summary(instance, actor, break_glass=break_glass),
        routine=definition.name, state_reason=instance.state_reason if identity else None, diagram=diagram,
        has_viewer=assets.available(),
        open_tasks=[{**task_summary(t, actor, now, break_glass=break_glass), "visible": may_see_task(actor, t)}
                    for t in open_tasks],
        timers=timers, steps=casedata.steps(
            definition, case_data(actor, definition, instance.data, tasks, rows.disclosures,
                                  started_by=instance.started_by, break_glass=break_glass),
            tasks, lens),
        timeline=casedata.timeline(events, tasks, lens, element_titles={
            **element_names(definition), **{t.task_name: t.title for t in all_timers}}),
        may_change_state=actor.has("chef", "admin"), may_fire=actor.has("admin"),
        may_break_glass=actor.has("admin") and not break_glass, min_terminate_reason=MIN_TERMINATE_REASON,
        break_glass=break_glass, messages=messages, retention=retention,
        may_hold=actor.has(*HOLD_ROLES) and actor.is_authority and not retention["gallrad"],
        outcome_name=svc.engine.element_name(definition, instance.outcome) if instance.outcome else None,
    ), status


def _message_forms(actor: Actor, instance: ProcessInstance, values: dict[str, dict[str, Any]],
                   errors: dict[str, dict[str, list[str]]]) -> list[dict[str, Any]]:
    """A form per message the case waits for and the viewer may send (``messageRoles``)."""
    if not instance.state.is_active or instance.state == InstanceState.ERROR:
        return []
    definition = instance.definition
    names = sendable(actor, instance.waits_for, services().engine.message_roles(definition))
    with services().db.read() as db:
        return [{"name": name, "title": message_title(definition, name)
                 or services().engine.message_title(definition, name),
                 "view": build_form(with_choices(db, actor, message_form(definition, name)), None,
                                    values.get(name, {}), errors.get(name))}
                for name in names]


@bp.post("/arenden/<instance_id>/meddelanden/<name>")
def send_message(instance_id: str, name: str) -> Any:
    """Send a BPMN message the case waits for (e.g. "Stoppet är hävt"), with its form — ``deliver_message``."""
    actor = actor_required()
    instance = _visible(actor, instance_id)
    values, _row_action = read_submission(message_form(instance.definition, name), None, request.form)
    try:
        deliver_message(services(), actor, instance_id, name, values)
    except Invalid as err:
        return _render_instance(actor, instance, message_errors={name: err.errors or {"data": [err.detail]}},
                                message_values={name: values}, status=422)
    except Conflict as err:
        flash(_("Det gick inte: %(reason)s", reason=field_message(err.detail)), "error")
    else:
        flash(_("Meddelandet skickades."), "success")
    return redirect(url_for("instances.instance_page", instance_id=instance_id))


@bp.post("/arenden/<instance_id>/status")
def change_state(instance_id: str) -> Any:
    """Suspend, resume or terminate (chef, admin) with a reason — ``set_state``."""
    actor = actor_required()
    action = request.form.get("action", "")
    if action not in STATE_ACTIONS:
        raise NotFound("unknown action")
    reason = request.form.get("reason", "").strip()
    if action == "terminate" and (request.form.get("confirm") != "ja" or len(reason) < MIN_TERMINATE_REASON):
        flash(_("Ärendet avbröts inte: ange ett skäl på minst %(n)s tecken och bekräfta att det ska avbrytas.",
                n=MIN_TERMINATE_REASON), "error")
        return redirect(url_for("instances.instance_page", instance_id=instance_id))
    try:
        set_state(services(), actor, instance_id, action, reason)
    except Invalid:
        flash(_("Ange ett skäl."), "error")
    except Conflict as err:
        flash(_("Det gick inte: %(reason)s", reason=field_message(err.detail)), "error")
    else:
        done = {"suspend": _("Ärendet är pausat."), "resume": _("Ärendet är återupptaget."),
                "terminate": _("Ärendet är avbrutet.")}
        flash(done[action], "success")
    return redirect(url_for("instances.instance_page", instance_id=instance_id))


@bp.post("/arenden/<instance_id>/gallringsstopp")
def legal_hold(instance_id: str) -> Any:
    """Place or lift a legal hold (chef) with a reason — ``place_hold`` / ``lift_hold``."""
    actor = actor_required()
    if not actor.has(*HOLD_ROLES):
        raise Forbidden("a legal hold is for chef or auditor")
    _visible(actor, instance_id)
    lift = request.form.get("action") == "lift"
    try:
        (lift_hold if lift else place_hold)(services(), actor, instance_id, request.form.get("reason", ""))
    except Invalid:
        flash(_("Ange ett skäl."), "error")
    except Conflict as err:
        flash(_("Det gick inte: %(reason)s", reason=field_message(err.detail)), "error")
    else:
        flash(_("Gallringsstoppet är hävt.") if lift else _("Ärendet har fått gallringsstopp."), "success")
    return redirect(url_for("instances.instance_page", instance_id=instance_id))


@bp.get("/arenden/<instance_id>/timers/<timer_id>")
def confirm_fire(instance_id: str, timer_id: str) -> Any:
    """Ask before a timer is fired by hand: what it is, and when it would fire on its own."""
    actor = actor_required()
    if not actor.has("admin"):
        raise Forbidden("firing timers is for admin")
    _visible(actor, instance_id)
    with services().db.read() as db:
        timer = db.get(Timer, timer_id)
    if timer is None or timer.instance_id != instance_id or timer.state != TimerState.PENDING:
        raise NotFound("no such pending timer")
    return render_template("instances/confirm_fire.html", instance_id=instance_id, timer=timer)


@bp.post("/arenden/<instance_id>/timers/<timer_id>")
def fire(instance_id: str, timer_id: str) -> Any:
    """Fire a pending timer now (admin), once confirmed — ``fire_timer``, as the API's console does."""
    actor = actor_required()
    _visible(actor, instance_id)
    if request.form.get("confirm") != "ja":
        return redirect(url_for("instances.confirm_fire", instance_id=instance_id, timer_id=timer_id))
    fired = fire_timer(services(), actor, timer_id)
    flash(_("Tidsgränsen löstes ut.") if fired else _("Tidsgränsen kunde inte lösas ut just nu."),
          "success" if fired else "error")
    return redirect(url_for("instances.instance_page", instance_id=instance_id))
