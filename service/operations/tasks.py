"""Claim, hand over and complete human tasks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, select

from processes.disclosure import disclosure_covering_basis, disclosure_refusal_reason
from service.access import RECIPIENT_KINDS, in_mandate, manages_task, may_act_on_task, may_see_task
from service.actor import Actor
from service.audit import record
from service.auth import active_user
from service.directory import with_choices
from service.engine.adapter import NotWaiting
from service.errors import Conflict, Forbidden, Invalid, NotFound
from service.forms import read_only_changes, validate_form
from service.models import Disclosure, HumanTask, InstanceState, ProcessInstance, TaskStatus
from service.notify import queue_in_command
from service.services import Services

from .instances import _after_commit, _require_active, _run
from .persist import Changes, grant_access, in_organisation, jsonable, open_tasks, require_size


def complete_task(services: Services, actor: Actor, task_id: str,
                  data: Mapping[str, Any]) -> tuple[HumanTask, list[HumanTask], Any]:
    """Complete a task with form data. Exactly one of concurrent completions wins; others get 409."""
    with services.db.command() as session:
        task, instance = _lock_task(session, services, task_id, siblings=True)
        if not may_see_task(actor, task):
            raise NotFound("no such task")
        if not may_act_on_task(actor, task):
            if task.status != TaskStatus.OPEN:
                raise Conflict(f"the task is already {task.status.value}")
            raise Forbidden("the task is assigned to someone else or lies outside your lanes")
        if task.status != TaskStatus.OPEN:
            raise Conflict(f"the task is already {task.status.value}")
        _require_active(instance)
        definition = instance.definition
        schema = definition.forms.get(task.form_file) if task.form_file else None
        validate_form(with_choices(session, actor, schema, district=task.district), data)
        changed = read_only_changes(schema, data, {**instance.data, **task.data})
        if changed:
            raise Invalid("the form changes fields it only shows", errors=changed)
        require_size(services, {**instance.data, **task.data, **data})
        handover = _check_handover(services, instance, task)
        workflow = services.engine.load(definition, instance.workflow_json)
        try:
            changes = _run(session, services, instance, workflow, actor,
                           lambda wf: services.engine.complete(wf, task_id, data), completed_task_id=task_id)
        except NotWaiting as err:
            raise Conflict(str(err)) from err
        task.status, task.completed_at, task.completed_by = TaskStatus.COMPLETED, services.now(), actor.username
        task.submitted, task.completed_by_kind = jsonable(dict(data)), actor.organisation_kind
        grant_access(session, instance, users={actor.username})
        if handover:
            _record_disclosure(session, services, instance, task, handover)
        record(session, actor, "task_completed", instance_id=instance.id, task_id=task.id, task=task.name,
               fields=sorted(data), **({"utlamning": handover} if handover else {}))
    _after_commit(services, changes)
    return task, changes.created_tasks, instance


#: What the audit log keeps of the basis a hand-over rested on (R5b: "on which basis"): its kind and
#: period, and when a consent was recorded — not its free text.
_BASIS_AUDIT_KEYS = ("grund", "samtycke_typ", "samtycke_form", "regel", "menprovning_utfall", "giltig_fran",
                     "giltig_till", "omprovas_senast", "registrerad")


def _check_handover(services: Services, instance: ProcessInstance, task: HumanTask) -> dict[str, Any]:
    """For a task that crosses a secrecy boundary (``disclosureTo``): the audit record of its basis.

    The basis must already be in the case — recorded by an earlier step — before the crossing: what
    the completing request itself sends never counts, or an expired basis could be "renewed" by the
    very request that hands the data over.
    """
    if not task.disclosure_to:
        return {}
    recorded = {**instance.data, **task.data}
    bases = recorded.get("utlamningsgrunder") or []
    at = services.clock.local_now().isoformat()
    reason = disclosure_refusal_reason(bases, task.disclosure_to, at)
    if reason:
        raise Invalid(reason, errors={"utlamningsgrunder": [reason]})
    return _handover(task.disclosure_to, disclosure_covering_basis(bases, task.disclosure_to, at))


def _record_disclosure(session: Any, services: Services, instance: ProcessInstance, task: HumanTask,
                       handover: dict[str, Any]) -> None:
    """What crossed: the fields of the hand-over task's form, to the kind of organisation it names."""
    schema = instance.definition.forms.get(task.form_file or "") or {}
    fields = sorted((schema.get("properties") or {}).keys()) if isinstance(schema, dict) else []
    kind = RECIPIENT_KINDS.get(task.disclosure_to or "", task.disclosure_to or "")
    session.add(Disclosure(instance_id=instance.id, task_id=task.id, recipient_kind=kind, fields=fields,
                           basis=handover.get("grund"), at=services.now()))


def _handover(recipient: str, basis: Mapping[str, Any] | None) -> dict[str, Any]:
    """The audit record of a hand-over across a confidentiality boundary: to whom, on which basis."""
    return {"mottagare": recipient,
            "grund": {k: basis[k] for k in _BASIS_AUDIT_KEYS if k in basis} if basis is not None else None}


_TASK = select(HumanTask).where(HumanTask.id == bindparam("task_id"))  # built once: the hot path


def _lock_task(session: Any, services: Services, task_id: str,
               siblings: bool = False) -> tuple[HumanTask, ProcessInstance]:
    """A task and its instance, the instance locked for this command (docs/decisions/0002-locking.md).

    The task is read after the lock (one statement finds and locks its instance): another command
    may have completed it meanwhile. ``siblings``: for a command that runs the engine, the task is
    read among its instance's open tasks, which ``apply_snapshot`` then rewrites without reading
    them again (a claim reads the one task: a multi-instance step may have hundreds open).
    """
    instance = services.db.lock_instance_of_task(session, task_id)
    if instance is None:
        raise NotFound("no such task")
    task = next((t for t in open_tasks(session, instance.id) if t.id == task_id), None) if siblings else None
    if task is None:  # a claim, or no longer open: read it (for the conflict its status explains)
        task = session.scalars(_TASK, {"task_id": task_id}).one_or_none()
    if task is None:
        raise NotFound("no such task")
    return task, instance


def _load_open(session: Any, services: Services, actor: Actor, task_id: str) -> tuple[HumanTask, ProcessInstance]:
    """An open task the actor may see, locked; one they may not see does not exist for them (404),
    and a conflict message never names who holds it."""
    task, instance = _lock_task(session, services, task_id)
    if not (may_see_task(actor, task) or in_mandate(actor, task)):
        raise NotFound("no such task")
    if task.status != TaskStatus.OPEN:
        raise Conflict(f"the task is already {task.status.value}")
    return task, instance


def claim(services: Services, actor: Actor, task_id: str) -> HumanTask:
    with services.db.command() as session:
        task, instance = _load_open(session, services, actor, task_id)
        if task.assignee == actor.username:
            return task
        if task.assignee is not None:
            raise Conflict("the task is already claimed by someone else")
        if not may_act_on_task(actor, task):
            if not may_see_task(actor, task):
                raise NotFound("no such task")
            raise Forbidden("the task lies outside your lanes or districts")
        task.assignee = actor.username
        grant_access(session, instance, users={actor.username})
        record(session, actor, "task_claimed", instance_id=task.instance_id, task_id=task.id)
    return task


def unclaim(services: Services, actor: Actor, task_id: str) -> HumanTask:
    with services.db.command() as session:
        task, _ = _load_open(session, services, actor, task_id)
        if task.assignee != actor.username and not manages_task(actor, task):
            raise Forbidden("only the assignee (or a chef) may release the task")
        task.assignee = None
        record(session, actor, "task_unclaimed", instance_id=task.instance_id, task_id=task.id)
    return task


def assign(services: Services, actor: Actor, task_id: str, username: str, reason: str) -> HumanTask:
    """Hand a task to a substitute with the same mandate (or a delegate); recorded with the reason."""
    if not reason or not reason.strip():
        raise Invalid("a reason is required", errors={"reason": ["is required"]})
    with services.db.command() as session:
        task, instance = _load_open(session, services, actor, task_id)
        if not (manages_task(actor, task) or task.assignee == actor.username):
            raise Forbidden("only a chef or the task's assignee may hand it over")
        if instance.state not in (InstanceState.RUNNING, InstanceState.WAITING):
            raise Conflict(f"the instance is {instance.state.value}")
        target = active_user(session, username)
        if target is None:
            raise Invalid("no such user", errors={"username": ["no active user with that name"]})
        if not set(task.roles) & set(target.roles):
            raise Invalid("the substitute must hold the same mandate (a role of the task's lane)",
                          errors={"username": [f"needs one of the roles {', '.join(task.roles)}"]})
        if not in_organisation(target, task.organisation):
            raise Invalid("the substitute must belong to the organisation the task is offered to",
                          errors={"username": ["belongs to another organisation"]})
        previous, task.assignee, task.assign_reason = task.assignee, target.username, reason.strip()[:2000]
        grant_access(session, instance, users={target.username})
        record(session, actor, "task_assigned", instance_id=task.instance_id, task_id=task.id,
               from_user=previous, to_user=target.username, reason=task.assign_reason)
        queue_in_command(services, session, [task])
    _after_commit(services, Changes(created_tasks=[task]))
    return task
