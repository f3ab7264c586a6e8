"""Run commands on a workflow and report what the service must persist.

The adapter owns the SpiffWorkflow objects: it creates, loads and dumps workflows, runs one
command (start, complete a user task, deliver a message, fire a timer) and returns a ``Snapshot``
— the ready human tasks with their evaluated properties, the pending timers with due times, the
process data and whether the workflow ended. The operations layer turns that into rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins import EndEventMixin
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException, TaskNotFoundException
from SpiffWorkflow.util.task import TaskState

from service.clock import Clock, reset_clock, use_clock

from . import external, timers
from .compaction import DEFAULT_THRESHOLD, compact
from .isolation import IsolatedScriptEngine, IsolationSettings
from .sandbox import SandboxError
from .serializer import SERIALIZER_VERSION, WorkflowStore
from .specs import LaneRoles, SpecCache

logger = logging.getLogger(__name__)


class EngineError(Exception):
    """The diagram failed while running (a bad expression, a script error); names the element."""

    def __init__(self, message: str, element: str | None = None) -> None:
        super().__init__(message)
        self.element = element

    def __str__(self) -> str:
        return f"{self.element}: {self.args[0]}" if self.element else str(self.args[0])


class NotWaiting(Exception):
    """The workflow does not wait for this (task not ready, no such message or timer)."""


class NotCaught(Exception):
    """A BPMN error thrown by an external task that no error event catches."""


@dataclass
class ReadyTask:
    id: str
    name: str
    title: str
    step: str
    lane: str | None
    roles: list[str]
    assignee: str | None
    district: str | None
    due_at: datetime | None
    due_counts: str | None
    form_file: str | None
    ui_form_file: str | None
    disclosure_to: str | None
    organisation: str | None
    data: dict[str, Any]


@dataclass
class PendingTimer:
    task_id: str
    task_name: str
    title: str
    kind: str
    due_at: datetime


@dataclass
class Snapshot:
    """What a command left: ready human tasks (by id), pending timers, messages awaited, data.

    A ready task's details (its evaluated properties and data) are computed only when asked for
    with ``describe`` — the task index needs them for new tasks only, and a multi-instance task
    may keep hundreds ready at once.
    """

    completed: bool
    ready_ids: list[str]
    timers: list[PendingTimer]
    waits_for_messages: list[str]
    data: dict[str, Any]
    end_event: str | None = None
    describe: Callable[[str], ReadyTask] = field(default=lambda task_id: _no_task(task_id), repr=False)
    external: list[external.ExternalWork] = field(default_factory=list)  # service tasks waiting on a worker

    @property
    def ready_tasks(self) -> list[ReadyTask]:
        return [self.describe(task_id) for task_id in self.ready_ids]

    @property
    def state(self) -> str:
        if self.completed:
            return "completed"
        return "running" if self.ready_ids else "waiting"


def _no_task(task_id: str) -> ReadyTask:
    raise KeyError(task_id)


class BpmnEngine:
    """One per service process; thread-safe (workflows are per command, specs shared read-only).

    Diagram code runs isolated in worker processes (``isolation``); ``close`` lets them go.
    """

    def __init__(self, lanes: LaneRoles, functions: Mapping[str, Callable[..., Any]], clock: Clock,
                 *, script_time_limit: float = 1.0, compact_threshold: int = DEFAULT_THRESHOLD,
                 isolation: IsolationSettings | None = None) -> None:
        self.compact_threshold = compact_threshold
        self.lanes = lanes
        self.clock = clock
        self.specs = SpecCache(lanes)
        self.store = WorkflowStore()
        self.script_engine = IsolatedScriptEngine(
            functions, time_limit=script_time_limit, settings=isolation,
            now=lambda: clock.local_now().isoformat(timespec="seconds"),
        )
        self.serializer_version = SERIALIZER_VERSION
        self._version_facts: dict[tuple[str, int], bool] = {}

    def close(self) -> None:
        """Stop using the diagram-code workers (the pool stops when its last engine closes)."""
        self.script_engine.close()

    # --- workflows ---------------------------------------------------------------------------
    def spec_for(self, definition: Any) -> tuple[Any, dict[str, Any]]:
        return self.specs.get(definition.id, definition.key, definition.bpmn_files)

    def lanes_of(self, definition: Any) -> LaneRoles:
        """The lane → roles mapping of a deployed version: its own lanes, the rest from ``bpmn/lanes.json``."""
        return self.lanes.with_own(getattr(definition, "lanes", None))

    def task_specs(self, definition: Any) -> Iterator[Any]:
        """Every task spec of a deployed version, its subprocesses' and call activities' included."""
        spec, subprocess_specs = self.spec_for(definition)
        for process_spec in (spec, *subprocess_specs.values()):
            yield from process_spec.task_specs.values()

    def _version_has(self, fact: str, definition: Any, test: Callable[[Any], bool]) -> bool:
        """Whether any task spec of a version passes ``test``: looked at once per version and fact
        (versions are immutable)."""
        key = (fact, definition.id)
        if key not in self._version_facts:
            self._version_facts[key] = any(test(task_spec) for task_spec in self.task_specs(definition))
        return self._version_facts[key]

    def has_timers(self, definition: Any) -> bool:
        """Whether any element of a deployed version (its call activities included) waits on a timer;
        one that has none never has timer rows."""
        return self._version_has("timers", definition, lambda task_spec: timers.timer_definition(
            getattr(task_spec, "event_definition", None)) is not None)

    def new(self, definition: Any, data: Mapping[str, Any]) -> BpmnWorkflow:
        spec, subprocess_specs = self.spec_for(definition)
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        workflow.lane_roles = self.lanes_of(definition)  # what its tasks' lanes mean (``snapshot``)
        return workflow

    def load(self, definition: Any, text: str) -> BpmnWorkflow:
        spec, subprocess_specs = self.spec_for(definition)
        workflow = self.store.loads(text, spec, subprocess_specs)
        workflow.script_engine = self.script_engine
        workflow.lane_roles = self.lanes_of(definition)  # what its tasks' lanes mean (``snapshot``)
        return workflow

    def dump(self, workflow: BpmnWorkflow) -> str:
        return self.store.dumps(workflow)

    # --- commands ----------------------------------------------------------------------------
    def start(self, workflow: BpmnWorkflow) -> Snapshot:
        return self._run(workflow, lambda: None)

    def complete(self, workflow: BpmnWorkflow, task_id: str, data: Mapping[str, Any]) -> Snapshot:
        task = self._task(workflow, task_id)
        if task is None or task.state != TaskState.READY or not task.task_spec.manual:
            raise NotWaiting("the task is not open")

        def action() -> None:
            task.data.update(data)
            task.run()

        return self._run(workflow, action)

    def deliver_message(self, workflow: BpmnWorkflow, name: str, payload: Mapping[str, Any]) -> Snapshot:
        waiting = [d for t in workflow.event_manager.tasks.values() if t.state == TaskState.WAITING
                   for d in timers.inner_definitions(t.task_spec.event_definition)
                   if isinstance(d, MessageEventDefinition) and d.name == name]
        if not waiting:
            raise NotWaiting(f"the instance does not wait for the message {name!r}")
        definition = type(waiting[0])(name)
        return self._run(workflow, lambda: workflow.catch(BpmnEvent(definition, dict(payload))))

    def fire_timer(self, workflow: BpmnWorkflow, task_id: str) -> Snapshot:
        task = self._task(workflow, task_id)
        if task is None or task.state != TaskState.WAITING or not isinstance(
                timers.timer_definition(getattr(task.task_spec, "event_definition", None)), TimerEventDefinition):
            raise NotWaiting("the timer is no longer pending")

        def action() -> None:
            timers.mark_fired(task)
            workflow.refresh_timers()

        return self._run(workflow, action)

    def complete_external(self, workflow: BpmnWorkflow, task_id: str, variables: Mapping[str, Any]) -> Snapshot:
        """An external worker finished a service task: its variables join the data, the engine goes on."""
        task = self._external(workflow, task_id)
        return self._run(workflow, lambda: external.complete(task, variables))

    def external_error(self, workflow: BpmnWorkflow, task_id: str, code: str,
                       variables: Mapping[str, Any]) -> Snapshot:
        """An external worker reports the BPMN error ``code``; ``NotCaught`` when no error event catches it."""
        task = self._external(workflow, task_id)

        def action() -> None:
            if not external.throw_error(task, code, variables):
                raise NotCaught(f"no error boundary event catches the error code {code!r}")

        return self._run(workflow, action)

    def external_data(self, workflow: BpmnWorkflow, task_id: str, data: Mapping[str, Any]) -> Snapshot:
        """Merge ``data`` into a waiting external task (an admin's correction before it is offered again)."""
        task = self._external(workflow, task_id)
        return self._run(workflow, lambda: task.data.update(data))

    def _external(self, workflow: BpmnWorkflow, task_id: str) -> Any:
        task = self._task(workflow, task_id)
        if task is None or task.state != TaskState.STARTED or not external.is_external(task):
            raise NotWaiting("the external task is no longer waiting")
        return task

    def retry(self, workflow: BpmnWorkflow, data: Mapping[str, Any]) -> Snapshot:
        """Run the tasks that failed again, with ``data`` merged into them (the admin's correction)."""
        failed = workflow.get_tasks(state=TaskState.ERROR)
        if not failed:
            raise NotWaiting("no task of the instance has failed")

        def action() -> None:
            for task in failed:
                task.data.update(data)
                task._set_state(TaskState.READY)

        return self._run(workflow, action)

    @staticmethod
    def _task(workflow: BpmnWorkflow, task_id: str) -> Any:
        try:
            return workflow.get_task_from_id(UUID(task_id))
        except (ValueError, KeyError, TypeError):
            return None

    def _run(self, workflow: BpmnWorkflow, action: Callable[[], None]) -> Snapshot:
        token = use_clock(self.clock)
        try:
            action()
            _engine_steps(workflow)
            compact(workflow, self.compact_threshold)
            return self.snapshot(workflow)
        except (SpiffWorkflowException, SandboxError, timers.TimerValueError) as err:
            element = getattr(getattr(err, "task_spec", None), "bpmn_id", None) or getattr(
                getattr(getattr(err, "task", None), "task_spec", None), "bpmn_id", None)
            raise EngineError(_message(err), element) from err
        finally:
            reset_clock(token)

    # --- what changed --------------------------------------------------------------------------
    def snapshot(self, workflow: BpmnWorkflow) -> Snapshot:
        completed = workflow.is_completed()
        live = [] if completed else workflow.get_tasks(state=TaskState.READY | TaskState.STARTED)  # one walk
        ready = {str(t.id): t for t in live if t.state == TaskState.READY and t.task_spec.manual}
        pending: list[PendingTimer] = []
        messages: list[str] = []
        for task in workflow.event_manager.tasks.values():
            if task.state != TaskState.WAITING:
                continue
            kind = timers.timer_kind(task.task_spec.event_definition)
            if kind is not None:
                due = timers.due_at(task)
                if due is not None:
                    name = task.task_spec.bpmn_name or timers.timer_definition(task.task_spec.event_definition).name
                    pending.append(PendingTimer(str(task.id), task.task_spec.bpmn_id or task.task_spec.name,
                                                name or "", kind, due))
            messages.extend(d.name for d in timers.inner_definitions(task.task_spec.event_definition)
                            if isinstance(d, MessageEventDefinition))
        if completed:
            data = dict(workflow.data)
        elif workflow.last_task is not None:
            data = dict(workflow.last_task.data)
        else:
            data = dict(workflow.task_tree.data)
        end_event = None
        if completed:
            ends = [t for t in workflow.get_tasks(state=TaskState.COMPLETED)
                    if isinstance(t.task_spec, EndEventMixin) and t.workflow is workflow]
            if ends:  # the end event reached last decides the outcome
                end_event = max(ends, key=lambda t: t.last_state_change).task_spec.bpmn_id
        taken_at = self.clock.now()  # due times count from when the engine made the task ready
        lanes = getattr(workflow, "lane_roles", None) or self.lanes
        waiting_external = [external.describe(t) for t in live
                            if t.state == TaskState.STARTED and external.is_external(t)]
        return Snapshot(completed, list(ready), pending, sorted(set(messages)), data, end_event,
                        describe=lambda task_id: self._ready_task(ready[task_id], taken_at, lanes),
                        external=waiting_external)

    def _ready_task(self, task: Any, taken_at: datetime, lanes: LaneRoles) -> ReadyTask:
        spec = task.task_spec
        properties = (getattr(spec, "extensions", None) or {}).get("properties", {})
        roles = lanes.roles(spec.lane) or []
        district = self._property(task, properties.get("district")) or task.data.get("stadsomrade")
        title = self._property(task, properties.get("title")) or spec.bpmn_name or spec.bpmn_id
        due = properties.get("due")
        due_at = None
        if due:
            value = timers.timer_literal(due) or self._property(task, due)
            if value:
                due_at = timers.due_from(str(value), taken_at)
        return ReadyTask(
            id=str(task.id), name=spec.bpmn_id or spec.name, title=str(title)[:300],
            step=str(spec.bpmn_name or spec.bpmn_id or spec.name)[:300], lane=spec.lane,
            roles=list(roles), assignee=_text(self._property(task, properties.get("assignee"))),
            district=_text(district), due_at=due_at, due_counts=properties.get("dueCounts") if due_at else None,
            form_file=properties.get("formJsonSchemaFilename"),
            ui_form_file=properties.get("formUiSchemaFilename"),
            disclosure_to=properties.get("disclosureTo"),
            organisation=_text(self._property(task, properties.get("organisation"))), data=dict(task.data),
        )

    def _property(self, task: Any, expression: str | None) -> Any:
        if not expression:
            return None
        try:
            return self.script_engine.evaluate(task, expression)
        except Exception as err:  # a property that cannot be computed leaves the default
            logger.warning("property %r of %s not computed: %s", expression, task.task_spec.bpmn_id, err)
            return None

    def element_name(self, definition: Any, bpmn_id: str) -> str | None:
        """The name drawn on a diagram element (static text, no case data), if it has one."""
        spec, subprocess_specs = self.spec_for(definition)
        for process_spec in (spec, *subprocess_specs.values()):
            name = getattr(process_spec.task_specs.get(bpmn_id), "bpmn_name", None)
            if name:
                return str(name)
        return None

    def has_service_tasks(self, definition: Any) -> bool:
        """Whether a deployed version has service tasks (external tasks)."""
        return self._version_has("service_tasks", definition,
                                 lambda task_spec: isinstance(task_spec, external.ExternalServiceTask))

    def lane_roles(self, definition: Any) -> dict[str, list[str]]:
        """Each lane the version draws a task or start event in → the roles that act in it (``lanes_of``)."""
        lanes = self.lanes_of(definition)
        drawn = {task_spec.lane for task_spec in self.task_specs(definition) if getattr(task_spec, "lane", None)}
        return {lane: list(lanes.roles(lane) or []) for lane in sorted(drawn)}

    def message_variables(self, definition: Any) -> dict[str, str]:
        """Each message the diagram catches → the case variable its payload is kept in (``messageVariable``)."""
        spec, subprocess_specs = self.spec_for(definition)
        found: dict[str, str] = {}
        for process_spec in (spec, *subprocess_specs.values()):
            for task_spec in process_spec.task_specs.values():
                event = getattr(task_spec, "event_definition", None)
                for d in timers.inner_definitions(event) if isinstance(task_spec, CatchingEvent) else []:
                    if isinstance(d, MessageEventDefinition) and getattr(d, "message_var", None):
                        found.setdefault(d.name, str(d.message_var))
        return found

    def message_roles(self, definition: Any) -> dict[str, list[str]]:
        """Each message the diagram catches → the roles its catching elements allow (``messageRoles``).

        Elements catching the same message must agree; where they name different roles, the union
        is taken (deploy reports elements that name none).
        """
        spec, subprocess_specs = self.spec_for(definition)
        allowed: dict[str, set[str]] = {}
        for process_spec in (spec, *subprocess_specs.values()):
            for task_spec in process_spec.task_specs.values():
                if not isinstance(task_spec, CatchingEvent):
                    continue
                event = getattr(task_spec, "event_definition", None)
                names = [d.name for d in timers.inner_definitions(event) if isinstance(d, MessageEventDefinition)]
                if not names or getattr(task_spec, "bpmn_id", None) is None:
                    continue
                properties = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
                roles = {r.strip() for r in str(properties.get("messageRoles") or "").split(",") if r.strip()}
                for name in names:
                    allowed.setdefault(name, set()).update(roles)
        return {name: sorted(roles) for name, roles in allowed.items()}

    def message_title(self, definition: Any, name: str) -> str:
        """The name drawn on an element that catches the message ``name`` (for its button), else ``name``."""
        spec, subprocess_specs = self.spec_for(definition)
        for process_spec in (spec, *subprocess_specs.values()):
            for task_spec in process_spec.task_specs.values():
                event = getattr(task_spec, "event_definition", None)
                if isinstance(task_spec, CatchingEvent) and task_spec.bpmn_name and any(
                        isinstance(d, MessageEventDefinition) and d.name == name
                        for d in timers.inner_definitions(event)):
                    return str(task_spec.bpmn_name)
        return name

    def start_form(self, definition: Any) -> str | None:
        spec, _ = self.spec_for(definition)
        for task_spec in spec.task_specs.values():
            properties = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
            if type(task_spec).__name__ == "StartEvent" and properties.get("formJsonSchemaFilename"):
                return str(properties["formJsonSchemaFilename"])
        return None


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _message(err: Exception) -> str:
    parts = [str(err)]
    notes = getattr(err, "__notes__", None) or getattr(err, "notes", None)
    if notes:
        parts.extend(str(n) for n in notes)
    return "; ".join(p for p in parts if p)


def _engine_steps(workflow: BpmnWorkflow) -> None:
    """``do_engine_steps``, going on when a step stumbles on a subprocess whose caller was cancelled
    in that very step (:func:`_drop_orphaned_subprocesses`)."""
    while True:
        try:
            workflow.do_engine_steps()
            return
        except TaskNotFoundException:
            if not _drop_orphaned_subprocesses(workflow):
                raise


def _drop_orphaned_subprocesses(workflow: BpmnWorkflow) -> bool:
    """Forget the subprocesses whose calling task is gone or cancelled; True when there were any.

    A branch cancelled from outside — a non-interrupting boundary event's branch when the activity it
    is attached to completes (R1's daily follow-up, one subprocess per client, when the stop is
    lifted) — leaves SpiffWorkflow 3.2 with the branch's subprocesses still listed as active, whose
    calling task no longer exists: the next engine step fails looking it up ("A task with id … was not
    found"). Their open tasks are withdrawn with them (they leave the snapshot).
    """
    dropped, changed = False, True
    while changed:
        changed = False
        for key, subprocess in list(workflow.subprocesses.items()):
            if subprocess.completed or subprocess.parent_task_id is None:
                continue
            try:
                caller = workflow.get_task_from_id(subprocess.parent_task_id)
            except SpiffWorkflowException:
                caller = None
            if caller is None or caller.state == TaskState.CANCELLED:
                del workflow.subprocesses[key]
                dropped = changed = True
    return dropped
