"""Bad input gets a clear problem+json error and changes nothing."""

from __future__ import annotations

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
def test_hostile_bpmn_is_rejected(sqlite_harness: Harness, content: bytes, needle: str) -> None:
    h = sqlite_harness
    paula = h.user("paula", "processagare")
    before = paula.ok("GET", "/api/v1/processes")["items"]
    response = paula.post("/api/v1/processes", files={"files": ("hostile.bpmn", content)})
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


LONE_SURROGATE = b'"\\ud800"'
NESTED = {"depth-65": b"[" * 65 + b"]" * 65, "100k-brackets": b"[" * 100_000, "100k-objects": b'{"a":' * 100_000}


def _start_body(data_value: bytes = b'"x"', case_ref: bytes = b'"2026-SOC-1"') -> bytes:
    return (b'{"process": "core_demo", "case_ref": ' + case_ref + b', "data": {"arende": ' + data_value
            + b', "handlaggare": "sara", "stadsomrade": "Nordost"}}')


@pytest.mark.parametrize("body", [
    _start_body(data_value=LONE_SURROGATE),
    _start_body(data_value=b'"ok \\udfff then"'),
    _start_body(case_ref=LONE_SURROGATE),
    _start_body(data_value=b'"\\u0000"'),
    _start_body(data_value='"\ud800"'.encode("utf-8", "surrogatepass")),  # raw, not escaped
    _start_body(data_value=b"NaN"),
    _start_body(data_value=b"Infinity"),
    _start_body(data_value=b"-Infinity"),
    _start_body(data_value=b"1e999"),
    _start_body(data_value=b"1" * 5000),
    _start_body(data_value=b"[" * 70 + b"]" * 70),
    NESTED["depth-65"], NESTED["100k-brackets"], NESTED["100k-objects"],
    b'{"process": "core_demo", "data": {"\\ud800": 1}}',
], ids=["surrogate-in-data", "low-surrogate", "surrogate-in-case-ref", "nul", "raw-surrogate", "nan", "infinity",
        "minus-infinity", "overflowing-float", "5000-digit-int", "deep-data", "depth-65", "100k-brackets",
        "100k-objects", "surrogate-in-key"])
def test_json_that_could_not_be_stored_and_read_back_is_400(sqlite_harness: Harness, body: bytes) -> None:
    h = sqlite_harness
    sara = h.user("sara", "socialsekreterare")
    _problem(sara.request("POST", "/api/v1/instances", data=body, headers={"Content-Type": "application/json"}), 400)
    assert sara.ok("GET", "/api/v1/instances")["total"] == 0  # nothing was started
    assert h.anonymous.get("/healthz").status_code == 200


def test_a_valid_surrogate_pair_and_64_levels_are_fine(sqlite_harness: Harness) -> None:
    from service.api.context import MAX_JSON_DEPTH, UnsafeJSON, strict_loads

    h = sqlite_harness
    sara = h.user("sara", "socialsekreterare")
    created = sara.request("POST", "/api/v1/instances", data=_start_body(data_value=b'"Brukare \\ud83d\\ude00"'),
                           headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.text
    assert sara.ok("GET", f"/api/v1/instances/{created.json()['id']}")["data"]["arende"] == "Brukare 😀"
    assert strict_loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    with pytest.raises(UnsafeJSON, match="deeper than 64"):
        strict_loads("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))


def test_bad_json_in_task_completion_and_token_requests_is_400(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    sara = h.user("sara", "socialsekreterare")
    start(h)
    [task] = open_tasks(h, "sara")
    headers = {"Content-Type": "application/json"}
    for data in (b'{"data": {"beslut": "godkant", "kommentar": "\\ud800"}}', b'{"data": {"antal": NaN}}',
                 b"[" * 100_000):
        _problem(sara.request("POST", f"/api/v1/tasks/{task['id']}/complete", data=data, headers=headers), 400)
        _problem(h.anonymous.request("POST", "/api/v1/auth/token", data=data, headers=headers), 400)
    assert open_tasks(h, "sara")[0]["id"] == task["id"]  # still open, unchanged
    assert sara.ok("GET", f"/api/v1/tasks/{task['id']}")["data"]["arende"] == START["arende"]


def test_bad_form_posts_are_400(sqlite_harness: Harness) -> None:
    from .web.test_pages_http import signed_in_session

    h = sqlite_harness
    h.user("sara", "socialsekreterare")
    start(h)
    [task] = open_tasks(h, "sara")
    http, token = signed_in_session(h, "sara")
    for answers in ({"beslut": "godkant", "antal": "9" * 5000}, {"beslut": "godkant", "antal": "9" * 400},
                    {"beslut": "avvisat", "kommentar": "a\x00b"}):
        answer = http.post(f"{h.url}/uppgifter/{task['id']}", data={**answers, "csrf_token": token})
        assert answer.status_code == 400, answer.text[:300]
    started = http.post(f"{h.url}/starta/core_demo", data={**START, "arende": "x\x00", "csrf_token": token})
    assert started.status_code == 400
    assert open_tasks(h, "sara")[0]["id"] == task["id"]  # still open
    assert h.as_("sara").ok("GET", "/api/v1/instances")["total"] == 1  # only the one started above
