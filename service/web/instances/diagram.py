"""Which diagram elements an instance has passed, from the index tables (never the workflow).

Recorded facts: the user tasks it created (``HumanTask``), the timers that fired (``Timer``), the
end event it reached (``outcome``). Elements the index does not record — gateways, script tasks,
events without timers — count as passed when they lie between recorded elements, so the marked
path reads as a line through the diagram rather than dots.
"""

from __future__ import annotations

from collections.abc import Iterable

from service.engine.xml import XmlRejected, parse_xml
from service.models import Event, HumanTask, Timer, TimerState

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
_NOT_NODES = {"sequenceFlow", "laneSet", "lane", "documentation", "extensionElements", "incoming", "outgoing",
              "flowNodeRef", "conditionExpression", "timerEventDefinition", "messageEventDefinition", "script",
              "multiInstanceLoopCharacteristics", "terminateEventDefinition", "timeDuration", "timeDate",
              "timeCycle", "inputDataItem", "outputDataItem", "loopDataInputRef", "loopDataOutputRef",
              "textAnnotation", "association", "dataObject", "dataObjectReference", "property"}


def path_taken(xml: str, tasks: Iterable[HumanTask], timers: Iterable[Timer], events: Iterable[Event],
               outcome: str | None) -> list[str]:
    """Ids of the elements and sequence flows the instance has passed (open tasks excluded)."""
    tasks, timers = list(tasks), list(timers)
    try:
        root = parse_xml(xml.encode("utf-8"))
    except XmlRejected:
        return []
    flows: list[tuple[str, str, str]] = []
    nodes: dict[str, str] = {}
    for process in root.iter(f"{BPMN}process"):
        for element in process.iter():
            if not isinstance(element.tag, str) or not element.tag.startswith(BPMN):
                continue
            local = element.tag[len(BPMN):]
            if local == "sequenceFlow":
                flows.append((element.get("id", ""), element.get("sourceRef", ""), element.get("targetRef", "")))
            elif local not in _NOT_NODES and local != "process" and element.get("id"):
                nodes[element.get("id", "")] = local
    active = {t.name for t in tasks if t.status == "open"} | {t.task_name for t in timers
                                                              if t.state == TimerState.PENDING}
    done = {t.name for t in tasks if t.status == "completed"}
    done |= {t.task_name for t in timers if t.state == TimerState.FIRED}
    if outcome:
        done.add(outcome)
    if any(e.action == "instance_started" for e in events) or done or active:
        done |= {node for node, kind in nodes.items() if kind == "startEvent" and not _has_incoming(node, flows)}
    recorded = {n for n, kind in nodes.items() if kind == "userTask"} | {t.task_name for t in timers}
    between = _reachable(done, flows, recorded, forward=True) & _reachable(done | active, flows, recorded,
                                                                          forward=False)
    passed = (done | between) - active
    marked_flows = {fid for fid, src, dst in flows if src in passed and (dst in passed or dst in active)}
    return sorted((passed & set(nodes)) | marked_flows)


def _has_incoming(node: str, flows: list[tuple[str, str, str]]) -> bool:
    return any(dst == node for _, _, dst in flows)


def _reachable(start: set[str], flows: list[tuple[str, str, str]], recorded: set[str], *, forward: bool) -> set[str]:
    """Unrecorded nodes reachable from ``start`` without crossing another recorded node."""
    edges: dict[str, list[str]] = {}
    for _, src, dst in flows:
        a, b = (src, dst) if forward else (dst, src)
        edges.setdefault(a, []).append(b)
    seen: set[str] = set()
    stack = list(start)
    while stack:
        for neighbour in edges.get(stack.pop(), []):
            if neighbour not in seen and neighbour not in recorded and neighbour not in start:
                seen.add(neighbour)
                stack.append(neighbour)
    return seen
