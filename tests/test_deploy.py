"""Deploying diagrams: versions, validation listing every problem, running instances keep theirs."""

from __future__ import annotations

from .conftest import FIXTURES, Harness
from .test_lifecycle import open_tasks, start

CORE = (FIXTURES / "bpmn" / "core_demo.bpmn").read_bytes()


def _forms() -> list[tuple[str, tuple[str, bytes]]]:
    folder = FIXTURES / "forms" / "core_demo"
    return [("files", (f"core_demo/{p.name}", p.read_bytes())) for p in sorted(folder.iterdir())]


def test_new_version_leaves_running_instances_on_theirs(harness: Harness) -> None:
    h = harness
    paula = h.user("paula", "processagare")
    h.user("sara", "socialsekreterare")
    old = start(h)
    renamed = CORE.replace(b'name="Granska \xc3\xa4rendet"', b'name="Granska inkommet \xc3\xa4rende"')
    renamed = renamed.replace(b"'Granska ' + arende", b"'Granska inkommet: ' + arende")
    # the forms are not in the upload: they are taken from the previous version
    body = paula.ok("POST", "/api/v1/processes", 201, files=[("files", ("core_demo.bpmn", renamed))])
    assert [(d["key"], d["version"]) for d in body["deployed"]] == [("core_demo", 2)]
    # an identical upload makes no new version
    again = paula.ok("POST", "/api/v1/processes", 201, files=[("files", ("core_demo.bpmn", renamed)), *_forms()])
    assert again["deployed"][0]["version"] == 2
    new = start(h)
    assert new["version"] == 2
    titles = {t["instance_id"]: t["title"] for t in open_tasks(h, "sara")}
    assert titles[old["id"]].startswith("Granska Stopp")
    assert titles[new["id"]].startswith("Granska inkommet: ")
    detail = paula.ok("GET", "/api/v1/processes/core_demo")
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    v1 = paula.get("/api/v1/processes/core_demo/bpmn", params={"version": 1})
    assert v1.status_code == 200 and v1.content == CORE
    assert paula.get("/api/v1/processes/core_demo/bpmn", params={"version": 9}).status_code == 404


def test_every_problem_is_listed_at_once(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    paula = h.user("paula", "processagare")
    unknown_lane = '<bpmn:lane id="lane_mottag" name="Okänd lane">'.encode()
    broken = (CORE.replace(b'<bpmn:lane id="lane_mottag" name="Mottag">', unknown_lane)
              .replace(b'value="eskalera.schema.json"', b'value="saknas.schema.json"')
              .replace(b"beslut == 'godkant'", b"beslut == (")
              .replace(b"<bpmn:timeDuration>PT1H</bpmn:timeDuration>",
                       b"<bpmn:timeDuration>__import__('os').system('id')</bpmn:timeDuration>"))
    bad_form = ("files", ("core_demo/granska.schema.json", b'{"type": "object", "properties": {"x": {"type": 5}}}'))
    response = paula.post("/api/v1/processes", files=[("files", ("core_demo.bpmn", broken)), bad_form])
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    text = "\n".join(f"{p['file']} {p['element']}: {p['message']}" for p in problems)
    assert "Okänd lane" in text and "maps to no role" in text
    assert "saknas.schema.json" in text
    assert "condition" in text
    assert "timer" in text
    assert "granska.schema.json" in text
    assert len(problems) >= 5


def test_only_processagare_deploys(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    sara = h.user("sara", "socialsekreterare")
    response = sara.post("/api/v1/processes", files=[("files", ("core_demo.bpmn", CORE))])
    assert response.status_code == 403


def test_plain_iso_and_expression_timers_both_work(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    paula = h.user("paula", "processagare")
    adam = h.user("adam", "admin")
    h.user("sara", "socialsekreterare")
    for expression, hours in ((b"&quot;PT3H&quot;", 3), (b"'PT' + str(2 * 2) + 'H'", 4), (b"P1D", 24)):
        variant = CORE.replace(b"<bpmn:timeDuration>PT1H</bpmn:timeDuration>",
                               b"<bpmn:timeDuration>" + expression + b"</bpmn:timeDuration>")
        paula.ok("POST", "/api/v1/processes", 201, files=[("files", ("core_demo.bpmn", variant))])
        instance = start(h)
        [timer] = adam.ok("GET", "/api/v1/timers", params={"instance": instance["id"]})["items"]
        from datetime import datetime

        due = datetime.fromisoformat(timer["due_at"])
        started = datetime.fromisoformat(instance["started_at"])
        assert abs((due - started).total_seconds() - hours * 3600) < 60, (expression, timer)
