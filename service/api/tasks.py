"""Human tasks: the inbox, one task with its form, claim, hand-over, complete."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import fields, validate

from service.access import (
    TaskFilter,
    actionable_page,
    instance_summary,
    may_see_task,
    record_reads,
    task_detail,
    task_summary,
)
from service.access.lanes import offered_lanes
from service.errors import NotFound
from service.models import HumanTask, ProcessInstance
from service.operations.tasks import assign, claim, complete_task, unclaim

from . import api
from .context import current_actor, json_body, services
from .registry import endpoint
from .schemas import (
    AssignSchema,
    CompletedSchema,
    CompleteSchema,
    PageQuerySchema,
    TaskSchema,
    TaskSummarySchema,
    page_of,
    schema,
)


class TaskQuerySchema(PageQuerySchema):
    assigned = fields.String(load_default="all", validate=validate.OneOf(["me", "unassigned", "all"]))
    process = fields.String(validate=validate.Length(max=100))
    instance = fields.String(validate=validate.Length(max=36))
    overdue = fields.Boolean()


@endpoint(api, "/tasks", "GET", summary="Open tasks the caller may act on (overdue first)", tag="tasks",
          query=TaskQuerySchema, response=page_of(TaskSummarySchema))
def list_tasks() -> Any:
    svc = services()
    with svc.db.read() as session:  # one read transaction: the sign-in check, the lanes and the page
        actor = current_actor(db=session)
        assert actor is not None
        query = schema(TaskQuerySchema).load(request.args)
        now = svc.now()
        narrow = TaskFilter(process=query.get("process"), instance=query.get("instance"),
                            due_before=now if query.get("overdue") else None)
        lanes = offered_lanes(svc, actor.roles, session)
        rows, total = actionable_page(session, actor, lanes, query["assigned"], narrow,
                                      limit=query["per_page"], offset=(query["page"] - 1) * query["per_page"])
        items = [task_summary(t, actor, now) for t in rows]
    record_reads(svc, actor, [t["instance_id"] for t in items], kind="inbox")
    return {"items": schema(TaskSummarySchema, many=True).dump(items), "total": total, "page": query["page"],
            "per_page": query["per_page"]}


@endpoint(api, "/tasks/<task_id>", "GET", summary="One task with its form and data", tag="tasks",
          response=TaskSchema)
def get_task(task_id: str) -> Any:
    actor = current_actor()
    assert actor is not None
    svc = services()
    with svc.db.read() as session:
        task = session.get(HumanTask, task_id)
        if task is None or not may_see_task(actor, task):
            raise NotFound("no such task")
        instance = session.get(ProcessInstance, task.instance_id)
        assert instance is not None
        body = task_detail(session, actor, task, instance, svc.now())
    record_reads(svc, actor, [task.instance_id], kind="task", task_id=task_id)
    return schema(TaskSchema).dump(body)


@endpoint(api, "/tasks/<task_id>/claim", "POST", summary="Claim a task of your lane", tag="tasks",
          response=TaskSummarySchema)
def claim_task(task_id: str) -> Any:
    actor = current_actor()
    assert actor is not None
    return schema(TaskSummarySchema).dump(task_summary(claim(services(), actor, task_id), actor, services().now()))


@endpoint(api, "/tasks/<task_id>/unclaim", "POST", summary="Release a claimed task", tag="tasks",
          response=TaskSummarySchema)
def unclaim_task(task_id: str) -> Any:
    actor = current_actor()
    assert actor is not None
    return schema(TaskSummarySchema).dump(task_summary(unclaim(services(), actor, task_id), actor, services().now()))


@endpoint(api, "/tasks/<task_id>/assign", "POST", summary="Hand a task to a substitute or delegate",
          tag="tasks", body=AssignSchema, response=TaskSummarySchema, roles=("chef", "assignee"))
def assign_task(task_id: str) -> Any:
    actor = current_actor()
    assert actor is not None
    body = schema(AssignSchema).load(json_body())
    task = assign(services(), actor, task_id, body["username"], body["reason"])
    return schema(TaskSummarySchema).dump(task_summary(task, actor, services().now()))


@endpoint(api, "/tasks/<task_id>/complete", "POST", summary="Complete a task with its form data", tag="tasks",
          body=CompleteSchema, response=CompletedSchema)
def complete(task_id: str) -> Any:
    actor = current_actor()
    assert actor is not None
    body = schema(CompleteSchema).load(json_body())
    svc = services()
    _task, created, instance = complete_task(svc, actor, task_id, body["data"])
    now = svc.now()
    visible = [task_summary(t, actor, now) for t in created if may_see_task(actor, t)]
    return schema(CompletedSchema).dump({"instance": instance_summary(instance, actor), "next_tasks": visible})
