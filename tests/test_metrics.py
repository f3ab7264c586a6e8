"""/metrics as an operator's Prometheus sees it: the figures to alert on, and who may scrape them."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from service.actor import SYSTEM
from service.clock import SYSTEM_CLOCK
from service.models import Notification
from service.operations.instances import start_instance
from service.operations.timers import fire_due_timers

from .conftest import FIXTURES, Harness, start_harness

TOKEN = "scrape-secret-1"
ALERTS = Path(__file__).parent.parent / "docs" / "alerts.yml"


@pytest.fixture
def scraped(database_url: str) -> Iterator[Harness]:
    h = start_harness(database_url, metrics_token=TOKEN)
    h.deploy_dir(FIXTURES / "bpmn", FIXTURES / "forms")
    try:
        yield h
    finally:
        h.server.stop()


def scrape(base: str, token: str | None = TOKEN) -> tuple[str, list[Sample]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.get(f"{base}/metrics", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = [s for family in text_string_to_metric_families(response.text) for s in family.samples]
    return response.text, samples


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert found, f"no sample {name}{labels}"
    return sum(found)


def test_the_figures_an_operator_alerts_on(scraped: Harness) -> None:
    h = scraped
    sara = h.user("sara", "socialsekreterare")
    # a script divides by zero: the case is in error
    broken = sara.ok("POST", "/api/v1/instances", 201, json={"process": "error_demo", "data": {"antal": 0}})
    assert broken["state"] == "error"
    sara.ok("GET", f"/api/v1/instances/{broken['id']}")
    assert sara.get("/api/v1/instances/00000000-0000-0000-0000-000000000000").status_code == 404
    assert h.anonymous.get("/ingen-sida/4711").status_code == 404
    # a case waits for a timer due in an hour; nobody fires it for three hours
    waiting, _ = start_instance(h.services, SYSTEM, "timer_demo",
                                {"forfaller": (h.services.now() + timedelta(hours=1)).isoformat()})
    with h.services.db.command() as session:  # an e-mail the SMTP server keeps refusing
        now = h.services.now()
        session.add(Notification(kind="new_task", recipient="sara@example.se", subject="Ny uppgift", body="-",
                                 created_at=now, attempts=3, next_attempt_at=now, last_error="421 try later"))
    SYSTEM_CLOCK.advance(hours=3)

    text, samples = scrape(h.url)
    assert value(samples, "samverkan_database_up") == 1
    assert value(samples, "samverkan_instances", process="error_demo", state="error") == 1
    assert value(samples, "samverkan_instances", process="timer_demo", state="waiting") == 1
    assert value(samples, "samverkan_timers_pending") == 1
    assert value(samples, "samverkan_timers_overdue") == 1
    assert value(samples, "samverkan_timers_overdue_seconds") >= 2 * 3600
    assert value(samples, "samverkan_outbox_depth") == 1
    assert value(samples, "samverkan_outbox_failing") == 1
    assert value(samples, "samverkan_outbox_failed") == 0
    # requests per route (the URL rule), method and status; the raw path and its ids never appear
    route = "/api/v1/instances/<instance_id>"
    assert value(samples, "samverkan_http_requests_total", route=route, method="GET", status="200") == 1
    assert value(samples, "samverkan_http_requests_total", route=route, method="GET", status="404") == 1
    assert value(samples, "samverkan_http_request_duration_seconds_count", route=route, status="200") == 1
    assert value(samples, "samverkan_http_requests_total", route="unmatched", status="404") == 1
    assert broken["id"] not in text and waiting.id not in text and "ingen-sida" not in text
    assert "00000000-0000" not in text

    # the timer fires three hours late (minus its hour); the lateness histogram holds it
    assert fire_due_timers(h.services) == 1
    _, samples = scrape(h.url)
    assert value(samples, "samverkan_timer_lateness_seconds_count") == 1
    assert value(samples, "samverkan_timer_lateness_seconds_sum") >= 2 * 3600
    assert value(samples, "samverkan_timer_lateness_seconds_bucket", le="60.0") == 0
    assert value(samples, "samverkan_timers_overdue") == 0
    assert value(samples, "samverkan_timers_overdue_seconds") == 0
    assert value(samples, "samverkan_instances", process="timer_demo", state="waiting") == 0
    # the documented alerts use only figures the service exposes
    exposed = {s.name for s in samples} | {"samverkan_errors_total"}  # counted once something is logged
    assert set(re.findall(r"samverkan_\w+", ALERTS.read_text())) <= exposed


def test_errors_the_service_logs_are_counted_per_part(sqlite_url: str) -> None:
    h = start_harness(sqlite_url, metrics_token=TOKEN)
    try:
        logging.getLogger("service.scheduler").error("firing due timers failed")
        logging.getLogger("somebody.else").error("not ours")
        _, samples = scrape(h.url)
        assert value(samples, "samverkan_errors_total", logger="service.scheduler") == 1
        loggers = {s.labels["logger"] for s in samples if s.name == "samverkan_errors_total"}
        assert loggers == {"service.scheduler"}
    finally:
        h.server.stop()


def test_without_a_token_or_an_address_there_are_no_metrics(sqlite_url: str) -> None:
    h = start_harness(sqlite_url)
    try:
        admin = h.user("adam", "admin")
        for client in (h.anonymous, admin):
            response = client.get("/metrics")
            assert response.status_code == 404
            assert "samverkan_" not in response.text
    finally:
        h.server.stop()


def test_only_the_scrape_token_reads_the_metrics(sqlite_url: str) -> None:
    h = start_harness(sqlite_url, metrics_token=TOKEN)
    try:
        admin = h.user("adam", "admin")  # an API token is not the scrape token
        for response in (h.anonymous.get("/metrics"), admin.get("/metrics"),
                         h.anonymous.get("/metrics", headers={"Authorization": "Bearer scrape-secret-2"}),
                         h.anonymous.get("/metrics", headers={"Authorization": TOKEN})):
            assert response.status_code == 403
            assert response.headers["Content-Type"] == "application/problem+json"
            assert "samverkan_" not in response.text
        scrape(h.url)
    finally:
        h.server.stop()


def test_a_bound_address_serves_the_metrics_without_a_token(sqlite_url: str, tmp_path: Path) -> None:
    h = start_harness(sqlite_url, metrics_address="127.0.0.1:0")
    metrics = h.server.app.extensions["samverkan_metrics"]
    try:
        server, _ = metrics.listener
        assert server.server_address[0] == "127.0.0.1"
        h.anonymous.get("/healthz")
        text, samples = scrape(f"http://127.0.0.1:{server.server_port}", token=None)
        assert value(samples, "samverkan_http_requests_total", route="/healthz", status="200") == 1
        # the service's own port still needs the token, and none is configured
        assert h.anonymous.get("/metrics").status_code == 404
    finally:
        metrics.close()
        h.server.stop()
