"""Move running instances of a routine to another deployed version (issue 14, item 2).

SpiffWorkflow 3.2's own ``migrate_workflow`` resets every ready and waiting task (``reset_branch``):
that clears a timer's internal data (its due time starts again) and re-copies the task's data from
its parent. Here the live tasks are kept as they are — same id, state, data and internal data — and
only pointed at the new version's element of the same id (or the one the process owner's mapping
names); what the engine predicted below them is dropped and predicted again from the new diagram.
Finished history is first compacted away (``compaction.compact`` with no threshold); finished tasks
that remain (the common ancestor of the live ones) keep their place in the tree under the new
version's element when it exists, else under its start element — they never run again.

Each instance moves in its own transaction under its lock, audited (``instance_migrated`` with from
and to version); one that cannot move is refused with the reasons in Swedish and left unchanged.
Because task ids stay, the task index (``HumanTask``) and timers (``Timer``) follow by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.actor import Actor
from service.audit import record
from service.engine.compaction import compact
from service.errors import Forbidden, Invalid, NotFound
from service.models import HumanTask, InstanceState, ProcessDefinition, ProcessInstance, TaskStatus, Timer, TimerState
from service.services import Services

from .instances import _after_commit
from .persist import Changes, apply_snapshot

MIGRATION_ROLES = ("processagare", "admin")  # as deploying: the process owner manages versions
#: What moves: instances still running (error ones are fixed first, ended ones have nothing to move).
MOVABLE = (InstanceState.RUNNING, InstanceState.WAITING, InstanceState.SUSPENDED)
LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
MAX_INSTANCES = 10_000

_KINDS = {
    "UserTask": "användaruppgift", "ManualTask": "manuell uppgift", "BoundaryEvent": "gränshändelse",
    "IntermediateCatchEvent": "mellanliggande händelse", "ReceiveTask": "mottagningsuppgift",
    "CallActivity": "anropad aktivitet", "SubWorkflowTask": "delprocess", "TransactionSubprocess": "transaktion",
    "EventBasedGateway": "händelsebaserad grind", "ParallelGateway": "parallell grind",
    "InclusiveGateway": "inkluderande grind", "ExclusiveGateway": "exklusiv grind",
}


@dataclass
class Verdict:
    """One instance's answer: whether it can move (dry run) or moved, and if not, why."""

    instance_id: str  # no case reference: the process owner has no need to know whose case it is
    from_version: int
    movable: bool
    reasons: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # the elements its live tasks stand on


@dataclass
class MigrationResult:
    process: str
    to_version: int
    dry_run: bool
    moved: list[Verdict] = field(default_factory=list)
    refused: list[Verdict] = field(default_factory=list)


class Refused(Exception):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def migrate(services: Services, actor: Actor, key: str, to_version: int, instances: Iterable[str] | str,
            mapping: Mapping[str, str] | None = None, *, dry_run: bool = True) -> MigrationResult:
    """Check (``dry_run``) or move the running ``instances`` (ids, or ``"all"``) of ``key`` to ``to_version``."""
    if not actor.has(*MIGRATION_ROLES):
        raise Forbidden("moving instances to another version needs the role processagare")
    mapping = dict(mapping or {})
    with services.db.read() as session:
        target = session.scalars(select(ProcessDefinition).where(
            ProcessDefinition.key == key, ProcessDefinition.version == to_version)).first()
        if target is None:
            if session.scalars(select(ProcessDefinition.id).where(ProcessDefinition.key == key)).first() is None:
                raise NotFound(f"no deployed process {key!r}")
            raise Invalid(f"{key} has no version {to_version}",
                          errors={"to_version": [f"versionen {to_version} finns inte"]})
        _check_mapping(services, target, mapping)
        query = select(ProcessInstance.id).where(ProcessInstance.process_key == key,
                                                 ProcessInstance.definition_id != target.id)
        if instances == "all":
            query = query.where(ProcessInstance.state.in_(MOVABLE))
            ids = list(session.scalars(query.order_by(ProcessInstance.started_at).limit(MAX_INSTANCES)))
        else:
            ids = list(dict.fromkeys(instances))
            found = set(session.scalars(select(ProcessInstance.id).where(
                ProcessInstance.process_key == key, ProcessInstance.id.in_(ids))))
            unknown = [i for i in ids if i not in found]
            if unknown:
                raise Invalid("unknown instances", errors={"instances": [
                    f"ärendet {i} finns inte i rutinen" for i in unknown]})
    result = MigrationResult(key, to_version, dry_run)
    for instance_id in ids:
        verdict = _one(services, actor, instance_id, target, mapping, dry_run=dry_run)
        (result.moved if verdict.movable else result.refused).append(verdict)
    return result


def _check_mapping(services: Services, target: ProcessDefinition, mapping: Mapping[str, str]) -> None:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise Invalid("the mapping maps element ids to element ids",
                      errors={"mapping": ["ange elementens id som text: {\"gammalt_id\": \"nytt_id\"}"]})
    specs = _spec_maps(services, target)
    missing = sorted({v for v in mapping.values() if not any(v in s for s in specs.values())})
    if missing:
        raise Invalid("the mapping names elements the new version lacks", errors={"mapping": [
            f"elementet {m} finns inte i version {target.version}" for m in missing]})


def _spec_maps(services: Services, definition: ProcessDefinition) -> dict[str, dict[str, Any]]:
    spec, subprocess_specs = services.engine.spec_for(definition)
    return {spec.name: spec.task_specs, **{name: s.task_specs for name, s in subprocess_specs.items()}}


def _one(services: Services, actor: Actor, instance_id: str, target: ProcessDefinition,
         mapping: Mapping[str, str], *, dry_run: bool) -> Verdict:
    changes = Changes()
    with services.db.command() as session:
        instance = services.db.lock_instance(session, instance_id)
        assert instance is not None
        verdict = Verdict(instance.id, instance.definition.version, False)
        try:
            if instance.state not in MOVABLE:
                raise Refused([_state_reason(instance.state)])
            if instance.definition_id == target.id:
                raise Refused([f"Ärendet ligger redan på version {target.version}."])
            workflow = services.engine.load(instance.definition, instance.workflow_json)
            verdict.moved = _rebuild(services, workflow, instance.definition, target, mapping)
            text = services.engine.dump(workflow)
            moved = services.engine.load(target, text)  # the stored form must read back under the new version
        except Refused as refusal:
            verdict.reasons = refusal.reasons
            if not dry_run:
                record(session, actor, "instance_migration_refused", instance_id=instance.id,
                       from_version=verdict.from_version, to_version=target.version, reasons=refusal.reasons)
            return verdict
        verdict.movable = True
        if dry_run:
            session.rollback()
            return verdict
        instance.definition = target
        changes = apply_snapshot(session, services, instance, moved, services.engine.snapshot(moved), actor)
        _follow(session, services, instance, moved)
        record(session, actor, "instance_migrated", instance_id=instance.id, from_version=verdict.from_version,
               to_version=target.version, elements=verdict.moved, mapping=dict(mapping))
    _after_commit(services, changes)
    return verdict


def _state_reason(state: InstanceState) -> str:
    if state == InstanceState.ERROR:
        return "Ärendet har stannat på ett fel. Rätta felet innan det flyttas."
    return "Ärendet är avslutat och kan inte flyttas."


def _rebuild(services: Services, workflow: Any, source: ProcessDefinition, target: ProcessDefinition,
             mapping: Mapping[str, str]) -> list[str]:
    """Point the workflow at ``target``'s specs, in place; raises ``Refused`` with every reason."""
    new_spec, new_subprocess_specs = services.engine.spec_for(target)
    compact(workflow, 0)
    reasons: list[str] = []
    elements: list[str] = []
    parts = [(workflow, new_spec)]
    for subworkflow in workflow.subprocesses.values():
        spec = new_subprocess_specs.get(subworkflow.spec.name)
        if spec is None:
            reasons.append(f"Delprocessen {subworkflow.spec.name} finns inte i version {target.version}.")
        else:
            parts.append((subworkflow, spec))
    plan: list[tuple[Any, Any]] = []
    doomed: list[Any] = []
    for part, spec in parts:
        for task in list(part.tasks.values()):
            new_task_spec = _counterpart(task.task_spec, spec.task_specs, mapping)
            if task.has_state(LIVE):
                problem = _problem(task.task_spec, new_task_spec, target.version, mapping)
                if problem:
                    reasons.append(problem)
                    continue
                elements.append(new_task_spec.bpmn_id or new_task_spec.name)
            elif task.has_state(TaskState.PREDICTED_MASK | TaskState.FUTURE):
                if new_task_spec is None:
                    if not _below_live(task):
                        reasons.append(f"Ärendet väntar i {task.task_spec.bpmn_id or task.task_spec.name}, "
                                       f"som saknas i version {target.version}.")
                    doomed.append(task)  # predicted again from the new diagram below its live task
                    continue
            elif new_task_spec is None:
                new_task_spec = spec.task_specs.get("Start") or spec.start  # history: never runs again
            plan.append((task, new_task_spec))
    if reasons:
        raise Refused(reasons)
    for part, spec in parts:
        part.spec = spec
    for task, new_task_spec in plan:
        task.task_spec = new_task_spec
    for part, _spec in parts:
        for task in [t for t in part.tasks.values() if t.has_state(TaskState.READY | TaskState.WAITING)]:
            if task.id in part.tasks and not any(d.has_state(LIVE) for d in list(task)[1:]):
                task._drop_children(force=True)
                _predict(task)
    for task in doomed:
        if task.id in task.workflow.tasks:
            raise Refused([f"Ärendets plan under {task.task_spec.name} går inte att bygga om i "
                           f"version {target.version}."])
    if workflow.last_task is not None and workflow.last_task.id not in workflow.tasks:
        workflow.last_task = None
    return sorted(set(elements))


def _predict(task: Any) -> None:
    """Predict a live task's outputs from its (new) spec as the engine would have: a boundary event
    that waits (it may never fire) has only *possible* successors (MAYBE), anything else definite ones."""
    state = task._state
    split = task.parent.task_spec if task.parent is not None else None
    maybe = isinstance(split, BoundaryEventSplit) and isinstance(task.task_spec, split.event_type)
    if maybe:
        task._state = TaskState.MAYBE  # (restored below: how its children are predicted, not a change)
    try:
        task.task_spec._predict(task, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE | task._state)
    finally:
        task._state = state


def _below_live(task: Any) -> bool:
    node = task.parent
    while node is not None:
        if node.has_state(TaskState.READY | TaskState.WAITING):
            return True
        node = node.parent
    return False


def _counterpart(task_spec: Any, new_specs: Mapping[str, Any], mapping: Mapping[str, str]) -> Any:
    """The new version's spec for an old one: by the mapping, else by the same id. Internal specs
    named after an element (``granska.BoundaryEventSplit``) follow their element."""
    name = task_spec.name
    element, dot, rest = name.partition(".")
    if name in mapping:
        return new_specs.get(mapping[name])
    if dot and element in mapping:
        return new_specs.get(f"{mapping[element]}.{rest}")
    return new_specs.get(name)


def _problem(old: Any, new: Any, version: int, mapping: Mapping[str, str]) -> str | None:
    label = f"«{old.bpmn_name}» ({old.bpmn_id})" if getattr(old, "bpmn_name", None) else (old.bpmn_id or old.name)
    if new is None:
        if old.name in mapping:
            return (f"Steget {label} ska enligt kopplingen flyttas till {mapping[old.name]}, "
                    f"som saknas i version {version}.")
        return (f"Steget {label} där ärendet står finns inte i version {version}. "
                "Ange i kopplingen vilket steg det ska flyttas till.")
    if type(old).__name__ != type(new).__name__:
        return (f"Steget {label} är en {_kind(old)} men {new.bpmn_id or new.name} i version {version} "
                f"är en {_kind(new)}.")
    if _timer_kind(old) != _timer_kind(new):
        return f"Steget {label} väntar på en händelse av annat slag i version {version}."
    return None


def _kind(spec: Any) -> str:
    name = type(spec).__name__
    return _KINDS.get(name, name)


def _timer_kind(spec: Any) -> str | None:
    event = getattr(spec, "event_definition", None)
    return None if event is None else type(event).__name__


def _follow(session: Session, services: Services, instance: ProcessInstance, workflow: Any) -> None:
    """The task index and timers keep their ids; their element names and titles follow the new version."""
    snapshot = services.engine.snapshot(workflow)
    ready = set(snapshot.ready_ids)
    for row in session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                       HumanTask.status == TaskStatus.OPEN)):
        if row.id not in ready:
            continue
        task = snapshot.describe(row.id)
        row.name, row.step, row.lane, row.roles = task.name, task.step, task.lane, task.roles
        row.form_file, row.ui_form_file, row.disclosure_to = task.form_file, task.ui_form_file, task.disclosure_to
        if task.title:
            row.title = task.title
    timers = {t.task_id: t for t in snapshot.timers}
    for timer in session.scalars(select(Timer).where(Timer.instance_id == instance.id,
                                                     Timer.state == TimerState.PENDING)):
        current = timers.get(timer.task_id)
        if current is not None:
            timer.task_name, timer.title, timer.kind = current.task_name, current.title, current.kind
