"""The process owner's editor in a real browser, from the keyboard: rename a task, confirm the deploy
in a dialog that lists the change, and staff see the new name; an unchanged deploy makes no version;
problems in Swedish at their elements; a draft saved and found again; leaving with unsaved changes
asks first; the properties panel validates ids and timers; a version diff marks what changed.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from service.models import ProcessDefinition
from service.operations.instances import start_instance
from tests.browser.conftest import Site, look
from tests.browser.journey import choose, press, type_text
from tests.browser.test_staff_pages import KEY, START, UTFORARE, actor

UTOKA_AKUT = "Utöka akut – Användaruppgift (formulär)"


def open_editor(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/rutiner/{KEY}")
    expect(page.locator("[data-modeler][data-ready=true]")).to_be_visible()


def versions(site: Site) -> int:
    with site.h.services.db.read() as db:
        return int(db.scalar(select(func.count()).where(ProcessDefinition.key == KEY)) or 0)


def test_a_renamed_task_reaches_staff_after_a_confirmed_deploy(site: Site) -> None:
    site.h.user("anna", "enhetschef_utforare", districts=("Sydväst",), organisation=UTFORARE)
    running, _ = start_instance(site.h.services, actor(site, "anna"), KEY, START, case_ref="2026-SOC-0201")
    page = site.person("paula", "processagare", districts=())
    page.get_by_role("link", name="Rutiner").click()
    look(page, "editor-list")
    page.get_by_role("link", name="Tillfälligt utökat stöd i 14 dagar").click()
    expect(page.locator("[data-modeler][data-ready=true]")).to_be_visible()
    # the palette leaves the diagram's start free at the default fit, and speaks Swedish
    palette = page.locator(".djs-palette").bounding_box()
    start = page.locator('.djs-element[data-element-id="anmalan_utokat_behov"]').bounding_box()
    assert palette and start and start["x"] > palette["x"] + palette["width"]
    expect(page.locator(".djs-palette [title='Skapa uppgift']")).to_have_count(1)
    look(page, "editor")
    # she picks the task from the element list (the keyboard way) and types its new name
    choose(page, "Element", UTOKA_AKUT)
    expect(page.get_by_label("Id", exact=True)).to_have_value("utoka_akut")
    type_text(page, "Namn", "Utöka insatserna genast")
    press(page, "Ändra i diagrammet")
    expect(page.locator('.djs-element[data-element-id="utoka_akut"]')).to_contain_text("Utöka insatserna genast")
    expect(page.locator("#dirty-state")).to_have_text("Osparade ändringar")
    type_text(page, "Kommentar till versionen", "Tydligare namn på första steget")
    # the deploy asks first, listing what changes
    press(page, "Driftsätt ny version …")
    dialog = page.get_by_role("dialog", name="Driftsätta en ny version?")
    expect(dialog).to_contain_text("namn: ”Utöka akut” → ”Utöka insatserna genast”")
    look(page, "editor-deploy-confirm")
    press(page, "Driftsätt")
    expect(page.get_by_role("status").filter(has_text="Version 2 är driftsatt")).to_be_visible()
    rows = page.get_by_test_id("versions")
    expect(rows.locator('tr[data-version="2"]')).to_contain_text("Tydligare namn på första steget")
    assert site.h.as_("anna").ok("GET", f"/api/v1/instances/{running.id}")["version"] == 1

    # the unit manager's inbox: the new case's step has the new name; the running case keeps its own
    start_instance(site.h.services, actor(site, "anna"), KEY, START, case_ref="2026-SOC-0202")
    anna = site.sign_in("anna")
    anna.get_by_role("link", name="Inkorg").click()
    claimable = anna.get_by_role("table", name="Ej tilldelade uppgifter")
    expect(claimable).to_contain_text("Utöka insatserna genast")
    expect(claimable).to_contain_text("Utöka insatser akut")
    # the process owner has no need to know the cases
    owner = site.h.as_("paula")
    assert owner.get(f"/api/v1/instances/{running.id}").status_code == 404
    assert START["personnummer"] not in page.content() and START["brukare_namn"] not in page.content()

    # deploying the same again makes no version, and the page says so
    press(page, "Driftsätt ny version …")
    expect(dialog).to_contain_text("Inget har ändrats sedan version 2")
    press(page, "Driftsätt")
    expect(page.get_by_role("status").filter(has_text="Inget var ändrat")).to_contain_text("Version 2 gäller")
    assert versions(site) == 2


def test_problems_in_swedish_a_draft_kept_and_leaving_with_changes_asks(site: Site) -> None:
    page = site.person("paula", "processagare", districts=())
    open_editor(page, site)
    # she unlinks a user task's form
    choose(page, "Element", "Meddela handläggare – Användaruppgift (formulär)")
    choose(page, "Formulär för uppgiften", "(inget formulär)")
    press(page, "Koppla formulär")
    # leaving by a link asks first; she stays
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", answer)
    page.get_by_role("link", name="Rutiner").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#dirty-state")).to_have_text("Osparade ändringar")
    assert asked and "inte är sparade" in asked[0]
    assert page.url.endswith(f"/rutiner/{KEY}")
    # she saves a draft: nothing is deployed, and she may leave without being asked
    press(page, "Spara utkast")
    expect(page.locator("#draft-result")).to_contain_text("Utkastet är sparat")
    page.get_by_role("link", name="Rutiner").first.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{site.url}/rutiner")
    assert versions(site) == 1
    # the draft is found again and opens with her change
    page.get_by_role("link", name="Tillfälligt utökat stöd i 14 dagar").click()
    expect(page.get_by_test_id("draft-notice")).to_contain_text("paula")
    page.get_by_role("link", name="Öppna utkastet").click()
    expect(page.locator("[data-modeler][data-ready=true]")).to_be_visible()
    choose(page, "Element", "Meddela handläggare – Användaruppgift (formulär)")
    expect(page.get_by_label("Formulär för uppgiften")).to_have_value("")
    # deploying it is refused in plain Swedish, the problem marked on the task
    press(page, "Driftsätt ny version …")
    press(page, "Driftsätt")
    result = page.locator("#deploy-result")
    expect(result).to_contain_text("Inget driftsattes")
    expect(result).to_contain_text("”Meddela handläggare” har inget formulär")
    expect(page.locator('.djs-element.has-problem[data-element-id="meddela_handlaggare"]')).to_have_count(1)
    look(page, "editor-problems")
    assert versions(site) == 1


def test_properties_panel_checks_ids_and_timers_and_the_diff_marks_changes(site: Site) -> None:
    page = site.person("paula", "processagare", districts=())
    open_editor(page, site)
    # an id a person might type is refused in words, then one already in use, then a good one
    choose(page, "Element", UTOKA_AKUT)
    type_text(page, "Id", "utöka akut")
    press(page, "Ändra i diagrammet")
    expect(page.locator("#element-id-error")).to_contain_text("får bara innehålla bokstäver a–z")
    expect(page.get_by_label("Id", exact=True)).to_have_attribute("aria-invalid", "true")
    type_text(page, "Id", "meddela_handlaggare")
    press(page, "Ändra i diagrammet")
    expect(page.locator("#element-id-error")).to_contain_text("används redan av ”Meddela handläggare”")
    look(page, "editor-id-error")
    type_text(page, "Id", "utoka_genast")
    press(page, "Ändra i diagrammet")
    expect(page.locator('.djs-element[data-element-id="utoka_genast"]')).to_have_count(1)
    # and she moves it to another lane
    choose(page, "Lane (roll som utför)", "Mottagningsfunktionen")
    press(page, "Ändra i diagrammet")
    expect(page.locator("#element-status")).to_contain_text("Ändringen är gjord")
    expect(page.get_by_label("Lane (roll som utför)")).to_have_value("lane_2")
    # a timer takes an ISO duration, not words
    choose(page, "Element", "Dag 14 – Mellanhändelse (väntar)")
    choose(page, "Sort", "Efter en tid (varaktighet)")
    type_text(page, "Värde", "14 dagar")
    press(page, "Ändra i diagrammet")
    expect(page.locator("#timer-value-error")).to_contain_text("P14D")
    type_text(page, "Värde", "P14D")
    press(page, "Ändra i diagrammet")
    expect(page.locator("#timer-value-error")).to_be_hidden()
    # a flow's condition
    choose(page, "Element", "Ja – Flöde")
    type_text(page, "Villkor", "pagaende_beslut == 'ja'")
    press(page, "Ändra i diagrammet")
    # the diff between the deployed version and her work lists and marks the changes by name
    press(page, "Jämför")
    diff = page.locator("#diff-result")
    expect(diff.locator("ul[data-kind=changed]")).to_contain_text("Dag 14 – Mellanhändelse (väntar) (timer)")
    expect(diff.locator("ul[data-kind=changed]")).to_contain_text("Ja – Flöde (leder till, villkor)")
    expect(diff.locator("ul[data-kind=added]")).to_contain_text("Utöka akut")
    expect(diff.locator("ul[data-kind=removed]")).to_contain_text("Utöka akut")
    expect(page.locator("#diff-canvas .djs-element.diff-changed")).not_to_have_count(0)
    look(page, "editor-diff")
    assert versions(site) == 1


def test_forms_preview_live(site: Site) -> None:
    page = site.person("paula", "processagare", districts=())
    open_editor(page, site)
    choose(page, "Formulärfil", "utoka_akut.schema.json")
    expect(page.locator("#form-preview")).to_contain_text("Förändrat behov")
    type_text(page, "JSON Schema", '{"type": "object", "title": "Vad har förändrats?", "properties": {}}')
    expect(page.locator("#form-preview")).to_contain_text("Vad har förändrats?")
    type_text(page, "JSON Schema", "{ inte json")
    expect(page.locator("#form-json-status")).to_contain_text("Ogiltig JSON")
