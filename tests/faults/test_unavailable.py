"""Database down or disk full (issue 11): 503 with Retry-After, never 500; a health check that
reports the write path. The faults are injected where the driver runs a statement, so each test
knows exactly what failed; ``test_faults`` stops a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select

from service.models import ProcessInstance
from service.services import Services

from ..conftest import Harness
from ..test_lifecycle import START
from ..web.test_pages_http import signed_in_session

WRITES = ("INSERT", "UPDATE", "DELETE")


@contextmanager
def failing_database(services: Services, message: str, *, writes_only: bool) -> Iterator[None]:
    """Every statement (or every write) fails as the driver reports a full disk or a lost server."""
    engine = services.db.engine
    error = engine.dialect.loaded_dbapi.OperationalError

    def fail(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not writes_only or statement.lstrip().upper().startswith(WRITES):
            raise error(message)

    event.listen(engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", fail)


def _instances(services: Services) -> int:
    with services.db.read() as session:
        return session.scalar(select(func.count()).select_from(ProcessInstance)) or 0


def test_a_full_disk_is_503_with_retry_after_and_changes_nothing(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    sara = h.user("sara", "socialsekreterare")
    before = _instances(h.services)
    with failing_database(h.services, "database or disk is full", writes_only=True):
        answer = sara.post("/api/v1/instances", json={"process": "core_demo", "data": START})
        health = h.anonymous.get("/healthz")
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "30"
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["status"] == 503 and "disk is full" not in answer.text  # no driver text to clients
    assert "Stopp i hemtjänst" not in answer.text  # nothing of the case comes back
    assert _instances(h.services) == before
    assert health.status_code == 503 and health.headers["Retry-After"] == "30"
    assert health.json()["status"] == "unavailable" and health.json()["database"] == "ok"
    assert "full" in health.json()["write"]
    assert h.anonymous.ok("GET", "/healthz")["write"] == "ok"  # the disk has room again


def test_a_person_at_a_browser_gets_a_swedish_page_while_the_database_is_down(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("sara", "socialsekreterare")
    browser, _ = signed_in_session(h, "sara")
    with failing_database(h.services, "could not connect to server: Connection refused", writes_only=False):
        page = browser.get(f"{h.url}/inkorg", headers={"Accept": "text/html"})
        api = h.as_("sara").get("/api/v1/tasks")
    assert page.status_code == 503 and page.headers["Retry-After"] == "30"
    assert "Tjänsten är tillfälligt otillgänglig" in page.text and "Connection refused" not in page.text
    assert api.status_code == 503 and api.headers["Content-Type"] == "application/problem+json"
    assert browser.get(f"{h.url}/inkorg").status_code == 200  # back when the database is
