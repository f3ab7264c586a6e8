"""R3 Tillfälligt utökat stöd i 14 dagar walked in Chromium by its roles, keyboard only.

The provider's coordinator reports and increases the care, Mottagningsfunktionen tells the
handläggare, who confirms; within the 14 days the coordinator records on the case that the need will
last and tells the handläggare; the day-14 follow-up (fired from the console by the admin) finds the need
persisting, the client applies and the approval is backdated to day 0. At every step where the case
is read, the competitor's unit manager (same role, same district) gets 404 and none of the client's
personal data.
"""

from __future__ import annotations

from datetime import date

from playwright.sync_api import expect

from service.directory import add_organisation
from tests.browser.conftest import Site
from tests.browser.journey import Journey, pick, press, tick, type_date, type_text
from tests.browser.journeys._people import open_task, says, sees_nothing
from tests.routines.test_utokat_stod_14_dagar import KONKURRENT, START, SUFFIX, UTOKA

KEY = "utokat_stod_14_dagar"
NAME, PNR = "Tora Testsson", "19121212-1212"
PLANTED = (NAME, PNR)


def test_r3_from_the_report_to_a_backdated_approval(site: Site) -> None:
    add_organisation(site.h.services, KONKURRENT, kind="utforare", name="Hemtjänst Väst AB")
    j, url = Journey(KEY), site.url
    kim = site.person("kim", "enhetschef_utforare", organisation="omsorg_syd")
    kajsa = site.person("kajsa", "enhetschef_utforare", organisation=KONKURRENT)
    mf = site.person("mf", "mottagningsfunktionen")
    bo = site.person("bo", "bistandshandlaggare")
    adam = site.person("adam", "admin")

    # the coordinator starts the routine from the start page
    kim.goto(f"{url}/starta/{KEY}")
    type_text(kim, "Ärendereferens", "HT-2026-0815")
    type_text(kim, "Brukarens namn (obligatorisk)", NAME)
    type_text(kim, "Personnummer (obligatorisk)", PNR)
    pick(kim, "Stadsområde (obligatorisk)", "Sydväst")
    pick(kim, "Utförare (obligatorisk)", "Omsorg Syd AB")
    type_text(kim, "Hemtjänstutförare (obligatorisk)", START["hemtjanstutforare"])
    pick(kim, "Pågående beslut och uppdrag (obligatorisk)", "Omvårdnadsbeslut med hemtjänst")
    pick(kim, "Nytt omvårdnadsbehov (obligatorisk)", "Ja")
    j.shot(kim, "start")
    press(kim, "Starta")
    says(kim, "Tillfälligt utökat stöd i 14 dagar startades")

    # day 0: she increases the care at once
    utoka = open_task(kim, url, "Utöka insatser akut – tillfälligt utökat stöd i 14 dagar")
    type_text(kim, "Förändrat behov (obligatorisk)", UTOKA["forandrat_behov"])
    type_text(kim, "Tillagda insatser (obligatorisk)", UTOKA["tillagda_insatser"])
    type_date(kim, "Startdatum (dag 0) (obligatorisk)", date(2026, 12, 1))
    type_date(kim, "Behovet konstaterat (obligatorisk)", date(2026, 12, 1))
    pick(kim, "Bedömd varaktighet (obligatorisk)", "Högst 14 dagar")
    type_text(kim, "Journalanteckning (utförare) (obligatorisk)", UTOKA["journal_utforare_text"])
    type_text(kim, "Anteckningen skriven av (obligatorisk)", UTOKA["journal_utforare_forfattare"])
    j.shot(kim, "utoka-akut")
    press(kim, "Slutför uppgiften")
    says(kim, "Klart: Utöka insatser akut")
    instance_id = site.h.as_("adam").ok("GET", "/api/v1/instances", params={"process": KEY})["items"][0]["id"]
    case = f"/arenden/{instance_id}"
    kim.goto(f"{url}{case}")
    j.shot(kim, "case-after-utoka")
    sees_nothing(kajsa, url, [case, f"/uppgifter/{utoka}"], PLANTED)

    # Mottagningsfunktionen names the responsible handläggare
    meddela = open_task(mf, url, "Meddela biståndshandläggaren" + SUFFIX)
    type_text(mf, "Situation och behov (obligatorisk)", "Fall i hemmet, behöver två extra besök per dag")
    pick(mf, "Ansvarig handläggare (obligatorisk)", "bo (Sydväst)")
    type_date(mf, "Meddelad (obligatorisk)", date(2026, 12, 1))
    j.shot(mf, "meddela-handlaggare")
    press(mf, "Slutför uppgiften")
    says(mf, "Klart: Meddela")
    sees_nothing(kajsa, url, [case, f"/uppgifter/{meddela}"], PLANTED)

    # the handläggare confirms the start under the agreement
    open_task(bo, url, "Bekräfta uppstart enligt avtal 14 dagar" + SUFFIX)
    tick(bo, "Uppstart bekräftad (obligatorisk)")
    type_text(bo, "Bekräftad till (obligatorisk)", "Kim Samordnare")
    type_text(bo, "Journalanteckning (myndighet) (obligatorisk)", "Uppstart enligt avtal bekräftad")
    type_text(bo, "Anteckningen skriven av (obligatorisk)", "Bo Handläggare, biståndshandläggare")
    j.shot(bo, "bekrafta-uppstart")
    press(bo, "Slutför uppgiften")
    says(bo, "Klart: Bekräfta uppstart")
    bo.goto(f"{url}{case}")
    expect(bo.get_by_role("heading", level=1)).to_be_visible()
    j.shot(bo, "case-waiting-for-day-14")
    sees_nothing(kajsa, url, [case], PLANTED)

    # within the 14 days the coordinator records on the case that the need will last longer
    kim.goto(f"{url}{case}")
    type_text(kim, "Varför behovet bedöms vara varaktigt (obligatorisk)", "Rehabiliteringen tar flera veckor")
    j.shot(kim, "varaktigt-behov-konstaterat")
    press(kim, "Skicka: Varaktigt behov konstaterat")
    says(kim, "Meddelandet skickades")
    informera = open_task(kim, url, "Informera biståndshandläggaren om varaktigt behov" + SUFFIX)
    pick(kim, "Informerad handläggare (obligatorisk)", "bo (Sydväst)")
    type_date(kim, "Handläggaren informerad (obligatorisk)", date(2026, 12, 7))
    type_text(kim, "Det varaktiga behovet (obligatorisk)", "Lång rehabilitering efter fallet")
    j.shot(kim, "informera-om-varaktigt-behov")
    press(kim, "Slutför uppgiften")
    says(kim, "Klart: Informera")
    sees_nothing(kajsa, url, [case, f"/uppgifter/{informera}"], PLANTED)

    # day 14 comes: the admin fires the follow-up timer from the case's console, after confirming
    adam.goto(f"{url}{case}")
    adam.get_by_role("link", name="Lös ut nu… Dag 14").focus()
    adam.keyboard.press("Enter")
    expect(adam.get_by_role("heading", name="Lös ut tidsgränsen nu?")).to_be_visible()
    j.shot(adam, "confirm-day-14")
    press(adam, "Lös ut nu")
    says(adam, "Tidsgränsen löstes ut")

    # the follow-up: the need persists
    uppfoljning = open_task(bo, url, "Uppföljning dag 14: övergående eller kvarstående behov?" + SUFFIX)
    type_date(bo, "Kontakt med utföraren (obligatorisk)", date(2026, 12, 15))
    pick(bo, "Behovet (obligatorisk)", "Kvarstår")
    type_text(bo, "Anteckning (obligatorisk)", "Behovet kvarstår")
    j.shot(bo, "uppfoljning-dag-14")
    press(bo, "Slutför uppgiften")
    says(bo, "Klart: Uppföljning dag 14")
    sees_nothing(kajsa, url, [case, f"/uppgifter/{uppfoljning}"], PLANTED)

    # the client applies
    inhamta = open_task(bo, url, "Kontakta brukaren för ansökan om utökat stöd" + SUFFIX)
    type_date(bo, "Kontakt med brukaren (obligatorisk)", date(2026, 12, 15))
    pick(bo, "Ansökan inkommen (obligatorisk)", "Ja")
    type_date(bo, "Ansökan inkom (obligatorisk)", date(2026, 12, 15))
    type_text(bo, "Anteckning (obligatorisk)", "Brukaren ansöker om utökad hemtjänst")
    j.shot(bo, "inhamta-ansokan")
    press(bo, "Slutför uppgiften")
    says(bo, "Klart")

    # the decision: approval, backdated to day 0
    beslut = open_task(bo, url, "Besluta om fortsatta insatser (bifall bakåtdateras till dag 0)" + SUFFIX)
    pick(bo, "Beslut (obligatorisk)", "Bifall")
    type_date(bo, "Beslutsdatum (obligatorisk)", date(2026, 12, 18))
    type_text(bo, "Beviljade insatser (obligatorisk)", "Två extra besök per dag")
    tick(bo, "Uppdraget uppdaterat (obligatorisk)")
    type_text(bo, "Motivering (obligatorisk)", "Behovet kvarstår")
    j.shot(bo, "fatta-beslut")
    press(bo, "Slutför uppgiften")
    says(bo, "Klart")

    # the case has ended with compensation, and the competitor still sees nothing
    bo.goto(f"{url}{case}")
    expect(bo.locator("main")).to_contain_text("utföraren ersätts")
    j.shot(bo, "case-ended")
    sees_nothing(kajsa, url, [case, f"/uppgifter/{inhamta}", f"/uppgifter/{beslut}"], PLANTED)
    final = site.h.as_("adam").ok("GET", f"/api/v1/instances/{instance_id}")
    assert final["state"] == "completed" and final["outcome"] == "ersatt"
