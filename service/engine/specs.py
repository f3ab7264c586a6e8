"""Parse and validate a deployment bundle (BPMN files + form files), and cache parsed specs.

Validation reports *every* problem at once — not well-formed XML, XSD violations, parser errors
(including the library's own ``TypeError``/``KeyError`` on broken references), non-executable
files, user tasks outside lanes or in lanes that map to no role, missing or invalid forms, and
expressions the sandbox refuses — each with the file and element it concerns.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import re._parser as sre_parse  # Python's own pattern parser: finds nested quantifiers exactly
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins import (
    BoundaryEventMixin,
    ScriptTaskMixin,
    StartEventMixin,
    UserTaskMixin,
)
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.spiff.parser.process import VALIDATOR

from . import dmn, interop, sandbox
from .external import adopt_service_tasks
from .timers import TIMER_CLASSES, inner_definitions, timer_definition, timer_literal
from .xml import XmlRejected, parse_xml

logger = logging.getLogger(__name__)

KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")
EXPRESSION_PROPERTIES = ("assignee", "district", "title", "organisation")
#: How a user task's ``due`` counts: in office hours ("working") or by the clock (the default).
DUE_COUNTS = (None, "working", "clock")
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@dataclass(frozen=True)
class Problem:
    file: str
    message: str
    element: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"file": self.file, "element": self.element, "message": self.message}


@dataclass
class ParsedProcess:
    """One deployable process of a bundle."""

    key: str
    name: str
    spec: Any
    subprocess_specs: dict[str, Any]
    roles: list[str]
    starter_roles: list[str]
    form_files: set[str] = field(default_factory=set)
    lanes: set[str] = field(default_factory=set)  # the lanes its people work in (users, manual tasks, starts)


@dataclass(frozen=True)
class Deployed:
    """The latest deployed version of a process, as a call activity in an upload may call it."""

    version: int
    files: Mapping[str, str]  # filename -> BPMN or DMN XML, as stored with that version
    forms: Mapping[str, Any]


@dataclass
class Bundle:
    processes: list[ParsedProcess]
    bpmn_files: dict[str, str]  # filename -> BPMN or DMN XML: the upload's, and the called deployed processes'
    forms: dict[str, Any]
    problems: list[Problem]
    warnings: list[Problem] = field(default_factory=list)  # what deploy changed or assumed, for the deployer

    def checksum(self, key: str) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.bpmn_files):
            digest.update(name.encode() + b"\0" + self.bpmn_files[name].encode() + b"\0")
        for name in sorted(self.forms):
            digest.update(name.encode() + b"\0" + json.dumps(self.forms[name], sort_keys=True).encode())
        digest.update(key.encode())
        return digest.hexdigest()


class LaneRoles:
    """The lane name → role keys mapping (``bpmn/lanes.json``)."""

    def __init__(self, mapping: Mapping[str, Iterable[str]]) -> None:
        self.mapping = {lane: list(roles) for lane, roles in mapping.items() if not lane.startswith("$")}

    @classmethod
    def load(cls, path: Any) -> LaneRoles:
        with open(path, encoding="utf-8") as handle:
            return cls(json.load(handle))

    def with_own(self, own: Mapping[str, Iterable[str]] | None) -> LaneRoles:
        """This mapping with a deployed version's own lanes (``ProcessDefinition.lanes``) taking precedence."""
        return self if not own else LaneRoles({**self.mapping, **own})

    def roles(self, lane: str | None) -> list[str] | None:
        return None if lane is None else self.mapping.get(lane)


def adopt_timers(specs: Iterable[Any]) -> None:
    """Swap the parser's timer event definitions for the clock-aware ones (see ``timers``)."""
    for spec in specs:
        for task_spec in spec.task_specs.values():
            definition = getattr(task_spec, "event_definition", None)
            for inner in inner_definitions(definition) if definition is not None else []:
                if type(inner) in TIMER_CLASSES:
                    inner.__class__ = TIMER_CLASSES[type(inner)]


def parse_bundle(
    files: Mapping[str, bytes], lanes: LaneRoles, *, existing_forms: Mapping[str, Mapping[str, Any]] | None = None,
    default_starters: Iterable[str] = ("processagare",), deployed: Mapping[str, Deployed] | None = None,
) -> Bundle:
    """Parse and validate uploaded files. ``files``: filename → content (``.bpmn``, ``.dmn`` and ``.json``).

    Form files may be named ``<key>/<name>.json`` or just ``<name>.json``; forms a diagram names but
    the upload lacks are taken from ``existing_forms[key]`` (the latest deployed version).
    Diagrams from other modelers are first brought into Samverkan's shape (``interop.adapt``); a
    start event outside any lane may be started by ``default_starters``. A call activity whose
    process is not in the upload calls the latest ``deployed`` version of it, pinned: its files are
    stored with the caller's new version (``_resolve_calls``).
    """
    problems: list[Problem] = []
    warnings: list[Problem] = []
    schema_errors: dict[str, list[Problem]] = {}
    bpmn_files: dict[str, str] = {}
    forms: dict[str, Any] = {}
    generated: dict[str, Any] = {}
    parser = dmn.Parser(validator=None)
    dmn_files: dict[str, str] = {}
    refused_decisions: set[str] = set()
    for name, content in sorted(files.items()):
        if name.endswith(".bpmn") or name.endswith(".bpmn20.xml"):
            root = _read_bpmn(name, content, problems, schema_errors)
            if root is None:
                continue
            problems.extend(_flow_problems(name, root))
            problems.extend(_reference_problems(name, root))
            adapted = interop.adapt(root, lanes.mapping)
            problems.extend(Problem(name, message, element) for message, element in adapted.problems)
            warnings.extend(Problem(name, message, element) for message, element in adapted.warnings)
            generated.update(adapted.forms)
            try:
                parser.add_bpmn_xml(root, filename=name)
            except Exception as err:  # the library raises arbitrary types on broken diagrams
                if not any(p.file == name and p.message.startswith(DANGLING) for p in problems):
                    problems.append(_problem_from(name, err))  # else what it stumbled on is named already
                continue  # not read: its processes are unknown, so "no executable process" would mislead
            bpmn_files[name] = (etree.tostring(root, encoding="unicode") if adapted.changed
                                else content.decode("utf-8", errors="replace"))
        elif dmn.is_dmn(name):
            text, found = dmn.read_dmn(parser, name, content)
            problems.extend(Problem(name, message, element) for message, element in found)
            if text is not None:
                dmn_files[name] = text
            elif refused_id := dmn.decision_id(content):
                refused_decisions.add(refused_id)
        elif name.endswith(".json"):
            _read_form(name, content, forms, problems)
        else:
            problems.append(Problem(name, "unsupported file type: upload .bpmn diagrams, .dmn decision tables and"
                                    " .json forms"))
    for form_name, schema in generated.items():
        forms.setdefault(form_name, schema)
    if not bpmn_files and not problems:
        problems.append(Problem("", "no BPMN file in the upload"))
    problems.extend(Problem(*found) for found in dmn.decision_problems(
        [(p.filename, p.node) for p in parser.process_parsers.values() if p.filename in bpmn_files],
        parser.dmn_parsers, refused_decisions))
    pinned, pinned_forms = _resolve_calls(parser, bpmn_files, deployed or {}, problems, warnings)
    processes = _executable_processes(parser, bpmn_files, lanes, forms, existing_forms or {}, problems,
                                      warnings, sorted(set(default_starters)), pinned_forms)
    bpmn_files.update(dmn_files)
    bpmn_files.update(pinned)
    for name, errors in schema_errors.items():
        # the engine read the file although it deviates from the XSD: a warning, unless the file has problems
        if any(p.file == name for p in problems):
            problems.extend(errors)
        else:
            warnings.extend(Problem(e.file, f"{e.message} (the engine reads it anyway)", e.element) for e in errors)
    return Bundle(processes, bpmn_files, forms, problems, warnings)


def _read_bpmn(name: str, content: bytes, problems: list[Problem],
               schema_errors: dict[str, list[Problem]]) -> etree._Element | None:
    try:
        root = parse_xml(content)
    except XmlRejected as err:
        problems.append(Problem(name, str(err)))
        return None
    if etree.QName(root).namespace != BPMN_NS or etree.QName(root).localname != "definitions":
        problems.append(Problem(name, "not a BPMN 2.0 document (root must be bpmn:definitions)"))
        return None
    schema = VALIDATOR.validator
    if not schema.validate(root):
        at_line: dict[tuple[int, str], str] = {}  # (line, tag) → the id of the element there
        for element in root.iter():
            if isinstance(element.tag, str) and element.get("id") and element.sourceline is not None:
                at_line.setdefault((element.sourceline, element.tag), element.get("id"))
        schema_errors[name] = [
            Problem(name, f"line {error.line}: {_xsd_text(error.message)}",
                    at_line.get((error.line, next(iter(re.findall(r"^Element '([^']+)'", error.message)), ""))))
            for error in schema.error_log]
    return root


_NAMESPACES = {BPMN_NS: "bpmn", "http://www.omg.org/spec/BPMN/20100524/DI": "bpmndi",
               "http://www.omg.org/spec/DD/20100524/DC": "dc", "http://www.omg.org/spec/DD/20100524/DI": "di"}


def _xsd_text(message: str) -> str:
    """The XSD validator's message with ``bpmn:`` for ``{http://www.omg.org/…/MODEL}`` (what a modeler reads)."""
    text = re.sub(r"\{([^}]*)\}", lambda m: f"{_NAMESPACES[m[1]]}:" if m[1] in _NAMESPACES else m[0], message)
    return re.sub(r"^Element '([^']+)'", r"the element \1", text).rstrip(".")


#: The starts of problems about a reference to nothing (``_flow_problems``, ``_reference_problems``): the
#: engine stumbles on them with a message of its own, which then says nothing more.
DANGLING_FLOW = "sequence flow "
DANGLING = (DANGLING_FLOW, "the event refers to the ")
_REFERENCES = (("messageRef", "message"), ("signalRef", "signal"), ("errorRef", "error"),
               ("escalationRef", "escalation"))


def _reference_problems(name: str, root: etree._Element) -> list[Problem]:
    """Event definitions naming a message, signal, error or escalation the diagram does not define."""
    defined = {kind: {e.get("id") for e in root.iter(f"{{{BPMN_NS}}}{kind}")} for _, kind in _REFERENCES}
    found: list[Problem] = []
    for definition in root.iter():
        if not isinstance(definition.tag, str) or not definition.tag.endswith("EventDefinition"):
            continue
        event = definition.getparent()
        for attribute, kind in _REFERENCES:
            ref = (definition.get(attribute) or "").strip()
            if ref and ref not in defined[kind]:
                found.append(Problem(name, f"the event refers to the {kind} {ref!r}, which the diagram does not"
                                     f" define: add the {kind} (bpmn:{kind}) or choose one that exists",
                                     event.get("id") if event is not None else None))
    return found


def _flow_problems(name: str, root: etree._Element) -> list[Problem]:
    """Sequence flows not joined at both ends to an element of the diagram. The engine reads some of these
    without a word (a flow from nowhere is dropped, its target never reached) and stumbles on others with a
    message about forms; either way the modeler must join the flow."""
    ids = {element.get("id") for element in root.iter() if isinstance(element.tag, str) and element.get("id")}
    found: list[Problem] = []
    for flow in root.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        flow_id = flow.get("id") or "(no id)"
        for attribute, end, verb in (("sourceRef", "start", "leaves from"), ("targetRef", "end", "leads to")):
            ref = (flow.get(attribute) or "").strip()
            if not ref:
                found.append(Problem(name, f"{DANGLING_FLOW}{flow_id!r} has no {attribute}: join its {end} to an"
                                     " element in the editor", flow.get("id")))
            elif ref not in ids:
                found.append(Problem(name, f"{DANGLING_FLOW}{flow_id!r} {verb} {ref!r}, which is no element of"
                                     " the diagram: join it to an element that exists, or remove the flow",
                                     flow.get("id")))
    return found


def _read_form(name: str, content: bytes, forms: dict[str, Any], problems: list[Problem]) -> None:
    try:
        document = json.loads(content.decode("utf-8"))
    except UnicodeDecodeError:
        problems.append(Problem(name, "not valid JSON: the file is not UTF-8 encoded"))
        return
    except json.JSONDecodeError as err:
        problems.append(Problem(name, f"not valid JSON at line {err.lineno}, column {err.colno}: {err.msg}"))
        return
    if name.endswith(".schema.json"):
        try:
            Draft202012Validator.check_schema(document)
        except SchemaError as err:
            where = "/".join(str(part) for part in err.absolute_path) or "the top"
            problems.append(Problem(name, f"not a valid JSON Schema at {where}: {err.message}"))
            return
        if not isinstance(document, dict) or document.get("type", "object") != "object":
            problems.append(Problem(name, "a form schema must describe an object"))
            return
        problems.extend(Problem(name, problem) for problem in pattern_problems(document))
    forms[name] = document


# --- Form patterns ---------------------------------------------------------------------------------
_REPEATS = tuple(getattr(sre_parse, op) for op in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
                 if hasattr(sre_parse, op))
_SUBSCHEMA_KEYS = ("items", "additionalProperties", "contains", "not", "if", "then", "else", "propertyNames",
                   "unevaluatedProperties", "unevaluatedItems")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SUBSCHEMA_MAPS = ("$defs", "definitions", "dependentSchemas", "patternProperties")


def pattern_problems(schema: Any) -> list[str]:
    """What is wrong with the ``pattern``s (and ``patternProperties``) of a form, naming each field:
    nested quantifiers (``^(a+)+$``: exponential time in a backtracking matcher, and a sign the
    pattern says something else than meant) and constructs the linear-time matcher (RE2) lacks."""
    from service.forms import pattern_error

    problems: list[str] = []

    def check(pattern: str, field: str) -> None:
        where = f"field {field!r}" if field else "the form"
        if _nests_quantifiers(pattern):
            problems.append(f"{where}: the pattern {pattern!r} repeats a group that itself repeats (nested "
                            "quantifiers, as in ^(a+)+$); write it so that no repeated part contains another "
                            "repetition")
        elif error := pattern_error(pattern):
            problems.append(f"{where}: the pattern {pattern!r} cannot be matched in linear time ({error}); "
                            "backreferences and lookaround are not supported")

    def walk(node: Any, field: str) -> None:
        if not isinstance(node, dict):
            return
        if isinstance(node.get("pattern"), str):
            check(node["pattern"], field)
        if isinstance(node.get("patternProperties"), dict):
            for pattern in node["patternProperties"]:
                check(str(pattern), field)
        properties = node.get("properties")
        for key, child in (properties.items() if isinstance(properties, dict) else ()):
            walk(child, f"{field}.{key}" if field else str(key))
        for key in _SUBSCHEMA_KEYS:
            walk(node.get(key), field)
        for key in _SUBSCHEMA_LISTS:
            children = node.get(key)
            for child in children if isinstance(children, list) else ():
                walk(child, field)
        for key in _SUBSCHEMA_MAPS:
            for child in (node[key].values() if isinstance(node.get(key), dict) else ()):
                walk(child, field)

    walk(schema, "")
    return problems


def _nests_quantifiers(pattern: str) -> bool:
    """Whether a repeated part of ``pattern`` holds a repetition of varying length (``(a+)+``,
    ``(a|b?)*``, ``(x{1,3})+``); a fixed count inside (``([0-9]{2}:)+``) is fine."""
    try:
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return False  # not Python syntax: RE2's own check decides

    def walk(items: Iterable[Any], repeated: bool) -> bool:
        for op, argument in items:
            if op in _REPEATS:
                low, high, sub = argument
                if repeated and low != high:
                    return True
                if walk(sub, repeated or high == sre_parse.MAXREPEAT or high > 1):
                    return True
            elif any(walk(part, repeated) for part in _parts(op, argument)):
                return True
        return False

    return walk(parsed, False)


def _parts(op: Any, argument: Any) -> list[Any]:
    """The sub-patterns inside a group, an alternation or a lookaround (parsed by ``re._parser``)."""
    if op == sre_parse.SUBPATTERN:
        return [argument[-1]]
    if op == sre_parse.BRANCH:
        return list(argument[1])
    if op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
        return [argument[1]]
    if op == getattr(sre_parse, "ATOMIC_GROUP", None):
        return [argument]
    return []


# SpiffWorkflow's wording for constructs Samverkan does not run, reworded so a modeler knows what to change.
_REWORDED = (
    (re.compile(r"^A Service Task must have an operator"),
     "a service task needs a topic: set camunda:topic or an operator (spiffworkflow:serviceTaskOperator)"),
    (re.compile(r"^Cannot resolve (dataInputAssociation|dataOutputAssociation).*$", re.S),
     r"a data association (\1) refers to no data object of the process: draw the data object or remove the"
     " association"),
    (re.compile(r"^The process '(.+?)' was not found.*$", re.S),
     r"the call activity calls the process '\1', which is not in the upload and not deployed: upload its diagram"
     " together with this one, or deploy it first"),
    (re.compile(r"<Element \{[^}]*\}(\w+) at 0x[0-9a-f]+>"), r"\1"),
    (re.compile(r"^When looking for a task spec, we found two items.*\((.*)\)$", re.S),
     r"a sequence flow leads to '\1', which is no element of the process: join it to an element that exists"),
    (re.compile(r"^Multiple outgoing flows are not supported for tasks of type.*$", re.S),
     "several sequence flows leave this element: draw one flow out of it and split the way with a gateway"),
    (re.compile(r"^Non-default exclusive outgoing sequence flow without condition.*$", re.S),
     "a flow out of this exclusive gateway has no condition and is not its default: give the flow a condition"
     " (Python) or make it the gateway's default flow"),
    (re.compile(r"^Invalid Script Task\.\s+No Script Provided.*$", re.S),
     "the script task has no script: write the script (Python) or make it a plain task"),
    (re.compile(r"^No start event found.*$", re.S), "the process has no start event: draw one"),
    (re.compile(r"^A SubWorkflow Must contain an End event.*$", re.S),
     "the subprocess has no end event: draw one inside it"),
    (re.compile(r"^Could not find messageRef from message event definition: (.*)$", re.S),
     r"a message event refers to the message '\1', which the diagram does not define: define the message"
     " (bpmn:message) or choose one that exists"),
    (re.compile(r"^(Message|Signal|Error|Escalation|Correlation) identifier is missing from bpmn xml.*$", re.S),
     lambda m: f"a {m[1].lower()} definition has no id: give it one"),
    (re.compile(r"^Expected an? (Message|Signal|Error|Escalation) node.*$", re.S | re.I),
     lambda m: f"an event refers to something that is not a {m[1].lower()}: choose a {m[1].lower()} the"
               " diagram defines"),
    (re.compile(r"^Duplicate process ID: (.*)$", re.S),
     r"the process id '\1' is used twice in the upload: give each process its own id"),
    (re.compile(r"^Conditional event definition with missing condition.*$", re.S),
     "the conditional event has no condition: write one (Python)"),
    (re.compile(r'^No "calledElement" attribute for Call Activity.*$', re.S),
     "the call activity names no process (calledElement): name the process it calls"),
    (re.compile(r"^(Time Specification Error|Unknown Time Specification).*$", re.S),
     "the timer has no time the engine reads: give a duration (PT1H), a date (2026-12-24T08:00:00+01:00)"
     " or a cycle (R3/PT1H)"),
    (re.compile(r"^There is no support implemented for this task type.*$", re.S),
     "this kind of element is not supported: use a user, manual or script task"),
    (re.compile(r"^Cancel Events may only be used with transactions.*$", re.S),
     "a cancel event works only in a transaction subprocess: use an error event, or draw a transaction"),
    (re.compile(r"^A loopMaximum or loopCondition must be specified for Loop Tasks.*$", re.S),
     "the loop has neither loopMaximum nor loopCondition: give one"),
    (re.compile(r"^Data Store with name (.+) has no implementation$", re.S),
     r"data stores are not supported: remove the data store '\1' and keep the data in the process's task data"),
)


def _problem_from(filename: str, err: Exception) -> Problem:
    if isinstance(err, ValidationException):
        element = getattr(err, "id", None) or getattr(err, "name", None)
        line = getattr(err, "line_number", None)
        text = str(getattr(err, "args", [""])[0] or err)
        for pattern, replacement in _REWORDED:
            text = pattern.sub(replacement, text)
        if re.match(r"^\w+(Error|Exception)\(", text):  # the library's own failure, wrapped
            logger.info("parser failed on %s: %s", filename, text)
            text = ("the engine cannot read this element: most often it refers to a message, signal, error or"
                    " process that does not exist in the upload")
        return Problem(filename, f"{text}" + (f" (line {line})" if line else ""), element or None)
    if isinstance(err, UnicodeDecodeError):
        return Problem(filename, "the file is not UTF-8 encoded")
    logger.info("parser raised %s on %s: %s", type(err).__name__, filename, err)  # the detail stays in the log
    return Problem(filename, "the engine cannot read this diagram: most often something refers to a message,"
                   " signal, error or process that does not exist in the upload")


def _executable_processes(parser: dmn.Parser, bpmn_files: dict[str, str], lanes: LaneRoles,
                          forms: dict[str, Any], existing_forms: Mapping[str, Mapping[str, Any]],
                          problems: list[Problem], warnings: list[Problem],
                          default_starters: list[str], pinned_forms: Mapping[str, Any]) -> list[ParsedProcess]:
    executable: dict[str, str] = {}
    called: set[str] = set()
    for process_id, process_parser in parser.process_parsers.items():
        if process_parser.node.get("isExecutable") == "true" and process_parser.filename in bpmn_files:
            executable[process_id] = process_parser.filename
        called.update(process_parser.called_element_ids() if hasattr(process_parser, "called_element_ids")
                      else _called_elements(process_parser.node))
    for name in bpmn_files:
        if name not in executable.values() and (not executable or not any(
                p.filename == name for p in parser.process_parsers.values() if p.bpmn_id in called)):
            problems.append(Problem(name, 'no executable process (isExecutable="true") in this file'))
    result = []
    for key, filename in sorted(executable.items()):
        if key in called and len(executable) > 1:
            continue  # a call activity's target deploys with its caller
        if not KEY_PATTERN.match(key):
            problems.append(Problem(filename, "process id must be a simple name (letters, digits, _ . -)", key))
            continue
        parsed = _parse_process(parser, key, filename, problems)
        if parsed is None:
            continue
        _check_process(parsed, filename, lanes, problems, warnings, default_starters)
        _resolve_forms(parsed, filename, forms, {**pinned_forms, **existing_forms.get(key, {})}, problems)
        result.append(parsed)
    return result


def _resolve_calls(parser: dmn.Parser, bpmn_files: Mapping[str, str], deployed: Mapping[str, Deployed],
                   problems: list[Problem], warnings: list[Problem]) -> tuple[dict[str, str], dict[str, Any]]:
    """Resolve the call activities of the upload's executable processes, and of what they call.

    A target in the upload is taken from there; else the latest deployed version of it is added
    to the parser and its files returned, to be stored with the caller (``deployed/<key>/<file>``),
    so a version runs what deploy checked. A target found nowhere is a problem at its call activity.
    Returns the pinned files and the forms their processes use.
    """
    pinned: dict[str, str] = {}
    pinned_forms: dict[str, Any] = {}
    queue = [pid for pid, p in parser.process_parsers.items()
             if p.filename in bpmn_files and p.node.get("isExecutable") == "true"]
    seen: set[str] = set()
    while queue:
        process_id = queue.pop()
        if process_id in seen:
            continue
        seen.add(process_id)
        process_parser = parser.process_parsers[process_id]
        for call in process_parser.node.iter(f"{{{BPMN_NS}}}callActivity"):
            target = (call.get("calledElement") or "").strip()
            if not target:
                continue
            if target not in parser.process_parsers and target in deployed:
                try:
                    _pin(parser, target, deployed[target], pinned)
                except Exception as err:  # the library raises arbitrary types; a deploy never ends in a 500
                    logger.warning("deployed process %s not read beside the upload: %s", target, err)
                    problems.append(Problem(process_parser.filename, f"the call activity calls the deployed process"
                                            f" '{target}', which cannot be read together with this upload (a process"
                                            " or decision id is used in both): rename the one in the upload",
                                            call.get("id")))
                    continue
                pinned_forms.update(deployed[target].forms)
                warnings.append(Problem(process_parser.filename, f"the call activity calls the deployed process"
                                        f" '{target}', version {deployed[target].version}: this version runs it until"
                                        " deployed again", call.get("id")))
            if target in parser.process_parsers:
                queue.append(target)
            else:
                problems.append(Problem(process_parser.filename, f"the call activity calls the process '{target}',"
                                        " which is not in the upload and not deployed: upload its diagram together"
                                        " with this one, or deploy it first", call.get("id")))
    return pinned, pinned_forms


def _pin(parser: dmn.Parser, key: str, deployed: Deployed, pinned: dict[str, str]) -> None:
    """Add the files of a deployed version to ``parser``, skipping processes and decisions it knows."""
    for name, text in sorted(deployed.files.items()):
        stored = name if name.startswith("deployed/") else f"deployed/{key}/{name}"
        root = parse_xml(str(text).encode("utf-8"))
        if dmn.is_dmn(name):
            ids = {d.get("id") for d in root if etree.QName(d).localname == "decision"}
            if stored in pinned or ids & set(parser.dmn_parsers):
                continue
            parser.add_dmn_xml(root, filename=stored)
        else:
            ids = {p.get("id") for p in root.iter(f"{{{BPMN_NS}}}process")}
            if stored in pinned or ids & set(parser.process_parsers):
                continue
            parser.add_bpmn_xml(root, filename=stored)
        pinned[stored] = str(text)


def _called_elements(node: etree._Element) -> set[str]:
    return {el.get("calledElement") for el in node.iter(f"{{{BPMN_NS}}}callActivity") if el.get("calledElement")}


def _parse_process(parser: dmn.Parser, key: str, filename: str, problems: list[Problem]) -> ParsedProcess | None:
    try:
        spec = parser.get_spec(key)
        subprocess_specs = parser.get_subprocess_specs(key)
    except Exception as err:  # the library raises arbitrary types on broken diagrams
        problem = _problem_from(filename, err)
        dangling = any(p.file == filename and p.message.startswith(DANGLING) for p in problems)
        missing_call = problem.message.startswith("the call activity calls") and problem.message.split(", which")[0]
        named = bool(missing_call) and any(p.message.startswith(str(missing_call)) for p in problems)
        if not dangling and not named:  # else the cause is named already: a flow not joined, a missing process
            problems.append(problem)
        return None
    adopt_timers([spec, *subprocess_specs.values()])
    adopt_service_tasks([spec, *subprocess_specs.values()])
    name = parser.process_parsers[key].get_name() or key
    return ParsedProcess(key, name, spec, subprocess_specs, roles=[], starter_roles=[])


def all_task_specs(parsed: ParsedProcess) -> Iterable[tuple[str, Any]]:
    for spec in (parsed.spec, *parsed.subprocess_specs.values()):
        for task_spec in spec.task_specs.values():
            yield spec.name, task_spec


def _check_process(parsed: ParsedProcess, filename: str, lanes: LaneRoles, problems: list[Problem],
                   warnings: list[Problem], default_starters: list[str]) -> None:
    roles: set[str] = set()
    for _, task_spec in all_task_specs(parsed):
        element = getattr(task_spec, "bpmn_id", None) or task_spec.name
        lane = getattr(task_spec, "lane", None)
        starts = isinstance(task_spec, StartEventMixin) and task_spec.name in _top_start_names(parsed)
        if is_human(task_spec) or starts:
            lane_roles = lanes.roles(lane)
            if lane is None and starts:
                parsed.starter_roles = sorted(set(parsed.starter_roles) | set(default_starters))
                warnings.append(Problem(filename, f"start event lies in no lane: started by the roles"
                                        f" {', '.join(default_starters)}", element))
            elif lane is None:
                warnings.append(Problem(filename, "lies in no lane: the task goes to whoever started the case",
                                        element))
            elif not lane_roles:
                problems.append(Problem(filename, f"lane {lane!r} maps to no role (bpmn/lanes.json)", element))
            else:
                parsed.lanes.add(lane)
                roles.update(lane_roles)
                if isinstance(task_spec, StartEventMixin):
                    parsed.starter_roles = sorted(set(parsed.starter_roles) | set(lane_roles))
        for problem in _expression_problems(task_spec):
            problems.append(Problem(filename, problem, element))
    parsed.roles = sorted(roles)


def is_human(task_spec: Any) -> bool:
    """A user or manual task: a person completes it."""
    return isinstance(task_spec, UserTaskMixin) or bool(getattr(task_spec, "manual", False))


def _top_start_names(parsed: ParsedProcess) -> set[str]:
    return {ts.name for ts in parsed.spec.task_specs.values() if isinstance(ts, StartEventMixin)}


def _expression_problems(task_spec: Any) -> list[str]:
    found: list[str] = []

    def check(source: str | None, what: str, script: bool = False) -> None:
        if not source:
            return
        refused = sandbox.check_script(source) if script else sandbox.check_expression(source)
        shown = "" if script else f" (expressions are Python; the expression is {source.strip()[:200]!r})"
        found.extend(f"{what}: {message}{shown}" for message in refused)

    for condition, target in getattr(task_spec, "cond_task_specs", []) or []:
        source = condition.args[0] if getattr(condition, "args", None) else condition
        check(source if isinstance(source, str) else None, f"condition on the flow to {target}")
    if isinstance(task_spec, ScriptTaskMixin):
        check(task_spec.script, "script", script=True)
    for attr in ("prescript", "postscript"):
        check(getattr(task_spec, attr, None), attr, script=True)
    definition = timer_definition(getattr(task_spec, "event_definition", None))
    if isinstance(definition, TimerEventDefinition) and timer_literal(definition.expression) is None:
        check(definition.expression, "timer")
    if isinstance(task_spec, MultiInstanceTask) and task_spec.condition:
        check(task_spec.condition, "completion condition")
    for name, param in (getattr(task_spec, "operation_params", None) or {}).items():
        check(param.get("value") if isinstance(param, dict) else None, f"service task parameter {name}")
    properties = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
    for name in EXPRESSION_PROPERTIES:
        check(properties.get(name), f"property {name}")
    due = properties.get("due")
    if due and timer_literal(due) is None:
        check(due, "property due")
    if properties.get("dueCounts") not in DUE_COUNTS:
        found.append(f"property dueCounts: {properties['dueCounts']!r} is not one of working, clock")
    if isinstance(task_spec, BoundaryEventMixin):
        pass  # boundary events carry their timer in event_definition (checked above)
    return found


def _resolve_forms(parsed: ParsedProcess, filename: str, forms: dict[str, Any],
                   existing: Mapping[str, Any], problems: list[Problem]) -> None:
    for _, task_spec in all_task_specs(parsed):
        element = getattr(task_spec, "bpmn_id", None) or task_spec.name
        properties = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
        wanted = [properties.get("formJsonSchemaFilename"), properties.get("formUiSchemaFilename")]
        if isinstance(task_spec, UserTaskMixin) and not wanted[0]:
            problems.append(Problem(filename, "user task has no form (formJsonSchemaFilename)", element))
        for form_name in filter(None, wanted):
            qualified = f"{parsed.key}/{form_name}"
            if qualified in forms or form_name in forms:
                forms.setdefault(qualified, forms.get(form_name))
            elif form_name in existing:
                forms[qualified] = existing[form_name]
            else:
                problems.append(Problem(filename, f"form file {form_name!r} is missing", element))
                continue
            parsed.form_files.add(form_name)
        _message_form(parsed, task_spec, forms, existing)
    for qualified in forms:  # what a script records for people to read (``record_<variable>``)
        folder, _, form_name = qualified.rpartition("/")
        if folder == parsed.key and form_name.startswith("record_") and form_name.endswith(".schema.json"):
            parsed.form_files.add(form_name)


def _message_form(parsed: ParsedProcess, task_spec: Any, forms: dict[str, Any], existing: Mapping[str, Any]) -> None:
    """A caught message's payload form (``message_<name>.schema.json``) travels with the version."""
    event = getattr(task_spec, "event_definition", None)
    for definition in inner_definitions(event) if event is not None else []:
        name = getattr(definition, "name", None)
        if not name or type(definition).__name__ != "MessageEventDefinition":
            continue
        form_name = f"message_{name}.schema.json"
        qualified = f"{parsed.key}/{form_name}"
        if qualified in forms:
            parsed.form_files.add(form_name)
        elif form_name in existing:
            forms[qualified] = existing[form_name]
            parsed.form_files.add(form_name)


class SpecCache:
    """Parsed specs per deployed definition id. Definitions are immutable, so entries never go stale."""

    def __init__(self, lanes: LaneRoles) -> None:
        self.lanes = lanes
        self._cache: dict[int, tuple[Any, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, definition_id: int, key: str, bpmn_files: Mapping[str, str]) -> tuple[Any, dict[str, Any]]:
        cached = self._cache.get(definition_id)
        if cached is not None:
            return cached
        with self._lock:
            if definition_id not in self._cache:
                parser = dmn.Parser(validator=None)
                for name, text in sorted(bpmn_files.items()):
                    if dmn.is_dmn(name):
                        parser.add_dmn_xml(parse_xml(text.encode("utf-8")), filename=name)
                    else:
                        parser.add_bpmn_xml(parse_xml(text.encode("utf-8")), filename=name)
                spec = parser.get_spec(key)
                subprocess_specs = parser.get_subprocess_specs(key)
                adopt_timers([spec, *subprocess_specs.values()])
                adopt_service_tasks([spec, *subprocess_specs.values()])
                self._cache[definition_id] = (spec, subprocess_specs)
            return self._cache[definition_id]
