"""A case (or one of its tasks) as one viewer may see it: the rows the API and the pages present.

The rules are in ``visibility`` (who) and ``projection`` (what); this module applies them to the
index rows, so the API's JSON and the pages' HTML show the same thing to the same person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from service.actor import Actor
from service.directory import with_choices
from service.models import (
    Disclosure,
    Event,
    HumanTask,
    ProcessInstance,
    TaskStatus,
    Timer,
    TimerState,
)

from .messages import sendable
from .projection import case_data, error_text, person, shows_identity, task_data
from .visibility import holds_or_held, is_offered


@dataclass
class CaseRows:
    """What a case read needs from the index tables (never the workflow)."""

    tasks: list[HumanTask]
    disclosures: list[Disclosure]


def case_rows(session: Session, instance_id: str) -> CaseRows:
    tasks = list(session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)
                                 .order_by(HumanTask.created_at, HumanTask.id)))
    disclosures = list(session.scalars(select(Disclosure).where(Disclosure.instance_id == instance_id)
                                       .order_by(Disclosure.id)))
    return CaseRows(tasks, disclosures)


@dataclass(frozen=True)
class Lens:
    """How one viewer sees the people, steps and answers of a case — what pages ask while they draw it.

    Case workers (and an admin who stated a break-glass reason) see identity: titles, names, reasons.
    Others see the steps as drawn, their own name, their own tasks' events and answers, nothing more.
    """

    actor: Actor
    break_glass: bool = False

    @property
    def identity(self) -> bool:
        return shows_identity(self.actor, break_glass=self.break_glass)

    def title(self, task: HumanTask) -> str:
        return task_title(task, self.actor, break_glass=self.break_glass)

    def person(self, username: str | None) -> str | None:
        return person(self.actor, username, break_glass=self.break_glass)

    def owns(self, task: HumanTask) -> bool:
        """The viewer holds or held the task: its events and answers are theirs to see in full."""
        return holds_or_held(self.actor, task)

    def answers(self, task: HumanTask) -> bool:
        """Whether the viewer sees what the task's completer submitted (not only the projected case)."""
        return self.identity or self.owns(task)


def task_title(task: HumanTask, actor: Actor, *, break_glass: bool = False) -> str:
    """A task's title may be computed from case data ("Kontakta … för <name>"): it is shown to case
    workers and to whoever holds or is offered the task; others see the step's name as drawn."""
    if shows_identity(actor, break_glass=break_glass) or holds_or_held(actor, task) or is_offered(actor, task):
        return task.title
    return task.step or task.name


def task_summary(task: HumanTask, actor: Actor, now: datetime, *, break_glass: bool = False) -> dict[str, Any]:
    return {
        "id": task.id, "instance_id": task.instance_id, "process_key": task.process_key, "name": task.name,
        "title": task_title(task, actor, break_glass=break_glass), "lane": task.lane, "district": task.district,
        "assignee": person(actor, task.assignee), "status": task.status, "created_at": task.created_at,
        "due_at": task.due_at, "completed_at": task.completed_at, "completed_by": person(actor, task.completed_by),
        "overdue": bool(task.status == TaskStatus.OPEN and task.due_at and task.due_at < now),
    }


def instance_summary(instance: ProcessInstance, actor: Actor, *, break_glass: bool = False) -> dict[str, Any]:
    identity = shows_identity(actor, break_glass=break_glass)
    return {
        "id": instance.id, "process_key": instance.process_key, "version": instance.definition.version,
        "state": instance.state, "case_ref": instance.case_ref if identity else None,
        "started_by": person(actor, instance.started_by, break_glass=break_glass),
        "started_at": instance.started_at, "updated_at": instance.updated_at, "ended_at": instance.ended_at,
        "outcome": instance.outcome, "error": error_text(actor, instance.error, break_glass=break_glass),
        "districts": instance.districts,
    }


def summary_load() -> list[Any]:
    """Loader options for listing instances as ``instance_summary`` shows them: neither the engine
    state nor the data (kilobytes per row); the version comes from ``ProcessInstance.definition``."""
    return [defer(ProcessInstance.workflow_json), defer(ProcessInstance.data)]


def history(session: Session, actor: Actor, instance_id: str, *, break_glass: bool = False) -> list[dict[str, Any]]:
    """What was done in the case; reads stay in the audit log, break-glass reads show here."""
    identity = shows_identity(actor, break_glass=break_glass)
    events = session.scalars(select(Event).where(Event.instance_id == instance_id, Event.action != "case_read")
                             .order_by(Event.id))
    return [{"at": e.at, "actor": e.actor if identity or e.actor == actor.username or e.action == "break_glass"
             else None, "action": e.action, "task_id": e.task_id,
             "detail": e.detail if identity else {}} for e in events]


def instance_detail(session: Session, actor: Actor, instance: ProcessInstance, now: datetime,
                    message_roles: dict[str, list[str]], *, break_glass: bool = False) -> dict[str, Any]:
    rows = case_rows(session, instance.id)
    timers = list(session.scalars(select(Timer).where(Timer.instance_id == instance.id,
                                                      Timer.state == TimerState.PENDING).order_by(Timer.due_at)))
    return {
        **instance_summary(instance, actor, break_glass=break_glass),
        "data": case_data(actor, instance.definition, instance.data, rows.tasks, rows.disclosures,
                          started_by=instance.started_by, break_glass=break_glass),
        "tasks": [task_summary(t, actor, now, break_glass=break_glass) for t in rows.tasks], "timers": timers,
        "history": history(session, actor, instance.id, break_glass=break_glass),
        "waits_for": instance.waits_for,
        "may_send": sendable(actor, instance.waits_for, message_roles) if instance.state.is_active else [],
        "state_reason": instance.state_reason if shows_identity(actor, break_glass=break_glass) else None,
    }


def task_detail(session: Session, actor: Actor, task: HumanTask, instance: ProcessInstance,
                now: datetime) -> dict[str, Any]:
    definition = instance.definition
    rows = case_rows(session, instance.id)
    return {
        **task_summary(task, actor, now),
        "case_ref": task.case_ref if shows_identity(actor) else None,
        "form": {"schema": with_choices(
                     session, actor, definition.forms.get(task.form_file) if task.form_file else None,
                     district=task.district),
                 "ui_schema": definition.forms.get(task.ui_form_file) if task.ui_form_file else None},
        "data": task_data(actor, definition, task, rows.tasks, rows.disclosures, instance.started_by),
    }
