"""Timer event definitions that read the service clock and accept plain ISO 8601.

SpiffWorkflow's own timers compare against ``datetime.now()`` and evaluate every timer value as a
Python expression (so ``PT14D`` unquoted is a ``NameError``). Samverkan keeps the timer's due time
in the engine (``event_value``) but decides *when it fires* in the database: a timer fires only
when the service marks it (``fire``), from the ``timer`` table, never by the engine polling the
wall clock. The parser's timer definitions are swapped for these classes after parsing
(``specs.adopt_timers``); specs are never serialized, so the serializer never sees them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)

from service.clock import STOCKHOLM, current_clock

_ISO_DURATION = r"P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+([.,]\d+)?S)?)?"
_ISO_DATETIME = r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}([.,]\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
ISO_LITERAL = re.compile(
    rf"^(?:{_ISO_DURATION}|{_ISO_DATETIME}|R\d*/(?:{_ISO_DATETIME}/)?{_ISO_DURATION}(?:/{_ISO_DATETIME})?)$"
)


class TimerValueError(ValueError):
    pass


def timer_literal(expression: str) -> str | None:
    """The ISO 8601 value if ``expression`` is a plain (or quoted) literal, else None."""
    text = expression.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1].strip()
    return text if ISO_LITERAL.match(text) else None


def timer_value(task: Any, expression: str) -> str:
    """Resolve a timer expression for ``task``: a literal as is, otherwise evaluated in the sandbox."""
    literal = timer_literal(expression)
    if literal is not None:
        return literal
    value = task.workflow.script_engine.evaluate(task, expression)
    if isinstance(value, datetime):
        return value.isoformat()
    if not isinstance(value, str) or timer_literal(value) is None:
        raise TimerValueError(f"timer expression {expression!r} gave {value!r}, not an ISO 8601 value")
    return timer_literal(value) or value


def parse_datetime(value: str) -> datetime:
    """An ISO 8601 date or datetime; a value without offset is Swedish local time."""
    moment = datetime.fromisoformat(value.replace(",", "."))
    return moment if moment.tzinfo else moment.replace(tzinfo=STOCKHOLM)


def add_duration(start: datetime, duration: str) -> datetime:
    parsed = TimerEventDefinition.parse_iso_duration(duration)
    return start + TimerEventDefinition.get_timedelta_from_start(parsed, start)


def due_from(value: str, start: datetime) -> datetime:
    """A duration counted from ``start``, or a date/datetime as given."""
    return add_duration(start, value) if value.upper().startswith("P") else parse_datetime(value)


class ClockDurationTimer(DurationTimerEventDefinition):
    def has_fired(self, my_task: Any) -> bool:
        if my_task._get_internal_data("event_value") is None:
            value = timer_value(my_task, self.expression)
            due = add_duration(current_clock().now(), value)
            my_task._set_internal_data(event_value=due.isoformat())
        return bool(my_task._get_internal_data("event_fired", False))


class ClockDateTimer(TimeDateEventDefinition):
    def has_fired(self, my_task: Any) -> bool:
        if my_task._get_internal_data("event_value") is None:
            value = timer_value(my_task, self.expression)
            my_task._set_internal_data(event_value=parse_datetime(value).isoformat())
        return bool(my_task._get_internal_data("event_fired", False))


class ClockCycleTimer(CycleTimerEventDefinition):
    """``R[n]/[start/]duration``: fires every ``duration``; each firing runs the boundary path once."""

    def cycle_complete(self, my_task: Any) -> bool:
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            event_value = _parse_cycle(timer_value(my_task, self.expression), current_clock().now())
        ready = False
        if event_value["cycles"] != 0:
            if my_task.internal_data.pop("cycle_fire", False):
                following = datetime.fromisoformat(event_value["next"]) + timedelta(
                    seconds=event_value["duration"])
                event_value["next"] = following.isoformat()
                event_value["cycles"] -= 1
                ready = True
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
            return ready
        my_task._set_internal_data(event_value=event_value)
        return ready


def _parse_cycle(value: str, now: datetime) -> dict[str, Any]:
    parts = value.upper().split("/")
    cycles = int(parts[0][1:]) if parts[0][1:] else -1
    rest = parts[1:]
    if len(rest) == 1:
        duration_text, start = rest[0], None
    elif rest[0].startswith("P"):
        duration_text, start = rest[0], None  # duration/end: the end bounds nothing we need
    else:
        start, duration_text = parse_datetime(rest[0]), rest[1]
    first = start or add_duration(now, duration_text)
    seconds = (add_duration(first, duration_text) - first).total_seconds()
    if seconds <= 0:
        raise TimerValueError(f"timer cycle {value!r} has no positive interval")
    return {"cycles": cycles, "next": first.isoformat(), "duration": seconds}


TIMER_CLASSES: dict[type, type] = {
    DurationTimerEventDefinition: ClockDurationTimer,
    TimeDateEventDefinition: ClockDateTimer,
    CycleTimerEventDefinition: ClockCycleTimer,
}


def inner_definitions(event_definition: Any) -> list[Any]:
    """The definitions an event waits on: itself, or each one of an event-based gateway's events."""
    if isinstance(event_definition, MultipleEventDefinition):
        return list(event_definition.event_definitions)
    return [event_definition]


def timer_definition(event_definition: Any) -> Any:
    """The timer an event waits on, if any (an event-based gateway may wait on one among messages)."""
    return next((d for d in inner_definitions(event_definition) if isinstance(d, TimerEventDefinition)), None)


def timer_kind(event_definition: Any) -> str | None:
    event_definition = timer_definition(event_definition)
    if isinstance(event_definition, CycleTimerEventDefinition):
        return "cycle"
    if isinstance(event_definition, DurationTimerEventDefinition):
        return "duration"
    if isinstance(event_definition, TimeDateEventDefinition):
        return "date"
    return None


def due_at(task: Any) -> datetime | None:
    """When a waiting timer task is due, from what the engine recorded when it started waiting."""
    value = task._get_internal_data("event_value")
    if value is None:
        return None
    if isinstance(value, dict):
        return datetime.fromisoformat(value["next"]) if value.get("cycles", 0) != 0 else None
    return datetime.fromisoformat(value)


def mark_fired(task: Any) -> None:
    if isinstance(timer_definition(task.task_spec.event_definition), CycleTimerEventDefinition):
        task.internal_data["cycle_fire"] = True
    else:
        task._set_internal_data(event_fired=True)
