"""Broken diagrams as a modeler makes them, through the deploy API: every problem of every file in one
422, each in plain words naming the file, the element and what to change — never the parser's own
text — and deviations from the XSD that the engine reads are warnings, not refusals."""

from __future__ import annotations

from .conftest import Harness
from .test_interop import INTERNALS

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs" targetNamespace="http://x">
"""
TASK = """    <bpmn:userTask id="t" name="Gör">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="f.schema.json"/>
      </spiffworkflow:properties></bpmn:extensionElements>
    </bpmn:userTask>
"""
FORM = b'{"type": "object", "properties": {"belopp": {"type": "integer"}}}'


def diagram(key: str, body: str, before: str = "") -> bytes:
    return (HEAD + before + f"""  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="Mottag">
      <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>t</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
""" + body + """  </bpmn:process>
</bpmn:definitions>
""").encode()


def straight(key: str, flows: str, start: str = '<bpmn:startEvent id="start"/>', before: str = "") -> bytes:
    return diagram(key, f"    {start}\n{TASK}    <bpmn:endEvent id=\"e\"/>\n{flows}", before)


GOOD_FLOWS = """    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="t"/>
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
"""


def gateway(key: str, condition: str) -> bytes:
    return diagram(key, f"""    <bpmn:startEvent id="start"/>
{TASK}    <bpmn:exclusiveGateway id="g" name="Stort belopp?" default="f_nej"/>
    <bpmn:endEvent id="ja" name="Ja"/><bpmn:endEvent id="nej" name="Nej"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="t"/>
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="g"/>
    <bpmn:sequenceFlow id="f_ja" sourceRef="g" targetRef="ja">
      <bpmn:conditionExpression>{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_nej" sourceRef="g" targetRef="nej"/>
""")


BROKEN = {
    # an unclosed tag
    "oavslutad.bpmn": (HEAD + '  <bpmn:process id="oavslutad" isExecutable="true">\n'
                       '    <bpmn:startEvent id="start">\n').encode(),
    # a flow whose start was never joined
    "utan_start.bpmn": straight("utan_start", """    <bpmn:sequenceFlow id="f1" targetRef="t"/>
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
"""),
    # a flow to an element that does not exist (the engine says "perhaps a form has the same ID?")
    "okant_mal.bpmn": straight("okant_mal", """    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="t"/>
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="ingenstans"/>
"""),
    # a flow from an element that does not exist (the engine drops it without a word)
    "okand_kalla.bpmn": straight("okand_kalla", """    <bpmn:sequenceFlow id="f1" sourceRef="spoke" targetRef="t"/>
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
"""),
    # JUEL beyond the plain shapes
    "juel.bpmn": gateway("juel", "${amount.compareTo(limit) &gt; 0}"),
    # a message event waiting for a message the diagram does not define
    "meddelande.bpmn": straight("meddelande", GOOD_FLOWS, start=(
        '<bpmn:startEvent id="start"><bpmn:messageEventDefinition id="md" messageRef="saknas"/>'
        '</bpmn:startEvent>')),
}


def _problems(h: Harness, files: dict[str, bytes]) -> list[dict]:
    paula = h.as_("paula")
    before = paula.ok("GET", "/api/v1/processes")["total"]
    upload = [("files", (name, content)) for name, content in files.items()]
    upload += [("files", (f"{name[:-5]}/f.schema.json", FORM)) for name in files]
    response = paula.post("/api/v1/processes", files=upload)
    assert response.status_code == 422, response.text
    assert paula.ok("GET", "/api/v1/processes")["total"] == before  # nothing half-deployed
    problems = response.json()["problems"]
    for problem in problems:
        assert not INTERNALS.search(problem["message"]) and not INTERNALS.search(problem["text"]), problem
        assert "Teknisk detalj" not in problem["text"], f"no plain words for: {problem}"
        assert problem["file"] in files, problem
    return problems


def _deploy(h: Harness, name: str, content: bytes) -> dict:
    return h.as_("paula").ok("POST", "/api/v1/processes", 201, files=[
        ("files", (name, content)), ("files", (f"{name[:-5]}/f.schema.json", FORM))])


def test_every_broken_file_is_named_with_its_element_and_the_fix_in_one_answer(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("paula", "processagare")
    problems = _problems(h, BROKEN)
    by_file: dict[str, list[dict]] = {}
    for problem in problems:
        by_file.setdefault(problem["file"], []).append(problem)
    assert set(by_file) == set(BROKEN)

    [unclosed] = by_file["oavslutad.bpmn"]
    assert "at line 6" in unclosed["message"] and "<startEvent> opened on line 5 is never closed" in unclosed["message"]
    assert unclosed["text"].startswith("oavslutad.bpmn: Filen är inte giltig XML (rad 6")
    assert "Stäng den (</startEvent> eller />)" in unclosed["text"]

    flow = next(p for p in by_file["utan_start.bpmn"] if p["element"] == "f1" and "sourceRef" in p["message"])
    assert flow["text"] == "Flödet ”f1” saknar start (sourceRef). Dra flödet från ett element i diagrammet."
    # the XSD's word for the same thing names the flow too, in the file's own terms
    xsd = next(p for p in by_file["utan_start.bpmn"] if p["message"].startswith("line "))
    assert xsd["element"] == "f1" and "bpmn:sequenceFlow" in xsd["message"] and "{http" not in xsd["message"]

    # one problem, about the flow — not the engine's guess about forms
    [target] = by_file["okant_mal.bpmn"]
    assert target["element"] == "f2" and "form" not in target["message"]
    assert "leder till ”ingenstans”, som inte finns i diagrammet" in target["text"]
    [source] = by_file["okand_kalla.bpmn"]
    assert source["element"] == "f1" and "går från ”spoke”" in source["text"]

    [juel] = by_file["juel.bpmn"]
    assert juel["element"] == "g" and juel["element_name"] == "Stort belopp?"
    assert "${amount.compareTo(limit) > 0}" in juel["text"] and "Uttryck skrivs i Python" in juel["text"]
    assert "expressions are Python" in juel["message"]

    [message] = by_file["meddelande.bpmn"]
    assert message["element"] == "start" and "'saknas'" in message["message"]
    assert "hänvisar till meddelandet ”saknas”, som inte finns i diagrammet" in message["text"]


def test_a_gateway_flow_without_a_condition_says_what_to_write(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("paula", "processagare")
    no_condition = gateway("utan_villkor", "beslut == 'ja'").replace(b' default="f_nej"', b"")
    [condition] = _problems(h, {"utan_villkor.bpmn": no_condition})
    assert condition["element"] == "f_nej" and "has no condition and is not its default" in condition["message"]
    assert "Ge flödet ett villkor (Python) eller gör det till gatewayens standardflöde" in condition["text"]


def test_plain_juel_is_translated_and_shown_to_the_deployer(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("paula", "processagare")
    body = _deploy(h, "belopp.bpmn", gateway("belopp", "${amount &gt; limit &amp;&amp; approved}"))
    [warning] = [w for w in body["warnings"] if w["element"] == "g"]
    assert "'amount > limit and approved'" in warning["message"]
    assert "skrivs i Python som amount > limit and approved" in warning["text"]


def test_xsd_deviations_the_engine_reads_are_warnings(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("paula", "processagare")
    # as SpiffArena writes them: formalExpression straight in a correlation property, messageRef on a start event
    correlation = """  <bpmn:message id="order" name="order"/>
  <bpmn:correlationProperty id="order_id" name="order_id">
    <bpmn:correlationPropertyRetrievalExpression messageRef="order">
      <bpmn:formalExpression>order_id</bpmn:formalExpression>
    </bpmn:correlationPropertyRetrievalExpression>
    <bpmn:formalExpression>order_id</bpmn:formalExpression>
  </bpmn:correlationProperty>
"""
    content = straight("spiffarena", GOOD_FLOWS, start='<bpmn:startEvent id="start" messageRef="order"/>',
                       before=correlation)
    body = _deploy(h, "spiffarena.bpmn", content)
    assert body["deployed"][0]["key"] == "spiffarena"
    deviations = [w for w in body["warnings"] if "the engine reads it anyway" in w["message"]]
    assert any("formalExpression" in w["message"] for w in deviations), body["warnings"]
    start = next(w for w in deviations if "messageRef" in w["message"])
    assert start["element"] == "start" and "bpmn:startEvent" in start["message"]
    assert all("men kan köras ändå" in w["text"] and "{http" not in w["message"] for w in deviations)
