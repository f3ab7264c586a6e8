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
    # each problem also says, in plain Swedish, what is wrong where (by the element's drawn name)
    swedish = "\n".join(p["text"] for p in problems)
    assert "Lanen ”Okänd lane” motsvarar ingen roll" in swedish
    assert "Formuläret ”saknas.schema.json” som ”Ta över ärendet” använder finns inte" in swedish
    # the condition is shown as written, with the hint that expressions are Python
    assert "Villkoret 'beslut == (' på flödet till" in swedish and "Uttryck skrivs i Python" in swedish
    assert "Tiden i ”1 timme utan svar” går inte att använda" in swedish
    assert "granska.schema.json: Formulärfilen är inte ett giltigt JSON Schema" in swedish
    assert all(p["text"] and "Traceback" not in p["text"] for p in problems)
    assert next(p for p in problems if p["element"] == "granska_timeout")["element_name"] == "1 timme utan svar"


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


def _reformatted(xml: bytes) -> bytes:
    """The diagram as another tool writes it back: other prefixes' order, attributes reversed, no indentation."""
    from lxml import etree

    root = etree.fromstring(xml)
    for element in root.iter():
        if isinstance(element.tag, str):
            items = list(element.attrib.items())
            element.attrib.clear()
            for name, value in reversed(items):
                element.set(name, value)
        element.tail = None if element.tail is None or not element.tail.strip() else element.tail
        if element.text is not None and not element.text.strip():
            element.text = None
    return etree.tostring(root, encoding="utf-8", xml_declaration=False)


def test_an_unchanged_redeploy_makes_no_version_and_says_so(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    paula = h.user("paula", "processagare")
    first = paula.ok("POST", "/api/v1/processes", 201, files=[("files", ("core_demo.bpmn", _reformatted(CORE))),
                                                              *_forms()])
    assert first["unchanged"] == ["core_demo"] and first["deployed"][0]["version"] == 1
    assert "oförändrad" in first["message"] and "version 1 gäller" in first["message"]
    # a real change (a new name on a flow) does make one
    changed = _reformatted(CORE).replace('name="Ärende inkommer"'.encode(), 'name="Ärendet kommer in"'.encode())
    second = paula.ok("POST", "/api/v1/processes", 201, files=[("files", ("core_demo.bpmn", changed)), *_forms()])
    assert second["unchanged"] == [] and second["deployed"][0]["version"] == 2
    assert "version 2 är driftsatt" in second["message"]
    assert [v["version"] for v in paula.ok("GET", "/api/v1/processes/core_demo")["versions"]] == [2, 1]


def test_a_renamed_task_shows_its_new_name_to_staff(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    paula = h.user("paula", "processagare")
    h.user("sara", "socialsekreterare")
    old = start(h)
    # the owner renames the task and leaves its computed title as it was
    renamed = CORE.replace('name="Granska ärendet"'.encode(), 'name="Läs in ärendet"'.encode())
    paula.ok("POST", "/api/v1/processes", 201, files=[("files", ("core_demo.bpmn", renamed))])
    new = start(h)
    titles = {t["instance_id"]: t["title"] for t in open_tasks(h, "sara")}
    assert titles[new["id"]] == "Läs in ärendet Stopp i hemtjänst, brukare A"  # the new name, then the case detail
    assert titles[old["id"]].startswith("Granska ")  # a running case keeps its version
    xml = paula.get("/api/v1/processes/core_demo/bpmn", params={"version": 2}).text
    assert "'Läs in ärendet ' + arende" in xml


def test_a_draft_is_kept_apart_from_versions_and_bad_drafts_change_nothing(sqlite_harness: Harness) -> None:
    import pytest

    from service.actor import Actor
    from service.errors import Forbidden, Invalid
    from service.operations.drafts import discard_draft, load_draft, save_draft

    h = sqlite_harness
    h.user("paula", "processagare")
    paula = Actor(username="paula", roles=frozenset({"processagare"}), districts=frozenset())
    sara = Actor(username="sara", roles=frozenset({"socialsekreterare"}), districts=frozenset({"Nordost"}))
    h.as_("paula").ok("POST", "/api/v1/processes", 201, files=[("files", ("core_demo.bpmn", CORE)), *_forms()])
    forms = {"granska.schema.json": {"type": "object", "properties": {}}}
    saved = save_draft(h.services, paula, "core_demo", {"core_demo.bpmn": CORE.decode()}, forms, base_version=1,
                       comment="Arbete pågår")
    assert saved.saved_by == "paula" and saved.base_version == 1
    found = load_draft(h.services, paula, "core_demo")
    assert found is not None and found.forms == forms and found.comment == "Arbete pågår"
    # the draft is not a version: nothing runs it, the routine is still at version 1
    assert [v["version"] for v in h.as_("paula").ok("GET", "/api/v1/processes/core_demo")["versions"]] == [1]
    # bad content is refused in Swedish and the saved draft stays as it was
    with pytest.raises(Invalid) as refused:
        save_draft(h.services, paula, "core_demo", {"core_demo.bpmn": "<not xml"}, {"x.json": []}, base_version=1)
    assert refused.value.errors == {"draft": ["core_demo.bpmn: diagrammet är inte giltig XML.",
                                              "x.json: formuläret måste vara ett JSON-objekt i en .json-fil."]}
    with pytest.raises(Invalid):
        save_draft(h.services, paula, "core_demo", {"core_demo.bpmn": CORE.decode()}, forms, base_version=7)
    assert load_draft(h.services, paula, "core_demo").comment == "Arbete pågår"  # type: ignore[union-attr]
    # only process owners keep drafts
    with pytest.raises(Forbidden):
        save_draft(h.services, sara, "core_demo", {"core_demo.bpmn": CORE.decode()}, forms, base_version=1)
    with pytest.raises(Forbidden):
        load_draft(h.services, sara, "core_demo")
    assert discard_draft(h.services, paula, "core_demo") is True
    assert load_draft(h.services, paula, "core_demo") is None
    assert discard_draft(h.services, paula, "core_demo") is False


def test_a_renamed_heading_keeps_the_case_detail_and_its_joint() -> None:
    from service.operations.deploy import retitled

    assert retitled("'Granska ' + arende", "Läs ärendet") == "'Läs ärendet ' + arende"
    assert retitled("r3_rubrik('Meddela biståndshandläggaren', dag_0)", "Meddela snabbt") == (
        "r3_rubrik('Meddela snabbt', dag_0)")
    assert retitled("'Efterfråga lägenhet (' + stadsomrade + ')'", "Fråga") == "'Fråga (' + stadsomrade + ')'"
    # a title without a text of its own gets the new name in front
    assert retitled("r1_bedom_rubrik(u, now())", "Informera?") == (
        "'Informera?' + ': ' + str(r1_bedom_rubrik(u, now()))")
    assert retitled("'x'", "Det är 'citerat'") == '"Det är \'citerat\'"'
