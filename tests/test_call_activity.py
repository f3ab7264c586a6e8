"""Call activities to another file of the upload, and to a process deployed before, through the API.

A caller's version pins the called process at deploy: the latest deployed version is stored with
the caller, so a later version of the called process changes nothing for it until the caller is
deployed again (README, "Anrop mellan processer").
"""

from __future__ import annotations

from .conftest import FIXTURES, Harness

CALLS = FIXTURES / "calls"
CALLER = (CALLS / "huvudarende.bpmn").read_bytes()
CALLED = (CALLS / "utredning.bpmn").read_bytes()


def _files(**files: bytes) -> list[tuple[str, tuple[str, bytes]]]:
    return [("files", (name.replace("_bpmn", ".bpmn"), content)) for name, content in files.items()]


def _walk(h: Harness, instance_id: str) -> dict:
    """The social worker does the called process's manual task; the case as it then stands."""
    sara = h.as_("sara")
    [task] = [t for t in sara.ok("GET", "/api/v1/tasks")["items"] if t["instance_id"] == instance_id]
    assert task["title"] == "Utred ärendet"
    sara.ok("POST", f"/api/v1/tasks/{task['id']}/complete", json={"data": {}})
    return sara.ok("GET", f"/api/v1/instances/{instance_id}")  # type: ignore[no-any-return]


def test_a_caller_and_the_process_it_calls_in_one_upload_run_to_the_end(harness: Harness) -> None:
    h = harness
    paula = h.user("paula", "processagare")
    sara = h.user("sara", "socialsekreterare")
    h.user("mona", "mottag")
    body = paula.ok("POST", "/api/v1/processes", 201,
                    files=_files(huvudarende_bpmn=CALLER, utredning_bpmn=CALLED))
    assert [d["key"] for d in body["deployed"]] == ["huvudarende"]  # the called process deploys with its caller
    instance = sara.ok("POST", "/api/v1/instances", 201, json={"process": "huvudarende", "data": {}})
    ended = _walk(h, instance["id"])
    assert ended["state"] == "completed" and ended["data"]["utredd_av"] == "version 1" and ended["data"]["steg"] == 1
    assert h.as_("mona").get(f"/api/v1/instances/{instance['id']}").status_code == 404


def test_a_call_to_a_deployed_process_runs_the_version_pinned_at_deploy(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    paula = h.user("paula", "processagare")
    sara = h.user("sara", "socialsekreterare")
    # the called process is deployed first, on its own
    paula.ok("POST", "/api/v1/processes", 201, files=_files(utredning_bpmn=CALLED))
    # then the caller alone: its call activity finds the deployed process, and the deployer is told
    body = paula.ok("POST", "/api/v1/processes", 201, files=_files(huvudarende_bpmn=CALLER))
    [warning] = [w for w in body["warnings"] if w["element"] == "utred"]
    assert "'utredning', version 1" in warning["message"]
    assert warning["text"] == ("”Utred” anropar den driftsatta processen ”utredning”, version 1. Den här versionen"
                               " använder den tills du driftsätter igen.")
    running = sara.ok("POST", "/api/v1/instances", 201, json={"process": "huvudarende", "data": {}})

    # a new version of the called process is deployed while a case waits inside it
    paula.ok("POST", "/api/v1/processes", 201,
             files=_files(utredning_bpmn=CALLED.replace(b"version 1", b"version 2")))
    ended = _walk(h, running["id"])
    assert ended["state"] == "completed" and ended["data"]["utredd_av"] == "version 1"
    # a new case of the caller still runs what was deployed with it ...
    pinned = sara.ok("POST", "/api/v1/instances", 201, json={"process": "huvudarende", "data": {}})
    assert _walk(h, pinned["id"])["data"]["utredd_av"] == "version 1"
    # ... until the caller is deployed again, which makes a new version that calls version 2
    again = paula.ok("POST", "/api/v1/processes", 201, files=_files(huvudarende_bpmn=CALLER))
    assert again["unchanged"] == [] and again["deployed"][0]["version"] == 2
    assert any("version 2" in w["message"] for w in again["warnings"])
    latest = sara.ok("POST", "/api/v1/instances", 201, json={"process": "huvudarende", "data": {}})
    assert _walk(h, latest["id"])["data"]["utredd_av"] == "version 2"


def test_a_call_to_an_unknown_process_names_the_element_and_the_process(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    paula = h.user("paula", "processagare")
    before = paula.ok("GET", "/api/v1/processes")["total"]
    response = paula.post("/api/v1/processes", files=_files(huvudarende_bpmn=CALLER))
    assert response.status_code == 422, response.text
    [problem] = response.json()["problems"]
    assert problem["file"] == "huvudarende.bpmn" and problem["element"] == "utred"
    assert "'utredning'" in problem["message"]
    assert problem["text"] == ("”Utred” anropar processen ”utredning”, som varken finns i uppladdningen eller är"
                               " driftsatt. Ladda upp dess diagram tillsammans med det här, eller driftsätt den först.")
    assert paula.ok("GET", "/api/v1/processes")["total"] == before
