"""The process owner's editor in a real browser: rename in the modeler and deploy a new version,
see every problem at its element, edit a form with a live preview.
"""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import func, select

from service.models import ProcessDefinition
from service.operations.instances import start_instance
from tests.browser.conftest import Site, look
from tests.browser.test_staff_pages import KEY, START, UTFORARE, actor


def test_rename_a_task_in_the_modeler_and_deploy_a_new_version(site: Site) -> None:
    site.h.user("anna", "enhetschef_utforare", districts=("Sydväst",), organisation=UTFORARE)
    running, _ = start_instance(site.h.services, actor(site, "anna"), KEY, START)
    page = site.person("paula", "processagare", districts=())
    page.get_by_role("link", name="Rutiner").click()
    look(page, "editor-list")
    page.get_by_role("link", name="Tillfälligt utökat stöd i 14 dagar").click()
    expect(page.locator("[data-modeler][data-ready=true]")).to_be_visible()
    look(page, "editor")
    # she picks the task from the element list (the keyboard way) and gives it a new name
    page.get_by_label("Element", exact=True).select_option("utoka_akut")
    expect(page.locator("#element-id")).to_have_text("utoka_akut")
    page.get_by_label("Namn", exact=True).fill("Utöka insatserna genast")
    page.get_by_role("button", name="Ändra namn").click()
    expect(page.locator('.djs-element[data-element-id="utoka_akut"]')).to_contain_text("Utöka insatserna genast")
    page.get_by_label("Kommentar till versionen").fill("Tydligare namn på första steget")
    page.get_by_role("button", name="Driftsätt ny version").click()
    expect(page.get_by_role("status").filter(has_text="Version 2 är driftsatt")).to_be_visible()
    versions = page.get_by_test_id("versions")
    expect(versions.locator('tr[data-version="2"]')).to_contain_text("paula")
    expect(versions.locator('tr[data-version="2"]')).to_contain_text("Tydligare namn på första steget")
    # the new version carries the name, its forms and lanes intact; the running case stays on version 1
    xml = site.h.as_("anna").get(f"/api/v1/processes/{KEY}/bpmn?version=2").text
    assert 'name="Utöka insatserna genast"' in xml and "formJsonSchemaFilename" in xml
    assert site.h.as_("anna").ok("GET", f"/api/v1/instances/{running.id}")["version"] == 1
    assert start_instance(site.h.services, actor(site, "anna"), KEY, START)[0].definition.version == 2


def test_problems_are_shown_at_their_elements_and_forms_preview_live(site: Site) -> None:
    page = site.person("paula", "processagare", districts=())
    page.goto(f"{site.url}/rutiner/{KEY}")
    expect(page.locator("[data-modeler][data-ready=true]")).to_be_visible()
    # the form editor previews the form as staff will see it, as she types
    page.get_by_label("Formulärfil").select_option("utoka_akut.schema.json")
    expect(page.locator("#form-preview")).to_contain_text("Förändrat behov")
    schema = page.get_by_label("JSON Schema", exact=True)
    schema.fill(schema.input_value().replace('"Förändrat behov"', '"Vad har förändrats?"'))
    expect(page.locator("#form-preview")).to_contain_text("Vad har förändrats?")
    schema.fill("{ not json")
    expect(page.locator("#form-json-status")).to_contain_text("Ogiltig JSON")
    page.get_by_label("Formulärfil").select_option("bekrafta_uppstart.schema.json")
    # she unlinks a user task's form: deploying is refused, and the problem is marked on the task
    page.get_by_label("Element", exact=True).select_option("meddela_handlaggare")
    page.get_by_label("Formulär för uppgiften").select_option("")
    page.get_by_role("button", name="Koppla formulär").click()
    page.get_by_role("button", name="Driftsätt ny version").click()
    result = page.locator("#deploy-result")
    expect(result).to_contain_text("Inget driftsattes")
    expect(result).to_contain_text("[meddela_handlaggare]")
    expect(page.locator('.djs-element.has-problem[data-element-id="meddela_handlaggare"]')).to_have_count(1)
    look(page, "editor-problems")
    with site.h.services.db.read() as db:
        assert db.scalar(select(func.count()).where(ProcessDefinition.key == KEY)) == 1
