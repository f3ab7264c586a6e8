"""What a manager watches, per routine, from the index tables (never the workflows).

The scope is the API's (``GET /api/v1/stats``): instances the manager may see
(``service.access.visible_instances``) and tasks in their districts (all for admin). Step names
come from the diagram, not from task titles — titles may name the client.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.orm import Session

from service.access import visible_instances
from service.actor import Actor
from service.engine.xml import XmlRejected, parse_xml
from service.models import HumanTask, ProcessDefinition, ProcessInstance, TaskStatus

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
HEAT_LEVELS = 5


@dataclass
class Step:
    task: str
    name: str
    count: int
    median_hours: float
    p90_hours: float


@dataclass
class Waiting:
    task: str
    name: str
    open: int
    overdue: int
    mean_wait_hours: float
    max_wait_hours: float
    level: int = 1


@dataclass
class RoutineStats:
    key: str
    name: str
    instances: dict[str, int] = field(default_factory=dict)
    lanes: list[tuple[str, int, int]] = field(default_factory=list)  # (lane, open, overdue)
    steps: list[Step] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)

    @property
    def open_tasks(self) -> int:
        return sum(open_ for _, open_, _ in self.lanes)

    @property
    def overdue_tasks(self) -> int:
        return sum(overdue for _, _, overdue in self.lanes)


def task_scope(actor: Actor) -> ColumnElement[bool]:
    """Tasks a manager oversees: their districts' (and district-less) tasks; admin: all."""
    if actor.has("admin"):
        return true()
    return or_(HumanTask.district.is_(None), HumanTask.district.in_(sorted(actor.districts)))


def element_names(definition: ProcessDefinition) -> dict[str, str]:
    """BPMN id → the element's Swedish name, across the definition's diagrams."""
    names: dict[str, str] = {}
    for xml in definition.bpmn_files.values():
        try:
            root = parse_xml(str(xml).encode("utf-8"))
        except XmlRejected:
            continue
        for element in root.iter():
            if isinstance(element.tag, str) and element.tag.startswith(BPMN) and element.get("id"):
                names.setdefault(element.get("id", ""), element.get("name") or element.get("id", ""))
    return names


def routine_stats(db: Session, actor: Actor, definition: ProcessDefinition, now: datetime) -> RoutineStats:
    """Instances by state, open/overdue tasks per lane, step durations and where instances wait."""
    key = definition.key
    names = element_names(definition)
    stats = RoutineStats(key, definition.name)
    visible_ids = visible_instances(db, actor).with_only_columns(ProcessInstance.id).where(
        ProcessInstance.process_key == key)
    for state, count in db.execute(select(ProcessInstance.state, func.count()).where(
            ProcessInstance.id.in_(visible_ids)).group_by(ProcessInstance.state)):
        stats.instances[str(state)] = count
    open_tasks = list(db.execute(select(HumanTask.name, HumanTask.lane, HumanTask.created_at, HumanTask.due_at).where(
        HumanTask.process_key == key, HumanTask.status == TaskStatus.OPEN, task_scope(actor))))
    lanes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    waits: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for name, lane, created_at, due_at in open_tasks:
        overdue = bool(due_at and due_at < now)
        lanes[lane or "–"][0] += 1
        lanes[lane or "–"][1] += int(overdue)
        waits[name].append(((now - created_at).total_seconds() / 3600, overdue))
    stats.lanes = sorted((lane, counts[0], counts[1]) for lane, counts in lanes.items())
    stats.waiting = _waiting(waits, names)
    stats.steps = _steps(db, actor, key, names)
    return stats


def _waiting(waits: dict[str, list[tuple[float, bool]]], names: dict[str, str]) -> list[Waiting]:
    rows = [Waiting(task, names.get(task, task), len(values), sum(o for _, o in values),
                    statistics.fmean(h for h, _ in values), max(h for h, _ in values))
            for task, values in waits.items()]
    top = max((row.open for row in rows), default=0)
    for row in rows:
        row.level = max(1, min(HEAT_LEVELS, round(HEAT_LEVELS * row.open / top))) if top else 1
    return sorted(rows, key=lambda row: (-row.open, row.name))


def _steps(db: Session, actor: Actor, key: str, names: dict[str, str]) -> list[Step]:
    durations: dict[str, list[float]] = defaultdict(list)
    done = select(HumanTask.name, HumanTask.created_at, HumanTask.completed_at).where(
        HumanTask.process_key == key, HumanTask.status == TaskStatus.COMPLETED, task_scope(actor)).order_by(
        HumanTask.completed_at.desc()).limit(50_000)
    for name, created_at, completed_at in db.execute(done):
        durations[name].append((completed_at - created_at).total_seconds() / 3600)
    steps = []
    for task, values in durations.items():
        values.sort()
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]  # the API's definition of p90
        steps.append(Step(task, names.get(task, task), len(values), statistics.median(values), p90))
    return sorted(steps, key=lambda s: -s.p90_hours)


def csv_safe(value: Any) -> str:
    """A cell a spreadsheet shows as text: formulas (``=``, ``+``, ``-``, ``@``) are defused."""
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
