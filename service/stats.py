"""Statistics per process, for managers: one set of numbers and one scope, read from the index tables.

``GET /api/v1/stats`` and the monitor pages (``/oversikt``) both present what this module computes;
neither counts anything itself. Only the index tables are read (``process_instance``, ``human_task``,
``instance_access``), never a workflow.

The scope (``in_scope``) is one rule, applied to instances and, through their instance, to tasks
and step durations, so the counts always add up to the same set of cases:

* ``admin`` (operations) and the service itself: every instance. The numbers are de-identified
  counts, which the operator may see.
* ``chef``: the instances of their districts (an ``instance_access`` row of kind ``district``
  naming one of ``actor.districts``), and instances without any district, which belong to every
  chef (as a task without a district may be managed by any chef).
* anyone else: nothing.

Unlike ``service.access.visible_instances`` this does not add the instances a chef started or holds
a task in: statistics describe the chef's districts, not the chef's own cases.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, false, func, select, true
from sqlalchemy.orm import Session

from service.access.visibility import chef_districts
from service.actor import Actor
from service.models import HumanTask, ProcessInstance, TaskStatus

STATS_ROLES = ("chef", "admin")
DURATION_SAMPLE = 50_000  # the most recent completed tasks per process that step durations are taken from


@dataclass(frozen=True)
class LaneLoad:
    """Open tasks of one lane (``None``: tasks without a lane)."""

    lane: str | None
    open: int
    overdue: int


@dataclass(frozen=True)
class Waiting:
    """Open tasks at one step (a BPMN task id), and how long they have waited so far."""

    task: str
    open: int
    overdue: int
    mean_wait_seconds: float
    max_wait_seconds: float


@dataclass(frozen=True)
class StepDurations:
    """How long a step (a BPMN task id) took, from the task's creation to its completion."""

    task: str
    count: int
    median_seconds: float
    p90_seconds: float


@dataclass
class ProcessStats:
    process: str
    instances: dict[str, int] = field(default_factory=dict)  # state -> count
    lanes: list[LaneLoad] = field(default_factory=list)  # by lane, no-lane last
    waiting: list[Waiting] = field(default_factory=list)  # most open tasks first
    steps: list[StepDurations] = field(default_factory=list)  # by task id

    @property
    def open_tasks(self) -> int:
        return sum(lane.open for lane in self.lanes)

    @property
    def overdue_tasks(self) -> int:
        return sum(lane.overdue for lane in self.lanes)


def in_scope(actor: Actor, instance_id: Any = ProcessInstance.id) -> ColumnElement[bool]:
    """The instances whose numbers ``actor`` sees, as a condition on an instance id column.

    ``instance_id`` is ``ProcessInstance.id`` or a column referring to it (``HumanTask.instance_id``),
    so tasks are scoped by their instance without a join.
    """
    if actor.has("admin"):  # includes the service itself
        return true()
    if not (actor.has("chef") and actor.is_authority):
        return false()
    return chef_districts(actor, instance_id)


def process_stats(db: Session, actor: Actor, now: datetime, process: str | None = None) -> list[ProcessStats]:
    """Per process (all, or only ``process``), by key: the numbers of the instances in ``actor``'s scope.

    A process appears when it has at least one instance in scope; ``process`` given, it always does
    (with zeros when nothing is in scope).
    """
    result: dict[str, ProcessStats] = {}

    def entry(key: str) -> ProcessStats:
        if key not in result:
            result[key] = ProcessStats(key)
        return result[key]

    if process is not None:
        entry(process)
    instances = select(ProcessInstance.process_key, ProcessInstance.state, func.count()).where(
        in_scope(actor, ProcessInstance.id))
    if process is not None:
        instances = instances.where(ProcessInstance.process_key == process)
    for key, state, count in db.execute(instances.group_by(ProcessInstance.process_key, ProcessInstance.state)):
        entry(key).instances[str(state)] = count
    _open_tasks(db, actor, now, process, entry)
    for key, stats in result.items():
        stats.steps = _steps(db, actor, key)
    return [result[key] for key in sorted(result)]


def one_process(db: Session, actor: Actor, now: datetime, process: str) -> ProcessStats:
    [stats] = process_stats(db, actor, now, process)
    return stats


def _open_tasks(db: Session, actor: Actor, now: datetime, process: str | None,
                entry: Callable[[str], ProcessStats]) -> None:
    query = select(HumanTask.process_key, HumanTask.name, HumanTask.lane, HumanTask.created_at,
                   HumanTask.due_at).where(HumanTask.status == TaskStatus.OPEN, in_scope(actor, HumanTask.instance_id))
    if process is not None:
        query = query.where(HumanTask.process_key == process)
    lanes: dict[str, dict[str | None, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    waits: dict[str, dict[str, list[tuple[float, bool]]]] = defaultdict(lambda: defaultdict(list))
    for key, name, lane, created_at, due_at in db.execute(query):
        overdue = bool(due_at is not None and due_at < now)
        counts = lanes[key][lane]
        counts[0] += 1
        counts[1] += int(overdue)
        waits[key][name].append(((now - created_at).total_seconds(), overdue))
    for key, by_lane in lanes.items():
        entry(key).lanes = [LaneLoad(lane, open_, overdue) for lane, (open_, overdue)
                            in sorted(by_lane.items(), key=lambda item: (item[0] is None, item[0] or ""))]
    for key, by_step in waits.items():
        rows = [Waiting(task, len(values), sum(o for _, o in values), statistics.fmean(s for s, _ in values),
                        max(s for s, _ in values)) for task, values in by_step.items()]
        entry(key).waiting = sorted(rows, key=lambda row: (-row.open, row.task))


def _steps(db: Session, actor: Actor, key: str) -> list[StepDurations]:
    done = select(HumanTask.name, HumanTask.created_at, HumanTask.completed_at).where(
        HumanTask.process_key == key, HumanTask.status == TaskStatus.COMPLETED, in_scope(actor, HumanTask.instance_id),
    ).order_by(HumanTask.completed_at.desc()).limit(DURATION_SAMPLE)
    durations: dict[str, list[float]] = defaultdict(list)
    for name, created_at, completed_at in db.execute(done):
        if completed_at is not None:  # a completed task always has its time; the column allows none
            durations[name].append((completed_at - created_at).total_seconds())
    return [StepDurations(task, len(values), statistics.median(values), p90(values))
            for task, values in sorted(durations.items())]


def p90(values: list[float]) -> float:
    """The 90th percentile as the service defines it: the value at index ⌊0.9·n⌋ of the sorted values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


@dataclass(frozen=True)
class YearTally:
    """Meetings of one standing structure in one year: how many were held against how many are required."""

    structure: str
    year: int
    held: int
    required: int

    @property
    def met(self) -> bool:
        return self.held >= self.required


def year_tallies(db: Session, actor: Actor, process: str) -> list[YearTally]:
    """Held against required per structure and year, over the instances of ``process`` in ``actor``'s scope.

    A routine that counts obligations keeps a ``sammanstallning`` in its data — ``struktur`` (its
    Swedish name), ``ar``, ``genomforda`` and ``kravda`` (R5c samverkansmoten, one instance per
    structure and year); instances of the same structure and year add up. Other routines have none.
    """
    totals: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    query = select(ProcessInstance.data).where(ProcessInstance.process_key == process, in_scope(actor))
    for data in db.scalars(query):
        tally = data.get("sammanstallning") if isinstance(data, dict) else None
        if not isinstance(tally, dict):
            continue
        try:
            key = (str(tally["struktur"]), int(tally["ar"]))
            held, required = int(tally["genomforda"]), int(tally["kravda"])
        except (KeyError, TypeError, ValueError):
            continue
        totals[key][0] += held
        totals[key][1] += required
    ordered = sorted(totals.items(), key=lambda item: (item[0][1], item[0][0]))  # by year, then structure
    return [YearTally(structure, year, held, required) for (structure, year), (held, required) in ordered]

