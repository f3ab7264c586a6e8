"""Process instances: start, list, read, messages, and the managers' actions."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import fields, validate
from sqlalchemy import exists, func, select

from service.access import visible_instances
from service.audit import record
from service.models import Event, HumanTask, InstanceState, ProcessInstance, TaskStatus, Timer, TimerState
from service.operations.instances import deliver_message, load_visible, retry_instance, set_state, start_instance

from . import api
from .context import current_actor, json_body, require, services
from .present import data_for, instance_summary, task_summary
from .registry import endpoint
from .schemas import (
    InstanceCreateSchema,
    InstanceSchema,
    InstanceSummarySchema,
    MessageCreateSchema,
    PageQuerySchema,
    ReasonSchema,
    RetrySchema,
    page_of,
)


class InstanceQuerySchema(PageQuerySchema):
    process = fields.String(validate=validate.Length(max=100))
    state = fields.String(validate=validate.OneOf([s.value for s in InstanceState]))
    case_ref = fields.String(validate=validate.Length(max=100))
    overdue = fields.Boolean()


@endpoint(api, "/instances", "POST", summary="Start an instance", tag="instances", body=InstanceCreateSchema,
          response=InstanceSummarySchema, status=201)
def create_instance() -> Any:
    actor = current_actor()
    assert actor is not None
    body = InstanceCreateSchema().load(json_body())
    instance, _ = start_instance(services(), actor, body["process"], body["data"],
                                 case_ref=body.get("case_ref"), version=body.get("version"))
    return InstanceSummarySchema().dump(instance_summary(instance, actor)), 201


@endpoint(api, "/instances", "GET", summary="Instances the caller may see", tag="instances",
          query=InstanceQuerySchema, response=page_of(InstanceSummarySchema))
def list_instances() -> Any:
    actor = current_actor()
    assert actor is not None
    query = InstanceQuerySchema().load(request.args)
    svc = services()
    with svc.db.read() as session:
        stmt = visible_instances(session, actor)
        if "process" in query:
            stmt = stmt.where(ProcessInstance.process_key == query["process"])
        if "state" in query:
            stmt = stmt.where(ProcessInstance.state == query["state"])
        if "case_ref" in query and actor.has_case_access:
            stmt = stmt.where(ProcessInstance.case_ref == query["case_ref"])
        if query.get("overdue"):
            stmt = stmt.where(exists().where(HumanTask.instance_id == ProcessInstance.id,
                                             HumanTask.status == TaskStatus.OPEN, HumanTask.due_at < svc.now()))
        total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
        rows = session.scalars(stmt.order_by(ProcessInstance.started_at.desc(), ProcessInstance.id)
                               .limit(query["per_page"]).offset((query["page"] - 1) * query["per_page"])).unique()
        items = [instance_summary(i, actor) for i in rows]
    return {"items": InstanceSummarySchema(many=True).dump(items), "total": total, "page": query["page"],
            "per_page": query["per_page"]}


@endpoint(api, "/instances/<instance_id>", "GET", summary="One instance with tasks, timers and history",
          tag="instances", response=InstanceSchema)
def get_instance(instance_id: str) -> Any:
    actor = current_actor()
    assert actor is not None
    svc = services()
    now = svc.now()
    with svc.db.read() as session:
        instance = load_visible(session, svc, actor, instance_id)
        tasks = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)
                                .order_by(HumanTask.created_at, HumanTask.id))
        timers = list(session.scalars(select(Timer).where(Timer.instance_id == instance.id,
                                                          Timer.state == TimerState.PENDING).order_by(Timer.due_at)))
        # reads of the case are in the audit log; the timeline shows what was done
        history = list(session.scalars(select(Event).where(Event.instance_id == instance.id,
                                                           Event.action != "case_read").order_by(Event.id)))
        body = {**instance_summary(instance, actor), "data": data_for(actor, instance.definition, instance.data),
                "tasks": [task_summary(t, now) for t in tasks], "timers": timers,
                "history": [{"at": e.at, "actor": e.actor, "action": e.action, "task_id": e.task_id,
                             "detail": e.detail if actor.has_case_access else {}} for e in history],
                "waits_for": instance.waits_for, "state_reason": instance.state_reason}
    if actor.has_case_access:
        with svc.db.command() as session:
            record(session, actor, "case_read", instance_id=instance_id)
    return InstanceSchema().dump(body)


@endpoint(api, "/instances/<instance_id>/messages", "POST", summary="Deliver a BPMN message to a waiting instance",
          tag="instances", body=MessageCreateSchema, response=InstanceSummarySchema)
def post_message(instance_id: str) -> Any:
    actor = current_actor()
    assert actor is not None
    body = MessageCreateSchema().load(json_body())
    instance = deliver_message(services(), actor, instance_id, body["name"], body["data"])
    return InstanceSummarySchema().dump(instance_summary(instance, actor))


def _state_action(instance_id: str, action: str) -> Any:
    actor = require("chef", "admin")
    body = ReasonSchema().load(json_body())
    instance = set_state(services(), actor, instance_id, action, body["reason"])
    return InstanceSummarySchema().dump(instance_summary(instance, actor))


@endpoint(api, "/instances/<instance_id>/suspend", "POST", summary="Suspend an instance", tag="instances",
          body=ReasonSchema, response=InstanceSummarySchema, roles=("chef", "admin"))
def suspend_instance(instance_id: str) -> Any:
    return _state_action(instance_id, "suspend")


@endpoint(api, "/instances/<instance_id>/resume", "POST", summary="Resume a suspended instance", tag="instances",
          body=ReasonSchema, response=InstanceSummarySchema, roles=("chef", "admin"))
def resume_instance(instance_id: str) -> Any:
    return _state_action(instance_id, "resume")


@endpoint(api, "/instances/<instance_id>/terminate", "POST", summary="Terminate an instance", tag="instances",
          body=ReasonSchema, response=InstanceSummarySchema, roles=("chef", "admin"))
def terminate_instance(instance_id: str) -> Any:
    return _state_action(instance_id, "terminate")




@endpoint(api, "/instances/<instance_id>/retry", "POST", summary="Run an instance's failed step again",
          tag="instances", body=RetrySchema, response=InstanceSummarySchema, roles=("admin",))
def retry(instance_id: str) -> Any:
    actor = require("admin")
    body = RetrySchema().load(json_body())
    instance = retry_instance(services(), actor, instance_id, body["reason"], body["data"])
    return InstanceSummarySchema().dump(instance_summary(instance, actor))
