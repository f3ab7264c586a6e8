"""Service tasks run as external tasks: the engine waits, a worker outside does the work.

Camunda's external task pattern. A service task in any modeler's shape is read by
``SpiffBpmnParser`` as its own ``ServiceTask`` (``interop.adapt`` first gives every service task
without one a ``spiffworkflow:serviceTaskOperator``, its topic in the ``topic`` property); after
parsing, its class is swapped for ``ExternalServiceTask`` (like the timers, ``adopt_service_tasks``;
specs are never serialized, so the serializer never sees the swap). When the engine reaches one, the task does not
call anything: it evaluates the operator's parameters into ``internal_data`` and stays ``STARTED``
(SpiffWorkflow 3.2's state for work finished elsewhere). The service keeps an ``external_task`` row
for it; a worker locks it, does the work and completes it (``complete``: its variables join the
task data and the engine goes on) or reports a BPMN error (``throw_error``), caught by an error
boundary event with that code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition
from SpiffWorkflow.spiff.specs.defaults import ServiceTask as SpiffServiceTask
from SpiffWorkflow.util.task import TaskState

PARAMS_KEY = "external_parameters"


class ExternalServiceTask(SpiffServiceTask):  # type: ignore[misc]  # the library is untyped
    """A service task that waits for an external worker instead of calling a connector."""

    @property
    def topic(self) -> str:
        """The ``topic`` property ``interop`` writes, else SpiffArena's operator name."""
        properties = (getattr(self, "extensions", None) or {}).get("properties", {})
        return str(properties.get("topic") or self.operation_name or self.bpmn_id)

    def _run_hook(self, my_task: Any) -> None:
        params = {name: value["value"] for name, value in self.evaluate_params(my_task).items()}
        my_task.internal_data[PARAMS_KEY] = params
        return None  # None: the task is STARTED and waits for ``complete``


def adopt_service_tasks(specs: Iterable[Any]) -> None:
    """Swap the parser's service tasks for ``ExternalServiceTask`` (in place, after parsing)."""
    for spec in specs:
        for task_spec in spec.task_specs.values():
            if type(task_spec) is SpiffServiceTask:
                task_spec.__class__ = ExternalServiceTask


@dataclass
class ExternalWork:
    """An external task the engine waits on: its topic and the variables a worker gets."""

    id: str
    name: str  # the BPMN id of the service task
    title: str
    topic: str
    data: dict[str, Any]


def is_external(task: Any) -> bool:
    return isinstance(task.task_spec, ExternalServiceTask)


def describe(task: Any) -> ExternalWork:
    spec = task.task_spec
    params = task.internal_data.get(PARAMS_KEY) or {}
    return ExternalWork(id=str(task.id), name=spec.bpmn_id or spec.name, topic=spec.topic,
                        title=str(spec.bpmn_name or spec.bpmn_id or spec.name)[:300],
                        data={**task.data, **params})


def complete(task: Any, variables: Mapping[str, Any]) -> None:
    """The worker's variables join the task data; the task completes (its outgoing flow is taken)."""
    task.data.update(variables)
    task.complete()


def throw_error(task: Any, code: str, variables: Mapping[str, Any]) -> bool:
    """Throw a BPMN error with ``code`` from the external task; True when a boundary event caught it.

    The error goes to the error events waiting in the task's own process (boundary events on the
    task or on the subprocess around it); one without a code catches every code. ``variables`` join
    the task's data and the data of the path the error takes.
    """
    task.data.update(variables)
    chain, workflow = [], task.workflow
    while workflow is not None:  # the task's process and the processes around it, innermost first
        chain.append(workflow)
        workflow = workflow.parent_workflow
    catchers = [t for t in task.workflow.top_workflow.event_manager.tasks.values()
                if t.state == TaskState.WAITING and any(t.workflow is w for w in chain)
                and isinstance(getattr(t.task_spec, "event_definition", None), ErrorEventDefinition)
                and t.task_spec.event_definition.code in (None, code)]
    if not catchers:
        return False
    caught_by = catchers[0].task_spec.event_definition  # its name keys the payload the boundary event reads
    definition = type(caught_by)(caught_by.name, code=code)
    task.workflow.top_workflow.catch(BpmnEvent(definition, dict(task.data), target=task.workflow))
    for catcher in catchers:  # the worker's variables go down the error's path (Camunda's semantics)
        if catcher.internal_data.get("event_fired"):
            catcher.data.update(variables)
    return True
