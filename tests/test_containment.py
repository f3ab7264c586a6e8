"""One diagram can never stall or exhaust the service: bombs in diagram code are contained.

Each bomb — a CPU bomb in a gateway condition, a memory bomb in a script, a helper that would run
for seconds, task data grown past its bound, a backtracking pattern in a form — runs through the
real HTTP server while this test keeps asking ``/healthz``: it must answer while the bomb still
runs (a condition, not a time: a stalled service answers only after the bomb), and afterwards the
instance is in ``error`` with a message that says why.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from service.errors import Invalid

from .conftest import Harness, start_harness

BOMB_BOUND = 60.0  # seconds a bomb request may take at most on a loaded CI machine (a bounded wait)

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="{key}_definitions" targetNamespace="http://samverkan.example/test">
  <bpmn:process id="{key}" name="Bomb" isExecutable="true">
    <bpmn:laneSet id="{key}_lanes">
      <bpmn:lane id="lane_socialsekreterare" name="Socialsekreterare">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>steg</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>val</bpmn:flowNodeRef><bpmn:flowNodeRef>ja</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>nej</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start">{start_form}<bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="steg" name="Räkna">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="val" default="f4">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="ja"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="nej"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="steg"/>
    <bpmn:sequenceFlow id="f2" sourceRef="steg" targetRef="val"/>
    <bpmn:sequenceFlow id="f3" sourceRef="val" targetRef="ja">
      <bpmn:conditionExpression>{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="val" targetRef="nej"/>
  </bpmn:process>
</bpmn:definitions>
"""
START_FORM = ('<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property '
              'name="formJsonSchemaFilename" value="start.schema.json"/></spiffworkflow:properties>'
              '</bpmn:extensionElements>')


def write_diagram(folder: Path, key: str, *, script: str = "steg = 1", condition: str = "steg == 1",
                  form: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """A start → script → gateway → end diagram (``key``.bpmn) and its start form, if any."""
    bpmn_dir, forms_dir = folder / "bpmn", folder / "forms"
    bpmn_dir.mkdir(exist_ok=True)
    (forms_dir / key).mkdir(parents=True, exist_ok=True)
    text = DIAGRAM.format(key=key, script=script, condition=condition.replace(">", "&gt;"),
                          start_form=START_FORM if form else "")
    (bpmn_dir / f"{key}.bpmn").write_text(text, encoding="utf-8")
    if form:
        import json

        (forms_dir / key / "start.schema.json").write_text(json.dumps(form), encoding="utf-8")
    return bpmn_dir, forms_dir


def while_serving(h: Harness, bomb: Callable[[], requests.Response], *, defused: bool = False) -> requests.Response:
    """Run ``bomb`` (one HTTP request) in a thread and ask ``/healthz`` until it returns: each answer
    is 200, and at least one comes back while the bomb still runs (unless it is ``defused``: then it
    may well end before the first answer). Waits are bounded by BOMB_BOUND, never timed."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["response"] = bomb()
        except BaseException as err:  # re-raised below, in the test's thread
            outcome["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    answered_during = 0
    with requests.Session() as http:
        while thread.is_alive():
            response = http.get(f"{h.url}/healthz", timeout=BOMB_BOUND)
            assert response.status_code == 200, response.text
            answered_during += thread.is_alive()
            thread.join(timeout=0.05)  # paces the polling; ends as soon as the bomb request does
    thread.join(timeout=BOMB_BOUND)
    assert not thread.is_alive(), "the bomb request did not end"
    if "error" in outcome:
        raise outcome["error"]
    assert defused or answered_during >= 1, "the bomb ended before /healthz was ever asked"
    return outcome["response"]


def start_bomb(h: Harness, key: str, *, defused: bool = False) -> dict[str, Any]:
    """Start ``key`` while /healthz is asked; the started instance (it ran into the bomb)."""
    sara = h.as_("sara")
    response = while_serving(h, lambda: sara.post("/api/v1/instances", json={"process": key, "data": {}}),
                             defused=defused)
    assert response.status_code == 201, response.text
    instance = sara.ok("GET", f"/api/v1/instances/{response.json()['id']}")
    assert instance["state"] == "error", instance
    return instance


def deploy_bombs(h: Harness, tmp_path: Path) -> Harness:
    """One diagram per bomb deployed, and sara, who may start them."""
    write_diagram(tmp_path, "bomb_cpu", condition="len(max([[0] * 10**6] * 30000)) > 0")
    write_diagram(tmp_path, "bomb_memory", script="steg = len(list(map(list, [[0] * 10**6] * 60)))")
    write_diagram(tmp_path, "bomb_helper", script="steg = add_working_hours(now(), 2000000)")
    write_diagram(tmp_path, "bomb_data", script="a = 'a' * 900000\nb = 'b' * 900000\nsteg = 1")
    write_diagram(tmp_path, "harmless", script="steg = add_working_hours(now(), 2)", condition="steg > ''")
    h.deploy_dir(tmp_path / "bpmn", tmp_path / "forms")
    h.user("sara", "socialsekreterare")
    return h


@pytest.fixture
def bombs(sqlite_harness: Harness, tmp_path: Path) -> Harness:
    """The service (time bound 1 s) with the bombs deployed."""
    return deploy_bombs(sqlite_harness, tmp_path)


@pytest.fixture
def patient_bombs(sqlite_url: str, tmp_path: Path) -> Iterator[Harness]:
    """The bombs on a service with a long time bound: what stops a bomb there is not the clock."""
    h = start_harness(sqlite_url, script_time_limit=10.0)
    try:
        yield deploy_bombs(h, tmp_path)
    finally:
        h.server.stop()


def test_a_cpu_bomb_in_a_gateway_condition_costs_one_worker(bombs: Harness) -> None:
    h = bombs
    # a condition that is one long C call (max over 30,000 lists of a million, many seconds): the worker is killed
    instance = start_bomb(h, "bomb_cpu")
    assert "val" in instance["error"] and "ran longer than its limit of 1 s" in instance["error"]
    # the pool replaced the worker: the next instance runs its helper and ends normally
    sara = h.as_("sara")
    after = sara.ok("POST", "/api/v1/instances", 201, json={"process": "harmless", "data": {}})
    assert after["state"] == "completed", after


def test_a_memory_bomb_in_a_script_stops_at_the_workers_memory_limit(patient_bombs: Harness) -> None:
    # 60 copies of a million-item list: the worker's address space ends at 256 MB more than it started with
    instance = start_bomb(patient_bombs, "bomb_memory")
    assert "steg" in instance["error"] and "out of memory" in instance["error"]


def test_a_slow_helper_is_stopped_at_the_time_bound(bombs: Harness) -> None:
    # add_working_hours over two million hours walks the calendar for seconds, outside the sandbox
    instance = start_bomb(bombs, "bomb_helper")
    assert "steg" in instance["error"] and "ran longer than its limit" in instance["error"]


def test_task_data_is_bounded_in_total(bombs: Harness) -> None:
    # each value is allowed alone; together they pass the instance's 1 MB: nothing is stored
    instance = start_bomb(bombs, "bomb_data", defused=True)  # refused as soon as the script ends
    assert "steg" in instance["error"] and "SAMVERKAN_MAX_INSTANCE_DATA_BYTES" in instance["error"]
    assert "a" not in instance["data"] and "b" not in instance["data"]


def test_a_backtracking_pattern_in_a_form_is_matched_in_linear_time(sqlite_harness: Harness, tmp_path: Path) -> None:
    h = sqlite_harness
    # (a|a)* has no nested quantifier, so deploy lets it through; a backtracking matcher would take
    # 2^40 steps to refuse 40 × "a" + "!", RE2 takes one pass
    form = {"type": "object", "properties": {"kod": {"type": "string", "pattern": "^(a|a)*$"}},
            "additionalProperties": False}
    bpmn_dir, forms_dir = write_diagram(tmp_path, "monster", form=form)
    h.deploy_dir(bpmn_dir, forms_dir)
    sara = h.user("sara", "socialsekreterare")
    refused = while_serving(h, lambda: sara.post("/api/v1/instances", json={
        "process": "monster", "data": {"kod": "a" * 40 + "!"}}), defused=True)
    assert refused.status_code == 422 and refused.json()["errors"] == {"kod": ["har fel format"]}
    accepted = sara.ok("POST", "/api/v1/instances", 201, json={"process": "monster", "data": {"kod": "aaaa"}})
    assert accepted["state"] == "completed"


def test_deploy_refuses_nested_quantifiers_naming_the_field(sqlite_harness: Harness, tmp_path: Path) -> None:
    form = {"type": "object", "additionalProperties": False, "properties": {
        "brukare": {"type": "object", "properties": {"kod": {"type": "string", "pattern": "^(a+)+$"}}},
        "ok": {"type": "string", "pattern": "^[0-9]{8}-[0-9]{4}$"}}}
    bpmn_dir, forms_dir = write_diagram(tmp_path, "nastlad", form=form)
    with pytest.raises(Invalid) as refused:
        sqlite_harness.deploy_dir(bpmn_dir, forms_dir)
    [problem] = refused.value.extra["problems"]
    assert problem["file"] == "nastlad/start.schema.json"
    assert "'brukare.kod'" in problem["message"] and "nested quantifiers" in problem["message"]

