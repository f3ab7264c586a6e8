"""The layout test (STYLE.md, CONTRIBUTING.md): every routine is found everywhere by its key.

For each diagram in ``bpmn/``: valid against the OMG BPMN 2.0 XSD, drawn (BPMNDI shapes and edges, so
it opens in bpmn-js and Camunda Modeler), one executable process named by the file, lanes that map to
roles, a form for every user task, only functions that ``processes/`` exports. For each routine: its
helper module and its scenario test. For each form: JSON Schema 2020-12 with Swedish titles, closed to
fields it does not declare. And the whole tree deploys, as ``samverkan deploy`` does.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from lxml import etree
from SpiffWorkflow.spiff.parser.process import VALIDATOR

from processes import script_functions
from service.actor import SYSTEM
from service.config import ROOT
from service.engine.sandbox import _SAFE_BUILTINS  # what diagram code may call besides processes/
from service.engine.timers import timer_literal
from service.operations.deploy import deploy_tree
from service.roles import ROLES
from service.services import Services

from .conftest import make_config

BPMN_DIR, FORMS_DIR = ROOT / "bpmn", ROOT / "forms"
ROUTINES = ("skyddsombudsstopp", "akut_verkstallighet", "utokat_stod_14_dagar", "klagomal_privat_utforare", "sip")
DIAGRAMS = sorted(BPMN_DIR.glob("*.bpmn"))
MAIN_KEYS = sorted(p.stem for p in DIAGRAMS if "__" not in p.stem)
SCHEMAS = sorted(FORMS_DIR.glob("*/*.schema.json"))
UI_SCHEMAS = sorted(FORMS_DIR.glob("*/*.uischema.json"))
LANES = {name for name in json.loads((BPMN_DIR / "lanes.json").read_text(encoding="utf-8")) if not name.startswith("$")}

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NS = {"bpmn": BPMN, "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "dc": "http://www.omg.org/spec/DD/20100524/DC", "di": "http://www.omg.org/spec/DD/20100524/DI",
      "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}
FLOW_NODES = frozenset({
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "task", "userTask",
    "scriptTask", "serviceTask", "sendTask", "receiveTask", "manualTask", "businessRuleTask", "callActivity",
    "subProcess", "transaction", "adHocSubProcess", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
    "eventBasedGateway", "complexGateway",
})
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
EXPRESSION_ELEMENTS = ("conditionExpression", "script", "completionCondition", "loopCardinality")
TIMER_ELEMENTS = ("timeDuration", "timeDate", "timeCycle")
EXPRESSION_PROPERTIES = ("assignee", "district", "title")
# Words that give away an English title (none of them is Swedish).
ENGLISH = frozenset({"the", "of", "and", "is", "are", "to", "with", "which", "when", "who", "what", "please", "enter",
                     "select", "date", "name", "comment", "reason", "yes", "no", "description", "details"})


def _key(diagram: Path) -> str:
    """The routine a diagram belongs to (call-activity parts: ``<key>__<part>``)."""
    return diagram.stem.split("__")[0]


def _root(diagram: Path) -> etree._Element:
    return etree.parse(str(diagram)).getroot()


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _properties(element: etree._Element) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in element.iterfind(
        "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)}


def unknown_calls(source: str) -> set[str]:
    """Names called as functions in ``source`` that are neither safe builtins, ``now``, functions
    exported by ``processes/``, nor defined by the code itself."""
    tree = ast.parse(source.strip())
    defined = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    defined |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    defined |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.Lambda) for a in n.args.args}
    known = set(script_functions()) | set(_SAFE_BUILTINS) | {"now"} | defined
    return {n.func.id for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id not in known}


def expressions(root: etree._Element) -> list[tuple[str, str]]:
    """Every piece of Python in a diagram, as (where, source)."""
    found: list[tuple[str, str]] = []
    for tag in EXPRESSION_ELEMENTS:
        for element in root.iter(f"{{{BPMN}}}{tag}"):
            found.append((f"{tag} in {element.getparent().get('id')}", element.text or ""))
    for tag in TIMER_ELEMENTS:
        for element in root.iter(f"{{{BPMN}}}{tag}"):
            if timer_literal(element.text or "") is None:
                found.append((f"{tag} in {element.getparent().getparent().get('id')}", element.text or ""))
    for tag in ("preScript", "postScript"):
        for element in root.iter(f"{{{NS['spiffworkflow']}}}{tag}"):
            found.append((tag, element.text or ""))
    for element in root.iter(f"{{{BPMN}}}*"):
        properties = _properties(element)
        for name in EXPRESSION_PROPERTIES:
            if properties.get(name):
                found.append((f"property {name} of {element.get('id')}", properties[name]))
        if properties.get("due") and timer_literal(properties["due"]) is None:
            found.append((f"property due of {element.get('id')}", properties["due"]))
    return [(where, source) for where, source in found if source.strip()]


def test_the_five_routines_are_in_the_tree() -> None:
    assert set(ROUTINES) <= set(MAIN_KEYS), MAIN_KEYS
    assert all(_key(d) in MAIN_KEYS for d in DIAGRAMS), "a call-activity part without its main diagram"


def test_unknown_call_finder_catches_a_misspelt_function() -> None:
    # the checker itself: a typo in a diagram is found, builtins, helpers and local names are not
    assert unknown_calls("frist = add_working_hours(now(), 2) if len(x) else r3_saknas(x)") == {"r3_saknas"}
    assert unknown_calls("def f(a):\n    return a\ny = f(1) + max([1, 2])") == set()
    assert unknown_calls("sorted(items, key=lambda item: item.get('t'))") == set()


@pytest.mark.parametrize("diagram", DIAGRAMS, ids=lambda p: p.name)
def test_diagram_validates_against_the_bpmn_xsd(diagram: Path) -> None:
    schema = VALIDATOR.validator
    valid = schema.validate(_root(diagram))
    assert valid, "\n".join(f"line {e.line}: {e.message}" for e in schema.error_log)


@pytest.mark.parametrize("diagram", DIAGRAMS, ids=lambda p: p.name)
def test_diagram_is_drawn(diagram: Path) -> None:
    root = _root(diagram)
    [plane] = root.findall("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS)
    ids = {e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    shapes = {s.get("bpmnElement"): s for s in root.iter(f"{{{NS['bpmndi']}}}BPMNShape")}
    edges = {e.get("bpmnElement"): e for e in root.iter(f"{{{NS['bpmndi']}}}BPMNEdge")}
    assert plane.get("bpmnElement") in ids
    assert set(shapes) | set(edges) <= ids, "DI refers to elements that do not exist"
    undrawn = []
    for element in root.iterfind("bpmn:process", NS):
        for node in element.iter(f"{{{BPMN}}}*"):
            kind = _local(node)
            if kind in FLOW_NODES or kind in ("lane", "participant"):
                bounds = shapes[node.get("id")].find("dc:Bounds", NS) if node.get("id") in shapes else None
                if bounds is None or not all(float(bounds.get(a, "-1")) >= 0 for a in ("x", "y")) \
                        or not all(float(bounds.get(a, "0")) > 0 for a in ("width", "height")):
                    undrawn.append(f"{kind} {node.get('id')}")
            elif kind == "sequenceFlow":
                edge = edges.get(node.get("id"))
                waypoints = [] if edge is None else edge.findall("di:waypoint", NS)
                if len(waypoints) < 2 or not all(w.get("x") and w.get("y") for w in waypoints):
                    undrawn.append(f"sequenceFlow {node.get('id')}")
    for participant in root.iter(f"{{{BPMN}}}participant"):
        if participant.get("id") not in shapes:
            undrawn.append(f"participant {participant.get('id')}")
    assert not undrawn, f"without a shape (with bounds) or an edge (with waypoints): {undrawn}"


@pytest.mark.parametrize("diagram", DIAGRAMS, ids=lambda p: p.name)
def test_diagram_conventions(diagram: Path) -> None:
    root = _root(diagram)
    processes = root.findall("bpmn:process", NS)
    assert [p.get("id") for p in processes if p.get("isExecutable") == "true"] == [diagram.stem]
    [participant] = root.findall("bpmn:collaboration/bpmn:participant", NS)
    assert participant.get("processRef") == diagram.stem
    [process] = processes
    lanes = process.findall("bpmn:laneSet/bpmn:lane", NS)
    assert lanes and {lane.get("name") for lane in lanes} <= LANES, "lane names must be keys of bpmn/lanes.json"
    in_lane = {ref.text.strip() for lane in lanes for ref in lane.findall("bpmn:flowNodeRef", NS)}
    for node in process.iter(f"{{{BPMN}}}*"):
        kind = _local(node)
        if kind in FLOW_NODES:
            assert SNAKE_CASE.match(node.get("id")), f"{kind} id {node.get('id')!r} is not snake_case"
        if kind in ("userTask", "callActivity", "subProcess") or (kind == "startEvent" and node.getparent() is process):
            assert node.get("name"), f"{kind} {node.get('id')} has no (Swedish) name"
        if kind == "userTask" or (kind == "startEvent" and node.getparent() is process):
            assert node.get("id") in in_lane, f"{kind} {node.get('id')} lies in no lane"


@pytest.mark.parametrize("diagram", DIAGRAMS, ids=lambda p: p.name)
def test_every_user_task_has_its_forms(diagram: Path) -> None:
    root = _root(diagram)
    folder = FORMS_DIR / _key(diagram)
    for task in root.iter(f"{{{BPMN}}}userTask"):
        properties = _properties(task)
        task_id = task.get("id")
        assert properties.get("formJsonSchemaFilename") == f"{task_id}.schema.json", task_id
        assert properties.get("formUiSchemaFilename") == f"{task_id}.uischema.json", task_id
        assert (folder / f"{task_id}.schema.json").is_file(), f"forms/{_key(diagram)}/{task_id}.schema.json"
        assert (folder / f"{task_id}.uischema.json").is_file(), f"forms/{_key(diagram)}/{task_id}.uischema.json"
    for start in root.iterfind("bpmn:process/bpmn:startEvent", NS):
        for name in filter(None, (_properties(start).get(p) for p in ("formJsonSchemaFilename",
                                                                       "formUiSchemaFilename"))):
            assert name.startswith("start."), f"the start form is named start.*.json, not {name}"
            assert (folder / name).is_file(), f"forms/{_key(diagram)}/{name}"


def test_no_form_without_a_diagram() -> None:
    used = set()
    for diagram in DIAGRAMS:
        for prop in _root(diagram).iter(f"{{{NS['spiffworkflow']}}}property"):
            if prop.get("name") in ("formJsonSchemaFilename", "formUiSchemaFilename"):
                used.add(f"{_key(diagram)}/{prop.get('value')}")
        for message in _root(diagram).iter(f"{{{NS['bpmn']}}}message"):  # a message's payload form
            used.add(f"{_key(diagram)}/message_{message.get('name')}.schema.json")
        for script in _root(diagram).iter(f"{{{NS['bpmn']}}}script"):  # what a script records for people
            for variable in re.findall(r"^\s*(\w+)\s*=", script.text or "", re.MULTILINE):
                used.add(f"{_key(diagram)}/record_{variable}.schema.json")
    present = {f"{p.parent.name}/{p.name}" for p in FORMS_DIR.glob("*/*.json")}
    assert present - used == set(), "form files no diagram names"


@pytest.mark.parametrize("diagram", DIAGRAMS, ids=lambda p: p.name)
def test_every_message_catcher_names_who_may_send_it(diagram: Path) -> None:
    # messageRoles on each catching element (API.md): without it only admin could send the message
    missing = []
    for tag in ("intermediateCatchEvent", "boundaryEvent", "receiveTask", "startEvent"):
        for element in _root(diagram).iter(f"{{{NS['bpmn']}}}{tag}"):
            catches = element.get("messageRef") is not None or element.find(
                f"{{{NS['bpmn']}}}messageEventDefinition") is not None
            names = {p.get("name") for p in element.iter(f"{{{NS['spiffworkflow']}}}property")}
            if catches and "messageRoles" not in names:
                missing.append(element.get("id"))
    assert not missing, f"message catchers without messageRoles: {missing}"


@pytest.mark.parametrize("diagram", DIAGRAMS, ids=lambda p: p.name)
def test_every_function_called_exists_in_processes(diagram: Path) -> None:
    found = expressions(_root(diagram))
    assert found, "a routine without a single expression is suspicious: is the parser looking in the right place?"
    missing = {}
    for where, source in found:
        try:
            names = unknown_calls(source)
        except SyntaxError as err:
            missing[where] = f"does not parse: {err.msg}"
            continue
        if names:
            missing[where] = ", ".join(sorted(names))
    assert not missing, f"calls to functions processes/ does not export: {missing}"


@pytest.mark.parametrize("key", MAIN_KEYS)
def test_every_routine_has_its_module_and_scenario_test(key: str) -> None:
    module = ROOT / "processes" / f"{key}.py"
    scenario = ROOT / "tests" / "routines" / f"test_{key}.py"
    assert module.is_file(), f"processes/{key}.py is missing"
    assert scenario.is_file(), f"tests/routines/test_{key}.py is missing: every routine tells its story in a test"
    assert key in scenario.read_text(encoding="utf-8"), f"{scenario.name} never names the routine"


def _fields(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every field (property) a person fills in, nested objects and list items included."""
    found: list[tuple[str, dict[str, Any]]] = []
    for name, field in (schema.get("properties") or {}).items():
        if isinstance(field, dict):
            found.append((f"{path}{name}", field))
            found += _fields(field, f"{path}{name}.")
            if isinstance(field.get("items"), dict):
                found += _fields(field["items"], f"{path}{name}[].")
    return found


def _swedish_problem(title: Any, name: str) -> str | None:
    if not isinstance(title, str) or not title.strip():
        return "no title"
    if "_" in title or title == name:
        return f"title {title!r} is the field's key, not words"
    english = set(re.findall(r"[a-zåäö]+", title.lower())) & ENGLISH
    return f"title {title!r} reads as English ({', '.join(sorted(english))})" if english else None


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_form_is_json_schema_2020_12_in_swedish(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema.get("$schema") == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert schema.get("type") == "object"
    problems = [f"(form) {p}" for p in [_swedish_problem(schema.get("title"), path.name)] if p]
    fields = _fields(schema)
    assert fields, "a form without fields"
    for name, field in fields:
        problem = _swedish_problem(field.get("title"), name.rsplit(".", 1)[-1])
        if problem:
            problems.append(f"{name}: {problem}")
    assert not problems, problems
    for name in schema.get("required", []):
        assert name in schema["properties"], f"required field {name!r} is not defined"


def _objects(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The form and every object in it that has fields of its own: groups and list items."""
    found = [("(form)", schema)]
    for name, field in _fields(schema):
        for where, part in ((name, field), (f"{name}[]", field.get("items"))):
            if isinstance(part, dict) and "properties" in part:
                found.append((where, part))
    return found


def _conditioned(schema: dict[str, Any]) -> set[str]:
    """Names of the fields an object's conditions (if/then/else, allOf, ...) test or require."""
    names: set[str] = set()
    parts = [schema.get(key) for key in ("if", "then", "else", "not")]
    parts += [part for key in ("allOf", "anyOf", "oneOf") for part in schema.get(key) or []]
    for part in parts:
        if isinstance(part, dict):
            names |= set(part.get("properties") or {}) | set(part.get("required") or []) | _conditioned(part)
    return names


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_form_is_closed(path: Path) -> None:
    # DESIGN.md: forms are closed, so nothing rides along into the case data. Conditions stay open
    # (a closed "then" would refuse the form's other fields), so they may only name declared fields.
    schema = json.loads(path.read_text(encoding="utf-8"))
    objects = _objects(schema)
    open_objects = [name for name, field in objects if field.get("additionalProperties") is not False]
    assert not open_objects, f'add "additionalProperties": false to {open_objects}'
    for name, field in objects:
        undeclared = _conditioned(field) - set(field["properties"])
        assert not undeclared, f"{name}: conditions name fields the form does not declare: {sorted(undeclared)}"


@pytest.mark.parametrize("path", UI_SCHEMAS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_ui_schema_orders_the_form_fields(path: Path) -> None:
    ui = json.loads(path.read_text(encoding="utf-8"))
    schema = json.loads(path.with_name(path.name.replace(".uischema.json", ".schema.json")).read_text(encoding="utf-8"))
    fields = list(schema.get("properties", {}))
    order = ui.get("ui:order", ["*"])
    # react-jsonschema-form refuses an order list with unknown fields, or one missing fields without "*"
    assert set(order) - {"*"} <= set(fields), f"ui:order names fields the form lacks: {set(order) - set(fields)}"
    assert "*" in order or set(fields) <= set(order), f"ui:order leaves out {set(fields) - set(order)}"


def test_the_whole_tree_deploys(sqlite_url: str) -> None:
    services = Services.create(make_config(sqlite_url, bpmn_dir=BPMN_DIR, forms_dir=FORMS_DIR))
    try:
        # samverkan deploy on a new database: every routine becomes version 1, started from its start lane
        deployed = deploy_tree(services, SYSTEM, BPMN_DIR, FORMS_DIR)
        assert sorted((d.key, d.version) for d in deployed) == [(key, 1) for key in MAIN_KEYS]
        for definition in deployed:
            assert definition.starter_roles and set(definition.starter_roles) <= ROLES, definition.key
            assert set(definition.roles) <= ROLES and definition.roles, definition.key
            assert definition.forms, definition.key
        # deploying the same tree again makes no new versions
        again = deploy_tree(services, SYSTEM, BPMN_DIR, FORMS_DIR)
        assert sorted((d.key, d.version) for d in again) == [(key, 1) for key in MAIN_KEYS]
    finally:
        services.close()


@pytest.mark.parametrize("diagram", DIAGRAMS, ids=lambda p: p.name)
def test_multi_instance_collections_are_declared(diagram: Path) -> None:
    """A loopDataInputRef/OutputRef must name an element of the document (a ``bpmn:property``):
    modelers such as bpmn-js drop references they cannot resolve when they save the diagram."""
    root = _root(diagram)
    ids = {element.get("id") for element in root.iter() if element.get("id")}
    undeclared = sorted({(ref.text or "").strip() for tag in ("loopDataInputRef", "loopDataOutputRef")
                         for ref in root.iter(f"{{{BPMN}}}{tag}")} - ids)
    assert undeclared == [], f"declare as <bpmn:property id=... name=...> in the process: {undeclared}"
