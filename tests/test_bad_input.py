"""Bad input gets a clear problem+json error and changes nothing."""

from __future__ import annotations

import time

import pytest

from .conftest import Harness
from .test_lifecycle import START, open_tasks, start


def _problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_malformed_and_mistyped_bodies(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    sara = h.user("sara", "socialsekreterare")
    headers = {"Content-Type": "application/json"}
    _problem(sara.request("POST", "/api/v1/instances", data=b'{"process": "core_demo",', headers=headers), 400)
    _problem(sara.request("POST", "/api/v1/instances", data=b"", headers=headers), 400)
    _problem(sara.request("POST", "/api/v1/instances", data=b"process=core_demo",
                          headers={"Content-Type": "application/x-www-form-urlencoded"}), 400)
    body = _problem(sara.post("/api/v1/instances", json={"process": 12, "data": "x"}), 422)
    assert set(body["errors"]) == {"process", "data"}
    body = _problem(sara.post("/api/v1/instances", json={"process": "core_demo", "data": {}, "extra": 1}), 422)
    assert "extra" in body["errors"]
    body = _problem(sara.post("/api/v1/instances", json={"process": "core_demo",
                                                          "data": {**START, "stadsomrade": "Atlantis"}}), 422)
    assert "stadsomrade" in body["errors"]
    body = _problem(sara.post("/api/v1/instances", json={"process": "core_demo", "data": {"arende": ""}}), 422)
    assert {"arende", "stadsomrade"} <= set(body["errors"])
    assert sara.ok("GET", "/api/v1/instances")["total"] == 0  # nothing was started
    _problem(sara.get("/api/v1/tasks", params={"per_page": 501}), 422)
    _problem(sara.get("/api/v1/tasks", params={"assigned": "everyone"}), 422)
    _problem(sara.get("/api/v1/instances", params={"state": "sleeping"}), 422)


def test_unknown_ids_and_wrong_roles(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    sara = h.user("sara", "socialsekreterare")
    eva = h.user("eva", "eku")
    sven = h.user("sven", "socialsekreterare", districts=("Hisingen",))
    instance = start(h)
    [task] = open_tasks(h, "sara")
    _problem(sara.get("/api/v1/instances/00000000-0000-0000-0000-000000000000"), 404)
    _problem(sara.get("/api/v1/tasks/nope"), 404)
    _problem(sara.post("/api/v1/tasks/nope/complete", json={"data": {}}), 404)
    _problem(sara.post("/api/v1/instances", json={"process": "no_such_process", "data": {}}), 404)
    _problem(eva.post("/api/v1/instances", json={"process": "core_demo", "data": START}), 403)
    _problem(sara.post(f"/api/v1/instances/{instance['id']}/suspend", json={"reason": "x"}), 403)
    _problem(sara.get("/api/v1/audit"), 403)
    _problem(sara.get("/api/v1/timers"), 403)
    # another district's case worker cannot tell the instance exists
    _problem(sven.get(f"/api/v1/instances/{instance['id']}"), 404)
    _problem(sven.get(f"/api/v1/tasks/{task['id']}"), 404)
    _problem(sven.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"beslut": "godkant"}}), 404)
    _problem(h.anonymous.get("/api/v1/tasks"), 401)
    _problem(h.anonymous.get("/api/v1/tasks", headers={"Authorization": "Bearer forged"}), 401)
    _problem(h.anonymous.get("/api/v1/tasks", headers={"Authorization": "Basic c2FyYTpwdw=="}), 401)
    _problem(h.anonymous.post("/api/v1/auth/token", json={"username": "sara", "password": "wrong"}), 401)
    _problem(h.anonymous.post("/api/v1/auth/token", json={"username": "nobody", "password": "wrong"}), 401)
    # nothing of that changed the task
    assert open_tasks(h, "sara")[0]["id"] == task["id"]


def test_expired_token_is_refused(sqlite_harness: Harness) -> None:
    from service.clock import SYSTEM_CLOCK

    h = sqlite_harness
    sara = h.user("sara", "socialsekreterare")
    assert sara.get("/api/v1/me").status_code == 200
    SYSTEM_CLOCK.advance(hours=h.services.config.token_lifetime_hours + 1)
    _problem(sara.get("/api/v1/me"), 401)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">
<bpmn:process id="p">&lol3;</bpmn:process></bpmn:definitions>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">
<bpmn:process id="p" name="&xxe;"/></bpmn:definitions>"""
DEEP = (b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">' + b"<a>" * 5000
        + b"</a>" * 5000 + b"</bpmn:definitions>")
ESCAPE = b"""<?xml version="1.0"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="escape" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="evil"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>x = ().__class__.__base__.__subclasses__()</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="evil"/>
    <bpmn:sequenceFlow id="f2" sourceRef="evil" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""


@pytest.mark.parametrize("content,needle", [
    (BILLION_LAUGHS, "DOCTYPE"), (XXE, "DOCTYPE"), (DEEP, "deeper"), (b"\x00\x01binary\xff", "not an XML"),
    (b"<not-closed", "well-formed"), (b"<html><body>hej</body></html>", "BPMN"),
    ("<?xml version='1.0' encoding='UTF-8'?>"
     "<bpmn:definitions xmlns:bpmn='http://www.omg.org/spec/BPMN/20100524/MODEL'>"
     "<bpmn:process id='p' name='åäö'/></bpmn:definitions>".encode("latin-1"), "XML"),
    (ESCAPE, "evil"),
], ids=["billion-laughs", "xxe", "deep", "binary", "broken", "html", "mis-encoded",
        "sandbox-escape"])
def test_hostile_bpmn_is_rejected_fast(sqlite_harness: Harness, content: bytes, needle: str) -> None:
    h = sqlite_harness
    paula = h.user("paula", "processagare")
    before = paula.ok("GET", "/api/v1/processes")["items"]
    started = time.monotonic()
    response = paula.post("/api/v1/processes", files={"files": ("hostile.bpmn", content)})
    assert time.monotonic() - started < 5
    body = _problem(response, 422)
    assert needle in str(body["problems"]), body
    assert h.anonymous.get("/healthz").status_code == 200  # and the service is alive
    assert paula.ok("GET", "/api/v1/processes")["items"] == before  # nothing was deployed


def test_oversized_upload_is_413(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    paula = h.user("paula", "processagare")
    big = b"<bpmn:definitions>" + b" " * (6 * 1024 * 1024) + b"</bpmn:definitions>"
    _problem(paula.post("/api/v1/processes", files={"files": ("big.bpmn", big)}), 413)
    assert h.anonymous.get("/healthz").status_code == 200
