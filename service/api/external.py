"""External tasks (Camunda's pattern): workers fetch and lock service tasks, then complete them,
report a failure or a BPMN error. Workers hold the role ``extern_arbetare``; the list is also for admin."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from service.models import ExternalTask, ExternalTaskStatus
from service.operations import external

from . import api
from .context import json_body, require, services
from .registry import endpoint
from .schemas import PageQuerySchema, StrictSchema, page_of

WORKER = external.WORKER_ROLE
_TOPIC = fields.String(validate=validate.Length(min=1, max=100))
_WORKER_ID = fields.String(required=True, validate=validate.Length(min=1, max=200))


class FetchAndLockSchema(StrictSchema):
    topics = fields.List(_TOPIC, required=True, validate=validate.Length(min=1, max=50))
    worker_id = _WORKER_ID
    lock_ms = fields.Integer(required=True, validate=validate.Range(min=1, max=86_400_000))
    max_tasks = fields.Integer(load_default=1, validate=validate.Range(min=1, max=external.MAX_TASKS))


class ExternalCompleteSchema(StrictSchema):
    worker_id = _WORKER_ID
    variables = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=200)), load_default=dict)


class ExternalFailureSchema(StrictSchema):
    worker_id = _WORKER_ID
    message = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    retries = fields.Integer(required=True, validate=validate.Range(min=0, max=1000))
    retry_timeout = fields.Integer(load_default=0, validate=validate.Range(min=0, max=86_400_000))  # ms


class BpmnErrorSchema(StrictSchema):
    worker_id = _WORKER_ID
    code = fields.String(required=True, validate=validate.Length(min=1, max=200))
    message = fields.String(load_default="", validate=validate.Length(max=2000))
    variables = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=200)), load_default=dict)


class ExternalTaskSchema(Schema):
    """An external task as the list shows it: no case data."""

    id = fields.String()
    instance_id = fields.String()
    process = fields.String(attribute="process_key")
    activity = fields.String(attribute="name")
    title = fields.String()
    topic = fields.String()
    status = fields.String()
    worker_id = fields.String(allow_none=True)
    lock_expires_at = fields.AwareDateTime(allow_none=True)
    retries = fields.Integer(allow_none=True)
    retry_at = fields.AwareDateTime(allow_none=True)
    error_message = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()


class LockedTaskSchema(ExternalTaskSchema):
    """A task the caller has just locked, with its variables (the task's input only)."""

    variables = fields.Dict(attribute="data")


class LockedListSchema(Schema):
    items = fields.List(fields.Nested(LockedTaskSchema))


class ExternalQuerySchema(PageQuerySchema):
    instance = fields.String(validate=validate.Length(max=36))
    topic = fields.String(validate=validate.Length(max=100))


class ExternalDoneSchema(Schema):
    id = fields.String()
    instance_id = fields.String()
    instance_state = fields.String()


@endpoint(api, "/external-tasks", "GET", summary="Open external tasks (no case data)", tag="external tasks",
          query=ExternalQuerySchema, response=page_of(ExternalTaskSchema), roles=(WORKER, "admin"))
def list_external() -> Any:
    require(WORKER, "admin")
    query = ExternalQuerySchema().load(request.args)
    stmt = select(ExternalTask).where(ExternalTask.status.in_([ExternalTaskStatus.OPEN, ExternalTaskStatus.FAILED]))
    if "instance" in query:
        stmt = stmt.where(ExternalTask.instance_id == query["instance"])
    if "topic" in query:
        stmt = stmt.where(ExternalTask.topic == query["topic"])
    stmt = stmt.order_by(ExternalTask.created_at, ExternalTask.id)
    with services().db.read() as session:
        total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
        rows = session.scalars(stmt.limit(query["per_page"]).offset((query["page"] - 1) * query["per_page"]))
        items = ExternalTaskSchema(many=True).dump(rows)
    return {"items": items, "total": total, "page": query["page"], "per_page": query["per_page"]}


@endpoint(api, "/external-tasks/fetch-and-lock", "POST", summary="Lock open tasks of some topics, with their variables",
          tag="external tasks", body=FetchAndLockSchema, response=LockedListSchema, roles=(WORKER,))
def fetch_and_lock_external() -> Any:
    actor = require(WORKER)
    body = FetchAndLockSchema().load(json_body())
    locked = external.fetch_and_lock(services(), actor, body["topics"], body["worker_id"], body["lock_ms"],
                                     body["max_tasks"])
    return LockedListSchema().dump({"items": locked})


def _done(task_id: str, instance: Any) -> Any:
    return ExternalDoneSchema().dump({"id": task_id, "instance_id": instance.id,
                                      "instance_state": instance.state.value})


@endpoint(api, "/external-tasks/<task_id>/complete", "POST", summary="Complete a locked task with variables",
          tag="external tasks", body=ExternalCompleteSchema, response=ExternalDoneSchema, roles=(WORKER,))
def complete_external(task_id: str) -> Any:
    actor = require(WORKER)
    body = ExternalCompleteSchema().load(json_body())
    return _done(task_id, external.complete(services(), actor, task_id, body["worker_id"], body["variables"]))


@endpoint(api, "/external-tasks/<task_id>/failure", "POST", summary="Report a failure: retried, or the case in error",
          tag="external tasks", body=ExternalFailureSchema, response=ExternalTaskSchema, roles=(WORKER,))
def external_failure(task_id: str) -> Any:
    actor = require(WORKER)
    body = ExternalFailureSchema().load(json_body())
    task = external.failure(services(), actor, task_id, body["worker_id"], body["message"], body["retries"],
                            body["retry_timeout"])
    return ExternalTaskSchema().dump(task)


@endpoint(api, "/external-tasks/<task_id>/bpmn-error", "POST", summary="Report a BPMN error (an error boundary "
          "event with the code catches it)", tag="external tasks", body=BpmnErrorSchema, response=ExternalDoneSchema,
          roles=(WORKER,))
def external_bpmn_error(task_id: str) -> Any:
    actor = require(WORKER)
    body = BpmnErrorSchema().load(json_body())
    instance = external.bpmn_error(services(), actor, task_id, body["worker_id"], body["code"], body["message"],
                                   body["variables"])
    return _done(task_id, instance)
