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
DMN = "business rule task names no decision"
SUBPROCESS_START = "Exactly one start event is required"
MULTI_INSTANCE = "must specify a cardinality or a loop input data reference"
NO_ROLE = "maps to no role"
# Every problem of a file is listed (the engine alone stops at the first service task, which runs as an
# external task here); () deploys.
EXPECTED: dict[str, tuple[str, ...]] = {
    "A.1.0.bpmn": (NOT_EXECUTABLE,),
    "A.2.0.bpmn": (NOT_EXECUTABLE,),
    "A.2.1.bpmn": (NOT_EXECUTABLE,),
    "A.3.0.bpmn": (NOT_EXECUTABLE,),
    "A.4.0.bpmn": (NOT_EXECUTABLE,),
    "A.4.1.bpmn": (NOT_EXECUTABLE,),
    "B.1.0.bpmn": (NOT_EXECUTABLE,),
    "B.2.0.bpmn": (NOT_EXECUTABLE,),
    "C.1.0.bpmn": ("lane 'Accountant' maps to no role",),
    "C.1.1.bpmn": ("expressions are Python; the expression is \"bpmn:getDataObject('approved')\"",),
    "C.2.0.bpmn": (NOT_EXECUTABLE,),
    "C.3.0.bpmn": (SUBPROCESS_START,),
    "C.4.0.bpmn": (NOT_EXECUTABLE,),
    "C.5.0.bpmn": (NOT_EXECUTABLE,),
    "C.6.0.bpmn": (NOT_EXECUTABLE,),
    "C.7.0.bpmn": (NOT_EXECUTABLE, DMN),
    "C.8.0.bpmn": (NOT_EXECUTABLE, DMN),
    "C.8.1.bpmn": (DMN, "a data association (dataInputAssociation) refers to no data object"),
    "C.9.0.bpmn": ("calls the decision 'risk_check', which no .dmn file of the upload holds",
                   "calls the process 'ManualCheck', which is not in the upload",
                   "'= every risk in riskLevels satisfies risk = \"yellow\"' is JUEL/FEEL beyond the plain shapes"),
    "C.9.1.bpmn": (),
    "C.9.2.bpmn": (MULTI_INSTANCE, "candidate group 'clerks' maps to no role"),
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
                                                                   "text", "lane"}, problem
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
    assert (response.status_code == 201) == (not EXPECTED[model.name]), response.text[:2000]
    if response.status_code == 201:
        assert response.json()["deployed"], response.text
    else:
        body = response.json()
        assert response.headers["Content-Type"] == "application/problem+json"
        assert_actionable(model.name, body["problems"])
        text = "\n".join(p["message"] for p in body["problems"])
        for reason in EXPECTED[model.name]:
            assert reason in text, f"{model.name}: expected {reason!r} among\n{text}"
        # the same problems as the parser reports: the HTTP layer adds and loses nothing (call activities
        # resolve against the processes deployed so far: C.9.2 calls C.9.1's)
        from service.operations.deploy import latest_deployed

        with h.services.db.read() as session:
            deployed = latest_deployed(session)
        direct = parse_bundle({model.name: model.read_bytes()}, _lanes(), deployed=deployed)
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
    # C.9.1 is called (via C.9.0) and would deploy with its caller; C.5.0's processes are called by another model's
    assert named == {p.name for p in MODELS} - {"C.5.0.bpmn", "C.9.1.bpmn"}
    # two tools' models share process ids: the clash is named, not a crash
    assert any("is used twice in the upload: give each process its own id" in p["message"] for p in problems)
    assert deployer_harness.anonymous.get("/healthz").status_code == 200


# ---- diagrams drawn in other modelers deploy and run ---------------------------------------------

INTEROP = Path(__file__).resolve().parent / "fixtures" / "interop"
CAMUNDA = (INTEROP / "camunda_ansokan.bpmn").read_bytes()
PLANTED = "Anna Planterad 19850101-1234"


def _only_task(h: Harness, who: str, process: str) -> dict:
    tasks = [t for t in h.as_(who).ok("GET", "/api/v1/tasks")["items"] if t["process"] == process]
    assert len(tasks) == 1, tasks
    return tasks[0]


def _warning(body: dict, element: str, words: str) -> dict:
    found = [w for w in body["warnings"] if w["element"] == element and words in w["message"]]
    assert found, f"no warning on {element} saying {words!r}: {body['warnings']}"
    return found[0]


def test_a_camunda_modeler_diagram_deploys_and_runs_to_the_end(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    paula = h.user("paula", "processagare")
    h.user("sara", "socialsekreterare")
    h.user("erik", "enhetschef_myndighet")
    h.user("olle", "socialsekreterare")  # same role, not his case once it has moved on
    h.user("mona", "mottag")
    body = paula.ok("POST", "/api/v1/processes", 201, files=[("files", ("camunda_ansokan.bpmn", CAMUNDA))])
    assert [d["key"] for d in body["deployed"]] == ["camunda_ansokan"]
    # the deployer is told, in words, everything deploy assumed or rewrote
    assert "”Godkänd?”" not in _warning(body, "Gateway_1", "'${approved}' translated")["text"]
    assert "skrivs i Python som approved" in _warning(body, "Gateway_1", "'${approved}' translated")["text"]
    assert "not approved" in _warning(body, "Gateway_1", "${!approved}")["message"]
    assert "belopp > 5 and typ == 'ny'" in _warning(body, "Gateway_2", "&&")["message"]
    assert "belopp <= 5 or typ == \"andring\"" in _warning(body, "Gateway_2", "=belopp")["message"]
    assert "processagare" in _warning(body, "StartEvent_1", "start event lies in no lane")["text"]
    assert "”Ärendesystem” används inte" in _warning(body, "Store_1", "data store")["text"]
    assert "camunda:formField" in _warning(body, "Task_granska", "form")["text"]
    assert "bekräftelseformulär" in _warning(body, "Task_besluta", "form")["text"]
    assert "den som startade ärendet" in _warning(body, "Task_bekrafta", "no lane")["text"]
    assert _warning(body, "Task_granska", "candidate group")["element_name"] == "Granska ansökan"
    # the same upload again is no change: deploy rewrites it the same way
    again = paula.ok("POST", "/api/v1/processes", 201, files=[("files", ("camunda_ansokan.bpmn", CAMUNDA))])
    assert again["unchanged"] == ["camunda_ansokan"] and again["deployed"][0]["version"] == 1

    instance = paula.ok("POST", "/api/v1/instances", 201, json={"process": "camunda_ansokan", "data": {}})
    # candidateGroups="Socialsekreterare": offered to the lane's roles, with the form generated from formField
    task = _only_task(h, "sara", "camunda_ansokan")
    assert task["title"] == "Granska ansökan" and task["lane"] == "Socialsekreterare"
    detail = h.as_("sara").ok("GET", f"/api/v1/tasks/{task['id']}")
    schema = detail["form"]["schema"]
    assert schema["properties"]["approved"] == {"type": "boolean", "title": "Godkänd"}
    assert schema["required"] == ["belopp"]
    assert [o["const"] for o in schema["properties"]["typ"]["oneOf"]] == ["ny", "andring"]
    missing = h.as_("sara").post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"approved": True}})
    assert missing.status_code == 422
    h.as_("sara").ok("POST", f"/api/v1/tasks/{task['id']}/complete",
                     json={"data": {"approved": True, "belopp": 9, "typ": "ny"}})
    # ${belopp > 5 && typ == 'ny'}: the role key enhetschef_myndighet names its lane
    task = _only_task(h, "erik", "camunda_ansokan")
    assert task["lane"] == "Enhetschef myndighet"
    assert set(h.as_("erik").ok("GET", f"/api/v1/tasks/{task['id']}")["form"]["schema"]["properties"]) == {"kommentar"}
    h.as_("erik").ok("POST", f"/api/v1/tasks/{task['id']}/complete", json={"data": {"kommentar": PLANTED}})
    # a user task in no lane goes to whoever started the case
    task = _only_task(h, "paula", "camunda_ansokan")
    assert task["assignee"] == "paula" and task["lane"] is None
    assert h.as_("sara").post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {}}).status_code in (403, 404)
    paula.ok("POST", f"/api/v1/tasks/{task['id']}/complete", json={"data": {}})
    assert paula.ok("GET", f"/api/v1/instances/{instance['id']}")["state"] == "completed"
    # people without a need to know see nothing of it
    for outsider in ("mona", "olle"):
        response = h.as_(outsider).get(f"/api/v1/instances/{instance['id']}")
        assert response.status_code == 404
        for path in (f"/api/v1/instances/{instance['id']}", "/api/v1/instances", "/api/v1/tasks"):
            assert PLANTED not in h.as_(outsider).get(path).text


def test_a_spiffarena_diagram_without_lanes_deploys_and_runs_to_the_end(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    paula = h.user("paula", "processagare", "socialsekreterare")
    h.user("sara", "socialsekreterare")
    files = [("files", (name, (INTEROP / name).read_bytes())) for name in ("spiff_bestallning.bpmn", "ask-schema.json")]
    body = paula.ok("POST", "/api/v1/processes", 201, files=files)
    # the deployer's roles may start it, beside the process owner
    assert body["deployed"][0]["starter_roles"] == ["processagare", "socialsekreterare"]
    _warning(body, "check", "no lane")
    # SpiffArena writes messageRef on a start event; the XSD has no such attribute, the engine reads it anyway
    deviation = next(w for w in body["warnings"] if "messageRef" in w["message"])
    assert "avviker från BPMN-standarden på rad 7, men kan köras ändå" in deviation["text"]
    instance = h.as_("sara").ok("POST", "/api/v1/instances", 201,
                                json={"process": "spiff_bestallning", "data": {}})
    task = _only_task(h, "sara", "spiff_bestallning")
    assert task["assignee"] == "sara" and task["title"] == "Ange antal"
    assert not [t for t in h.as_("paula").ok("GET", "/api/v1/tasks")["items"] if t["process"] == "spiff_bestallning"]
    h.as_("sara").ok("POST", f"/api/v1/tasks/{task['id']}/complete", json={"data": {"antal": 7}})
    manual = _only_task(h, "sara", "spiff_bestallning")  # total = 14 > 10: the manual check
    assert manual["title"] == "Kontrollera leveransen"
    h.as_("sara").ok("POST", f"/api/v1/tasks/{manual['id']}/complete", json={"data": {}})
    assert h.as_("sara").ok("GET", f"/api/v1/instances/{instance['id']}")["state"] == "completed"
    assert h.as_("paula").get(f"/api/v1/instances/{instance['id']}").status_code == 404


def _broken_camunda() -> bytes:
    return (CAMUNDA
            .replace(b'camunda:candidateGroups="enhetschef_myndighet"',
                     'camunda:candidateGroups="Okänd grupp"'.encode())
            .replace(b"${!approved}", b"${execution.getVariable('approved') == false}")
            .replace(b'<bpmn:userTask id="Task_bekrafta" name="Bekr\xc3\xa4fta utbetalning">',
                     b'<bpmn:serviceTask id="Task_bekrafta" name="Bekr\xc3\xa4fta utbetalning" camunda:type="external"'
                     b' camunda:topic="utbetalning">')
            .replace(b'</bpmn:userTask>\n    <bpmn:sequenceFlow id="Flow_4"',
                     b'</bpmn:serviceTask>\n    <bpmn:sequenceFlow id="Flow_4"'))


NO_ROLE_MANUAL = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="manuell" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l1" name="Vaktm\xc3\xa4steri"><bpmn:flowNodeRef>s</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>m</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="s"><bpmn:outgoing>a</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="a" sourceRef="s" targetRef="m"/>
    <bpmn:manualTask id="m" name="L\xc3\xa5s upp"><bpmn:incoming>a</bpmn:incoming>
      <bpmn:outgoing>b</bpmn:outgoing></bpmn:manualTask>
    <bpmn:sequenceFlow id="b" sourceRef="m" targetRef="e"/>
    <bpmn:endEvent id="e"><bpmn:incoming>b</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>"""


def test_refusals_name_every_problem_of_every_file_with_a_fix(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    paula = h.user("paula", "processagare")
    files = [("files", ("camunda_ansokan.bpmn", _broken_camunda())), ("files", ("manuell.bpmn", NO_ROLE_MANUAL))]
    before = paula.ok("GET", "/api/v1/processes")["total"]
    response = paula.post("/api/v1/processes", files=files)
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    for name in ("camunda_ansokan.bpmn", "manuell.bpmn"):
        assert_actionable(name, [p for p in problems if p["file"] == name])
    by_element = {p["element"]: p for p in problems}
    assert "Okänd grupp" in by_element["Task_besluta"]["text"] and "lanes.json" in by_element["Task_besluta"]["text"]
    assert by_element["Task_besluta"]["element_name"] == "Besluta om stort belopp"
    # JUEL beyond the plain shapes: the expression is shown, and the deployer learns expressions are Python
    juel = by_element["Gateway_1"]["text"]
    assert "execution.getVariable('approved') == false" in juel and "Python" in juel and "”Avslag”" in juel
    assert "Task_bekrafta" not in by_element  # an external service task is no problem (tests/test_external_tasks.py)
    assert "”Vaktmästeri” motsvarar ingen roll" in by_element["m"]["text"]
    assert {p["file"] for p in problems} == {"camunda_ansokan.bpmn", "manuell.bpmn"}
    assert paula.ok("GET", "/api/v1/processes")["total"] == before  # nothing half-deployed


@pytest.mark.parametrize(("foreign", "python"), [
    ("${approved}", "approved"),
    ("${!approved}", "not approved"),
    ("${a > 5 && b != 'x'}", "a > 5 and b != 'x'"),
    ("#{a ge 5 or empty}", None),
    ("${a eq null || !(b lt 3)}", "a == None or not (b < 3)"),
    ("=a > 5", "a > 5"),
    ("=status = \"klar\" and not(x)", "status == \"klar\" and not (x)"),
    ("${execution.getVariable('a')}", None),
    ("${a = 5}", None),
    ("${__import__('os')}", None),
])
def test_plain_juel_and_feel_translate_to_python(foreign: str, python: str | None) -> None:
    from service.engine.interop import translate

    assert translate(foreign) == python


def test_camunda_users_and_assignees_become_the_assignee_property() -> None:
    from lxml import etree

    from service.engine.interop import SPIFF_NS, adapt

    def task(attributes: str) -> str:
        return f'<bpmn:userTask id="t" name="Gör" {attributes}/>'

    def adapted(body: str) -> tuple[object, str | None]:
        root = etree.fromstring(
            '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
            ' xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="x">'
            f'<bpmn:process id="p" isExecutable="true">{body}</bpmn:process></bpmn:definitions>')
        result = adapt(root, _lanes().mapping)
        found = root.find(f".//{{{SPIFF_NS}}}property[@name='assignee']")
        return result, None if found is None else found.get("value")

    assert adapted(task('camunda:candidateUsers="sara"'))[1] == "'sara'"
    assert adapted(task('camunda:assignee="${handlaggare}"'))[1] == "handlaggare"
    assert adapted(task('camunda:assignee="kim" camunda:candidateUsers="a,b"'))[1] == "'kim'"
    several, value = adapted(task('camunda:candidateUsers="a,b"'))
    assert value is None and "name one user" in several.problems[0][0]  # type: ignore[attr-defined]
    beyond, value = adapted(task('camunda:assignee="${execution.getVariable(\'x\')}"'))
    assert value is None and "expressions are Python" in beyond.problems[0][0]  # type: ignore[attr-defined]


def test_a_task_without_a_form_gets_a_confirm_form_only_in_another_modelers_diagram() -> None:
    from lxml import etree

    from service.engine.interop import adapt

    def adapted(exporter: str) -> object:
        root = etree.fromstring(
            '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
            f' id="d" targetNamespace="x" exporter="{exporter}">'
            '<bpmn:process id="p" isExecutable="true"><bpmn:userTask id="t" name="Meddela"/></bpmn:process>'
            '</bpmn:definitions>')
        return adapt(root, _lanes().mapping)

    foreign = adapted("Camunda Modeler")
    assert list(foreign.forms) == ["t.generated.schema.json"]  # type: ignore[attr-defined]
    assert "confirm form" in foreign.warnings[0][0]  # type: ignore[attr-defined]
    # in Samverkan's own editor an unlinked form is a mistake: nothing generated, the engine names it
    own = adapted("Samverkan")
    assert not own.forms and not own.warnings  # type: ignore[attr-defined]
