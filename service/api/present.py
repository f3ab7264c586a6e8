"""Shape rows for responses: overdue flags, forms, and data redacted for the caller's role."""

from __future__ import annotations

from typing import Any

from service.actor import Actor
from service.forms import personal_fields, redact
from service.models import HumanTask, ProcessDefinition, ProcessInstance, TaskStatus


def data_for(actor: Actor, definition: ProcessDefinition, data: dict[str, Any]) -> dict[str, Any]:
    """Case data as the caller may see it: whole for case workers, de-identified otherwise."""
    if actor.has_case_access:
        return data
    return redact(data, personal_fields(definition.forms.values()))  # type: ignore[no-any-return]


def task_summary(task: HumanTask, now: Any) -> dict[str, Any]:
    return {
        "id": task.id, "instance_id": task.instance_id, "process_key": task.process_key, "name": task.name,
        "title": task.title, "lane": task.lane, "district": task.district, "assignee": task.assignee,
        "status": task.status, "created_at": task.created_at, "due_at": task.due_at,
        "completed_at": task.completed_at, "completed_by": task.completed_by,
        "overdue": bool(task.status == TaskStatus.OPEN and task.due_at and task.due_at < now),
    }


def task_data_for(actor: Actor, definition: ProcessDefinition, task: HumanTask) -> dict[str, Any]:
    """A task's data as the caller may see it.

    Roles without case access (EKU) get only what the task's own form declares and does not mark
    personal — the provider-level facts the form was drawn to show them — with any personal field
    nested inside removed. Nothing else of the case reaches them.
    """
    if actor.has_case_access:
        return task.data
    schema = definition.forms.get(task.form_file or "") or {}
    declared = {name for name, field in (schema.get("properties") or {}).items()
                if isinstance(field, dict) and not field.get("x-personal-data")}
    personal = personal_fields(definition.forms.values())
    return {name: _without(value, personal) for name, value in task.data.items() if name in declared}


def _without(value: Any, personal: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, personal) for k, v in value.items() if k not in personal}
    if isinstance(value, list):
        return [_without(v, personal) for v in value]
    return value


def task_detail(task: HumanTask, definition: ProcessDefinition, actor: Actor, now: Any) -> dict[str, Any]:
    return {
        **task_summary(task, now),
        "case_ref": task.case_ref if actor.has_case_access else None,
        "form": {"schema": definition.forms.get(task.form_file) if task.form_file else None,
                 "ui_schema": definition.forms.get(task.ui_form_file) if task.ui_form_file else None},
        "data": task_data_for(actor, definition, task),
    }


def instance_summary(instance: ProcessInstance, actor: Actor) -> dict[str, Any]:
    return {
        "id": instance.id, "process_key": instance.process_key, "version": instance.definition.version,
        "state": instance.state, "case_ref": instance.case_ref if actor.has_case_access else None,
        "started_by": instance.started_by, "started_at": instance.started_at, "updated_at": instance.updated_at,
        "ended_at": instance.ended_at, "outcome": instance.outcome, "error": instance.error,
        "districts": instance.districts,
    }
