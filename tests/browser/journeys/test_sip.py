"""R5a SIP vid utskrivning från sluten vård, carried from the start form to an end event in Chromium.

Each role is its own person, signed in through the sign-in page, typing with the keyboard
(``tests/browser/journey.py``): the socialsekreterare registers the inskrivningsmeddelande, the
biståndshandläggare contacts the patient and records the explicit consent naming the region, plans
the homecoming, sends *utskrivningsklar* from the case page and takes the patient home; the region's
fast vårdkontakt calls the SIP, documents the plan and follows it up to its end (ROUTINES.md R5a).

At every step where the case is read, a fast vårdkontakt of another region and a
biståndshandläggare of another district get 404 for the case and the task, with none of the
planted personal values in what they see.
"""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Page, expect

from service.clock import SYSTEM_CLOCK
from service.directory import add_organisation
from tests.browser.conftest import Site
from tests.browser.journey import Journey, choose, fieldset, pick, press, type_date, type_date_time, type_text

VGR, HALLAND = "vgregion", "region_halland"
NAMN, PERSONNUMMER, CASE_REF = "Kalle Anka", "19121212-1212", "SIP-2026-0042"
PLANTED = (NAMN, PERSONNUMMER, CASE_REF)


def take(page: Page, site: Site, title: str) -> None:
    """From the inbox, take the lane's task ``title``: it opens."""
    page.goto(f"{site.url}/inkorg")
    press(page, f"Ta {title}")
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()


def finish(page: Page, title: str) -> None:
    press(page, "Slutför uppgiften")
    expect(page.get_by_role("status")).to_contain_text(f"Klart: {title}")


def task_id(page: Page) -> str:
    return page.url.rstrip("/").split("/")[-1]


def outsiders_get_404(outsiders: list[Page], site: Site, instance_id: str, *task_ids: str) -> None:
    """The case and its tasks do not exist for people without a need to know, and nothing planted leaks."""
    for outsider in outsiders:
        for path in (f"/arenden/{instance_id}", *(f"/uppgifter/{t}" for t in task_ids)):
            response = outsider.goto(f"{site.url}{path}")
            assert response is not None and response.status == 404, (path, response and response.status)
            text = outsider.content()
            assert [v for v in PLANTED if v in text] == [], path
        outsider.goto(f"{site.url}/inkorg")
        assert [v for v in PLANTED if v in outsider.content()] == []


def test_sip_vid_utskrivning_from_start_to_end(site: Site) -> None:
    add_organisation(site.h.services, VGR, kind="region", name="Västra Götalandsregionen")
    add_organisation(site.h.services, HALLAND, kind="region", name="Region Halland")
    today = SYSTEM_CLOCK.local_now().replace(second=0, microsecond=0)
    j = Journey("sip")
    sam = site.person("sam", "socialsekreterare", districts=("Nordost",))
    bo = site.person("bo", "bistandshandlaggare", districts=("Nordost",))
    eva = site.person("eva", "fast_vardkontakt", districts=("Nordost",), organisation=VGR)
    outsiders = [site.person("hal", "fast_vardkontakt", districts=("Nordost",), organisation=HALLAND),
                 site.person("bea", "bistandshandlaggare", districts=("Hisingen",))]

    # the socialsekreterare registers the inskrivningsmeddelande from the hospital
    sam.goto(f"{site.url}/starta")
    sam.get_by_role("link", name="SIP – samordnad individuell plan").click()
    type_text(sam, "Ärendereferens", CASE_REF)
    pick(sam, "Variant", "SIP vid utskrivning från sluten vård (Lag 2017:612)")
    pick(sam, "Stadsområde", "Nordost")
    pick(sam, "Region", "Västra Götalandsregionen")
    type_text(sam, "Varför behövs en samordnad plan?", f"{NAMN} ({PERSONNUMMER}) inlagd efter fall; bor ensam.")
    type_date_time(sam, "Mottaget", today - timedelta(hours=1))
    type_text(sam, "Sjukhus", "Sahlgrenska")
    type_text(sam, "Avdelning", "Avd 12")
    type_date(sam, "Inskriven", today.date() - timedelta(days=1))
    j.shot(sam, "start")
    press(sam, "Starta")
    expect(sam.get_by_role("status")).to_contain_text("startades")
    sam.goto(f"{site.url}/arenden")
    sam.get_by_role("link", name="SIP – samordnad individuell plan").first.click()
    instance_id = sam.url.rstrip("/").split("/")[-1]
    j.shot(sam, "started")
    outsiders_get_404(outsiders, site, instance_id)

    # the biståndshandläggare contacts the patient and records the explicit consent, naming the region
    title = "Kontakta patienten och inhämta samtycke"
    take(bo, site, title)
    kontakta = task_id(bo)
    type_date(bo, "Patienten kontaktad", today.date())
    pick(bo, "Hur kontakten togs", "Besök på sjukhuset")
    type_text(bo, "Patientens situation", "Vill hem, behöver hjälp med hygien.")
    pick(bo, "Samtycker den enskilde?", "Ja, den enskilde samtycker")
    pick(bo, "Typ av samtycke", "Uttryckligt – den enskilde ger aktivt sitt samtycke (det enda som räcker för en SIP)")
    pick(bo, "Form", "Skriftligt")
    pick(bo, "Mottagare utanför nämnden", "Regionen (hälso- och sjukvården)")
    type_text(bo, "Enheter", "Hemtjänst Nordost\nVårdcentralen Nordost")
    type_date(bo, "Gäller från", today.date())
    type_date(bo, "Gäller till och med", today.date() + timedelta(days=365))
    j.shot(bo, "samtycke")
    finish(bo, title)
    outsiders_get_404(outsiders, site, instance_id, kontakta)

    # the homecoming is planned while the patient is in hospital; the region learns what it needs
    title = "Planera hemgång och SIP"
    take(bo, site, title)
    planera = task_id(bo)
    type_text(bo, "Plan för hemgången", "Hemtjänst morgon och kväll, trygghetslarm.")
    pick(bo, "Planerade insatser", "Hemtjänst")
    pick(bo, "Planerade insatser", "Trygghetslarm")
    fvk = fieldset(bo, "Fast vårdkontakt")
    type_text(bo, "Namn", "Eva Lind", within=fvk)
    type_text(bo, "Enhet", "Vårdcentralen Nordost", within=fvk)
    type_text(bo, "Uppgifter som lämnas till regionen", "Beviljade insatser och kontaktuppgifter.")
    j.shot(bo, "planera-hemgang")
    finish(bo, title)
    outsiders_get_404(outsiders, site, instance_id, kontakta, planera)

    # the region's part: the fast vårdkontakt calls the SIP
    title = "Kalla till SIP (fast vårdkontakt)"
    take(eva, site, title)
    kalla = task_id(eva)
    assert [v for v in (NAMN, PERSONNUMMER) if v in eva.content()] == []  # only what was handed over
    type_date_time(eva, "Mötestid", today + timedelta(days=7))
    type_text(eva, "Plats", "Vårdcentralen Nordost")
    first = fieldset(eva, "Kallade tjänstepersoner 1")
    type_text(eva, "Namn", "Eva Lind", within=first)
    type_text(eva, "Funktion", "Fast vårdkontakt", within=first)
    choose(eva, "Verksamhet", "Regionen – primärvård", within=first)
    press(eva, "Lägg till Kallade tjänstepersoner")
    second = fieldset(eva, "Kallade tjänstepersoner 2")
    type_text(eva, "Namn", "Bo Holm", within=second)
    type_text(eva, "Funktion", "Biståndshandläggare", within=second)
    choose(eva, "Verksamhet", "Socialtjänsten (kommunen)", within=second)
    pick(eva, "Deltar den enskilde?", "Ja")
    j.shot(eva, "kalla-till-sip")
    finish(eva, title)
    outsiders_get_404(outsiders, site, instance_id, kontakta, planera, kalla)

    # the hospital says the patient is ready: the biståndshandläggare sends it from the case page
    bo.goto(f"{site.url}/arenden/{instance_id}")
    klar = bo.get_by_role("region", name="Utskrivningsklar")
    type_date_time(bo, "Utskrivningsklar från", today, within=klar)
    j.shot(bo, "utskrivningsklar")
    press(bo, "Skicka: Utskrivningsklar")
    expect(bo.get_by_role("status")).to_contain_text("Meddelandet skickades")

    title = "Ta hem patienten"
    take(bo, site, title)
    hem = task_id(bo)
    type_date_time(bo, "Hemkomst", today + timedelta(hours=4))
    pick(bo, "Insatser som startade vid hemkomsten", "Hemtjänst")
    j.shot(bo, "ta-hem")
    finish(bo, title)
    outsiders_get_404(outsiders, site, instance_id, kontakta, planera, kalla, hem)

    # after utskrivning the fast vårdkontakt documents the SIP
    title = "Upprätta plan"
    take(eva, site, title)
    plan = task_id(eva)
    type_date(eva, "Mötet hölls", today.date())
    pick(eva, "Deltog den enskilde?", "Ja")
    first = fieldset(eva, "Insatser 1")
    type_text(eva, "Insats", "Hemtjänst morgon och kväll", within=first)
    type_text(eva, "Ansvarig verksamhet", "Hemtjänst Nordost", within=first)
    pick(eva, "Huvudman", "Kommunen", within=first)
    press(eva, "Lägg till Insatser")
    second = fieldset(eva, "Insatser 2")
    type_text(eva, "Insats", "Läkemedelsgenomgång", within=second)
    type_text(eva, "Ansvarig verksamhet", "Vårdcentralen Nordost", within=second)
    pick(eva, "Huvudman", "Regionen", within=second)
    main = fieldset(eva, "Huvudansvarig för planen")
    type_text(eva, "Namn", "Eva Lind", within=main)
    type_text(eva, "Verksamhet", "Vårdcentralen Nordost", within=main)
    pick(eva, "Huvudman", "Regionen", within=main)
    type_text(eva, "Den enskildes mål", "Klara sig hemma med stöd.")
    j.shot(eva, "plan")
    finish(eva, title)
    outsiders_get_404(outsiders, site, instance_id, plan)

    # someone asks for a follow-up; the fast vårdkontakt follows up and closes the plan
    eva.goto(f"{site.url}/arenden/{instance_id}")
    begard = eva.get_by_role("region", name="Uppföljning av planen begärd")
    type_text(eva, "Anledning", "Försämrat mående", within=begard)
    j.shot(eva, "uppfoljning-begard")
    press(eva, "Skicka: Uppföljning av planen begärd")
    expect(eva.get_by_role("status")).to_contain_text("Meddelandet skickades")

    title = "Följ upp planen – SIP vid utskrivning från sluten vård"
    take(eva, site, title)
    folj = task_id(eva)
    type_date(eva, "Uppföljningen gjordes", today.date())
    first = fieldset(eva, "Insatsernas status 1")
    type_text(eva, "Insats", "Hemtjänst morgon och kväll", within=first)
    pick(eva, "Status", "Genomförd", within=first)
    type_text(eva, "Anteckning", "Målen är nådda.")
    pick(eva, "Hur går planen vidare?", "Planen avslutas")
    choose(eva, "Varför avslutas planen?", "Målen är uppnådda")
    j.shot(eva, "uppfoljning")
    finish(eva, title)
    outsiders_get_404(outsiders, site, instance_id, folj)

    # the case has ended; the region reads only what was handed over to it
    eva.goto(f"{site.url}/arenden/{instance_id}")
    expect(eva.get_by_text("SIP avslutad – planen är avslutad")).to_be_visible()
    j.shot(eva, "avslutad")
    body = site.h.as_("sam").ok("GET", f"/api/v1/instances/{instance_id}")
    assert body["state"] == "completed" and body["outcome"] == "sip_avslutad"
    outsiders_get_404(outsiders, site, instance_id, kontakta, planera, kalla, hem, plan, folj)

