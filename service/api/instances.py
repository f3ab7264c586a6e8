"""Process instances: start, list, read, messages, and the managers' actions."""

from __future__ import annotations

from typing import Any

from flask import Response, render_template, request
from marshmallow import Schema, fields, validate
from sqlalchemy import exists, func, select

from service.access import (
    instance_detail,
    instance_summary,
    record_reads,
    shows_identity,
    summary_load,
    visible_instances,
)
from service.access.lanes import offered_lanes
from service.models import HumanTask, InstanceState, ProcessInstance, TaskStatus
from service.operations.instances import deliver_message, load_visible, retry_instance, set_state, start_instance
from service.operations.retention import HOLD_ROLES, export_case, lift_hold, place_hold

from . import api
from .context import current_actor, json_body, require, services
from .registry import endpoint
from .schemas import (
    BreakGlassSchema,
    InstanceCreateSchema,
    InstanceSchema,
    InstanceSummarySchema,
    MessageCreateSchema,
    PageQuerySchema,
    ReasonSchema,
    RetrySchema,
    page_of,
    schema,
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
    body = schema(InstanceCreateSchema).load(json_body())
    instance, _ = start_instance(services(), actor, body["process"], body["data"],
                                 case_ref=body.get("case_ref"), version=body.get("version"))
    return schema(InstanceSummarySchema).dump(instance_summary(instance, actor)), 201


@endpoint(api, "/instances", "GET", summary="Instances the caller may see", tag="instances",
          query=InstanceQuerySchema, response=page_of(InstanceSummarySchema))
def list_instances() -> Any:
    actor = current_actor()
    assert actor is not None
    query = schema(InstanceQuerySchema).load(request.args)
    svc = services()
    with svc.db.read() as session:
        stmt = visible_instances(session, actor, offered_lanes(svc, actor.roles))
        if "process" in query:
            stmt = stmt.where(ProcessInstance.process_key == query["process"])
        if "state" in query:
            stmt = stmt.where(ProcessInstance.state == query["state"])
        if "case_ref" in query and shows_identity(actor):
            stmt = stmt.where(ProcessInstance.case_ref == query["case_ref"])
        if query.get("overdue"):
            stmt = stmt.where(exists().where(HumanTask.instance_id == ProcessInstance.id,
                                             HumanTask.status == TaskStatus.OPEN, HumanTask.due_at < svc.now()))
        total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
        rows = session.scalars(stmt.options(*summary_load())
                               .order_by(ProcessInstance.started_at.desc(), ProcessInstance.id)
                               .limit(query["per_page"]).offset((query["page"] - 1) * query["per_page"])).unique()
        items = [instance_summary(i, actor) for i in rows]
    record_reads(svc, actor, [i["id"] for i in items], kind="list")
    return {"items": schema(InstanceSummarySchema, many=True).dump(items), "total": total, "page": query["page"],
            "per_page": query["per_page"]}


@endpoint(api, "/instances/<instance_id>", "GET", summary="One instance with tasks, timers and history",
          tag="instances", response=InstanceSchema)
def get_instance(instance_id: str) -> Any:
    actor = current_actor()
    assert actor is not None
    return schema(InstanceSchema).dump(_read_instance(actor, instance_id))


def _read_instance(actor: Any, instance_id: str, reason: str | None = None) -> dict[str, Any]:
    """One case as the caller may see it (with a break-glass ``reason``: whole, for admin), logged."""
    svc = services()
    with svc.db.read() as session:
        instance = load_visible(session, svc, actor, instance_id)
        body = instance_detail(session, actor, instance, svc.now(), svc.engine.message_roles(instance.definition),
                               break_glass=reason is not None)
    record_reads(svc, actor, [instance_id], kind="instance", reason=reason)
    return body


@endpoint(api, "/instances/<instance_id>/break-glass", "POST",
          summary="Read a case whole as an operator, with a stated reason (audited, shown on the case)",
          tag="instances", body=BreakGlassSchema, response=InstanceSchema, roles=("admin",))
def break_glass(instance_id: str) -> Any:
    actor = require("admin")
    body = schema(BreakGlassSchema).load(json_body())
    return schema(InstanceSchema).dump(_read_instance(actor, instance_id, reason=body["reason"].strip()))


@endpoint(api, "/instances/<instance_id>/messages", "POST", summary="Deliver a BPMN message to a waiting instance",
          tag="instances", body=MessageCreateSchema, response=InstanceSummarySchema)
def post_message(instance_id: str) -> Any:
    actor = current_actor()
    assert actor is not None
    body = schema(MessageCreateSchema).load(json_body())
    instance = deliver_message(services(), actor, instance_id, body["name"], body["data"])
    return schema(InstanceSummarySchema).dump(instance_summary(instance, actor))


def _state_action(instance_id: str, action: str) -> Any:
    actor = require("chef", "admin")
    body = schema(ReasonSchema).load(json_body())
    instance = set_state(services(), actor, instance_id, action, body["reason"])
    return schema(InstanceSummarySchema).dump(instance_summary(instance, actor))


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
    body = schema(RetrySchema).load(json_body())
    instance = retry_instance(services(), actor, instance_id, body["reason"], body["data"])
    return schema(InstanceSummarySchema).dump(instance_summary(instance, actor))


class LegalHoldSchema(Schema):
    instance_id = fields.String()
    held = fields.Boolean()


class ArchiveExportSchema(Schema):
    exported_at = fields.AwareDateTime()
    routine = fields.String(attribute="name")
    held = fields.Boolean()
    gallrad = fields.Boolean()
    case = fields.Nested(InstanceSchema, attribute="detail")
    answers = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True))


class ExportQuerySchema(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "html"]))


@endpoint(api, "/instances/<instance_id>/legal-hold", "POST",
          summary="Place a legal hold: the case is kept from gallring until it is lifted (audited, with a reason)",
          tag="instances", body=ReasonSchema, response=LegalHoldSchema, roles=HOLD_ROLES)
def legal_hold(instance_id: str) -> Any:
    actor = require(*HOLD_ROLES)
    body = schema(ReasonSchema).load(json_body())
    return schema(LegalHoldSchema).dump(place_hold(services(), actor, instance_id, body["reason"]))


@endpoint(api, "/instances/<instance_id>/legal-hold", "DELETE", summary="Lift a case's legal hold, with a reason",
          tag="instances", body=ReasonSchema, response=LegalHoldSchema, roles=HOLD_ROLES)
def lift_legal_hold(instance_id: str) -> Any:
    actor = require(*HOLD_ROLES)
    body = schema(ReasonSchema).load(json_body())
    return schema(LegalHoldSchema).dump(lift_hold(services(), actor, instance_id, body["reason"]))


@endpoint(api, "/instances/<instance_id>/export", "GET",
          summary="A closed case for the archive, as JSON or (format=html) a readable page; logged as an export read",
          tag="instances", query=ExportQuerySchema, response=ArchiveExportSchema)
def export_instance(instance_id: str) -> Any:
    actor = current_actor()
    assert actor is not None
    query = schema(ExportQuerySchema).load(request.args)
    body = schema(ArchiveExportSchema).dump(export_case(services(), actor, instance_id))
    if query["format"] == "json":
        return body
    page = render_template("instances/archive.html", export=body)
    return Response(page, mimetype="text/html", headers={
        "Content-Disposition": f'inline; filename="arende-{instance_id}.html"'})
