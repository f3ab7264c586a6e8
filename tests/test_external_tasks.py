"""Service tasks as external tasks (Camunda's pattern), through the HTTP API as workers use it.

The story: a process owner deploys a Camunda Modeler diagram whose service task writes the case to
the case-management system's journal (``camunda:type="external" camunda:topic="journal"``). A worker
program — written here, as an integrator would — fetches and locks the task, does the work and
completes it; the case goes on to the next person with the worker's variables. Failures are retried,
run out into ``error`` (retried from the operations console), locks expire, BPMN errors are caught.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from service.clock import SYSTEM_CLOCK

from .conftest import Api, Harness, start_harness
from .smtp import Mailbox
from .test_notify import eventually
from .waiting import wait_until
from .web.test_pages_http import signed_in_session

INTEROP = Path(__file__).resolve().parent / "fixtures" / "interop"
JOURNAL = (INTEROP / "camunda_journal.bpmn").read_bytes()
EXT = "/api/v1/external-tasks"


@pytest.fixture
def h(harness: Harness) -> Iterator[Harness]:
    """The service (SQLite and PostgreSQL) with the journal diagram deployed by a process owner."""
    paula = harness.user("paula", "processagare", "socialsekreterare")  # she also works the cases
    body = paula.ok("POST", "/api/v1/processes", 201, files=[("files", ("camunda_journal.bpmn", JOURNAL))])
    assert [d["key"] for d in body["deployed"]] == ["camunda_journal"]
    harness.user("robot", "extern_arbetare")
    yield harness


def start(h: Harness, **data: Any) -> str:
    instance = h.as_("paula").ok("POST", "/api/v1/instances", 201, json={"process": "camunda_journal", "data": data})
    return str(instance["id"])


def lock(worker: Api, worker_id: str = "journal-1", topics: tuple[str, ...] = ("journal",), lock_ms: int = 60_000,
         max_tasks: int = 10) -> list[dict[str, Any]]:
    body = worker.ok("POST", f"{EXT}/fetch-and-lock", json={
        "topics": list(topics), "worker_id": worker_id, "lock_ms": lock_ms, "max_tasks": max_tasks})
    return list(body["items"])


def instance_state(h: Harness, instance_id: str) -> str:
    return str(h.as_("paula").ok("GET", f"/api/v1/instances/{instance_id}")["state"])


def paulas_task(h: Harness, instance_id: str) -> dict[str, Any]:
    tasks = [t for t in h.as_("paula").ok("GET", "/api/v1/tasks")["items"] if t["instance_id"] == instance_id]
    assert len(tasks) == 1, tasks
    return h.as_("paula").ok("GET", f"/api/v1/tasks/{tasks[0]['id']}")  # type: ignore[no-any-return]


def test_deploy_names_the_topic_and_a_worker_walks_the_case_to_the_end(h: Harness) -> None:
    paula, robot = h.as_("paula"), h.as_("robot")
    # deploy told the process owner where the service task's work goes
    again = paula.ok("POST", "/api/v1/processes", 201, files=[("files", ("camunda_journal.bpmn", JOURNAL))])
    assert again["unchanged"] == ["camunda_journal"]
    warning = next(w for w in again["warnings"] if w["element"] == "Task_journalfor")
    assert "runs as an external task on topic 'journal'" in warning["message"]
    assert "ämnet ”journal”" in warning["text"]

    instance_id = start(h, anteckning="Hembesök genomfört")
    assert instance_state(h, instance_id) == "waiting"  # on the worker
    listed = robot.ok("GET", f"{EXT}?topic=journal")["items"]
    assert [(t["instance_id"], t["activity"], t["status"]) for t in listed] == [
        (instance_id, "Task_journalfor", "open")]
    assert "variables" not in listed[0]  # the list shows no case data, to the worker nor to the operator
    admin = h.user("ada", "admin")
    for body in (robot.request("GET", f"{EXT}?topic=journal").text, admin.request("GET", EXT).text):
        assert "Hembesök genomfört" not in body

    # the worker's loop: fetch and lock, do the work, complete with what it learnt
    [task] = lock(robot)
    assert task["variables"] == {"anteckning": "Hembesök genomfört"} and task["topic"] == "journal"
    assert lock(robot, "journal-2") == []  # locked: not offered to another worker
    done = robot.ok("POST", f"{EXT}/{task['id']}/complete", json={
        "worker_id": "journal-1", "variables": {"journal_id": "J-2026-77"}})
    assert done["instance_state"] == "running"

    # the next person sees what the worker wrote
    next_task = paulas_task(h, instance_id)
    assert next_task["name"] == "Task_kontrollera" and next_task["data"]["journal_id"] == "J-2026-77"
    paula.ok("POST", f"/api/v1/tasks/{next_task['id']}/complete", json={"data": {}})
    assert instance_state(h, instance_id) == "completed"
    assert robot.ok("GET", EXT)["items"] == []
    # a completed task is not completed twice
    again_done = robot.post(f"{EXT}/{task['id']}/complete", json={"worker_id": "journal-1", "variables": {}})
    assert again_done.status_code == 409 and "completed" in again_done.json()["detail"]


def test_a_failure_is_retried_after_its_timeout_then_succeeds(h: Harness) -> None:
    robot = h.as_("robot")
    instance_id = start(h)
    [task] = lock(robot)
    failed = robot.ok("POST", f"{EXT}/{task['id']}/failure", json={
        "worker_id": "journal-1", "message": "journalen svarar inte", "retries": 2, "retry_timeout": 60_000})
    assert failed["retries"] == 2 and failed["status"] == "open" and failed["error_message"] == "journalen svarar inte"
    assert lock(robot) == []  # not before its retry timeout
    SYSTEM_CLOCK.advance(seconds=61)
    [retried] = lock(robot)
    assert retried["id"] == task["id"] and retried["retries"] == 2
    robot.ok("POST", f"{EXT}/{task['id']}/complete", json={"worker_id": "journal-1", "variables": {"journal_id": "J1"}})
    assert paulas_task(h, instance_id)["data"]["journal_id"] == "J1"


def test_exhausted_retries_put_the_case_in_error_until_an_admin_retries_it(h: Harness) -> None:
    robot = h.as_("robot")
    h.user("ada", "admin")
    instance_id = start(h)
    [task] = lock(robot)
    robot.ok("POST", f"{EXT}/{task['id']}/failure", json={
        "worker_id": "journal-1", "message": "journalen är nere", "retries": 0})
    detail = h.as_("paula").ok("GET", f"/api/v1/instances/{instance_id}")
    assert detail["state"] == "error"
    assert lock(robot) == []  # out of retries: offered to nobody
    assert [t["status"] for t in robot.ok("GET", f"{EXT}?instance={instance_id}")["items"]] == ["failed"]
    # a pause does not hide it: resumed, the case is still in error
    for action in ("suspend", "resume"):
        h.as_("ada").ok("POST", f"/api/v1/instances/{instance_id}/{action}", json={"reason": "Driftkontroll"})
    assert instance_state(h, instance_id) == "error"

    # the operations console lists the case in error (the failing step, de-identified) and retries it
    adam, csrf = signed_in_session(h, "ada")
    assert "Task_journalfor: fel i steget" in adam.get(f"{h.url}/drift").text
    retried = adam.post(f"{h.url}/drift/arenden/{instance_id}/forsok-igen",
                        data={"csrf_token": csrf, "reason": "Journalen är uppe igen"})
    assert "Steget kördes om." in retried.text
    assert instance_state(h, instance_id) == "waiting"
    [again] = lock(robot)  # offered again
    assert again["id"] == task["id"] and again["retries"] is None
    robot.ok("POST", f"{EXT}/{task['id']}/complete", json={"worker_id": "journal-1", "variables": {}})
    assert paulas_task(h, instance_id)["name"] == "Task_kontrollera"


def test_an_expired_lock_offers_the_task_again_and_the_old_worker_is_refused(h: Harness) -> None:
    robot = h.as_("robot")
    h.user("robot2", "extern_arbetare")
    instance_id = start(h)
    [task] = lock(robot, lock_ms=30_000)
    SYSTEM_CLOCK.advance(seconds=31)
    [again] = lock(h.as_("robot2"), "journal-2")
    assert again["id"] == task["id"]
    late = robot.post(f"{EXT}/{task['id']}/complete", json={"worker_id": "journal-1", "variables": {"x": 1}})
    assert late.status_code == 409 and "another worker" in late.json()["detail"]
    # the same worker id from another account does not pass either
    thief = robot.post(f"{EXT}/{task['id']}/complete", json={"worker_id": "journal-2", "variables": {"x": 1}})
    assert thief.status_code == 409
    SYSTEM_CLOCK.advance(seconds=61)
    expired = h.as_("robot2").post(f"{EXT}/{task['id']}/complete", json={"worker_id": "journal-2", "variables": {}})
    assert expired.status_code == 409 and "expired" in expired.json()["detail"]
    assert instance_state(h, instance_id) == "waiting"  # nothing changed
    [third] = lock(h.as_("robot2"), "journal-2")
    h.as_("robot2").ok("POST", f"{EXT}/{third['id']}/complete", json={"worker_id": "journal-2", "variables": {}})
    assert "x" not in paulas_task(h, instance_id)["data"]


def test_a_bpmn_error_is_caught_by_the_boundary_event_with_its_code(h: Harness) -> None:
    robot = h.as_("robot")
    first, second = start(h), start(h)
    tasks = {t["instance_id"]: t for t in lock(robot)}
    done = robot.ok("POST", f"{EXT}/{tasks[first]['id']}/bpmn-error", json={
        "worker_id": "journal-1", "code": "JOURNAL_STANGD", "message": "stängd för bokslut",
        "variables": {"stangd_till": "2027-01-02"}})
    assert done["instance_state"] == "running"
    manual = paulas_task(h, first)
    assert manual["name"] == "Task_manuellt"  # "Journalför för hand", with what the worker said
    assert manual["data"]["stangd_till"] == "2027-01-02"
    # a code no boundary event catches: a failure without retries, the case in error
    robot.ok("POST", f"{EXT}/{tasks[second]['id']}/bpmn-error", json={"worker_id": "journal-1", "code": "OKAND"})
    detail = h.as_("paula").ok("GET", f"/api/v1/instances/{second}")
    assert detail["state"] == "error"


def test_only_workers_use_external_tasks_and_workers_read_no_cases(h: Harness) -> None:
    sara = h.user("sara", "socialsekreterare")
    robot = h.as_("robot")
    instance_id = start(h, anteckning="känsligt")
    assert sara.post(f"{EXT}/fetch-and-lock", json={"topics": ["journal"], "worker_id": "w",
                                                    "lock_ms": 1000}).status_code == 403
    assert sara.get(EXT).status_code == 403
    assert h.as_("paula").get(EXT).status_code == 403
    [task] = lock(robot)
    assert sara.post(f"{EXT}/{task['id']}/complete", json={"worker_id": "journal-1"}).status_code == 403
    assert h.anonymous.get(EXT).status_code == 401
    # the worker reads no case outside its locked task
    assert robot.get(f"/api/v1/instances/{instance_id}").status_code == 404
    assert robot.ok("GET", "/api/v1/tasks")["items"] == []
    # unknown ids and bad bodies: clear 4xx, nothing changes
    assert robot.post(f"{EXT}/nope/complete", json={"worker_id": "journal-1"}).status_code == 404
    bad = robot.post(f"{EXT}/{task['id']}/failure", json={"worker_id": "journal-1", "message": "x", "retries": -1})
    assert bad.status_code == 422 and "retries" in bad.json()["errors"]
    bad_lock = robot.post(f"{EXT}/fetch-and-lock", json={"topics": [], "worker_id": "w", "lock_ms": 0})
    assert bad_lock.status_code == 422
    assert robot.post(f"{EXT}/{task['id']}/complete", json={"worker_id": "journal-1",
                                                          "variables": "x"}).status_code == 422
    assert instance_state(h, instance_id) == "waiting"
    h.user("ada", "admin")
    assert [t["id"] for t in h.as_("ada").ok("GET", f"{EXT}?instance={instance_id}")["items"]] == [task["id"]]




# ---- the built-in workers ---------------------------------------------------------------------------

def service_diagram(key: str, topic: str, *, zeebe: bool = False) -> bytes:
    """A Camunda Modeler diagram: start → a service task on ``topic`` → a user task → end."""
    task = (f'<bpmn:serviceTask id="anropa" name="Anropa"><bpmn:extensionElements>'
            f'<zeebe:taskDefinition type="{topic}"/></bpmn:extensionElements>' if zeebe else
            f'<bpmn:serviceTask id="anropa" name="Anropa" camunda:type="external" camunda:topic="{topic}">')
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    id="d_{key}" targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler">
  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="anropa"/>
    {task}<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="anropa" targetRef="granska"/>
    <bpmn:userTask id="granska" name="Granska svaret"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="granska" targetRef="slut"/>
    <bpmn:endEvent id="slut"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>""".encode()


class JournalSystem(BaseHTTPRequestHandler):
    """The case-management system's journal, as a local web service: it records what it is sent."""

    received: ClassVar[list[tuple[str, str, str | None, Any]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        JournalSystem.received.append((self.command, self.path, self.headers.get("Authorization"), body))
        if self.path == "/trasig" and sum(1 for r in JournalSystem.received if r[1] == "/trasig") == 1:
            self.send_response(503)  # down the first time only
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/stor":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"x" * (1024 * 1024 + 10))
            return
        if self.path == "/flyttat":
            self.send_response(302)
            self.send_header("Location", "http://example.org/")
            self.end_headers()
            return
        answer = json.dumps({"journal_id": "J-42", "fick": body}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the base class's name)
        pass


@pytest.fixture
def journal_server() -> Iterator[int]:
    JournalSystem.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), JournalSystem)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()


@pytest.fixture
def running(database_url: str, journal_server: int, smtp_port: int,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """The service with its scheduler (and so the built-in workers) running, the journal allowed."""
    monkeypatch.setenv("SAMVERKAN_HTTP_SECRET_JOURNAL", "hemlig-token")
    h = start_harness(database_url, run_scheduler=True, http_worker_hosts=(f"127.0.0.1:{journal_server}",),
                      smtp_host="127.0.0.1", smtp_port=smtp_port)
    paula = h.user("paula", "processagare", "socialsekreterare")
    for key, topic in (("anropa_journal", "http"), ("skicka_brev", "email")):
        paula.ok("POST", "/api/v1/processes", 201, files=[("files", (f"{key}.bpmn", service_diagram(key, topic)))])
    yield h
    h.server.app.extensions["samverkan_external_workers"].shutdown()
    h.server.app.extensions["samverkan_notifier"].stop()
    h.server.stop()


def _settled(h: Harness, instance_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def done() -> bool:
        found.update(h.as_("paula").ok("GET", f"/api/v1/instances/{instance_id}"))
        return found["state"] in ("running", "error", "completed")

    wait_until(done, what="the built-in worker to finish the service task")
    return found


def test_the_http_worker_calls_an_allowed_host_and_refuses_others(running: Harness, journal_server: int) -> None:
    h = running
    paula = h.as_("paula")
    url = f"http://127.0.0.1:{journal_server}/anteckningar"
    case = paula.ok("POST", "/api/v1/instances", 201, json={"process": "anropa_journal", "data": {
        "url": url, "method": "POST", "body": {"text": "Hembesök"}, "secret": "JOURNAL"}})
    assert _settled(h, case["id"])["state"] == "running"
    response = paulas_task(h, case["id"])["data"]["http_response"]
    assert response == {"status": 201, "body": {"journal_id": "J-42", "fick": {"text": "Hembesök"}}}
    assert JournalSystem.received == [("POST", "/anteckningar", "Bearer hemlig-token", {"text": "Hembesök"})]

    # a host not in the allow-list: not called, the case in error with the reason
    other = paula.ok("POST", "/api/v1/instances", 201, json={"process": "anropa_journal", "data": {
        "url": f"http://localhost:{journal_server}/anteckningar"}})
    failed = _settled(h, other["id"])
    assert failed["state"] == "error" and "'localhost' is not allowed" in failed["error"]
    # a redirect is not followed, even from an allowed host
    moved = paula.ok("POST", "/api/v1/instances", 201, json={"process": "anropa_journal", "data": {
        "url": f"http://127.0.0.1:{journal_server}/flyttat"}})
    refused = _settled(h, moved["id"])
    assert refused["state"] == "error" and "redirect" in refused["error"]
    assert [r[1] for r in JournalSystem.received] == ["/anteckningar", "/flyttat"]
    # a secret that is not configured is named, never guessed
    nameless = paula.ok("POST", "/api/v1/instances", 201, json={"process": "anropa_journal", "data": {
        "url": url, "secret": "SAKNAS"}})
    assert "SAMVERKAN_HTTP_SECRET_SAKNAS" in _settled(h, nameless["id"])["error"]


def test_the_http_worker_retries_a_server_error_and_refuses_an_oversized_answer(
        running: Harness, journal_server: int) -> None:
    h = running
    paula = h.as_("paula")
    h.user("ada", "admin")
    case = paula.ok("POST", "/api/v1/instances", 201, json={"process": "anropa_journal", "data": {
        "url": f"http://127.0.0.1:{journal_server}/trasig"}})
    retried: list[dict[str, Any]] = []

    def waits_for_retry() -> bool:
        retried[:] = h.as_("ada").ok("GET", f"{EXT}?instance={case['id']}")["items"]
        return bool(retried) and retried[0]["retries"] is not None

    wait_until(waits_for_retry, what="the worker to report the 503 as a failure to retry")
    assert retried[0]["retries"] == 3 and "503" in retried[0]["error_message"]
    assert instance_state(h, case["id"]) == "waiting"
    SYSTEM_CLOCK.advance(seconds=31)  # past the retry timeout: the worker tries again, and it works
    assert _settled(h, case["id"])["state"] == "running"
    assert paulas_task(h, case["id"])["data"]["http_response"]["status"] == 201
    big = paula.ok("POST", "/api/v1/instances", 201, json={"process": "anropa_journal", "data": {
        "url": f"http://127.0.0.1:{journal_server}/stor"}})
    assert "larger than 1048576 bytes" in _settled(h, big["id"])["error"]


def test_the_email_worker_sends_through_the_outbox(running: Harness, mailbox: Mailbox) -> None:
    h = running
    case = h.as_("paula").ok("POST", "/api/v1/instances", 201, json={"process": "skicka_brev", "data": {
        "to": "god.man@example.org", "subject": "Kallelse till möte", "body": "Välkommen den 12 december."}})
    assert _settled(h, case["id"])["state"] == "running"
    [mail] = eventually(lambda: mailbox.to("god.man@example.org"), what="the e-mail")
    assert mail.subject == "Kallelse till möte" and "Välkommen den 12 december." in mail.text
    bad = h.as_("paula").ok("POST", "/api/v1/instances", 201, json={"process": "skicka_brev", "data": {
        "to": "a@example.org, b@example.org", "subject": "x", "body": "y"}})
    assert "one e-mail address" in _settled(h, bad["id"])["error"]


@pytest.mark.parametrize(("shape", "topic"), [("camunda", "journal"), ("zeebe", "arkiv")])
def test_the_topic_comes_from_the_modeler_s_attribute(shape: str, topic: str) -> None:
    from service.config import ROOT
    from service.engine.specs import LaneRoles, parse_bundle

    bundle = parse_bundle({"t.bpmn": service_diagram("t", topic, zeebe=shape == "zeebe")},
                          LaneRoles.load(ROOT / "bpmn" / "lanes.json"))
    assert not bundle.problems
    assert any(f"on topic {topic!r}" in w.message for w in bundle.warnings)
    spec = bundle.processes[0].spec.task_specs["anropa"]
    assert spec.topic == topic


SPIFF_OPERATOR = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="x">
  <bpmn:process id="spiff_anteckna" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="anteckna"/>
    <bpmn:serviceTask id="anteckna" name="Anteckna">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="journal/Anteckna" resultVariable="svar">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="text" type="str" value="'Anteckning: ' + anteckning"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="anteckna" targetRef="slut"/>
    <bpmn:endEvent id="slut"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>"""


def test_a_spiffarena_operator_is_the_topic_and_its_parameters_are_variables(h: Harness) -> None:
    paula, robot = h.as_("paula"), h.as_("robot")
    body = paula.ok("POST", "/api/v1/processes", 201, files=[("files", ("spiff_anteckna.bpmn", SPIFF_OPERATOR))])
    assert any("topic 'journal/Anteckna'" in w["message"] for w in body["warnings"])
    case = paula.ok("POST", "/api/v1/instances", 201, json={"process": "spiff_anteckna",
                                                             "data": {"anteckning": "hembesök"}})
    [task] = lock(robot, topics=("journal/Anteckna",))
    assert task["variables"] == {"anteckning": "hembesök", "text": "Anteckning: hembesök"}
    robot.ok("POST", f"{EXT}/{task['id']}/complete", json={"worker_id": "journal-1", "variables": {"ok": True}})
    assert instance_state(h, case["id"]) == "completed"
    # the lock was a read of the case: the audit log says who read it, and how
    h.user("ada", "admin")
    history = h.as_("ada").ok("GET", f"/api/v1/audit?instance={case['id']}")["items"]
    reads = [e for e in history if e["action"] == "case_read" and e["actor"] == "robot"]
    assert [e["detail"]["via"] for e in reads] == ["external_task"]


def test_workers_fetching_at_once_lock_disjoint_tasks(h: Harness) -> None:
    # two workers of the journal ask at the same moment: each case's task goes to exactly one of them
    h.user("robot2", "extern_arbetare")
    cases = {start(h) for _ in range(6)}
    got: dict[str, list[dict[str, Any]]] = {}
    barrier = threading.Barrier(2)

    def fetch(username: str) -> None:
        barrier.wait(timeout=60)
        got[username] = lock(h.as_(username), f"{username}-w", max_tasks=6)

    threads = [threading.Thread(target=fetch, args=(u,)) for u in ("robot", "robot2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    ids = [t["id"] for items in got.values() for t in items]
    assert len(ids) == len(set(ids)) == 6
    assert {t["instance_id"] for items in got.values() for t in items} == cases


SUBPROCESS = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="x">
  <bpmn:error id="E" errorCode="NERE"/>
  <bpmn:process id="sub" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>a</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="a" sourceRef="s" targetRef="sp"/>
    <bpmn:subProcess id="sp"><bpmn:incoming>a</bpmn:incoming><bpmn:outgoing>b</bpmn:outgoing>
      <bpmn:startEvent id="ss"><bpmn:outgoing>c</bpmn:outgoing></bpmn:startEvent>
      <bpmn:sequenceFlow id="c" sourceRef="ss" targetRef="st"/>
      <bpmn:serviceTask id="st" camunda:type="external" camunda:topic="t"><bpmn:incoming>c</bpmn:incoming>
        <bpmn:outgoing>d</bpmn:outgoing></bpmn:serviceTask>
      <bpmn:sequenceFlow id="d" sourceRef="st" targetRef="se"/>
      <bpmn:endEvent id="se"><bpmn:incoming>d</bpmn:incoming></bpmn:endEvent>
    </bpmn:subProcess>
    <bpmn:boundaryEvent id="be" attachedToRef="sp"><bpmn:outgoing>f</bpmn:outgoing>
      <bpmn:errorEventDefinition errorRef="E"/></bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="b" sourceRef="sp" targetRef="e1"/>
    <bpmn:endEvent id="e1"><bpmn:incoming>b</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f" sourceRef="be" targetRef="e2"/>
    <bpmn:endEvent id="e2"><bpmn:incoming>f</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>"""


@pytest.mark.parametrize(("code", "end"), [("NERE", "e2"), (None, "e1")])
def test_an_external_task_in_a_subprocess_waits_survives_storage_and_throws_to_the_subprocess_boundary(
        code: str | None, end: str) -> None:
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    from service.config import ROOT
    from service.engine import external
    from service.engine.serializer import WorkflowStore
    from service.engine.specs import LaneRoles, parse_bundle

    bundle = parse_bundle({"sub.bpmn": SUBPROCESS}, LaneRoles.load(ROOT / "bpmn" / "lanes.json"))
    assert not bundle.problems
    process, store = bundle.processes[0], WorkflowStore()
    workflow = BpmnWorkflow(process.spec, process.subprocess_specs)
    workflow.do_engine_steps()
    # stored and loaded again between the steps, as every command does
    workflow = store.loads(store.dumps(workflow), process.spec, process.subprocess_specs)
    [task] = [t for t in workflow.get_tasks(state=TaskState.STARTED) if external.is_external(t)]
    assert external.describe(task).topic == "t" and not workflow.is_completed()
    if code:
        assert external.throw_error(task, code, {})
    else:
        external.complete(task, {"x": 1})
    workflow.do_engine_steps()
    ended = [t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.COMPLETED)]
    assert workflow.is_completed() and end in ended and ({"e1", "e2"} - {end}).isdisjoint(ended)
