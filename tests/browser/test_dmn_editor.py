"""The process owner opens a routine's decision table next to its diagram, changes a cell from the
keyboard, and saves it with the draft."""

from __future__ import annotations

from playwright.sync_api import expect

from service.actor import SYSTEM
from service.models import ProcessDraft
from service.operations.deploy import deploy
from tests.browser.conftest import Site, look
from tests.browser.journey import choose, press
from tests.conftest import FIXTURES

DMN = FIXTURES / "dmn"


def test_a_decision_table_opens_beside_the_diagram_and_is_saved_with_the_draft(site: Site) -> None:
    deploy(site.h.services, SYSTEM, {name: (DMN / name).read_bytes()
                                     for name in ("prioritering.bpmn", "prioritet.dmn", "handlaggare.dmn")})
    page = site.person("paula", "processagare", districts=())
    page.goto(f"{site.url}/rutiner/prioritering")
    expect(page.locator("[data-modeler][data-ready=true]")).to_be_visible()
    # both tables of the routine are offered; she picks "prioritet" from the list with the keyboard
    choose(page, "Beslutstabell", "prioritet.dmn")
    canvas = page.locator("#dmn-canvas[data-ready=true]")
    expect(canvas).to_be_visible()
    expect(canvas).to_contain_text("Prioritet")
    cell = canvas.locator('td[data-row-id="r3"][data-col-id="out_prioritet"]')
    expect(cell).to_contain_text('"normal"')
    expect(page.locator("#dirty-state")).not_to_have_text("Osparade ändringar")  # opening a table changes nothing
    look(page, "editor-dmn")
    # the third row's output becomes "lag": she moves into the cell and types
    cell.locator("[contenteditable]").first.focus()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type('"lag"')
    expect(cell).to_contain_text('"lag"')
    expect(page.locator("#dirty-state")).to_have_text("Osparade ändringar")
    press(page, "Spara utkast")
    expect(page.locator("#draft-result")).to_contain_text("Utkastet är sparat")
    with site.h.services.db.read() as db:
        draft = db.get(ProcessDraft, "prioritering")
        assert draft is not None
        assert '"lag"' in draft.bpmn_files["prioritet.dmn"] and '"normal"' not in draft.bpmn_files["prioritet.dmn"]
        assert '"vuxen"' in draft.bpmn_files["handlaggare.dmn"]  # the other table travels unchanged
