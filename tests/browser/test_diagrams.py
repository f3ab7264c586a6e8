"""Every routine's diagram opens in bpmn-js as drawn, and survives being saved by it.

Process owners change routines in the browser: what the modeler writes back must still carry
every multi-instance collection, form, condition, script and timer, and deploy without a problem.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from service.config import ROOT
from service.engine.specs import LaneRoles, parse_bundle
from tests.browser.conftest import Site, look

KEYS = ["skyddsombudsstopp", "akut_verkstallighet", "utokat_stod_14_dagar", "klagomal_privat_utforare", "sip",
        "bmss_lokal_vid_renovering"]

ROUND_TRIP = """async (xml) => {
  const modeler = new window.BpmnJS({ container: document.createElement("div") });
  try {
    const result = await modeler.importXML(xml);
    const shapes = modeler.get("elementRegistry").filter((e) => !e.waypoints && e.type !== "label");
    const saved = await modeler.saveXML({ format: true });
    return { error: null, warnings: result.warnings.map((w) => w.message), shapes: shapes.length, xml: saved.xml };
  } catch (err) {
    return { error: String(err), warnings: [], shapes: 0, xml: "" };
  } finally {
    modeler.destroy();
  }
}"""

# What the engine depends on, counted before and after the modeler saved the diagram.
KEPT = {
    "multi-instance collections": r"<bpmn:loopData(?:Input|Output)Ref>[^<]+<",
    "task properties (forms, assignee, due, disclosure)": r"<spiffworkflow:property\b",
    "conditions": r"<bpmn:conditionExpression\b",
    "scripts": r"<bpmn:script>",
    "timers": r"<bpmn:time(?:Duration|Date|Cycle)>",
    "message variables": r"<spiffworkflow:messageVariable>",
}


def test_every_routine_diagram_opens_in_bpmn_js_and_survives_a_save(site: Site) -> None:
    page = site.person("paula", "processagare", districts=())
    lanes = LaneRoles.load(ROOT / "bpmn" / "lanes.json")
    for key in KEYS:
        # the process owner opens the routine in the editor
        page.goto(f"{site.url}/rutiner/{key}")
        expect(page.locator("[data-modeler][data-ready=true]")).to_be_visible()
        saved: dict[str, bytes] = {}
        for path in sorted((ROOT / "bpmn").glob(f"{key}.bpmn")) + sorted((ROOT / "bpmn").glob(f"{key}__*.bpmn")):
            xml = path.read_text(encoding="utf-8")
            result = page.evaluate(ROUND_TRIP, xml)
            assert result["error"] is None, (path.name, result["error"])
            assert result["warnings"] == [], (path.name, result["warnings"])
            assert result["shapes"] >= len(re.findall(r"<bpmndi:BPMNShape\b", xml)), path.name
            for what, pattern in KEPT.items():
                assert len(re.findall(pattern, result["xml"])) == len(re.findall(pattern, xml)), (path.name, what)
            saved[path.name] = result["xml"].encode("utf-8")
        # and what the modeler saved deploys as it is, with the routine's forms
        for form in (ROOT / "forms" / key).glob("*.json"):
            saved[f"{key}/{form.name}"] = form.read_bytes()
        assert parse_bundle(saved, lanes).problems == [], key


LABEL_SIZES = """() => [...document.querySelectorAll('[data-diagram] .djs-element text')]
  .map((t) => t.getBoundingClientRect().height).filter((h) => h > 0)"""


def test_every_routine_diagram_opens_readable_and_zooms_and_moves_by_keyboard(site: Site) -> None:
    chef = site.person("clara", "chef", districts=("Sydväst",))
    for key in KEYS:
        chef.goto(f"{site.url}/oversikt/{key}")
        holder = chef.locator("[data-diagram][data-ready=true]")
        expect(holder).to_be_visible()
        # never shrunk to fit: a line of label text stays about 10 px high, however big the diagram
        sizes = chef.evaluate(LABEL_SIZES)
        assert sizes and min(sizes) >= 9.5, (key, min(sizes or [0]))
        zoom = chef.locator(".zoom-level")
        opened = zoom.inner_text()
        assert int(opened.rstrip(" %")) >= 85, (key, opened)
        look(chef, f"diagram-{key}")
    # the zoom buttons and the canvas answer the keyboard (Swedish names, Enter and the arrow keys)
    chef.get_by_role("button", name="Zooma ut").focus()
    chef.keyboard.press("Enter")
    expect(zoom).not_to_have_text(opened)
    chef.get_by_role("button", name="Läsbar storlek").focus()
    chef.keyboard.press("Enter")
    expect(zoom).to_have_text("85 %")
    holder.focus()
    before = holder.locator("svg > .viewport").get_attribute("transform")
    chef.keyboard.press("ArrowRight")
    expect(holder.locator("svg > .viewport")).not_to_have_attribute("transform", before or "")
    chef.keyboard.press("+")
    expect(zoom).to_have_text("106 %")
    look(chef, "diagram-zoomed")
