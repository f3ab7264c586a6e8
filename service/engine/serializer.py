"""Store workflows without their specs.

SpiffWorkflow's serializer writes the whole spec into every workflow (about half the bytes of a
small instance). Specs are stored once per deployed version and cached parsed, so the workflow
converter here leaves them out and takes them back in from the caller when restoring.

Two versions travel with each stored state, and both chains run on load:

- ``samverkan_format`` (``FORMAT_VERSION``): Samverkan's own form — specless, compacted
  (``compaction.py``), with the service's timer values. A change to what Samverkan stores bumps it
  and adds one step to ``FORMAT_MIGRATIONS`` (n → n + 1) plus golden files of the new version
  under ``tests/engine/golden/format-<n>/``; every older golden must still load and run on.
  States written before the format had a version are format 0.
- the library's ``serializer_version`` (``SERIALIZER_VERSION``, also kept on the instance row):
  SpiffWorkflow's own migrations run after ours.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_FORMAT_VERSION
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

SERIALIZER_VERSION: str = SERIALIZER_FORMAT_VERSION
FORMAT_KEY = "samverkan_format"
FORMAT_VERSION = 1


class StateFormatError(ValueError):
    """A stored state this service cannot read (written by a newer version)."""


def _format_0_to_1(dct: dict[str, Any]) -> dict[str, Any]:
    """Format 0 (before the format had a version) has the shape of format 1: nothing to change."""
    return dct


FORMAT_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _format_0_to_1}


def migrate_format(dct: dict[str, Any]) -> dict[str, Any]:
    """Bring a stored state of any earlier Samverkan format up to ``FORMAT_VERSION``, step by step."""
    version = dct.pop(FORMAT_KEY, 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise StateFormatError(f"stored state has format {version!r}; this service reads up to {FORMAT_VERSION}")
    while version < FORMAT_VERSION:
        dct = FORMAT_MIGRATIONS[version](dct)
        version += 1
    return dct


class SpeclessWorkflowConverter(BpmnWorkflowConverter):
    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct[FORMAT_KEY] = FORMAT_VERSION
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any]) -> BpmnWorkflow:
        # The caller puts the parsed spec objects in (see WorkflowStore.loads).
        workflow = self.target_class(dct.pop("spec"), dct.pop("subprocess_specs"), deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class WorkflowStore:
    """Dump and load workflows as JSON text, specs supplied from the spec cache."""

    def __init__(self) -> None:
        config = dict(SPIFF_CONFIG)
        config[BpmnWorkflow] = SpeclessWorkflowConverter
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))

    def dumps(self, workflow: BpmnWorkflow) -> str:
        return self.serializer.serialize_json(workflow)

    def loads(self, text: str, spec: Any, subprocess_specs: dict[str, Any]) -> BpmnWorkflow:
        dct = migrate_format(json.loads(text))
        self.serializer.migrate(dct)
        dct["spec"], dct["subprocess_specs"] = spec, subprocess_specs
        return self.serializer.from_dict(dct)
