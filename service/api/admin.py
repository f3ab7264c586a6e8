"""Timers, the audit log, statistics, health, metrics and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from marshmallow import fields, validate
from sqlalchemy import func, select, text

from service.metrics import metrics_response
from service.models import Event, Timer, TimerState
from service.operations.timers import MAX_CLOCK_SKEW, clock_skew, fire_timer
from service.stats import STATS_ROLES, in_scope, process_stats

from . import api
from .context import require, services
from .openapi import openapi_document
from .problems import RETRY_AFTER_SECONDS
from .registry import endpoint
from .schemas import EventSchema, FiredSchema, PageQuerySchema, StatsSchema, TimerSchema, page_of

root = Blueprint("root", __name__)


class TimerQuerySchema(PageQuerySchema):
    instance = fields.String(validate=validate.Length(max=36))
    due_before = fields.AwareDateTime()


class AuditQuerySchema(PageQuerySchema):
    instance = fields.String(validate=validate.Length(max=36))
    user = fields.String(validate=validate.Length(max=100))
    since = fields.AwareDateTime()


@endpoint(api, "/timers", "GET", summary="Pending timers", tag="timers", query=TimerQuerySchema,
          response=page_of(TimerSchema), roles=("chef", "admin"))
def list_timers() -> Any:
    actor = require("chef", "admin")
    query = TimerQuerySchema().load(request.args)
    # a chef sees the timers of the cases in their districts, as the monitor counts them
    stmt = select(Timer).where(Timer.state == TimerState.PENDING, in_scope(actor, Timer.instance_id))
    if "instance" in query:
        stmt = stmt.where(Timer.instance_id == query["instance"])
    if "due_before" in query:
        stmt = stmt.where(Timer.due_at < query["due_before"])
    return _page(stmt.order_by(Timer.due_at, Timer.id), query, TimerSchema)


@endpoint(api, "/timers/<timer_id>/fire", "POST", summary="Fire a pending timer now", tag="timers",
          response=FiredSchema, roles=("admin",))
def fire(timer_id: str) -> Any:
    actor = require("admin")
    svc = services()
    fired = fire_timer(svc, actor, timer_id)
    with svc.db.read() as session:
        timer = session.get(Timer, timer_id)
    return FiredSchema().dump({"fired": fired, "timer": timer})


@endpoint(api, "/audit", "GET", summary="The append-only event log", tag="audit", query=AuditQuerySchema,
          response=page_of(EventSchema), roles=("auditor", "admin"))
def audit_log() -> Any:
    require("auditor", "admin")
    query = AuditQuerySchema().load(request.args)
    stmt = select(Event)
    if "instance" in query:
        stmt = stmt.where(Event.instance_id == query["instance"])
    if "user" in query:
        stmt = stmt.where(Event.actor == query["user"])
    if "since" in query:
        stmt = stmt.where(Event.at >= query["since"])
    return _page(stmt.order_by(Event.id), query, EventSchema)


def _page(stmt: Any, query: dict[str, Any], schema: Any) -> dict[str, Any]:
    with services().db.read() as session:
        total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
        rows = list(session.scalars(stmt.limit(query["per_page"]).offset((query["page"] - 1) * query["per_page"])))
        items = schema(many=True).dump(rows)
    return {"items": items, "total": total, "page": query["page"], "per_page": query["per_page"]}


@endpoint(api, "/stats", "GET", summary="Per process: instances by state, open/overdue tasks, step durations",
          tag="monitoring", response=StatsSchema, roles=STATS_ROLES)
def stats() -> Any:
    """The numbers of ``service.stats``: a chef's districts (and cases without one), all for admin."""
    actor = require(*STATS_ROLES)
    svc = services()
    with svc.db.read() as session:
        found = process_stats(session, actor, svc.now())
    processes = [{"process": p.process, "instances": p.instances, "open_tasks": p.open_tasks,
                  "overdue_tasks": p.overdue_tasks,
                  "open_tasks_by_lane": {lane.lane or "-": lane.open for lane in p.lanes},
                  "steps": [{"task": s.task, "count": s.count, "median_seconds": s.median_seconds,
                             "p90_seconds": s.p90_seconds} for s in p.steps]} for p in found]
    return StatsSchema().dump({"processes": processes})


@endpoint(api, "/openapi.json", "GET", summary="This OpenAPI document", tag="meta", auth=False)
def openapi() -> Any:
    return jsonify(openapi_document())


@endpoint(root, "/healthz", "GET", summary="Liveness, the database's read and write path, and the clock",
          tag="meta", auth=False)
def healthz() -> Any:
    """503 unless the database answers a read *and* commits a write (a full disk fails the write).

    The write changes nothing (``Database.check_write``) but goes through the whole write path;
    "busy" when another command holds the write lock (the check never waits for it). ``clock`` is
    "ok", or how far this node's clock is off the database's (timers fire by the database's clock,
    so this is a warning, not a failure).
    """
    svc = services()
    try:
        with svc.db.read() as session:
            session.execute(text("SELECT 1"))
    except Exception as err:  # the point of the endpoint is to report, not raise
        return _unavailable({"status": "unavailable", "database": _reason(err), "write": "unknown"})
    try:
        write = "ok" if svc.db.check_write() else "busy"  # busy: another command is writing right now
    except Exception as err:
        return _unavailable({"status": "unavailable", "database": "ok", "write": _reason(err)})
    _, skew = clock_skew(svc)
    clock = "ok" if abs(skew) <= MAX_CLOCK_SKEW else f"{skew.total_seconds():+.0f} s off the database clock"
    return jsonify({"status": "ok" if clock == "ok" else "warning", "database": "ok", "write": write,
                    "clock": clock, "node": svc.config.node_name})


def _reason(err: Exception) -> str:
    return str(getattr(err, "orig", None) or err).splitlines()[0][:200]


def _unavailable(body: dict[str, str]) -> Any:
    response = jsonify(body)
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


@endpoint(root, "/metrics", "GET", summary="Prometheus metrics (text format); needs the scrape token", tag="meta",
          auth=False)
def metrics() -> Any:
    return metrics_response(current_app)
