"""Staff pages in a real browser: sign in, start, inbox, task forms (with errors), keyboard only,
hand-over and language.

The routine is R3, tillfälligt utökat stöd i 14 dagar (``bpmn/utokat_stod_14_dagar.bpmn``): a home
care provider's unit manager reports a changed need, increases the care at once (``utoka_akut``),
and Mottagningsfunktionen tells the responsible biståndshandläggare (``meddela_handlaggare``).
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from service.operations.instances import start_instance
from service.operations.tasks import claim, complete_task
from tests.browser.conftest import Site, look
from tests.routines.test_utokat_stod_14_dagar import KEY, START, UTFORARE, UTOKA  # the R3 story's own case

MEDDELA = {"situation_och_behov": "Fall i hemmet", "ansvarig_handlaggare": "bo", "meddelad_datum": "2026-12-01"}


def actor(site: Site, username: str) -> Any:
    from sqlalchemy import select

    from service.auth import actor_for
    from service.models import User

    with site.h.services.db.read() as db:
        return actor_for(db.scalars(select(User).where(User.username == username)).one())


def started_at_meddela(site: Site, starter: str = "anna") -> str:
    """An instance (started and advanced through the operations) waiting for Mottagningsfunktionen."""
    instance, changes = start_instance(site.h.services, actor(site, starter), KEY, START, case_ref="2026-SOC-0101")
    [utoka] = changes.created_tasks
    claim(site.h.services, actor(site, starter), utoka.id)
    complete_task(site.h.services, actor(site, starter), utoka.id, UTOKA)
    return instance.id


def test_sign_in_refuses_a_wrong_password_and_signs_out(site: Site, browser: Any) -> None:
    site.h.user("anna", "enhetschef_utforare", districts=("Sydväst",), organisation=UTFORARE)
    context = browser.new_context(locale="sv-SE")
    page = context.new_page()
    # an unknown visitor is sent to the sign-in page, which remembers where they were going
    page.goto(f"{site.url}/arenden")
    expect(page).to_have_url(f"{site.url}/logga-in?next=/arenden")
    look(page, "login")
    page.get_by_label("Användarnamn").fill("anna")
    page.get_by_label("Lösenord").fill("not-her-password")
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("alert")).to_contain_text("Fel användarnamn eller lösenord")
    look(page, "login-error")
    # the right password lands on the page she asked for
    page.get_by_label("Lösenord").fill("test-password-1")
    page.get_by_role("button", name="Logga in").click()
    expect(page).to_have_url(f"{site.url}/arenden")
    expect(page.get_by_role("navigation", name="Huvudmeny")).to_contain_text("Inkorg")
    # signing out ends the session: the inbox asks for a sign-in again
    page.get_by_role("button", name="Logga ut").click()
    expect(page).to_have_url(f"{site.url}/logga-in")
    page.goto(f"{site.url}/inkorg")
    expect(page.get_by_role("heading", name="Logga in")).to_be_visible()
    context.close()


def fill_start_form(page: Page) -> None:
    page.get_by_label("Ärendereferens").fill("2026-SOC-0101")
    page.get_by_label("Brukarens namn").fill(START["brukare_namn"])
    page.get_by_label("Personnummer").fill(START["personnummer"])
    page.get_by_role("group", name="Stadsområde").get_by_label("Sydväst").check()
    # a provider names itself: its own company is the one choice offered
    page.get_by_role("radio", name="Omsorg Syd AB").check()
    page.get_by_label("Hemtjänstutförare").fill(START["hemtjanstutforare"])
    page.get_by_label("Omvårdnadsbeslut med hemtjänst").check()
    page.get_by_role("group", name="Nytt omvårdnadsbehov").get_by_label("Ja").check()


def test_start_then_complete_a_task_after_fixing_an_invalid_field(site: Site) -> None:
    page = site.person("anna", "enhetschef_utforare", organisation=UTFORARE)
    # the unit manager starts R3 from the start page; her roles allow it
    page.get_by_role("link", name="Starta").click()
    look(page, "start-list")
    page.get_by_role("link", name="Tillfälligt utökat stöd i 14 dagar").click()
    fill_start_form(page)
    look(page, "start-form")
    page.get_by_role("button", name="Starta").click()
    expect(page.get_by_role("status")).to_contain_text("Tillfälligt utökat stöd i 14 dagar startades")

    # the first step is her lane's and unassigned: it waits in the inbox, counted in the navigation
    page.get_by_role("link", name="Inkorg").click()
    expect(page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Inkorg")).to_contain_text("1")
    claimable = page.get_by_role("table", name="Ej tilldelade uppgifter")
    expect(claimable).to_contain_text("Utöka insatser akut")
    look(page, "inbox")
    claimable.get_by_role("button", name="Ta Utöka insatser akut").click()
    # claimed to be done: she lands on the task itself
    expect(page.get_by_role("heading", name="Utöka insatser akut", level=1)).to_be_visible()
    look(page, "task")

    # she dates the lasting need before day 0 (ROUTINES.md: at day 0 or later) and forgets a required
    # answer: the page says so next to each field
    page.get_by_label("Förändrat behov").fill(UTOKA["forandrat_behov"])
    page.get_by_label("Tillagda insatser").fill(UTOKA["tillagda_insatser"])
    page.get_by_label("Dag 0").fill("2026-12-01")
    page.get_by_label("Behovet konstaterat").fill("2026-11-30")
    page.get_by_role("button", name="Slutför uppgiften").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Formuläret har fel")
    expect(summary).to_be_focused()
    expect(page.locator("#f-behov_konstaterat-error")).to_contain_text("Får inte vara före startdatum (dag 0)")
    # each message says what the field needs: the choices there are, what to write
    expect(page.locator("#f-journal_utforare_text-error")).to_contain_text("Fältet får inte vara tomt")
    expect(page.locator("#f-bedomd_varaktighet-error")).to_contain_text(
        "Välj ett av alternativen: Högst 14 dagar, Längre än 14 dagar eller Oklart än.")
    expect(page.get_by_label("Förändrat behov")).to_have_value(UTOKA["forandrat_behov"])  # input kept
    look(page, "task-errors")

    # corrected, the task completes and the next step (Mottagningsfunktionen's) is named
    page.get_by_label("Behovet konstaterat").fill("2026-12-01")
    page.get_by_role("group", name="Bedömd varaktighet").get_by_label("Högst 14 dagar").check()
    page.get_by_label("Journalanteckning").fill(UTOKA["journal_utforare_text"])
    page.get_by_label("Anteckningen skriven av").fill(UTOKA["journal_utforare_forfattare"])
    page.get_by_role("button", name="Slutför uppgiften").click()
    status = page.get_by_role("status")
    expect(status).to_contain_text("Klart: Utöka insatser akut")
    expect(status).to_contain_text("Ärendet går vidare till Mottagningsfunktionen")
    expect(page.get_by_role("table", name="Uppgifter som är dina")).to_have_count(0)

    # the instance page draws the diagram: the next task is highlighted, the step she did is passed
    page.get_by_role("link", name="Ärenden").click()
    look(page, "instance-list")
    page.get_by_role("link", name="Tillfälligt utökat stöd i 14 dagar").click()
    expect(page.locator("[data-diagram][data-ready=true]")).to_be_visible()
    expect(page.locator('.djs-element.is-active[data-element-id="meddela_handlaggare"]')).to_have_count(1)
    expect(page.locator('.djs-element.is-done[data-element-id="utoka_akut"]')).to_have_count(1)
    expect(page.locator('.djs-element.is-done[data-element-id="anmalan_utokat_behov"]')).to_have_count(1)
    # the provider sees where the case is (the step as drawn), not another organisation's task title
    expect(page.locator("ul.active-tasks")).to_contain_text("Meddela handläggare")
    # answers read as people write them: the provider by name, dates in Swedish, no keys or ISO dates
    answers = page.locator("section.main-column")
    expect(answers).to_contain_text("Omsorg Syd AB")
    expect(answers).to_contain_text("1 dec. 2026")
    expect(answers).not_to_contain_text(UTFORARE)
    expect(page.locator("main")).not_to_contain_text("2026-12-01")
    look(page, "instance")


def tab_to(page: Page, name: str, limit: int = 60) -> None:
    """Press Tab until the focused element's accessible text contains ``name``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("() => (document.activeElement.innerText || document.activeElement.value || '') + ' '"
                                " + (document.activeElement.labels && document.activeElement.labels[0] ?"
                                " document.activeElement.labels[0].innerText : '')")
        if name in focused:
            return
    raise AssertionError(f"Tab never reached {name!r}")


def test_a_task_completed_with_the_keyboard_only(site: Site) -> None:
    site.h.user("anna", "enhetschef_utforare", districts=("Sydväst",), organisation=UTFORARE)
    site.h.user("moa", "mottagningsfunktionen", districts=("Sydväst",))
    site.h.user("bo", "bistandshandlaggare", districts=("Sydväst",))  # Mottagningsfunktionen names her
    instance_id = started_at_meddela(site)
    [meddela] = site.h.as_("moa").ok("GET", "/api/v1/tasks")["items"]
    complete_task(site.h.services, actor(site, "moa"), meddela["id"], MEDDELA)
    page = site.sign_in("bo")
    # the biståndshandläggare never touches the mouse: Tab to the task, Enter, answer, Enter
    tab_to(page, "Bekräfta uppstart")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bekräfta uppstart")
    tab_to(page, "Uppstart bekräftad")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.type("Kim Samordnare")
    page.keyboard.press("Tab")
    page.keyboard.type("Uppstart enligt avtal 14 dagar bekräftad till utföraren")
    page.keyboard.press("Tab")
    page.keyboard.type("Bo Handläggare, biståndshandläggare")
    look(page, "task-keyboard")
    page.keyboard.press("Enter")  # Enter in a text input submits the form
    expect(page.get_by_role("status")).to_contain_text("Klart: Bekräfta uppstart")
    # the handläggare's confirmation is in the case (read as bo: the provider sees only its own forms)
    body = site.h.as_("bo").ok("GET", f"/api/v1/instances/{instance_id}")
    assert body["data"]["uppstart_bekraftad"] is True
    assert body["data"]["bekraftad_till"] == "Kim Samordnare"
