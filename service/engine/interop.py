"""Diagrams drawn in other modelers (Camunda Modeler 7/8, SpiffArena, ...) in the shape Samverkan runs.

``adapt`` runs on each uploaded diagram before the engine reads it and rewrites the XML tree in place:

- ``camunda:candidateGroups`` → the task moves into the lane (``bpmn/lanes.json``) the group names;
  ``camunda:assignee`` and a single ``camunda:candidateUsers`` → the task's ``assignee`` property;
- ``camunda:formField`` → a generated JSON Schema form; a user task with no form at all → a
  generated confirm form (an optional comment) — except in Samverkan's own diagrams (exporter
  "Samverkan"), where a missing form is a mistake in the editor and stays a problem;
- JUEL/FEEL conditions of the plain shapes (``${a > 5}``, ``${!approved}``, ``=a > 5``) → Python;
- data stores are dropped (the process keeps its data in the task data);
- service tasks → external tasks on the topic their modeler names (``service_topic``), read by the
  engine as SpiffArena's operator service tasks (``engine.external``).

What it changed is reported as warnings the deployer sees; what it cannot take (JUEL beyond the plain
shapes, candidate groups mapping to no role) as problems — every one of them, since the engine
would stop at the first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from . import sandbox

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
COMMENT_FIELD = "kommentar"


def _b(name: str) -> str:
    return f"{{{BPMN_NS}}}{name}"


@dataclass
class Adapted:
    """What ``adapt`` did to one diagram: (message, element id) pairs, and the forms it generated."""

    warnings: list[tuple[str, str | None]] = field(default_factory=list)
    problems: list[tuple[str, str | None]] = field(default_factory=list)
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: bool = False


def adapt(root: etree._Element, lane_names: dict[str, list[str]]) -> Adapted:
    """Rewrite ``root`` (a ``bpmn:definitions``) in place; ``lane_names``: the lane → roles mapping."""
    result = Adapted()
    own = (root.get("exporter") or "").strip().casefold() == "samverkan"
    _drop_data_stores(root, result)
    _service_tasks(root, result)
    for process in root.iter(_b("process")):
        for task in [*process.iter(_b("userTask")), *process.iter(_b("manualTask"))]:
            _camunda_actors(process, task, lane_names, result)
            if etree.QName(task).localname == "userTask":
                _form(task, result, own=own)
    _conditions(root, result)
    return result


# ---- data stores -----------------------------------------------------------------------------------

def _drop_data_stores(root: etree._Element, result: Adapted) -> None:
    stores = list(root.iter(_b("dataStoreReference"))) + list(root.iter(_b("dataStore")))
    if not stores:
        return
    ids = {s.get("id") for s in stores if s.get("id")}
    for store in stores:
        if store.tag == _b("dataStoreReference"):
            name = store.get("name") or store.get("dataStoreRef") or store.get("id")
            result.warnings.append((f"data store {name!r} ignored: the process keeps its data in the task data",
                                    store.get("id")))
        store.getparent().remove(store)
    for association in [*root.iter(_b("dataInputAssociation")), *root.iter(_b("dataOutputAssociation"))]:
        refs = {(child.text or "").strip() for child in association if child.tag in (_b("sourceRef"), _b("targetRef"))}
        if refs & ids:
            ids.add(association.get("id"))
            association.getparent().remove(association)
    for shape in [*root.iter(f"{{{BPMNDI_NS}}}BPMNShape"), *root.iter(f"{{{BPMNDI_NS}}}BPMNEdge")]:
        if shape.get("bpmnElement") in ids:
            shape.getparent().remove(shape)
    result.changed = True


# ---- service tasks ------------------------------------------------------------------------------

def _service_tasks(root: etree._Element, result: Adapted) -> None:
    """Service tasks run as external tasks (``engine.external``); the deployer is told each topic."""
    for task in list(root.iter(_b("serviceTask"))):
        topic, added = _service_topic(task)
        result.warnings.append((f"service task {task.get('id')} runs as an external task on topic {topic!r}"
                                ": a worker fetches it (POST /api/v1/external-tasks/fetch-and-lock)", task.get("id")))
        result.changed = result.changed or added


def service_topic(task: etree._Element) -> str:
    """A service task's external task topic: its ``topic`` property, SpiffArena's operator, ``camunda:topic`` (Camunda 7
    ``camunda:type="external"``), Zeebe's ``taskDefinition type``, else the task's id."""
    written = (_spiff_property(task, "topic") or "").strip()
    if written:
        return written
    operator = next(task.iter(f"{{{SPIFF_NS}}}serviceTaskOperator"), None)
    if operator is not None and (operator.get("id") or "").strip() not in ("", EXTERNAL_OPERATOR):
        return str(operator.get("id")).strip()
    topic = (task.get(f"{{{CAMUNDA_NS}}}topic") or "").strip()
    if not topic:
        definition = next(task.iter(f"{{{ZEEBE_NS}}}taskDefinition"), None)
        topic = (definition.get("type") or "").strip().lstrip("=").strip() if definition is not None else ""
    return topic or str(task.get("id") or "service")


#: The operator id written into service tasks that have none: a name no diagram element has (the
#: engine's parser finds elements by id, so the topic itself — often the task's id — cannot be it).
EXTERNAL_OPERATOR = "samverkan.external"


def _service_topic(task: etree._Element) -> tuple[str, bool]:
    """The topic, and whether the task had to be given an operator (the topic then goes in its
    ``topic`` property)."""
    topic = service_topic(task)
    if next(task.iter(f"{{{SPIFF_NS}}}serviceTaskOperator"), None) is not None:
        return topic, False
    if _spiff_property(task, "topic") is None:
        _set_spiff_property(task, "topic", topic)
    properties = _spiff_properties(task)
    assert properties is not None
    properties.addnext(etree.Element(f"{{{SPIFF_NS}}}serviceTaskOperator", id=EXTERNAL_OPERATOR))
    return topic, True


# ---- actors --------------------------------------------------------------------------------------

def resolve_group(group: str, lane_names: dict[str, list[str]]) -> str | None:
    """The lane a Camunda candidate group names: a lane's name (any case), or a role key one lane stands for."""
    wanted = group.strip()
    for lane in lane_names:
        if lane.casefold() == wanted.casefold():
            return lane
    exact = [lane for lane, roles in lane_names.items() if roles == [wanted]]
    if exact:
        return exact[0]
    holding = [lane for lane, roles in lane_names.items() if wanted in roles]
    return holding[0] if len(holding) == 1 else None


def _camunda_actors(process: etree._Element, task: etree._Element, lane_names: dict[str, list[str]],
                    result: Adapted) -> None:
    task_id = task.get("id")
    groups = [g.strip() for g in (task.get(f"{{{CAMUNDA_NS}}}candidateGroups") or "").split(",") if g.strip()]
    groups += [g.strip() for g in _zeebe_assignment(task, "candidateGroups").split(",") if g.strip()]
    if groups:
        resolved = {g: resolve_group(g, lane_names) for g in groups}
        unknown = [g for g, lane in resolved.items() if lane is None]
        lanes = sorted({lane for lane in resolved.values() if lane})
        if unknown:
            result.problems.append((f"candidate group {unknown[0]!r} maps to no role (bpmn/lanes.json)", task_id))
        elif len(lanes) > 1:
            result.problems.append((f"candidate groups {', '.join(groups)} name several lanes ({', '.join(lanes)}):"
                                    " name one group", task_id))
        else:
            _move_to_lane(process, task_id or "", lanes[0])
            result.warnings.append((f"candidate group {groups[0]!r} read as the lane {lanes[0]!r}", task_id))
            result.changed = True
    assignee = task.get(f"{{{CAMUNDA_NS}}}assignee") or _zeebe_assignment(task, "assignee")
    users = [u.strip() for u in (task.get(f"{{{CAMUNDA_NS}}}candidateUsers") or "").split(",") if u.strip()]
    if not assignee and len(users) == 1:
        assignee = users[0]
    elif not assignee and len(users) > 1:
        result.problems.append((f"candidate users {', '.join(users)}: name one user (the assignee) or a"
                                " candidate group", task_id))
    if assignee and _spiff_property(task, "assignee") is None:
        expression = translate(assignee) if _is_foreign(assignee) else repr(assignee.strip())
        if expression is None:
            result.problems.append((f"assignee {assignee!r} is not an expression Samverkan reads: expressions"
                                    " are Python (e.g. a user name, or a variable holding one)", task_id))
        else:
            _set_spiff_property(task, "assignee", expression)
            result.warnings.append((f"assignee {assignee!r} read as the Python expression {expression}", task_id))
            result.changed = True


def _zeebe_assignment(task: etree._Element, attribute: str) -> str:
    for definition in task.iter(f"{{{ZEEBE_NS}}}assignmentDefinition"):
        value = (definition.get(attribute) or "").strip()
        return value[1:].strip() if value.startswith("=") and attribute == "candidateGroups" else value
    return ""


def _move_to_lane(process: etree._Element, task_id: str, lane_name: str) -> None:
    root = process.getroottree().getroot()
    for ref in list(root.iter(_b("flowNodeRef"))):
        if (ref.text or "").strip() == task_id:
            ref.getparent().remove(ref)
    lane = next((ln for ln in process.iter(_b("lane")) if ln.get("name") == lane_name), None)
    if lane is None:
        lane_set = next(iter(process.iterchildren(_b("laneSet"))), None)
        if lane_set is None:
            lane_set = etree.Element(_b("laneSet"), id=f"{process.get('id')}_lanes")
            process.insert(_insert_index(process, ("documentation", "extensionElements", "auditing",
                                                   "monitoring", "property")), lane_set)
        lane = etree.SubElement(lane_set, _b("lane"), id=f"lane_{_safe_id(lane_name)}", name=lane_name)
    etree.SubElement(lane, _b("flowNodeRef")).text = task_id


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _insert_index(element: etree._Element, before: tuple[str, ...]) -> int:
    """Where a child goes so the XSD's order holds: after the children named ``before``."""
    index = 0
    for position, child in enumerate(element):
        if isinstance(child.tag, str) and etree.QName(child).localname in before:
            index = position + 1
    return index


def _spiff_properties(task: etree._Element, create: bool = False) -> etree._Element | None:
    extensions = next(iter(task.iterchildren(_b("extensionElements"))), None)
    if extensions is None:
        if not create:
            return None
        extensions = etree.Element(_b("extensionElements"))
        task.insert(_insert_index(task, ("documentation",)), extensions)
    properties = next(iter(extensions.iterchildren(f"{{{SPIFF_NS}}}properties")), None)
    if properties is None and create:
        properties = etree.SubElement(extensions, f"{{{SPIFF_NS}}}properties")
    return properties


def _spiff_property(task: etree._Element, name: str) -> str | None:
    properties = _spiff_properties(task)
    for prop in properties.iterchildren(f"{{{SPIFF_NS}}}property") if properties is not None else ():
        if prop.get("name") == name:
            return prop.get("value")
    return None


def _set_spiff_property(task: etree._Element, name: str, value: str) -> None:
    properties = _spiff_properties(task, create=True)
    assert properties is not None
    etree.SubElement(properties, f"{{{SPIFF_NS}}}property", name=name, value=value)


# ---- generated forms -------------------------------------------------------------------------------

_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string", "maxLength": 2000},
    "long": {"type": "integer"},
    "integer": {"type": "integer"},
    "double": {"type": "number"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
}


def _form(task: etree._Element, result: Adapted, *, own: bool) -> None:
    if _spiff_property(task, "formJsonSchemaFilename"):
        return
    task_id = task.get("id") or "task"
    title = " ".join((task.get("name") or task_id).split())
    fields = list(task.iter(f"{{{CAMUNDA_NS}}}formField"))
    if fields:
        schema = formfield_schema(title, fields)
        if schema is None:
            result.problems.append(("a camunda:formField has no id: give every form field an id", task_id))
            return
        what = "generated from its camunda:formField"
    elif own:
        return  # the engine's check names the task: "user task has no form"
    else:
        schema = confirm_schema(title)
        foreign = task.get(f"{{{CAMUNDA_NS}}}formKey") or next(
            (d.get("formKey") for d in task.iter(f"{{{ZEEBE_NS}}}formDefinition")), None)
        what = (f"a confirm form (optional comment) replaces the form {foreign!r}" if foreign
                else "has no form: a confirm form (optional comment) was generated")
    name = f"{task_id}.generated.schema.json"
    result.forms[name] = schema
    _set_spiff_property(task, "formJsonSchemaFilename", name)
    result.warnings.append((f"user task form {what} ({name})", task_id))
    result.changed = True


def confirm_schema(title: str) -> dict[str, Any]:
    return {"title": title, "type": "object", "properties": {
        COMMENT_FIELD: {"type": "string", "title": "Kommentar (valfri)", "maxLength": 2000}}}


def formfield_schema(title: str, fields: list[etree._Element]) -> dict[str, Any] | None:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for form_field in fields:
        field_id = (form_field.get("id") or "").strip()
        if not field_id:
            return None
        kind = (form_field.get("type") or "string").strip()
        values = list(form_field.iter(f"{{{CAMUNDA_NS}}}value"))
        if kind == "enum" or values:
            node: dict[str, Any] = {"type": "string", "oneOf": [
                {"const": v.get("id"), "title": v.get("name") or v.get("id")} for v in values if v.get("id")]}
        else:
            node = dict(_TYPES.get(kind, _TYPES["string"]))
        node["title"] = form_field.get("label") or field_id
        default = form_field.get("defaultValue")
        if default is not None and not default.startswith(("${", "#{")):
            node["default"] = _typed(default, node.get("type"))
        properties[field_id] = node
        if any(c.get("name") == "required" for c in form_field.iter(f"{{{CAMUNDA_NS}}}constraint")):
            required.append(field_id)
    schema: dict[str, Any] = {"title": title, "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _typed(value: str, kind: Any) -> Any:
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean":
        return value.strip().lower() == "true"
    return value


# ---- JUEL / FEEL → Python --------------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>'[^'\\]*'|"[^"\\]*")|(?P<name>[A-Za-z_]\w*)"""
                    r"""|(?P<op>&&|\|\||==|!=|<=|>=|<|>|!|\(|\)|=|\+|-|\*|/|%))""")
_WORDS = {"and": "and", "or": "or", "not": "not", "eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=",
          "ge": ">=", "true": "True", "false": "False", "null": "None", "div": "/", "mod": "%"}
_OPS = {"&&": "and", "||": "or", "!": "not"}


def _is_foreign(expression: str) -> bool:
    text = expression.strip()
    return (text.startswith(("${", "#{")) and text.endswith("}")) or text.startswith("=")


def translate(expression: str) -> str | None:
    """The Python of a plain JUEL (``${a > 5}``, ``${!approved}``) or FEEL (``=a > 5``) expression, or None."""
    text = expression.strip()
    feel = text.startswith("=")
    body = text[1:] if feel else text[2:-1]
    out: list[str] = []
    position = 0
    body = body.strip()
    while position < len(body):
        match = _TOKEN.match(body, position)
        if match is None or match.end() == position:
            return None
        position = match.end()
        piece = match.group(match.lastgroup or "")
        if match.lastgroup == "name":
            out.append(_WORDS.get(piece, piece) if piece not in ("empty",) else "")
            if piece == "empty":
                return None
        elif match.lastgroup == "op":
            if piece == "=":
                if not feel:
                    return None
                piece = "=="
            out.append(_OPS.get(piece, piece))
        else:
            out.append(piece)
    python = " ".join(out).replace("( ", "(").replace(" )", ")")
    if not python or sandbox.check_expression(python):
        return None
    return python


def _conditions(root: etree._Element, result: Adapted) -> None:
    targets = {flow.get("id"): flow.get("targetRef") for flow in root.iter(_b("sequenceFlow"))}
    for condition in [*root.iter(_b("conditionExpression")), *root.iter(_b("condition")),
                      *root.iter(_b("completionCondition"))]:
        source = (condition.text or "").strip()
        if not _is_foreign(source):
            continue
        owner = condition.getparent()
        flow = owner.tag == _b("sequenceFlow")
        element = owner.get("sourceRef") if flow else owner.get("id")
        where = f"condition on the flow to {targets.get(owner.get('id'))}" if flow else f"condition of {element}"
        python = translate(source)
        if python is None:
            result.problems.append((f"{where}: '{source}' is JUEL/FEEL beyond the plain shapes; expressions are"
                                    " Python (e.g. beslut == 'bifall' and belopp > 5)", element))
            condition.text = "False"
        else:
            condition.text = python
            result.warnings.append((f"{where}: '{source}' translated to the Python expression '{python}'",
                                    element))
        for attribute in ("language",):
            condition.attrib.pop(attribute, None)
        result.changed = True
