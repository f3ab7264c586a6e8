"""Decision tables (DMN 1.1–1.5) deployed with their process, run by SpiffWorkflow's DMN engine.

A business rule task names its decision as SpiffArena writes it (``spiffworkflow:calledDecisionId``),
as Camunda 7 does (``camunda:decisionRef``) or as Camunda 8 does (``zeebe:calledDecision``). The
decision's table is read when the diagram is parsed; its expressions are Python (as in SpiffArena)
and run through the workflow's script engine, so under the same sandbox and isolation as scripts and
conditions. At deploy every expression is checked by the sandbox and every structural fault of a
file is reported in plain words (``read_dmn``), and a business rule task whose decision is missing
names the decision (``decision_problems``).

Hit policies: UNIQUE (more than one matching row fails the task, naming the rows), FIRST and ANY
(the first matching row), COLLECT without aggregation (a list per output). When no row matches, each
output is ``None`` (COLLECT: ``[]``), so a gateway can take its default flow.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.dmn.specs.model import DecisionTable
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import BusinessRuleTaskParser, SpiffTaskParser
from SpiffWorkflow.spiff.specs.defaults import BusinessRuleTask

from . import sandbox
from .xml import XmlRejected, parse_xml

logger = logging.getLogger(__name__)

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
DMN_NAMESPACES = (
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",  # 1.1
    "http://www.omg.org/spec/DMN/20180521/MODEL/",  # 1.2
    "https://www.omg.org/spec/DMN/20191111/MODEL/",  # 1.3 (dmn-js, Camunda Modeler)
    "https://www.omg.org/spec/DMN/20211108/MODEL/",  # 1.4
    "https://www.omg.org/spec/DMN/20230324/MODEL/",  # 1.5
)
HIT_POLICIES = ("UNIQUE", "FIRST", "ANY", "COLLECT")
_QUESTION_MARK = re.compile(r'(\?)(?=(?:[^\'"]|[\'"][^\'"]*[\'"])*$)')  # as SpiffWorkflow's engine finds it

Found = list[tuple[str, str | None]]  # (message, element id), as ``interop`` reports


def is_dmn(filename: str) -> bool:
    return filename.endswith(".dmn")


# ---- business rule tasks -------------------------------------------------------------------------

def decision_ref(node: etree._Element) -> str | None:
    """The decision a business rule task calls, in SpiffArena's, Camunda 7's or Camunda 8's notation."""
    ref = SpiffTaskParser._parse_extensions(node).get("calledDecisionId") or node.get(f"{{{CAMUNDA_NS}}}decisionRef")
    if not ref:
        called = node.find(f"{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}calledDecision")
        ref = called.get("decisionId") if called is not None else None
    return ref.strip() if isinstance(ref, str) and ref.strip() else None


class DecisionTaskParser(BusinessRuleTaskParser):
    @staticmethod
    def get_decision_ref(node: etree._Element) -> str | None:
        return decision_ref(node)


class DecisionEngine(DMNEngine):
    """SpiffWorkflow's DMN engine with the hit policies kept as DMN defines them (see the module)."""

    def decide(self, task: Any) -> list[Any]:
        table = self.decision_table
        matched = []
        for rule in table.rules:
            if self._DMNEngine__check_rule(rule, task):  # type: ignore[attr-defined]  # the library's private check
                matched.append(rule)
                if table.hit_policy in ("FIRST", "ANY"):
                    break
        if table.hit_policy == "UNIQUE" and len(matched) > 1:
            rows = ", ".join(str(rule.row_number) for rule in matched)
            raise WorkflowTaskException(
                f"the decision table {table.name or table.id!r} has the hit policy UNIQUE, but rows {rows} all"
                " match: change the rules so that at most one matches, or use the hit policy FIRST", task=task)
        return matched

    def result(self, task: Any) -> dict[str, Any]:
        result: dict[str, Any] = super().result(task)
        for output in self.decision_table.outputs:
            key = output.name or output.label
            if key and "." not in key:
                result.setdefault(key, [] if self.decision_table.hit_policy == "COLLECT" else None)
        return result


class Parser(SpiffBpmnParser):  # type: ignore[misc]  # the library is untyped
    """SpiffArena's parser, reading business rule tasks in every modeler's notation and running their
    tables with ``DecisionEngine``. A decision missing from the bundle gives an empty table here:
    ``decision_problems`` reports it, so the rest of the diagram is still checked."""

    OVERRIDE_PARSER_CLASSES = {**SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
                               full_tag("businessRuleTask"): (DecisionTaskParser, BusinessRuleTask)}

    def get_engine(self, decision_ref: str | None, node: Any) -> DecisionEngine:
        dmn_parser = self.dmn_parsers.get(decision_ref) if decision_ref else None
        if dmn_parser is None:
            return DecisionEngine(DecisionTable(decision_ref or "", "", "UNIQUE"))
        if dmn_parser.decision is None:
            dmn_parser.parse()
        return DecisionEngine(dmn_parser.decision.decisionTables[0])


def decision_problems(process_nodes: Iterable[tuple[str, etree._Element]], decisions: Iterable[str],
                      refused: Iterable[str] = ()) -> list[tuple[str, str, str | None]]:
    """(file, message, element) for each business rule task that names no decision or a missing one
    (a decision whose file was refused has its problems in that file)."""
    known = set(decisions) | set(refused)
    found = []
    for filename, process in process_nodes:
        for task in process.iter(f"{{{BPMN_NS}}}businessRuleTask"):
            ref = decision_ref(task)
            if ref is None:
                found.append((filename, "business rule task names no decision: set its decision id"
                              " (calledDecisionId or camunda:decisionRef) to the id of a decision in a .dmn file",
                              task.get("id")))
            elif ref not in known:
                listed = ", ".join(sorted(known)) or "none"
                found.append((filename, f"business rule task calls the decision '{ref}', which no .dmn file of the"
                              f" upload holds (decisions uploaded: {listed}): upload its .dmn file together with"
                              " the diagram", task.get("id")))
    return found


# ---- reading a .dmn file ---------------------------------------------------------------------------

def decision_id(content: bytes) -> str | None:
    """The id of the (first) decision in a .dmn file, if it can be read at all."""
    try:
        root = parse_xml(content)
    except XmlRejected:
        return None
    return next((str(d.get("id")) for d in root if etree.QName(d).localname == "decision" and d.get("id")), None)


def read_dmn(parser: Parser, filename: str, content: bytes) -> tuple[str | None, Found]:
    """Add one .dmn file to ``parser``; its text to store, or None and the problems why not.

    Checked before the library reads it, so the library's own errors (``IndexError``, ``KeyError``)
    do not arise: one decision with one decision table per file, one entry per column in every rule,
    a known hit policy, and every expression one the sandbox runs.
    """
    try:
        root = parse_xml(content)
    except XmlRejected as err:
        return None, [(str(err), None)]
    namespace = etree.QName(root).namespace
    if etree.QName(root).localname != "definitions" or namespace not in DMN_NAMESPACES:
        return None, [("not a DMN document (the root must be dmn:definitions of DMN 1.1 to 1.5)", None)]
    decisions = root.findall(f"{{{namespace}}}decision")
    if len(decisions) != 1:
        return None, [(f"a DMN file must hold exactly one decision; this one holds {len(decisions)}:"
                       " put each decision in a file of its own", None)]
    decision = decisions[0]
    decision_id = decision.get("id")
    if not decision_id:
        return None, [("the decision has no id: give it one, business rule tasks call it by that id", None)]
    if decision_id in parser.dmn_parsers:
        other = parser.dmn_parsers[decision_id].filename
        return None, [(f"the decision id '{decision_id}' is also used in {other}: give each decision its own id",
                       decision_id)]
    found = _table_problems(namespace, decision)
    if found:
        return None, found
    try:
        parser.add_dmn_xml(root, filename=filename)
        parser.dmn_parsers[decision_id].parse()
    except Exception as err:  # the library raises arbitrary types on tables it cannot read
        logger.info("DMN parser raised %s on %s: %s", type(err).__name__, filename, err)
        parser.dmn_parsers.pop(decision_id, None)
        return None, [("the decision table cannot be read: check that every rule has one entry per input and per"
                       " output column, and that every output entry is a Python expression", decision_id)]
    return etree.tostring(root, encoding="unicode"), []


def _table_problems(ns: str, decision: etree._Element) -> Found:
    tables = decision.findall(f"{{{ns}}}decisionTable")
    decision_id = decision.get("id")
    if len(tables) != 1:
        return [("the decision is not a decision table (literal and boxed expressions are not supported):"
                 " model it as a decision table", decision_id)]
    table = tables[0]
    found: Found = []
    policy = (table.get("hitPolicy") or "UNIQUE").upper()
    if policy not in HIT_POLICIES:
        found.append((f"the hit policy {policy} is not supported: use UNIQUE, FIRST, ANY or COLLECT", decision_id))
    if table.get("aggregation"):
        found.append((f"COLLECT with aggregation ({table.get('aggregation')}) is not supported: collect the list"
                      " and sum it in a script task", decision_id))
    inputs = table.findall(f"{{{ns}}}input")
    outputs = table.findall(f"{{{ns}}}output")
    expressions: list[str | None] = []
    for column in inputs:
        text = column.findtext(f"{{{ns}}}inputExpression/{{{ns}}}text")
        label = column.get("label") or column.get("id")
        if not text or not text.strip():
            found.append((f"input column '{label}' has no expression: write the variable (or Python expression)"
                          " the column reads", decision_id))
            expressions.append(None)
            continue
        refused = _refusal(text)
        if refused:
            found.append((f"input column '{label}': {refused} (DMN expressions are Python; the expression is"
                          f" {text.strip()!r})", decision_id))
        expressions.append(None if refused else text.strip())  # its entries are not checked against it
    for column in outputs:
        if not (column.get("name") or column.get("label")):
            found.append(("an output column has neither name nor label: name the variable it sets", decision_id))
    for number, rule in enumerate(table.findall(f"{{{ns}}}rule"), start=1):
        found.extend(_rule_problems(ns, rule, number, inputs, outputs, expressions, rule.get("id") or decision_id))
    return found


def _rule_problems(ns: str, rule: etree._Element, number: int, inputs: list[etree._Element],
                   outputs: list[etree._Element], expressions: list[str | None], element: str | None) -> Found:
    entries = rule.findall(f"{{{ns}}}inputEntry")
    results = rule.findall(f"{{{ns}}}outputEntry")
    if len(entries) != len(inputs) or len(results) != len(outputs):
        return [(f"rule {number} has {len(entries)} input and {len(results)} output entries; the table has"
                 f" {len(inputs)} input and {len(outputs)} output columns", element)]
    found: Found = []
    for column, entry, expression in zip(inputs, entries, expressions, strict=True):
        text = (entry.findtext(f"{{{ns}}}text") or "").strip()
        if not text or text == "-" or expression is None:
            continue
        label = column.get("label") or column.get("id")
        if refused := _refusal(_as_evaluated(expression, text)):
            found.append((f"rule {number}, input '{label}': {refused} (DMN expressions are Python; the entry is"
                          f" {text!r})", element))
    for column, entry in zip(outputs, results, strict=True):
        text = (entry.findtext(f"{{{ns}}}text") or "").strip()
        label = column.get("name") or column.get("label")
        if text and (refused := _refusal(text)):
            found.append((f"rule {number}, output '{label}': {refused} (DMN expressions are Python; the entry is"
                          f" {text!r})", element))
    return found


def _refusal(expression: str) -> str:
    """Why the sandbox refuses ``expression``, in one line ("" when it runs)."""
    return "; ".join(sandbox.check_expression(expression))


def _as_evaluated(expression: str, entry: str) -> str:
    """The expression SpiffWorkflow's engine evaluates for an input entry (``DMNEngine.evaluate``)."""
    if _QUESTION_MARK.search(entry):
        return _QUESTION_MARK.sub("dmninputexpr", entry)
    try:
        sandbox.require_valid(entry, script=False)
    except sandbox.SandboxSyntaxError:
        return f"{expression}{entry}"  # "< 18", "in ('a', 'b')": compared with the input as written
    except sandbox.SandboxError:
        return entry
    return f"({expression}) == ({entry})"
