"""External tasks: workers fetch and lock service tasks, then complete them or report what went wrong.

Camunda 7's external task pattern. A service task the engine reaches becomes an ``ExternalTask``
row (``persist._sync_external``); a worker (role ``extern_arbetare``) locks open tasks of its topics
for ``lock_ms`` (``fetch_and_lock``) and gets each task's input as variables — the task's data, and
nothing else of the case. While its lock holds, only that worker (the same ``worker_id`` *and* the
same signed-in user) may ``complete`` it (the variables join the task data, the engine goes on), report
a ``failure`` (retried after ``retry_timeout`` while retries remain; at 0 the instance is in
``error`` until an admin retries it, ``reoffer_failed``) or a ``bpmn_error`` (caught by an error
boundary event with its code; none: a failure without retries). An expired lock offers the task
again. Locking rule: the instance row, as every command (``docs/decisions/0002-locking.md``);
fetching locks the rows it takes (``SKIP LOCKED`` on PostgreSQL, so workers take disjoint sets).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.actor import Actor
from service.audit import record
from service.engine.adapter import NotCaught, NotWaiting
from service.errors import Conflict, Forbidden, Invalid, NotFound
from service.models import ExternalTask, ExternalTaskStatus, InstanceState, ProcessInstance
from service.services import Services

from .instances import _after_commit, _require_active, _run
from .persist import Changes, jsonable, require_size

WORKER_ROLE = "extern_arbetare"
MAX_LOCK = timedelta(hours=24)
MAX_TASKS = 100


def _require_worker(actor: Actor) -> None:
    if not actor.has(WORKER_ROLE):
        raise Forbidden(f"external tasks are for workers: needs the role {WORKER_ROLE}")


def fetch_and_lock(services: Services, actor: Actor, topics: list[str], worker_id: str, lock_ms: int,
                   max_tasks: int = 1) -> list[ExternalTask]:
    """Lock up to ``max_tasks`` open tasks of ``topics`` (oldest first) for ``worker_id``; each lock
    is a read of the case (audited)."""
    _require_worker(actor)
    if not 0 < lock_ms <= MAX_LOCK.total_seconds() * 1000:
        raise Invalid("lock_ms must be between 1 and 86400000", errors={"lock_ms": ["1 … 86400000 ms"]})
    now = services.now()
    active = select(ProcessInstance.id).where(
        ProcessInstance.id == ExternalTask.instance_id,
        ProcessInstance.state.in_([InstanceState.RUNNING, InstanceState.WAITING])).exists()
    query = (select(ExternalTask)
             .where(ExternalTask.status == ExternalTaskStatus.OPEN, ExternalTask.topic.in_(topics), active,
                    or_(ExternalTask.lock_expires_at.is_(None), ExternalTask.lock_expires_at <= now),
                    or_(ExternalTask.retry_at.is_(None), ExternalTask.retry_at <= now))
             .order_by(ExternalTask.created_at, ExternalTask.id).limit(min(max_tasks, MAX_TASKS)))
    with services.db.command() as session:
        if not services.db.is_sqlite:
            query = query.with_for_update(of=ExternalTask, skip_locked=True)
        locked = list(session.scalars(query))
        for task in locked:
            task.worker_id, task.locked_by = worker_id, actor.username
            task.lock_expires_at = now + timedelta(milliseconds=lock_ms)
            record(session, actor, "external_task_locked", instance_id=task.instance_id, task_id=task.id,
                   task=task.name, topic=task.topic, worker=worker_id)
            # the worker now reads the task's input: a read of the case, as every read is logged
            record(session, actor, "case_read", instance_id=task.instance_id, task_id=task.id, via="external_task")
    return locked


def _locked(session: Session, services: Services, actor: Actor, task_id: str,
            worker_id: str) -> tuple[ExternalTask, ProcessInstance]:
    """The task and its instance, the instance locked for this command; the caller must hold the task's lock."""
    _require_worker(actor)
    task = session.get(ExternalTask, task_id)
    if task is None:
        raise NotFound("no such external task")
    instance = services.db.lock_instance(session, task.instance_id)
    assert instance is not None  # the foreign key guarantees it
    session.refresh(task)
    if task.status != ExternalTaskStatus.OPEN:
        raise Conflict(f"the external task is {task.status.value}")
    if task.lock_expires_at is None or task.lock_expires_at <= services.now():
        raise Conflict("the external task is not locked (or its lock has expired): fetch and lock it again")
    if task.worker_id != worker_id or task.locked_by != actor.username:
        raise Conflict("the external task is locked by another worker")
    _require_active(instance)
    return task, instance


def complete(services: Services, actor: Actor, task_id: str, worker_id: str, variables: Mapping[str, Any],
             *, within: Callable[[Session, ExternalTask], None] | None = None) -> ProcessInstance:
    """Complete a locked task: ``variables`` join its data and the engine goes on, as a user task's
    completion does. ``within`` runs in the same transaction (the e-mail worker queues its mail there)."""
    if not isinstance(variables, Mapping):
        raise Invalid("variables must be a JSON object", errors={"variables": ["must be an object"]})
    with services.db.command() as session:
        task, instance = _locked(session, services, actor, task_id, worker_id)
        require_size(services, {**instance.data, **task.data, **variables})
        workflow = services.engine.load(instance.definition, instance.workflow_json)
        try:
            changes = _run(session, services, instance, workflow, actor,
                           lambda wf: services.engine.complete_external(wf, task_id, jsonable(dict(variables))),
                           completed_external_id=task_id)
        except NotWaiting as err:
            raise Conflict(str(err)) from err
        if within is not None:
            within(session, task)
        record(session, actor, "external_task_completed", instance_id=instance.id, task_id=task_id, task=task.name,
               topic=task.topic, worker=worker_id, fields=sorted(variables))
    _after_commit(services, changes)
    return instance


def failure(services: Services, actor: Actor, task_id: str, worker_id: str, message: str, retries: int,
            retry_timeout_ms: int = 0) -> ExternalTask:
    """A worker could not do the work: offered again after ``retry_timeout_ms`` while ``retries`` > 0;
    at 0 the instance is in ``error`` (the operations console shows it, an admin retries it)."""
    if retries < 0 or retry_timeout_ms < 0:
        raise Invalid("retries and retry_timeout must not be negative",
                      errors={"retries" if retries < 0 else "retry_timeout": ["must be 0 or more"]})
    with services.db.command() as session:
        task, instance = _locked(session, services, actor, task_id, worker_id)
        _fail(session, services, actor, task, instance, message, retries, retry_timeout_ms)
    return task


def _fail(session: Session, services: Services, actor: Actor, task: ExternalTask, instance: ProcessInstance,
          message: str, retries: int, retry_timeout_ms: int = 0) -> None:
    now = services.now()
    task.retries, task.error_message = retries, (message or "").strip()[:2000] or "failed"
    task.worker_id = task.locked_by = task.lock_expires_at = None
    task.retry_at = now + timedelta(milliseconds=retry_timeout_ms) if retry_timeout_ms else None
    record(session, actor, "external_task_failed", instance_id=instance.id, task_id=task.id, task=task.name,
           topic=task.topic, retries=retries, message=task.error_message)
    if retries == 0:
        task.status = ExternalTaskStatus.FAILED
        instance.state = InstanceState.ERROR
        instance.error = f"{task.name}: the external task on topic {task.topic!r} failed: {task.error_message}"
        instance.updated_at = now
        record(session, actor, "instance_error", instance_id=instance.id, error=instance.error)


def bpmn_error(services: Services, actor: Actor, task_id: str, worker_id: str, code: str,
               message: str = "", variables: Mapping[str, Any] | None = None) -> ProcessInstance:
    """A worker reports the business error ``code``: an error boundary event with that code takes the
    case on; when none catches it, it is a failure without retries (the instance is in ``error``)."""
    variables = dict(variables or {})
    with services.db.command() as session:
        task, instance = _locked(session, services, actor, task_id, worker_id)
        require_size(services, {**instance.data, **task.data, **variables})
        workflow = services.engine.load(instance.definition, instance.workflow_json)
        changes = Changes()
        try:
            changes = _run(session, services, instance, workflow, actor,
                           lambda wf: services.engine.external_error(wf, task_id, code, jsonable(variables)))
        except NotCaught:
            _fail(session, services, actor, task, instance,
                  f"BPMN error {code!r} is caught by no error boundary event" + (f": {message}" if message else ""), 0)
        except NotWaiting as err:
            raise Conflict(str(err)) from err
        record(session, actor, "external_task_bpmn_error", instance_id=instance.id, task_id=task_id, task=task.name,
               topic=task.topic, worker=worker_id, code=code)
    _after_commit(services, changes)
    return instance


def reoffer_failed(session: Session, services: Services, instance: ProcessInstance, actor: Actor,
                   data: Mapping[str, Any]) -> Changes | None:
    """An admin's retry of an instance whose external task ran out of retries: offer it again (with
    ``data`` merged into its input); None when no external task of the instance failed."""
    failed = list(session.scalars(select(ExternalTask).where(
        ExternalTask.instance_id == instance.id, ExternalTask.status == ExternalTaskStatus.FAILED)))
    if not failed:
        return None
    for task in failed:
        task.status, task.retries, task.retry_at, task.error_message = ExternalTaskStatus.OPEN, None, None, None
    workflow = services.engine.load(instance.definition, instance.workflow_json)
    if data:
        require_size(services, {**instance.data, **data})
        for task in failed:
            task.data = jsonable({**task.data, **data})
        changes = _run(session, services, instance, workflow, actor,
                       lambda wf: _merge(services, wf, [t.id for t in failed], data))
    else:
        changes = _run(session, services, instance, workflow, actor, services.engine.snapshot)
    return changes


def _merge(services: Services, workflow: Any, task_ids: list[str], data: Mapping[str, Any]) -> Any:
    snapshot = None
    for task_id in task_ids:
        snapshot = services.engine.external_data(workflow, task_id, data)
    return snapshot


def lock_state(task: ExternalTask, now: datetime) -> str:
    """What a worker sees of a task: ``locked`` while a lock holds, else its status."""
    if task.status == ExternalTaskStatus.OPEN and task.lock_expires_at is not None and task.lock_expires_at > now:
        return "locked"
    return task.status.value
