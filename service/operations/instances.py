"""Start instances, deliver messages, and the managers' suspend / resume / terminate."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from service.access import can_see_instance, may_send
from service.access.lanes import offered_lanes
from service.actor import Actor
from service.audit import record
from service.directory import with_choices
from service.engine.adapter import EngineError, NotWaiting, Snapshot
from service.errors import Conflict, Forbidden, Invalid, NotFound
from service.forms import validate_form
from service.models import (
    ExternalTask,
    ExternalTaskStatus,
    HumanTask,
    InstanceState,
    ProcessDefinition,
    ProcessInstance,
    TaskStatus,
    Timer,
    TimerState,
)
from service.models.base import new_id
from service.models.definition import deployed_version
from service.services import Services

from .persist import Changes, apply_snapshot, grant_access, jsonable, new_instance_access, require_size

logger = logging.getLogger(__name__)


_NEWEST_ID = (select(ProcessDefinition.id).where(ProcessDefinition.key == bindparam("key"))
              .order_by(ProcessDefinition.version.desc()).limit(1))  # built once: every start asks it
_VERSION_ID = select(ProcessDefinition.id).where(ProcessDefinition.key == bindparam("key"),
                                                 ProcessDefinition.version == bindparam("version"))


def latest_definition(session: Session, key: str, version: int | None = None) -> ProcessDefinition | None:
    """The newest deployed version of ``key`` (or the one numbered ``version``): its id is read, its files
    come from ``deployed_version`` (every start reads this; a version's files are large and never change)."""
    definition_id = session.connection().scalar(  # a column read: no ORM execution needed
        _NEWEST_ID if version is None else _VERSION_ID, {"key": key, "version": version})
    return None if definition_id is None else deployed_version(session, definition_id)


def latest_versions(session: Session) -> list[ProcessDefinition]:
    """The latest version of every deployed routine, by key (ids read; files from ``deployed_version``)."""
    latest = select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("v")).group_by(
        ProcessDefinition.key).subquery()
    ids = session.scalars(select(ProcessDefinition.id).join(
        latest, (ProcessDefinition.key == latest.c.key) & (ProcessDefinition.version == latest.c.v))
        .order_by(ProcessDefinition.key))
    return [deployed_version(session, i) for i in ids]


def versions_of(session: Session, key: str) -> list[ProcessDefinition]:
    """Every deployed version of ``key``, newest first (ids read; files from ``deployed_version``)."""
    ids = session.scalars(select(ProcessDefinition.id).where(ProcessDefinition.key == key)
                          .order_by(ProcessDefinition.version.desc()))
    return [deployed_version(session, i) for i in ids]


def start_instance(services: Services, actor: Actor, process: str, data: Mapping[str, Any], *,
                   case_ref: str | None = None, version: int | None = None) -> tuple[ProcessInstance, Changes]:
    """Start the latest (or a given) version of ``process`` with start data validated by its start form."""
    with services.db.read() as session:  # one read: the version, and the people its start form offers
        definition = latest_definition(session, process, version)
        if definition is None:
            raise NotFound(f"no deployed process {process!r}")
        if not actor.has(*definition.starter_roles, "admin"):
            raise Forbidden(f"starting {process} needs one of the roles {', '.join(definition.starter_roles)}")
        start_form = services.engine.start_form(definition)
        if start_form is not None:
            validate_form(with_choices(session, actor, definition.forms.get(start_form)), data)
        elif not isinstance(data, dict):
            raise Invalid("start data must be a JSON object", errors={"data": ["must be an object"]})
    require_size(services, data)
    if case_ref is None and start_form is not None:
        case_ref = case_reference(definition.forms.get(start_form), data)
    now = services.now()
    workflow = services.engine.new(definition, {**data, **({"case_ref": case_ref} if case_ref else {})})
    instance = ProcessInstance(
        id=new_id(), definition_id=definition.id, process_key=definition.key, state=InstanceState.RUNNING,
        case_ref=case_ref, started_by=actor.username, started_at=now, updated_at=now, workflow_json="{}",
        serializer_version=services.engine.serializer_version, data=jsonable(dict(data)), districts=[], waits_for=[],
    )
    instance.definition = definition
    with services.db.command() as session:
        session.add(instance)  # inserted with everything else at commit (its id is set above)
        new_instance_access(session, instance.id)
        record(session, actor, "instance_started", instance_id=instance.id, process=definition.key,
               version=definition.version)
        grant_access(session, instance, users={actor.username})
        changes = _run(session, services, instance, workflow, actor, lambda wf: services.engine.start(wf))
    _after_commit(services, changes)
    return instance, changes


def case_reference(schema: Mapping[str, Any] | None, data: Mapping[str, Any]) -> str | None:
    """The case reference a start form's ``x-case-ref`` field holds, so inboxes can tell cases apart."""
    for name, field in ((schema or {}).get("properties") or {}).items():
        value = data.get(name)
        if isinstance(field, dict) and field.get("x-case-ref") and isinstance(value, str) and value.strip():
            return value.strip()[:100]
    return None


def _run(session: Session, services: Services, instance: ProcessInstance, workflow: Any, actor: Actor,
         command: Callable[[Any], Snapshot], **marks: Any) -> Changes:
    """Run one engine command; an engine error keeps the workflow as it stands and marks the instance."""
    try:
        snapshot = command(workflow)
    except EngineError as err:
        logger.warning("instance %s failed: %s", instance.id, err)
        snapshot = services.engine.snapshot(workflow)
        changes = apply_snapshot(session, services, instance, workflow, snapshot, actor, **marks)
        instance.state, instance.error = InstanceState.ERROR, str(err)
        record(session, actor, "instance_error", instance_id=instance.id, error=str(err))
        return changes
    return apply_snapshot(session, services, instance, workflow, snapshot, actor, **marks)


def _after_commit(services: Services, changes: Changes) -> None:
    if changes.earliest_timer is not None:
        for hook in services.hooks.timers_changed:
            hook(changes.earliest_timer)
    if changes.external_topics:
        for external_hook in services.hooks.external_tasks_created:
            external_hook(set(changes.external_topics))
    if changes.created_tasks:
        summary = [{"id": t.id, "name": t.name, "title": t.title, "lane": t.lane, "roles": t.roles,
                    "assignee": t.assignee, "district": t.district, "instance_id": t.instance_id,
                    "process": t.process_key} for t in changes.created_tasks]
        for task_hook in services.hooks.tasks_created:
            task_hook(summary)


def load_visible(session: Session, services: Services, actor: Actor, instance_id: str,
                 *, lock: bool = False) -> ProcessInstance:
    instance = services.db.lock_instance(session, instance_id) if lock else session.get(ProcessInstance, instance_id)
    if instance is None or not can_see_instance(session, actor, instance, offered_lanes(services, actor.roles)):
        raise NotFound("no such instance")
    return instance


def deliver_message(services: Services, actor: Actor, instance_id: str, name: str,
                    data: Mapping[str, Any]) -> ProcessInstance:
    """Deliver the BPMN message ``name`` (e.g. ``stopp_havt``) to an instance waiting for it.

    Only from the roles its catching element allows (``messageRoles``: 403 otherwise), with a
    payload its form (``forms/<key>/message_<name>.schema.json``) accepts (422 otherwise; no form
    means no payload).
    """
    if not isinstance(data, dict):
        raise Invalid("message data must be a JSON object", errors={"data": ["must be an object"]})
    with services.db.command() as session:
        instance = load_visible(session, services, actor, instance_id, lock=True)
        catchers = services.engine.message_roles(instance.definition)
        if name not in catchers:
            raise Conflict(f"the instance does not wait for the message {name!r}")
        if not may_send(actor, catchers[name]):
            raise Forbidden(f"your roles may not send the message {name!r}")
        _require_active(instance)
        validate_message(session, actor, instance.definition, name, data, case=instance.data)
        workflow = services.engine.load(instance.definition, instance.workflow_json)
        try:
            changes = _run(session, services, instance, workflow, actor,
                           lambda wf: _deliver(services, wf, name, data))
        except NotWaiting as err:
            raise Conflict(str(err)) from err
        record(session, actor, "message_delivered", instance_id=instance.id, message=name)
    _after_commit(services, changes)
    return instance


def message_form(definition: ProcessDefinition, name: str) -> dict[str, Any] | None:
    """The form of a message's payload, if the routine has one."""
    form = definition.forms.get(f"message_{name}.schema.json")
    return form if isinstance(form, dict) else None


def message_title(definition: ProcessDefinition, name: str) -> str | None:
    """What sending the message ``name`` does, as its form's ``title`` says ("Stoppet är hävt",
    "Uppföljning av planen begärd"): the name of its button, its section and its timeline entry —
    never the name of the step that waits for it ("Bevaka planen")."""
    title = (message_form(definition, name) or {}).get("title")
    return str(title) if title else None


def validate_message(session: Session, actor: Actor, definition: ProcessDefinition, name: str,
                     data: Mapping[str, Any], case: Mapping[str, Any] | None = None) -> None:
    """The payload against its form; a date the form orders after a field of the case (``x-after``)
    is checked against ``case`` (a stop is not lifted before it took effect)."""
    schema = message_form(definition, name)
    if schema is None and data:
        raise Invalid("this message carries no data", errors={k: ["fältet finns inte i meddelandet"] for k in data})
    start = definition.forms.get("start.schema.json")
    titles = {k: str(v.get("title") or k) for k, v in ((start or {}).get("properties") or {}).items()
              if isinstance(v, Mapping)} if isinstance(start, Mapping) else {}
    validate_form(with_choices(session, actor, schema), data, case=case, case_titles=titles)


def _deliver(services: Services, workflow: Any, name: str, data: Mapping[str, Any]) -> Snapshot:
    return services.engine.deliver_message(workflow, name, data)


def _require_active(instance: ProcessInstance) -> None:
    if instance.state == InstanceState.SUSPENDED:
        raise Conflict("the instance is suspended")
    if instance.state in (InstanceState.COMPLETED, InstanceState.TERMINATED):
        raise Conflict(f"the instance is {instance.state.value}")


def set_state(services: Services, actor: Actor, instance_id: str, action: str, reason: str) -> ProcessInstance:
    """suspend / resume / terminate, for ``chef`` and ``admin``, with a recorded reason."""
    if not actor.has("chef", "admin"):
        raise Forbidden(f"{action} needs the role chef or admin")
    if not reason or not reason.strip():
        raise Invalid("a reason is required", errors={"reason": ["is required"]})
    with services.db.command() as session:
        instance = load_visible(session, services, actor, instance_id, lock=True)
        now = services.now()
        if action == "suspend":
            if not instance.state.is_active:
                raise Conflict(f"the instance is {instance.state.value}")
            instance.state = InstanceState.SUSPENDED
        elif action == "resume":
            if instance.state != InstanceState.SUSPENDED:
                raise Conflict("the instance is not suspended")
            workflow = services.engine.load(instance.definition, instance.workflow_json)
            instance.state = InstanceState(services.engine.snapshot(workflow).state)
            if _external_failed(session, instance):  # still out of retries: in error until retried
                instance.state = InstanceState.ERROR
        elif action == "terminate":
            if instance.state in (InstanceState.COMPLETED, InstanceState.TERMINATED):
                raise Conflict(f"the instance is {instance.state.value}")
            instance.state, instance.ended_at = InstanceState.TERMINATED, now
            for task in session.scalars(select(HumanTask).where(
                    HumanTask.instance_id == instance.id, HumanTask.status == TaskStatus.OPEN)):
                task.status, task.completed_at = TaskStatus.CANCELLED, now
            for timer in session.scalars(select(Timer).where(
                    Timer.instance_id == instance.id, Timer.state == TimerState.PENDING)):
                timer.state = TimerState.CANCELLED
        else:
            raise NotFound(f"unknown action {action!r}")
        instance.state_reason = reason.strip()[:2000]
        instance.updated_at = now
        record(session, actor, f"instance_{action}", instance_id=instance.id, reason=instance.state_reason)
    return instance


def _external_failed(session: Session, instance: ProcessInstance) -> bool:
    return session.scalar(select(ExternalTask.id).where(
        ExternalTask.instance_id == instance.id, ExternalTask.status == ExternalTaskStatus.FAILED).limit(1)) is not None


def retry_instance(services: Services, actor: Actor, instance_id: str, reason: str,
                   data: Mapping[str, Any] | None = None) -> ProcessInstance:
    """Run the failed step of an instance in ``error`` again (admin), optionally correcting its data; an
    external task whose retries ran out is offered to its workers again."""
    if not actor.has("admin"):
        raise Forbidden("retrying needs the role admin")
    if not reason or not reason.strip():
        raise Invalid("a reason is required", errors={"reason": ["is required"]})
    with services.db.command() as session:
        instance = load_visible(session, services, actor, instance_id, lock=True)
        if instance.state != InstanceState.ERROR:
            raise Conflict(f"the instance is {instance.state.value}, not in error")
        from .external import reoffer_failed  # external builds on this module

        changes = reoffer_failed(session, services, instance, actor, dict(data or {}))
        if changes is None:  # an engine error, not an external task out of retries: run the failed step again
            workflow = services.engine.load(instance.definition, instance.workflow_json)
            try:
                changes = _run(session, services, instance, workflow, actor,
                               lambda wf: services.engine.retry(wf, dict(data or {})))
            except NotWaiting as err:
                raise Conflict(str(err)) from err
        record(session, actor, "instance_retried", instance_id=instance.id, reason=reason.strip()[:2000],
               fields=sorted(data or {}))
    _after_commit(services, changes)
    return instance
