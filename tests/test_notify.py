"""E-mail notices, against a real SMTP server (aiosmtpd on a free localhost port).

The core diagram (tests/fixtures/bpmn/core_demo.bpmn): the first task, "Granska ärendet", is for
the named handläggare (or, without one, for the Socialsekreterare lane of the case's district),
is due in an hour, and an hour without an answer escalates to Mottag. Its computed title is built
from the personal field ``arende`` — which must never reach an e-mail.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, update

from service.clock import SYSTEM_CLOCK
from service.models import HumanTask, Notification, User
from service.notify import Notifier, deliver_pending, notify_overdue, recipients
from service.operations.timers import fire_due_timers
from service.operations.users import create_user

from .conftest import DEFAULT_PASSWORD, FIXTURES, Harness, start_harness
from .smtp import Mailbox, Received, free_port, start_smtp

BASE_URL = "https://samverkan.example"
# Sentinels in the personal and case fields: none of them may appear in any message.
CLIENT = "TOLVAN-TOLVANSSON-19121212-1212"
CASE_REF = "2026-SOC-SENTINEL-4711"
SENTINELS = (CLIENT, CASE_REF)

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 60.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)




@pytest.fixture
def h(database_url: str, smtp_port: int) -> Iterator[Harness]:
    """The service (SQLite, and PostgreSQL when configured) with SMTP pointed at ``smtp_port``."""
    harness = start_harness(database_url, smtp_host="127.0.0.1", smtp_port=smtp_port, base_url=BASE_URL)
    harness.deploy_dir(FIXTURES / "bpmn", FIXTURES / "forms")
    yield harness
    notifier(harness).stop()
    harness.server.stop()


def notifier(h: Harness) -> Notifier:
    return h.server.app.extensions["samverkan_notifier"]  # type: ignore[no-any-return]


def staff(h: Harness, username: str, *roles: str, districts: tuple[str, ...] = ("Nordost",),
          email_address: bool = True) -> None:
    create_user(h.services, username, roles=list(roles), districts=list(districts), password=DEFAULT_PASSWORD,
                email=f"{username}@stad.example" if email_address else None)
    h.login(username)


def start(h: Harness, handlaggare: str | None = None) -> dict[str, Any]:
    data = {"arende": CLIENT, "stadsomrade": "Nordost", **({"handlaggare": handlaggare} if handlaggare else {})}
    return h.as_("sara").ok("POST", "/api/v1/instances", 201,
                            json={"process": "core_demo", "data": data, "case_ref": CASE_REF})


def outbox(h: Harness) -> list[Notification]:
    with h.services.db.read() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def all_sent(h: Harness) -> bool:
    return all(n.sent_at is not None for n in outbox(h))


def assert_no_case_data(messages: list[Received]) -> None:
    assert messages
    for message in messages:
        for text in (message.raw.decode("utf-8", "replace"), message.subject, message.text):
            for sentinel in SENTINELS:
                assert sentinel not in text


def test_a_lane_task_reaches_the_lane_in_its_district_and_nobody_else(h: Harness, mailbox: Mailbox) -> None:
    staff(h, "sara", "socialsekreterare")
    staff(h, "olle", "forste_socialsekreterare")  # the lane also holds 1:e socialsekreterare
    staff(h, "cilla", "socialsekreterare", districts=("Centrum",))  # another district
    staff(h, "eva", "eku")  # no case access
    staff(h, "mona", "mottag")  # another lane
    staff(h, "nils", "socialsekreterare", email_address=False)  # no address: nothing to send to
    staff(h, "ivar", "socialsekreterare")
    with h.services.db.command() as session:  # ivar has left
        session.execute(update(User).where(User.username == "ivar").values(is_active=False))

    # the case worker starts the routine without naming a handläggare: the task is the lane's
    instance = start(h)
    [task] = h.as_("sara").ok("GET", "/api/v1/tasks", params={"assigned": "unassigned"})["items"]
    assert task["assignee"] is None and CLIENT in task["title"]  # the inbox line carries case data …
    eventually(lambda: len(mailbox.messages()) >= 2 and all_sent(h), what="two notices")
    assert sorted(r for m in mailbox.messages() for r in m.to) == ["olle@stad.example", "sara@stad.example"]

    # … the e-mail does not: the routine, the task's name in the diagram and a link, in Swedish
    notice = mailbox.to("olle@stad.example")[0]
    assert notice.subject == "Ny uppgift: Granska ärendet (Kärndemo)"
    assert "till din grupp (Socialsekreterare)" in notice.text
    assert "Rutin: Kärndemo" in notice.text and "Uppgift: Granska ärendet" in notice.text
    link = f"{BASE_URL}/uppgifter/{task['id']}"
    assert link in notice.text
    endpoint, _ = h.server.app.url_map.bind("samverkan.example").match(link.removeprefix(BASE_URL))
    assert endpoint == "tasks.task_page"  # the link opens the task's page
    assert "Av sekretesskäl står inget om ärendet" in notice.text
    assert notice.message["From"] == "samverkan@localhost"
    assert_no_case_data(mailbox.messages())

    # an hour passes without an answer: the escalation reaches Mottag in Nordost only
    SYSTEM_CLOCK.advance(minutes=61)
    assert fire_due_timers(h.services) == 1
    [escalation] = eventually(lambda: mailbox.to("mona@stad.example"), what="the escalation notice")
    assert escalation.subject == "Ny uppgift: Ta över ärendet (Kärndemo)"
    eventually(lambda: all_sent(h), what="the outbox to empty")
    assert len(mailbox.messages()) == 3
    assert not [m for m in mailbox.messages() if {"cilla@stad.example", "eva@stad.example",
                                                  "ivar@stad.example"} & set(m.to)]
    assert_no_case_data(mailbox.messages())
    assert h.as_("sara").ok("GET", f"/api/v1/instances/{instance['id']}")["state"] == "running"


def test_an_assigned_task_reaches_only_its_assignee(h: Harness, mailbox: Mailbox) -> None:
    staff(h, "sara", "socialsekreterare")
    staff(h, "olle", "forste_socialsekreterare")

    # the task is for sara by name: the rest of the lane is not told
    start(h, handlaggare="sara")
    [mail] = eventually(lambda: mailbox.to("sara@stad.example"), what="sara's notice")
    assert mail.subject == "Ny uppgift: Granska ärendet (Kärndemo)"
    assert "Du har fått en ny uppgift i Samverkan." in mail.text
    eventually(lambda: all_sent(h), what="the outbox to empty")
    assert len(mailbox.messages()) == 1

    # sara hands the task to olle: now olle, and only olle, is told
    [task] = h.as_("sara").ok("GET", "/api/v1/tasks", params={"assigned": "me"})["items"]
    h.as_("sara").ok("POST", f"/api/v1/tasks/{task['id']}/assign",
                     json={"username": "olle", "reason": "Semester vecka 48"})
    [handed] = eventually(lambda: mailbox.to("olle@stad.example"), what="olle's notice")
    assert "Du har fått en ny uppgift" in handed.text and f"/uppgifter/{task['id']}" in handed.text
    eventually(lambda: all_sent(h), what="the outbox to empty")
    assert len(mailbox.messages()) == 2
    assert_no_case_data(mailbox.messages())


def test_an_overdue_task_is_reported_once(h: Harness, mailbox: Mailbox) -> None:
    staff(h, "sara", "socialsekreterare")
    start(h, handlaggare="sara")
    eventually(lambda: mailbox.to("sara@stad.example"), what="the arrival notice")
    assert notify_overdue(h.services, SYSTEM_CLOCK.now()) == 0  # due in an hour, not yet

    # two hours on (the escalation timer has not been fired), the sweep runs twice: one notice
    SYSTEM_CLOCK.advance(hours=2)
    assert notify_overdue(h.services, SYSTEM_CLOCK.now()) == 1
    assert notify_overdue(h.services, SYSTEM_CLOCK.now()) == 0
    notifier(h).wake()
    eventually(lambda: len(mailbox.messages()) == 2 and all_sent(h), what="the overdue notice")
    assert deliver_pending(h.services, SYSTEM_CLOCK.now()) == 0  # nothing left to send twice
    overdue = [m for m in mailbox.messages() if m.subject.startswith("Försenad uppgift")]
    assert len(overdue) == 1 and overdue[0].to == ["sara@stad.example"]
    assert overdue[0].subject == "Försenad uppgift: Granska ärendet (Kärndemo)"
    assert "skulle ha varit klar" in overdue[0].text and "är fortfarande öppen" in overdue[0].text
    assert_no_case_data(mailbox.messages())

    # later sweeps stay quiet
    SYSTEM_CLOCK.advance(days=1)
    assert notify_overdue(h.services, SYSTEM_CLOCK.now()) == 0


def test_concurrent_sweeps_report_and_send_once(h: Harness, mailbox: Mailbox) -> None:
    staff(h, "sara", "socialsekreterare")
    start(h, handlaggare="sara")
    eventually(lambda: mailbox.to("sara@stad.example") and all_sent(h), what="the arrival notice")
    notifier(h).stop()  # only the sweeps below send from here on

    def at_once(job: Callable[[], int], n: int = 4) -> list[int]:
        barrier = threading.Barrier(n)
        results: list[int] = []

        def run() -> None:
            barrier.wait()
            results.append(job())

        threads = [threading.Thread(target=run) for _ in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(results) == n
        return results

    # several nodes sweep at the same moment: the task is reported once, and mailed once
    SYSTEM_CLOCK.advance(hours=2)
    assert sum(at_once(lambda: notify_overdue(h.services, SYSTEM_CLOCK.now()))) == 1
    assert sum(at_once(lambda: deliver_pending(h.services, SYSTEM_CLOCK.now()))) == 1
    assert [m.subject for m in mailbox.to("sara@stad.example")] == [
        "Ny uppgift: Granska ärendet (Kärndemo)", "Försenad uppgift: Granska ärendet (Kärndemo)"]


def test_a_down_smtp_server_never_holds_up_a_request_and_mail_follows_when_it_is_back(
        h: Harness, smtp_port: int) -> None:
    staff(h, "sara", "socialsekreterare")
    # the mail server accepts connections but never answers (a hung server)
    hung = socket.socket()
    hung.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hung.bind(("127.0.0.1", smtp_port))
    hung.listen(8)
    try:
        start(h, handlaggare="sara")
        hung.settimeout(60)
        waiting, _ = hung.accept()  # the sender has connected and waits for a greeting that never comes
        [row] = outbox(h)
        # the request has come back while the attempt still hangs: no request waits for SMTP
        assert row.attempts == 1 and row.sent_at is None and row.last_error is None
        waiting.close()  # the server hangs up: the attempt fails
    finally:
        hung.close()

    [row] = eventually(lambda: [n for n in outbox(h) if n.last_error], what="the failure to be recorded")
    assert row.sent_at is None and row.attempts == 1 and "SMTPServerDisconnected" in (row.last_error or "")
    assert row.next_attempt_at is not None and row.next_attempt_at > SYSTEM_CLOCK.now()  # retried later

    # the server is gone altogether: the retry, a minute later, is refused and rescheduled
    SYSTEM_CLOCK.advance(minutes=2)
    notifier(h).wake()
    [row] = eventually(lambda: [n for n in outbox(h) if n.attempts == 2 and n.last_error != row.last_error],
                       what="the second attempt")
    assert row.sent_at is None and "Refused" in (row.last_error or "")

    # the server is back: nothing is sent before the retry is due, then the notice arrives once
    controller, mailbox = start_smtp(smtp_port)
    try:
        assert deliver_pending(h.services, SYSTEM_CLOCK.now()) == 0  # the retry is not due yet
        assert mailbox.messages() == []
        SYSTEM_CLOCK.advance(minutes=3)
        notifier(h).wake()
        [mail] = eventually(lambda: mailbox.to("sara@stad.example"), what="the delivered notice")
        assert mail.subject == "Ny uppgift: Granska ärendet (Kärndemo)"
        [row] = eventually(lambda: [n for n in outbox(h) if n.sent_at is not None], what="the row marked sent")
        assert row.attempts == 3 and row.last_error is None
        assert deliver_pending(h.services, SYSTEM_CLOCK.now()) == 0
        assert len(mailbox.messages()) == 1
        assert_no_case_data(mailbox.messages())
    finally:
        controller.stop()


def test_eku_hears_only_of_its_own_lanes_tasks() -> None:
    eku = User(username="eva", email="eva@stad.example", roles=["eku"], districts=["Nordost"], is_active=True)
    worker = User(username="sara", email="sara@stad.example", roles=["socialsekreterare"], districts=["Nordost"],
                  is_active=True)
    eku_task = HumanTask(id="t1", roles=["eku"], lane="EKU", district=None, assignee=None)
    case_task = HumanTask(id="t2", roles=["socialsekreterare"], lane="Socialsekreterare", district="Nordost",
                          assignee="eva")  # a diagram naming an EKU user as assignee of a case task
    # the EKU lane's own task reaches EKU (district-less: every district)
    assert recipients([eku, worker], eku_task) == ["eva@stad.example"]
    # a case-level task never reaches a role without case access, even when named as assignee
    assert recipients([eku, worker], case_task) == []


class Crash(BaseException):
    """The process dies right after a command commits: no after-commit hook runs."""


def test_arrival_mail_survives_a_crash_right_after_the_commit(sqlite_url: str) -> None:
    from service.actor import SYSTEM
    from service.operations.deploy import deploy_tree
    from service.operations.instances import start_instance
    from service.operations.users import create_user
    from service.services import Services

    from .conftest import FIXTURES, make_config

    services = Services.create(make_config(sqlite_url, smtp_host="127.0.0.1", smtp_port=free_port()))
    deploy_tree(services, SYSTEM, FIXTURES / "bpmn", FIXTURES / "forms")
    create_user(services, "sara", roles=["socialsekreterare"], districts=["Nordost"], email="sara@example.se")

    def crash(_: object) -> None:
        raise Crash

    services.hooks.tasks_created.append(crash)
    with pytest.raises(Crash):  # committed, then the process died
        start_instance(services, SYSTEM, "core_demo", {"arende": "Ärende", "handlaggare": "sara",
                                                       "stadsomrade": "Nordost"})
    with services.db.read() as session:
        rows = list(session.scalars(select(Notification)))
    assert [(n.kind, n.recipient, n.sent_at) for n in rows] == [("new_task", "sara@example.se", None)]
    services.close()
