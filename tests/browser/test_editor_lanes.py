"""A lane the service does not know, in the editor, from the keyboard: the deploy's problem offers to
choose the lane's roles, the choice is kept with the draft and sent with the deploy, and the task of a
new case reaches the inbox of the role she chose."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import Site, look
from tests.browser.journey import choose, pick, press, type_text
from tests.conftest import Harness
from tests.test_lanes import DIAGRAM, FORM

LANE = "Handläggare X"
QUESTION = f"Vilka roller arbetar i lanen ”{LANE}”?"


@pytest.fixture
def lane_site(sqlite_harness: Harness, browser: Browser) -> Iterator[Site]:
    s = Site(sqlite_harness, browser)
    yield s
    s.close()


def test_an_unknown_lane_is_mapped_in_the_editor_and_its_task_reaches_that_role(lane_site: Site) -> None:
    site = lane_site
    page = site.person("paula", "processagare", districts=())
    site.h.user("mona", "mottag")
    site.h.user("bea", "bistandshandlaggare", districts=("Nordost",))
    # version 1 draws its lanes with names the service knows
    known = (DIAGRAM.replace(f'name="{LANE}"'.encode(), b'name="Socialsekreterare"')
             .replace(b'camunda:candidateGroups="Team Y"', b'camunda:candidateGroups="Mottag"'))
    site.h.as_("paula").ok("POST", "/api/v1/processes", 201, files=[
        ("files", ("egna_lanes.bpmn", known)), ("files", ("egna_lanes/steg.schema.json", FORM))])
    page.goto(f"{site.url}/rutiner/egna_lanes")
    expect(page.locator("[data-modeler][data-ready=true]")).to_be_visible()
    # she renames the lane to one the service has never heard of, and deploys
    choose(page, "Element", "Socialsekreterare – Lane")
    type_text(page, "Namn", LANE)
    press(page, "Ändra i diagrammet")
    press(page, "Driftsätt ny version …")
    press(page, "Driftsätt")
    result = page.locator("#deploy-result")
    expect(result).to_contain_text(f"Lanen ”{LANE}” motsvarar ingen roll")
    # not a dead end: the problem offers to choose the lane's roles, among the roles by their Swedish names
    question = page.get_by_role("group", name=QUESTION)
    expect(question.get_by_label("Biståndshandläggare", exact=True)).to_be_visible()
    expect(question.get_by_label("Administratör", exact=True)).to_have_count(0)
    press(page, f"Välj roller för lanen ”{LANE}”")
    expect(question.locator("input").first).to_be_focused()
    pick(page, QUESTION, "Biståndshandläggare")
    look(page, "editor-lane-roles")
    # the choice is kept with the draft
    press(page, "Spara utkast")
    expect(page.locator("#draft-result")).to_contain_text("Utkastet är sparat")
    page.goto(f"{site.url}/rutiner/egna_lanes?utkast=1")
    expect(page.locator("[data-modeler][data-ready=true]")).to_be_visible()
    expect(page.get_by_role("group", name=QUESTION).get_by_label("Biståndshandläggare", exact=True)).to_be_checked()
    # and sent with the deploy, which the dialog says
    press(page, "Driftsätt ny version …")
    dialog = page.get_by_role("dialog", name="Driftsätta en ny version?")
    expect(dialog.locator("ul[data-kind=lanes]")).to_contain_text(f"{LANE}: Biståndshandläggare")
    press(page, "Driftsätt")
    expect(page.get_by_role("status").filter(has_text="Version 2 är driftsatt")).to_be_visible()
    detail = site.h.as_("paula").ok("GET", "/api/v1/processes/egna_lanes")
    assert detail["version"] == 2 and detail["lanes"] == {LANE: ["bistandshandlaggare"]}

    # a new case's task in that lane waits in the inbox of the role she chose
    site.h.as_("mona").ok("POST", "/api/v1/instances", 201, json={"process": "egna_lanes", "data": {}})
    bea = site.sign_in("bea")
    bea.get_by_role("link", name="Inkorg").click()
    expect(bea.get_by_role("table", name="Ej tilldelade uppgifter")).to_contain_text("Utreda")
