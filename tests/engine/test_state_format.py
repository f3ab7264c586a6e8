"""Stored engine state has a format version of its own, a migration chain and golden files per
version (issue 9/11): a state written by any earlier Samverkan still loads and runs on.

``tests/engine/golden/format-<n>/<stage>.json`` are states as format ``n`` stored them. When the
stored form changes, bump ``FORMAT_VERSION``, add the step to ``FORMAT_MIGRATIONS`` and write the
new version's files with ``python -m tests.engine.test_state_format`` (older files stay as they are).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.engine.serializer import FORMAT_KEY, FORMAT_MIGRATIONS, FORMAT_VERSION, StateFormatError

from .test_timers_and_state import _engine

GOLDEN = Path(__file__).parent / "golden"
START = {"arende": "A", "handlaggare": "sara", "stadsomrade": "Nordost"}
STAGES = ("granska", "klart")  # waiting at the user task (with its boundary timer); waiting for a message


def _states() -> dict[str, str]:
    """The current format's state at each stage of the core diagram."""
    engine, definition = _engine()
    workflow = engine.new(definition, START)
    [task] = engine.start(workflow).ready_tasks
    states = {"granska": engine.dump(workflow)}
    engine.complete(workflow, task.id, {"beslut": "godkant"})
    states["klart"] = engine.dump(workflow)
    return states


def _golden() -> list[tuple[int, str, Path]]:
    return sorted((int(folder.name.split("-")[1]), path.stem, path)
                  for folder in GOLDEN.glob("format-*") for path in folder.glob("*.json"))


def test_every_format_version_has_golden_files_and_a_migration_step() -> None:
    versions = {version for version, _, _ in _golden()}
    assert versions == set(range(FORMAT_VERSION + 1))
    assert set(FORMAT_MIGRATIONS) == set(range(FORMAT_VERSION))
    for version in versions:
        assert {stage for v, stage, _ in _golden() if v == version} == set(STAGES)


@pytest.mark.parametrize("version,stage,path", _golden(), ids=lambda v: getattr(v, "name", str(v)))
def test_a_stored_state_of_every_format_loads_and_runs_on(version: int, stage: str, path: Path) -> None:
    engine, definition = _engine()
    text = path.read_text(encoding="utf-8")
    assert json.loads(text).get(FORMAT_KEY, 0) == version
    workflow = engine.load(definition, text)
    if stage == "granska":
        [task] = engine.snapshot(workflow).ready_tasks
        assert task.name == "granska"
        engine.complete(workflow, task.id, {"beslut": "godkant"})
    assert engine.snapshot(workflow).waits_for_messages == ["klart"]
    final = engine.deliver_message(engine.load(definition, engine.dump(workflow)), "klart", {"datum": "i dag"})
    assert final.completed and final.data["summering"] == "A: i dag"


@pytest.mark.parametrize("stage", STAGES)
def test_the_current_format_stores_what_its_golden_files_hold(stage: str) -> None:
    """A change to the stored form without a new format version fails here."""
    engine, definition = _engine()
    golden: dict[str, Any] = json.loads((GOLDEN / f"format-{FORMAT_VERSION}" / f"{stage}.json").read_text())
    assert json.loads(engine.dump(engine.load(definition, json.dumps(golden)))) == golden


def test_a_state_from_a_newer_service_is_refused() -> None:
    engine, definition = _engine()
    newer = json.loads((GOLDEN / f"format-{FORMAT_VERSION}" / "klart.json").read_text())
    newer[FORMAT_KEY] = FORMAT_VERSION + 1
    with pytest.raises(StateFormatError):
        engine.load(definition, json.dumps(newer))


if __name__ == "__main__":  # write the current format's golden files
    folder = GOLDEN / f"format-{FORMAT_VERSION}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in _states().items():  # task order matters (data is stored as deltas): no sort_keys
        (folder / f"{name}.json").write_text(json.dumps(json.loads(text), indent=1) + "\n")
    print(f"wrote {folder}")
