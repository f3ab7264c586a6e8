"""The monitor's view of ``service.stats``: hours, the diagram's step names, heat levels, CSV cells.

Nothing is counted or scoped here: the numbers and who sees which are ``service.stats``'s, the same
that ``GET /api/v1/stats`` serves. Step names come from the diagram, not from task titles — titles
may name the client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from service.engine.xml import XmlRejected, parse_xml
from service.models import ProcessDefinition
from service.operations.instances import message_title
from service.stats import ProcessStats

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
HEAT_LEVELS = 5
NO_LANE = "–"
HOUR = 3600.0


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
    steps: list[Step] = field(default_factory=list)  # slowest (p90) first
    waiting: list[Waiting] = field(default_factory=list)  # most open first

    @property
    def open_tasks(self) -> int:
        return sum(open_ for _, open_, _ in self.lanes)

    @property
    def overdue_tasks(self) -> int:
        return sum(overdue for _, _, overdue in self.lanes)


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
                name = element.get("name") or element.get("id", "")
                if element.tag == f"{BPMN}message":  # a message is named by its form: what sending it does
                    name = message_title(definition, name) or name
                    names.setdefault(element.get("name") or "", name)  # events record a message by its name
                names.setdefault(element.get("id", ""), name)
    return names


def routine_view(definition: ProcessDefinition, stats: ProcessStats | None,
                 names: dict[str, str] | None = None) -> RoutineStats:
    """``stats`` of the routine ``definition`` (``None``: nothing in scope) as the monitor pages show it."""
    view = RoutineStats(definition.key, definition.name)
    if stats is None:
        return view
    names = element_names(definition) if names is None else names
    view.instances = dict(stats.instances)
    view.lanes = [(lane.lane or NO_LANE, lane.open, lane.overdue) for lane in stats.lanes]
    view.waiting = [Waiting(w.task, names.get(w.task, w.task), w.open, w.overdue, w.mean_wait_seconds / HOUR,
                            w.max_wait_seconds / HOUR) for w in stats.waiting]
    view.waiting.sort(key=lambda w: (-w.open, w.name))
    top = max((w.open for w in view.waiting), default=0)
    for w in view.waiting:
        w.level = max(1, min(HEAT_LEVELS, round(HEAT_LEVELS * w.open / top))) if top else 1
    view.steps = sorted((Step(s.task, names.get(s.task, s.task), s.count, s.median_seconds / HOUR,
                              s.p90_seconds / HOUR) for s in stats.steps), key=lambda s: -s.p90_hours)
    return view


def csv_safe(value: Any) -> str:
    """A cell a spreadsheet shows as text: formulas (``=``, ``+``, ``-``, ``@``) are defused."""
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
