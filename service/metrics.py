"""Prometheus metrics: what an operator alerts on, through ``prometheus_client``.

Two kinds of figure:

- **Counted in this process** as things happen: HTTP requests per route (the Flask URL rule, never
  the raw path, so no id ever becomes a label), method and status, with their latency; how late
  each timer this node fired was; errors logged by the service (an unhandled request error, a
  timer or e-mail job that failed). They restart from zero with the process, as counters do.
- **Read from the database at each scrape** (``DatabaseCollector``): instances by process and
  state, open tasks, pending and overdue timers and how overdue the oldest is, failed timers, the
  e-mail outbox. Every node reports the same values, so alert on ``max`` of them, not ``sum``.

One process serves each node: ``samverkan serve`` runs waitress with threads in a single process
(the workers that run diagram code serve no requests), so one registry per app is all there is; no
multi-process mode is needed. Each node is its own scrape target.

Who may read it (``metrics_response``): with ``SAMVERKAN_METRICS_TOKEN`` set, a scraper sending
``Authorization: Bearer <token>``; anyone else gets 403. Without a token ``/metrics`` answers 404.
``SAMVERKAN_METRICS_ADDRESS`` (``host:port``) serves the same metrics, without a token, on a listener
of its own bound to that address (an internal interface or loopback the scraper reaches).
"""

from __future__ import annotations

import hmac
import logging
import time
import weakref
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Flask, Response, abort, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from .models import HumanTask, InstanceState, Notification, ProcessInstance, TaskStatus, Timer, TimerState
from .services import Services

logger = logging.getLogger(__name__)

EXTENSION = "samverkan_metrics"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# a timer is normally late by the scheduler's wake-up (ms); minutes mean a node was down or stuck
LATENESS_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 6 * 3600.0, 86400.0)
UNMATCHED = "unmatched"  # the route label of a request no URL rule matched (a 404)


class Metrics:
    """One registry per app: the counters and histograms, and the database collector."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.registry = CollectorRegistry()
        self.requests = Counter("samverkan_http_requests", "HTTP requests by route, method and status.",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("samverkan_http_request_duration_seconds",
                                 "Time to answer an HTTP request, by route, method and status.",
                                 ["route", "method", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.timer_lateness = Histogram("samverkan_timer_lateness_seconds",
                                        "How long after its due time this node fired a timer.",
                                        buckets=LATENESS_BUCKETS, registry=self.registry)
        self.errors = Counter("samverkan_errors", "Errors the service logged, by the logger (the part) that logged "
                              "them: unhandled request errors, failed timer and e-mail jobs.",
                              ["logger"], registry=self.registry)
        self.registry.register(DatabaseCollector(services))
        self.listener: Any = None  # the bound-address server, when configured

    def observe_timer(self, late_seconds: float) -> None:
        self.timer_lateness.observe(max(late_seconds, 0.0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def close(self) -> None:
        _ERROR_COUNTER.targets.discard(self)
        if self.listener is not None:
            server, thread = self.listener
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            self.listener = None


class DatabaseCollector(Collector):
    """Gauges read from the index tables at scrape time (a few aggregate queries, no workflow)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("samverkan_database_up", "1 when the database answered this scrape's queries.")
        try:
            families = self._read(self.services.now())
        except Exception:  # report the outage as a figure; the scrape itself must still answer
            logger.exception("reading metrics from the database failed")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self, now: datetime) -> list[Metric]:
        instances = GaugeMetricFamily("samverkan_instances", "Process instances by process and state.",
                                      labels=["process", "state"])
        open_tasks = GaugeMetricFamily("samverkan_open_tasks", "Open human tasks by process.", labels=["process"])
        with self.services.db.read() as session:
            counts = {(key, str(state)): count for key, state, count in session.execute(
                select(ProcessInstance.process_key, ProcessInstance.state, func.count())
                .group_by(ProcessInstance.process_key, ProcessInstance.state))}
            # every state of a process that has instances, zeros too, so a series drops to 0, never vanishes
            for key in sorted({key for key, _ in counts}):
                for state in InstanceState:
                    instances.add_metric([key, state.value], counts.get((key, state.value), 0))
            for key, count in session.execute(select(HumanTask.process_key, func.count())
                                              .where(HumanTask.status == TaskStatus.OPEN)
                                              .group_by(HumanTask.process_key)):
                open_tasks.add_metric([key], count)
            pending = session.scalar(select(func.count()).where(Timer.state == TimerState.PENDING)) or 0
            overdue, oldest = session.execute(select(func.count(), func.min(Timer.due_at)).where(
                Timer.state == TimerState.PENDING, Timer.due_at < now)).one()
            failed_timers = session.scalar(select(func.count()).where(Timer.state == TimerState.FAILED)) or 0
            outbox = _outbox(session)
        oldest_seconds = (now - _aware(oldest, now)).total_seconds() if oldest is not None else 0.0
        return [instances, open_tasks,
                _gauge("samverkan_timers_pending", "Timers waiting to fire.", pending),
                _gauge("samverkan_timers_overdue", "Pending timers past their due time.", overdue or 0),
                _gauge("samverkan_timers_overdue_seconds",
                       "How far past its due time the most overdue pending timer is (0: none is).", oldest_seconds),
                _gauge("samverkan_timers_failed", "Timers whose firing failed (their instance is in error).",
                       failed_timers),
                *outbox]


def _outbox(session: Any) -> list[Metric]:
    unsent = Notification.sent_at.is_(None)
    queued = session.scalar(select(func.count()).where(unsent, Notification.next_attempt_at.is_not(None))) or 0
    failing = session.scalar(select(func.count()).where(unsent, Notification.next_attempt_at.is_not(None),
                                                        Notification.last_error.is_not(None))) or 0
    given_up = session.scalar(select(func.count()).where(unsent, Notification.next_attempt_at.is_(None))) or 0
    return [_gauge("samverkan_outbox_depth", "E-mails waiting to be sent (new, or to be retried).", queued),
            _gauge("samverkan_outbox_failing", "E-mails waiting to be retried after a failed attempt.", failing),
            _gauge("samverkan_outbox_failed", "E-mails given up on (refused for good, or too many attempts).",
                   given_up)]


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _aware(moment: datetime, now: datetime) -> datetime:
    """SQLite hands timestamps back naive (they are stored in UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=now.tzinfo)


class _ErrorCounter(logging.Handler):
    """Counts ERROR records of the ``service`` loggers into every live app's ``samverkan_errors``."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.targets: weakref.WeakSet[Metrics] = weakref.WeakSet()

    def emit(self, record: logging.LogRecord) -> None:
        for metrics in list(self.targets):
            metrics.errors.labels(record.name).inc()


_ERROR_COUNTER = _ErrorCounter()
logging.getLogger("service").addHandler(_ERROR_COUNTER)


def install(app: Flask, services: Services) -> Metrics:
    """Count every request of ``app``; time it from the first ``before_request`` hook on."""
    metrics = Metrics(services)
    app.extensions[EXTENSION] = metrics
    services.hooks.timer_fired.append(metrics.observe_timer)
    _ERROR_COUNTER.targets.add(metrics)

    @app.before_request
    def _start_clock() -> None:
        g.samverkan_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
        labels = (route, request.method, str(response.status_code))
        metrics.requests.labels(*labels).inc()
        started = g.get("samverkan_started")
        if started is not None:
            metrics.latency.labels(*labels).observe(time.perf_counter() - started)
        return response

    address = services.config.metrics_address
    if address:
        from prometheus_client import start_http_server

        host, _, port = address.rpartition(":")
        metrics.listener = start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1",
                                             registry=metrics.registry)
        logger.info("metrics served on %s", address)
    return metrics


def metrics_response(app: Flask) -> Response:
    """``GET /metrics`` on the service's own port: only with the configured scrape token."""
    token = app.extensions[EXTENSION].services.config.metrics_token
    if not token:
        abort(404)
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        abort(403, description="the metrics need the scrape token (SAMVERKAN_METRICS_TOKEN)")
    return Response(app.extensions[EXTENSION].exposition(), content_type=CONTENT_TYPE_LATEST)
