"""Write what a command changed: the instance row, the task index, timers, access rows, audit."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, inspect, select
from sqlalchemy.orm import Session

from service.actor import INTERNAL_KINDS, Actor
from service.audit import record
from service.engine.adapter import Snapshot
from service.errors import Invalid
from service.forms import named_values, responsible_fields
from service.models import (
    ExternalTask,
    ExternalTaskStatus,
    HumanTask,
    InstanceAccess,
    InstanceState,
    Organisation,
    ProcessDefinition,
    ProcessInstance,
    TaskStatus,
    Timer,
    TimerState,
    User,
)
from service.notify import queue_in_command
from service.services import Services

ENDED_STATE = ""  # the workflow_json of a completed instance

# The hot path's queries, built once: building a statement and its cache key costs more than running it.
_OPEN_TASKS = select(HumanTask).where(HumanTask.instance_id == bindparam("instance_id"),
                                      HumanTask.status == TaskStatus.OPEN)
_PENDING_TIMERS = select(Timer).where(Timer.instance_id == bindparam("instance_id"),
                                      Timer.state == TimerState.PENDING)
_ACCESS_ROWS = select(InstanceAccess.kind, InstanceAccess.value).where(
    InstanceAccess.instance_id == bindparam("instance_id"))
_PEOPLE = select(User.username, User.is_active, User.roles, User.away_delegate, User.organisation_key,
                 Organisation.kind).join(Organisation, Organisation.key == User.organisation_key).where(
    User.username.in_(bindparam("names", expanding=True)))


@dataclass
class Changes:
    """What the caller reports and what runs after commit."""

    created_tasks: list[HumanTask] = field(default_factory=list)
    earliest_timer: datetime | None = None
    external_topics: set[str] = field(default_factory=set)  # topics that got new external tasks


@dataclass
class Prefetched:
    """What ``apply_snapshot`` reads about each instance (open tasks, pending timers, access rows),
    read once for a batch of instances locked in one transaction (timers fired in batches).

    An instance is looked up here only once: ``take`` forgets it, so a second command on the same
    instance in the same transaction reads what the first one wrote.
    """

    open_tasks: dict[str, list[HumanTask]] = field(default_factory=dict)
    pending_timers: dict[str, list[Timer]] = field(default_factory=dict)
    access: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, instance_ids: list[str]) -> Prefetched:
        """Three queries for the whole batch, instead of three per instance."""
        found = cls({i: [] for i in instance_ids}, {i: [] for i in instance_ids}, {i: set() for i in instance_ids})
        for task in session.scalars(select(HumanTask).where(HumanTask.instance_id.in_(instance_ids),
                                                            HumanTask.status == TaskStatus.OPEN)):
            found.open_tasks[task.instance_id].append(task)
        for timer in session.scalars(select(Timer).where(Timer.instance_id.in_(instance_ids),
                                                         Timer.state == TimerState.PENDING)):
            found.pending_timers[timer.instance_id].append(timer)
        for instance_id, kind, value in session.execute(select(
                InstanceAccess.instance_id, InstanceAccess.kind, InstanceAccess.value).where(
                InstanceAccess.instance_id.in_(instance_ids))):
            found.access[instance_id].add((kind, value))
        return found

    def take(self, instance_id: str) -> tuple[list[HumanTask], list[Timer], set[tuple[str, str]]] | None:
        if instance_id not in self.open_tasks:
            return None
        return (self.open_tasks.pop(instance_id), self.pending_timers.pop(instance_id),
                self.access.pop(instance_id))


def require_size(services: Services, data: Any) -> None:
    """Refuse (422) case data beyond ``max_instance_data_bytes``: a case is not a file store, and one
    caller must not grow the database without bound."""
    size = len(json.dumps(data, default=str))
    limit = services.config.max_instance_data_bytes
    if size > limit:
        raise Invalid(f"the case would hold {size} bytes of data; the limit is {limit}",
                      errors={"data": [f"för mycket data: högst {limit} byte i ett ärende"]})


def jsonable(data: Any) -> Any:
    """Task data as plain JSON (scripts may leave dates or tuples behind)."""
    return json.loads(json.dumps(data, default=str))


def apply_snapshot(session: Session, services: Services, instance: ProcessInstance, workflow: Any,
                   snapshot: Snapshot, actor: Actor, *, completed_task_id: str | None = None,
                   fired_timer_id: str | None = None, completed_external_id: str | None = None,
                   prefetched: Prefetched | None = None) -> Changes:
    """Write what ``snapshot`` says into the instance's rows; ``prefetched``: its rows read for a batch."""
    # No flush until commit: the queries below read rows no pending change of this command touches
    # (task and timer rows are changed after the engine step; access rows go through ``grant_access``),
    # so every write goes out in one flush, inserts of one table batched.
    with session.no_autoflush:
        changes = _apply_snapshot(session, services, instance, workflow, snapshot, actor,
                                  completed_task_id=completed_task_id, fired_timer_id=fired_timer_id,
                                  completed_external_id=completed_external_id, prefetched=prefetched)
    # Arrival mail commits with the tasks; it reads the instance rows, so it comes after the flush
    # its first query makes (only when mail is configured and tasks were created).
    queue_in_command(services, session, changes.created_tasks)
    return changes


def _apply_snapshot(session: Session, services: Services, instance: ProcessInstance, workflow: Any,
                    snapshot: Snapshot, actor: Actor, *, completed_task_id: str | None,
                    fired_timer_id: str | None, completed_external_id: str | None,
                    prefetched: Prefetched | None) -> Changes:
    now = services.now()
    changes = Changes()
    known = prefetched.take(instance.id) if prefetched is not None else None
    if prefetched is not None and known is None:
        session.flush()  # a second timer of this instance in the batch: its queries must see what the first wrote
    instance.serializer_version = services.engine.serializer_version
    instance.data = jsonable(snapshot.data)
    instance.waits_for = list(snapshot.waits_for_messages)
    instance.updated_at = now
    if instance.state != InstanceState.SUSPENDED:
        instance.state = InstanceState(snapshot.state)
        instance.error = None
    # A completed workflow is never loaded again (every command needs an active instance, a retry one
    # in error): its history is the audit log and the task rows, so its engine state is not kept.
    ended = instance.state == InstanceState.COMPLETED
    instance.workflow_json = ENDED_STATE if ended else services.engine.dump(workflow)
    if snapshot.completed:
        instance.ended_at = now
        instance.outcome = snapshot.end_event
        record(session, actor, "instance_completed", instance_id=instance.id, outcome=snapshot.end_event)
    _sync_tasks(session, services, instance, snapshot, actor, now, completed_task_id, changes,
                None if known is None else known[0])
    _sync_timers(session, services, instance, snapshot, now, fired_timer_id, changes,
                 None if known is None else known[1])
    _sync_external(session, services, instance, snapshot, now, completed_external_id, changes)
    districts = {t.district for t in changes.created_tasks if t.district}
    if isinstance(instance.data.get("stadsomrade"), str):
        districts.add(instance.data["stadsomrade"])
    responsible = named_values(instance.data, _responsible_fields(instance.definition))
    grant_access(session, instance, districts=districts,
                 users={t.assignee for t in changes.created_tasks if t.assignee} | responsible,
                 existing=None if known is None else known[2])
    return changes


_RESPONSIBLE: dict[tuple[int, str], set[str]] = {}


def _responsible_fields(definition: ProcessDefinition) -> set[str]:
    """The ``x-responsible`` fields of a deployed version (immutable, so computed once per version). Keyed
    by id and checksum: one process may serve several databases (a restore, the tests), where ids repeat."""
    key = (definition.id, definition.checksum)
    if key not in _RESPONSIBLE:
        _RESPONSIBLE[key] = responsible_fields(
            f for name, f in definition.forms.items() if name.endswith(".schema.json") and isinstance(f, dict))
    return _RESPONSIBLE[key]


def _sync_tasks(session: Session, services: Services, instance: ProcessInstance, snapshot: Snapshot,
                actor: Actor, now: datetime, completed_task_id: str | None, changes: Changes,
                known: list[HumanTask] | None = None) -> None:
    if known is None:
        known = session.info.get(_OPEN, {}).pop(instance.id, None)
    if known is not None:
        open_rows = {t.id: t for t in known}
    else:
        open_rows = {} if inspect(instance).pending else {t.id: t for t in session.scalars(  # a new one has none
            _OPEN_TASKS, {"instance_id": instance.id})}
    ready_ids = set(snapshot.ready_ids)
    for task_id, row in open_rows.items():
        if task_id in ready_ids:
            continue
        if task_id == completed_task_id:
            row.status, row.completed_at, row.completed_by = TaskStatus.COMPLETED, now, actor.username
        else:
            row.status, row.completed_at = TaskStatus.CANCELLED, now
            record(session, actor, "task_cancelled", instance_id=instance.id, task_id=task_id, task=row.name)
    new = [snapshot.describe(task_id) for task_id in snapshot.ready_ids if task_id not in open_rows]
    named: set[str | None] = {t.assignee for t in new if t.assignee}
    people = _people(session, named | {instance.started_by}) if new else {}
    for ready in new:
        if ready.lane is None:  # drawn outside any lane (other modelers): the named person, else the starter
            assignee, reason, refused = _laneless_assignee(ready.assignee, instance.started_by, people)
        else:
            assignee, reason, refused = _assignee(ready.assignee, ready.roles, ready.organisation, people)
        if refused:
            record(session, actor, "task_assignee_refused", instance_id=instance.id, task_id=ready.id,
                   task=ready.name, named=ready.assignee, reason=refused)
        row = HumanTask(
            id=ready.id, instance_id=instance.id, process_key=instance.process_key, name=ready.name,
            title=ready.title, step=ready.step, lane=ready.lane, roles=ready.roles, district=ready.district,
            assignee=assignee, status=TaskStatus.OPEN, case_ref=instance.case_ref,
            form_file=ready.form_file, ui_form_file=ready.ui_form_file, disclosure_to=ready.disclosure_to,
            organisation=ready.organisation,
            data=jsonable(ready.data), created_at=now, due_at=ready.due_at, due_counts=ready.due_counts,
            assign_reason=reason,
        )
        session.add(row)
        changes.created_tasks.append(row)
        record(session, actor, "task_created", instance_id=instance.id, task_id=ready.id, task=ready.name,
               lane=ready.lane, assignee=assignee)
        if reason:  # the out-of-office delegate took it
            record(session, actor, "task_delegated", instance_id=instance.id, task_id=ready.id,
                   from_user=ready.assignee, to_user=assignee, reason=reason)


_OPEN = "samverkan_open_tasks"  # session.info: instance id -> its open task rows, read once by ``open_tasks``


def open_tasks(session: Session, instance_id: str) -> list[HumanTask]:
    """The open tasks of a locked instance; the command's ``apply_snapshot`` then uses them, not a second query."""
    rows = list(session.scalars(_OPEN_TASKS, {"instance_id": instance_id}))
    session.info.setdefault(_OPEN, {})[instance_id] = rows
    return rows


@dataclass(frozen=True)
class Person:
    """What assigning a task reads of a user: a row, not an ORM object (every start reads some)."""

    username: str
    is_active: bool
    roles: list[str]
    away_delegate: str | None
    organisation_key: str
    organisation_kind: str


def _people(session: Session, usernames: set[str | None]) -> dict[str, Person]:
    """The named users and the delegates their out-of-office replies name."""
    names = {u for u in usernames if u}
    if not names:
        return {}
    users = _persons(session, names)
    delegates = {u.away_delegate for u in users.values() if u.away_delegate} - set(users)
    if delegates:
        users.update(_persons(session, delegates))
    return users


def _persons(session: Session, names: set[str]) -> dict[str, Person]:
    rows = session.connection().execute(_PEOPLE, {"names": sorted(names)})
    return {row.username: Person(row.username, row.is_active, list(row.roles or []), row.away_delegate,
                                 row.organisation_key, row.kind.value) for row in rows}


def _assignee(named: str | None, roles: list[str], organisation: str | None,
              people: dict[str, Person]) -> tuple[str | None, str | None, str | None]:
    """Who a task named for ``named`` goes to: ``(assignee, assign_reason, refusal)``.

    An out-of-office reply sends it to the delegate. Whoever it goes to must be an active user
    holding a role of the task's lane (the same mandate) in the organisation the task is offered to;
    otherwise it goes to the lane, so that a mistyped or unauthorised name never leaves a task
    nobody can act on, nor hands a case to someone outside it.
    """
    if named is None:
        return None, None, None

    def mandated(username: str | None) -> bool:
        user = people.get(username or "")
        return (user is not None and user.is_active and bool(set(user.roles) & set(roles))
                and in_organisation(user, organisation))

    person = people.get(named)
    delegate = person.away_delegate if person is not None and person.is_active else None
    if delegate and mandated(delegate):
        return delegate, f"frånvarande: {named} har angett {delegate}", None
    if mandated(named):
        return named, None, None
    why = "finns inte eller är inaktiv" if person is None or not person.is_active else "saknar mandat i körfältet"
    return None, None, f"{named} {why}: uppgiften går till körfältet"


def _laneless_assignee(named: str | None, starter: str,
                       people: dict[str, Person]) -> tuple[str | None, str | None, str | None]:
    """A task in no lane has no role to offer it to: it goes to the person its diagram names, if active,
    else to whoever started the case (as SpiffArena does)."""
    for username in (named, starter):
        user = people.get(username or "")
        if user is not None and user.is_active:
            refused = None if username == named or named is None else f"{named} finns inte eller är inaktiv"
            return username, None, refused
    return None, None, f"{named or starter} finns inte eller är inaktiv"


def in_organisation(user: User | Person, organisation: str | None) -> bool:
    """A task that names an organisation goes to its people; one that names none, to internal units."""
    if organisation is None:
        return user.organisation_kind in INTERNAL_KINDS
    return user.organisation_key == organisation


def _sync_timers(session: Session, services: Services, instance: ProcessInstance, snapshot: Snapshot,
                 now: datetime, fired_timer_id: str | None, changes: Changes,
                 known: list[Timer] | None = None) -> None:
    state = inspect(instance)
    # A new instance has no timer rows, nor has one whose version (unchanged by this command: a
    # migration reads them) waits on no timer anywhere.
    none_yet = state.pending or (not snapshot.timers and fired_timer_id is None
                                 and not state.attrs.definition_id.history.has_changes()
                                 and not services.engine.has_timers(instance.definition))
    if known is not None:
        pending = {t.task_id: t for t in known}
    else:
        pending = {} if none_yet else {t.task_id: t for t in session.scalars(
            _PENDING_TIMERS, {"instance_id": instance.id})}
    waiting = {t.task_id: t for t in snapshot.timers}
    for task_id, row in pending.items():
        current = waiting.get(task_id)
        if row.id == fired_timer_id:
            continue  # the firing operation marks it
        if current is None:
            row.state = TimerState.CANCELLED
        elif current.due_at != row.due_at:
            row.due_at = current.due_at
            changes.earliest_timer = min(filter(None, [changes.earliest_timer, current.due_at]))
    for task_id, timer in waiting.items():
        existing = pending.get(task_id)
        if existing is not None and existing.id != fired_timer_id:
            continue
        session.add(Timer(instance_id=instance.id, task_id=task_id, task_name=timer.task_name,
                          title=timer.title, kind=timer.kind, due_at=timer.due_at, state=TimerState.PENDING,
                          created_at=now))
        changes.earliest_timer = min(filter(None, [changes.earliest_timer, timer.due_at]))


def _sync_external(session: Session, services: Services, instance: ProcessInstance, snapshot: Snapshot,
                   now: datetime, completed_id: str | None, changes: Changes) -> None:
    """The external-task rows follow the service tasks the engine waits on; one whose retries are
    exhausted keeps the instance in error until an admin retries it."""
    if not snapshot.external and not services.engine.has_service_tasks(instance.definition):
        return  # nothing to offer or withdraw: no query for the many routines without service tasks
    rows = {t.id: t for t in session.scalars(select(ExternalTask).where(
        ExternalTask.instance_id == instance.id,
        ExternalTask.status.in_([ExternalTaskStatus.OPEN, ExternalTaskStatus.FAILED])))}
    waiting = {work.id: work for work in snapshot.external}
    for task_id, row in rows.items():
        if task_id in waiting:
            continue
        row.status = ExternalTaskStatus.COMPLETED if task_id == completed_id else ExternalTaskStatus.CANCELLED
        row.completed_at, row.lock_expires_at = now, None
    for task_id, work in waiting.items():
        if task_id in rows:
            continue
        session.add(ExternalTask(id=task_id, instance_id=instance.id, process_key=instance.process_key,
                                 name=work.name, title=work.title, topic=work.topic[:100],
                                 status=ExternalTaskStatus.OPEN, data=jsonable(work.data), created_at=now))
        changes.external_topics.add(work.topic)
    failed = [row for task_id, row in rows.items() if task_id in waiting and row.status == ExternalTaskStatus.FAILED]
    if failed and instance.state not in (InstanceState.COMPLETED, InstanceState.SUSPENDED):
        instance.state, instance.error = InstanceState.ERROR, failed[0].error_message


def grant_access(session: Session, instance: ProcessInstance, *, districts: set[str] = frozenset(),  # type: ignore[assignment]
                 users: set[str] = frozenset(),  # type: ignore[assignment]
                 existing: set[tuple[str, str]] | None = None) -> None:
    """Add the access rows ``instance`` lacks; ``existing``: its rows, when already read (a batch)."""
    wanted = {("district", d[:100]) for d in districts if d} | {("user", u[:100]) for u in users if u}
    if not wanted:
        return
    if existing is not None:
        session.info.setdefault(_ACCESS, {}).setdefault(instance.id, set(existing))
    known = _access(session, instance.id)
    known_districts = {v for k, v in known if k == "district"}
    for kind, value in sorted(wanted - known):
        session.add(InstanceAccess(instance_id=instance.id, kind=kind, value=value))
        known.add((kind, value))
    if districts - known_districts:
        instance.districts = sorted({*instance.districts, *districts})


_ACCESS = "samverkan_access"  # session.info: instance id -> its access rows as this command leaves them


def _access(session: Session, instance_id: str) -> set[tuple[str, str]]:
    """The access rows of an instance, read once per command and kept up to date by ``grant_access``
    (every access row is written there), so a command that grants twice reads them once."""
    cache: dict[str, set[tuple[str, str]]] = session.info.setdefault(_ACCESS, {})
    if instance_id not in cache:
        cache[instance_id] = {(str(k), str(v)) for k, v in session.connection().execute(  # columns: no ORM needed
            _ACCESS_ROWS, {"instance_id": instance_id})}
    return cache[instance_id]


def new_instance_access(session: Session, instance_id: str) -> None:
    """An instance this command inserts has no access rows yet: no need to read them."""
    session.info.setdefault(_ACCESS, {})[instance_id] = set()
