"""The raw engine: SpiffWorkflow 3.2 alone, in this process — the baseline every figure is put against.

The diagram is parsed once with ``SpiffBpmnParser`` (the parser the service uses); workflows are
saved and restored with SpiffWorkflow's own serializer in its default configuration (the spec is
written into every workflow), and scripts run in the library's default ``PythonScriptEngine``. No
database, no forms, no sandbox, no task index: what a step costs before the service adds anything.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from .common import BPMN_DIR


class RawEngine:
    """One diagram of ``bench/bpmn``, parsed once."""

    def __init__(self, key: str) -> None:
        parser = SpiffBpmnParser()
        parser.add_bpmn_file(str(BPMN_DIR / f"{key}.bpmn"))
        self.spec = parser.get_spec(key)
        self.subprocess_specs = parser.get_subprocess_specs(key)
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))

    def new(self, data: Mapping[str, Any]) -> BpmnWorkflow:
        """A workflow with the start data in its ready tasks, run until it waits."""
        workflow = BpmnWorkflow(self.spec, self.subprocess_specs)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        workflow.do_engine_steps()
        return workflow

    def dumps(self, workflow: BpmnWorkflow) -> str:
        return str(self.serializer.serialize_json(workflow))

    def loads(self, text: str) -> BpmnWorkflow:
        return self.serializer.deserialize_json(text)

    @staticmethod
    def ready_user_tasks(workflow: BpmnWorkflow) -> list[Any]:
        return list(workflow.get_tasks(state=TaskState.READY, manual=True))

    @staticmethod
    def complete(workflow: BpmnWorkflow, task: Any, data: Mapping[str, Any]) -> None:
        """Complete one user task with form data and run the engine until it waits again."""
        task.data.update(data)
        task.run()
        workflow.do_engine_steps()

    def step(self, text: str, data: Mapping[str, Any]) -> tuple[str, float]:
        """Restore, complete the first ready user task, run, save: the raw cost of one completion."""
        started = time.perf_counter()
        workflow = self.loads(text)
        self.complete(workflow, self.ready_user_tasks(workflow)[0], data)
        saved = self.dumps(workflow)
        return saved, time.perf_counter() - started
