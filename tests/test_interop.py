"""Real-world BPMN 2.0 from other tools: the 21 reference models of the OMG BPMN Model Interchange
Working Group (shared/interop/miwg-reference, CC BY 3.0).

They are descriptive models with DI, pools, lanes, data objects and stores, message flows and every
event type, mostly not executable. Deploying one must end in a new version (201) or in a list of
problems a process owner can act on (422) — never in a server error, and the service stays up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.config import ROOT
from service.engine.specs import LaneRoles, parse_bundle

from .conftest import Harness

MIWG = Path(__file__).resolve().parents[2] / "shared" / "interop" / "miwg-reference"
MODELS = sorted(MIWG.glob("*.bpmn"))

# Why each model is refused, as the words the problem list uses (every one must appear).
NOT_EXECUTABLE = 'no executable process (isExecutable="true")'
DATA_STORE = "data stores are not supported"
SERVICE_TASK = "service tasks are not supported: use a script task"
SUBPROCESS_START = "Exactly one start event is required"
MULTI_INSTANCE = "must specify a cardinality or a loop input data reference"
NO_LANE = "lies in no lane"
NO_FORM = "user task has no form"
EXPECTED: dict[str, tuple[str, ...]] = {
    "A.1.0.bpmn": (NOT_EXECUTABLE,),
    "A.2.0.bpmn": (NOT_EXECUTABLE,),
    "A.2.1.bpmn": (NOT_EXECUTABLE,),
    "A.3.0.bpmn": (NOT_EXECUTABLE,),
    "A.4.0.bpmn": (NOT_EXECUTABLE,),
    "A.4.1.bpmn": (NOT_EXECUTABLE,),
    "B.1.0.bpmn": (DATA_STORE,),
    "B.2.0.bpmn": (DATA_STORE,),
    "C.1.0.bpmn": (SERVICE_TASK,),
    "C.1.1.bpmn": (DATA_STORE,),
    "C.2.0.bpmn": (NOT_EXECUTABLE,),
    "C.3.0.bpmn": (SUBPROCESS_START,),
    "C.4.0.bpmn": (DATA_STORE,),
    "C.5.0.bpmn": (DATA_STORE,),
    "C.6.0.bpmn": (NOT_EXECUTABLE,),
    "C.7.0.bpmn": (NOT_EXECUTABLE,),
    "C.8.0.bpmn": (NOT_EXECUTABLE,),
    "C.8.1.bpmn": (SERVICE_TASK,),
    "C.9.0.bpmn": (SERVICE_TASK,),
    "C.9.1.bpmn": (NO_LANE, NO_FORM),
    "C.9.2.bpmn": (MULTI_INSTANCE,),
}

# Signs of a message written for the library's authors, not for the person who drew the diagram.
INTERNALS = re.compile(r"Traceback|NoneType|object has no attribute|object at 0x|\b[A-Z]\w*(Error|Exception)\b"
                       r"|\bself\.|\bkwargs\b|could not be read")


def _lanes() -> LaneRoles:
    return LaneRoles.load(ROOT / "bpmn" / "lanes.json")


def assert_actionable(name: str, problems: list[dict]) -> None:
    """Each problem names the file, says what is wrong in words, and points at the element when it has one."""
    assert problems, f"{name}: refused without a reason"
    for problem in problems:
        assert {"file", "element", "message"} <= set(problem) <= {"file", "element", "message", "element_name",
                                                                   "text"}, problem
        assert not INTERNALS.search(problem.get("text", "")), f"{name}: the Swedish text leaks internals: {problem}"
        assert problem["file"] == name, problem
        message = problem["message"]
        assert isinstance(message, str) and len(message) >= 15, problem
        assert not INTERNALS.search(message), f"{name}: not a message a modeler can act on: {problem}"
        assert problem["element"] is None or isinstance(problem["element"], str) and problem["element"], problem


def test_the_reference_suite_is_all_here() -> None:
    assert [p.name for p in MODELS] == sorted(EXPECTED)


@pytest.fixture(scope="module")
def deployer_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """One service for all 21 uploads: a model that broke it would show in the next one's answer."""
    from service.migrate import upgrade

    from .conftest import start_harness

    url = f"sqlite:///{tmp_path_factory.mktemp('interop') / 'samverkan.sqlite3'}"
    upgrade(url)
    h = start_harness(url)
    h.user("paula", "processagare")
    yield h
    h.server.stop()


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.name)
def test_upload_deploys_or_lists_problems(deployer_harness: Harness, model: Path) -> None:
    h = deployer_harness
    before = h.as_("paula").ok("GET", "/api/v1/processes")["total"]
    # the process owner uploads a diagram drawn in another modeler
    response = h.as_("paula").post("/api/v1/processes", files=[("files", (model.name, model.read_bytes()))])
    assert response.status_code in (201, 422), f"{model.name}: {response.status_code} {response.text[:500]}"
    if response.status_code == 201:
        assert response.json()["deployed"], response.text
    else:
        body = response.json()
        assert response.headers["Content-Type"] == "application/problem+json"
        assert_actionable(model.name, body["problems"])
        text = "\n".join(p["message"] for p in body["problems"])
        for reason in EXPECTED[model.name]:
            assert reason in text, f"{model.name}: expected {reason!r} among\n{text}"
        # the same problems as the parser reports: the HTTP layer adds and loses nothing
        direct = parse_bundle({model.name: model.read_bytes()}, _lanes())
        technical = [{k: p[k] for k in ("file", "element", "message")} for p in body["problems"]]
        assert technical == [p.as_dict() for p in direct.problems]
    # the service is still healthy, and a refused upload left nothing half-deployed
    health = h.anonymous.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    after = h.as_("paula").ok("GET", "/api/v1/processes")["total"]
    assert after == before + (len(response.json()["deployed"]) if response.status_code == 201 else 0)


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.name)
def test_parse_bundle_never_raises(model: Path) -> None:
    # straight into the engine adapter: whatever the model holds, problems come back as data
    bundle = parse_bundle({model.name: model.read_bytes()}, _lanes())
    if bundle.problems:
        assert_actionable(model.name, [p.as_dict() for p in bundle.problems])
    else:
        assert bundle.processes and all(process.spec is not None for process in bundle.processes)


def test_all_models_in_one_upload(deployer_harness: Harness) -> None:
    # a whole folder at once: the problems of all files come back together, each under its file name
    files = [("files", (model.name, model.read_bytes())) for model in MODELS]
    response = deployer_harness.as_("paula").post("/api/v1/processes", files=files)
    assert response.status_code == 422, response.text[:500]
    problems = response.json()["problems"]
    for name in {p["file"] for p in problems}:
        assert_actionable(name, [p for p in problems if p["file"] == name])
    named = {p["file"] for p in problems}
    # C.9.1 and C.9.2 are called (via C.9.0) and deploy with their caller, whose service task stops it first
    assert named == {p.name for p in MODELS} - {"C.9.1.bpmn", "C.9.2.bpmn"}
    # two tools' models share process ids: the clash is named, not a crash
    assert any("Duplicate process ID" in p["message"] for p in problems)
    assert deployer_harness.anonymous.get("/healthz").status_code == 200
