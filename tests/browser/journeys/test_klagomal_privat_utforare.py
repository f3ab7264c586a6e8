"""R4 Synpunkter och klagomål på privat utförare walked in Chromium by its roles, keyboard only.

A receiver registers a complaint that the person lets the provider see; the provider answers
(step 1), the socialsekreterare follows up the individual (step 2), the enhetschef myndighet finds
recurring deficiencies and compiles provider-level facts for EKU (step 3) — no disclosure basis is
asked for — and EKU follows up the contract and closes the matter (step 4). Wherever the case is
read, the competitor's staff get 404 and none of the planted personal data; EKU reads the case too
and must not see it either.
"""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import Page, expect

from service.directory import add_organisation
from tests.browser.conftest import PHONE, Site
from tests.browser.journey import Journey, choose, pick, press, type_date, type_text
from tests.browser.journeys._people import open_task, says, sees_nothing
from tests.routines.story import ALL_DISTRICTS

KEY = "klagomal_privat_utforare"
NAME, PNR, REF = "Kalle Anka", "19121212-1212", "DNR-7731-XQ"
PLANTED = (NAME, PNR, REF)
OMSORG, TRYGG = "omsorg_ab", "trygg_omsorg"
SUFFIX = f": {OMSORG} – uteblivna insatser"


def no_personal_data(page: Page) -> None:
    body = page.content()
    assert not any(value in body for value in PLANTED), page.url


@pytest.mark.parametrize("width", [None, PHONE["width"]], ids=["desktop", "phone-390"])
def test_r4_from_the_complaint_to_eku_follow_up(site: Site, width: int | None) -> None:
    """The shortest routine is walked at a phone's width too (``journey-…-390-NN-…``), sideways scroll nowhere."""
    if width:
        site.viewport = dict(PHONE)
    add_organisation(site.h.services, OMSORG, kind="utforare", name="Omsorg AB")
    add_organisation(site.h.services, TRYGG, kind="utforare", name="Trygg Omsorg AB")
    add_organisation(site.h.services, "eku", kind="eku", name="EKU")
    j, url = Journey(KEY, width), site.url
    mona = site.person("mona", "mottagare", districts=("Hisingen",))
    omsorg = site.person("omsorg.ec", "utforare", districts=("Hisingen",), organisation=OMSORG)
    trygg = site.person("trygg.ec", "utforare", districts=("Hisingen",), organisation=TRYGG)
    hanna = site.person("hanna", "socialsekreterare", districts=("Hisingen",))
    erik = site.person("erik", "enhetschef_myndighet", districts=("Hisingen",))
    eku = site.person("eku.anna", "eku", districts=ALL_DISTRICTS, organisation="eku")

    # the receiver registers the complaint; the person lets the provider see a summary
    mona.goto(f"{url}/starta/{KEY}")
    pick(mona, "Vad har kommit in (obligatorisk)", "Synpunkt eller klagomål")
    pick(mona, "Utförare (obligatorisk)", "Omsorg AB")
    choose(mona, "Verksamhet (obligatorisk)", "Hemtjänst")
    choose(mona, "Vad gäller det (obligatorisk)", "Uteblivna insatser")
    pick(mona, "Stadsområde (obligatorisk)", "Hisingen")
    type_date(mona, "Inkom (obligatorisk)", date(2026, 11, 20))
    type_text(mona, "Beskrivning (obligatorisk)", f"{NAME} ({PNR}) fick inte sina kvällsbesök tre gånger.")
    type_text(mona, "Den enskildes namn", NAME)
    type_text(mona, "Personnummer", PNR)
    type_text(mona, "Ärendereferens", REF)
    choose(mona, "Lämnad av (obligatorisk)", "God man/förvaltare")
    choose(mona, "Mottagen av (obligatorisk)", "Avgiftshandläggare")
    pick(mona, "Önskemål om byte av utförare (obligatorisk)", "Nej")
    pick(mona, "Hänvisad till verksamheten (obligatorisk)", "Ja")
    pick(mona, "Hänvisad till myndighet (obligatorisk)", "Ja")
    pick(mona, "Hjälp med kontakt (obligatorisk)", "Ja, med verksamheten")
    pick(mona, "Utföraren får ta del via tjänsten (obligatorisk)", "Ja")
    type_text(mona, "Det som lämnas till utföraren (obligatorisk)", "Kvällsbesöken uteblev tre gånger vecka 47.")
    j.shot(mona, "start")
    press(mona, "Starta")
    says(mona, "startades")
    instance_id = site.h.as_("mona").ok("GET", "/api/v1/instances", params={"process": KEY})["items"][0]["id"]
    case = f"/arenden/{instance_id}"
    j.shot(mona, "case-registered")

    # step 1: the provider answers through its quality system; it sees what the person let through only
    step_1 = open_task(omsorg, url, "Synpunkt/klagomål att hantera" + SUFFIX)
    no_personal_data(omsorg)
    expect(omsorg.locator("main")).to_contain_text("Kvällsbesöken uteblev")
    type_date(omsorg, "Mottaget (obligatorisk)", date(2026, 11, 21))
    pick(omsorg, "Hanterat i ert kvalitetsledningssystem (obligatorisk)", "Ja")
    pick(omsorg, "Avvikelse upprättad (obligatorisk)", "Ja")
    type_text(omsorg, "Åtgärder (obligatorisk)", "Kvällsschemat ändrat.")
    pick(omsorg, "Åtgärdat (obligatorisk)", "Delvis")
    j.shot(omsorg, "step-1-provider")
    press(omsorg, "Slutför uppgiften")
    says(omsorg, "Klart")
    sees_nothing(trygg, url, [case, f"/uppgifter/{step_1}"], PLANTED)

    # step 2: the socialsekreterare follows up the individual
    step_2 = open_task(hanna, url, "Individuell uppföljning" + SUFFIX)
    pick(hanna, "Individuppföljning behövs (obligatorisk)", "Ja")
    pick(hanna, "Behoven tillgodoses (obligatorisk)", "Delvis")
    type_date(hanna, "Uppföljningsdatum (obligatorisk)", date(2026, 11, 25))
    type_text(hanna, "Anteckning", f"Hembesök hos {NAME}.")
    pick(hanna, "Önskemål om byte: orsak utredd (obligatorisk)", "Ej aktuellt – inget önskemål om byte")
    pick(hanna, "Kontakt med utföraren (obligatorisk)", "Ja")
    pick(hanna, "Kan brister kvarstå (obligatorisk)", "Ja")
    j.shot(hanna, "step-2-individual")
    press(hanna, "Slutför uppgiften")
    says(hanna, "Klart")
    sees_nothing(trygg, url, [case, f"/uppgifter/{step_2}"], PLANTED)

    # step 3: deficiencies remain and recur — EKU is contacted, with no disclosure basis to give
    step_3 = open_task(erik, url, "Kvarstår brister hos utföraren?" + SUFFIX)
    expect(erik.get_by_text("Utlämningsgrund")).to_have_count(0)
    pick(erik, "Brister kvarstår (obligatorisk)", "Ja")
    pick(erik, "Återkommer och åtgärdas inte (obligatorisk)", "Ja")
    pick(erik, "Allvarliga (obligatorisk)", "Nej")
    pick(erik, "Omfattande och systematiska (obligatorisk)", "Nej")
    type_text(erik, "Bedömning", f"{NAME}s klagomål återkommer.")
    j.shot(erik, "step-3-remaining")
    press(erik, "Slutför uppgiften")
    says(erik, "Klart")
    compile_task = open_task(erik, url, "Sammanställ inför kontakt med EKU" + SUFFIX)
    pick(erik, "Avvikelserna rapporterade till utföraren (obligatorisk)", "Ja")
    pick(erik, "Återkoppling från utföraren (obligatorisk)", "Delvis")
    type_text(erik, "Antal avvikelser (obligatorisk)", "7")
    pick(erik, "Vad avvikelserna berör (obligatorisk)", "Uteblivna insatser")
    pick(erik, "Geografiskt område (obligatorisk)", "Hisingen")
    type_date(erik, "Period från (obligatorisk)", date(2026, 6, 1))
    type_date(erik, "Period till (obligatorisk)", date(2026, 11, 20))
    pick(erik, "Sammanställt inom avdelning myndighet (obligatorisk)", "Ja")
    j.shot(erik, "step-3-compiled")
    press(erik, "Slutför uppgiften")
    says(erik, "Klart")
    sees_nothing(trygg, url, [case, f"/uppgifter/{step_3}", f"/uppgifter/{compile_task}"], PLANTED)

    # step 4: EKU follows up the contract; nothing personal reaches it
    open_task(eku, url, "Kontrakts- och ramavtalsuppföljning" + SUFFIX)
    no_personal_data(eku)
    pick(eku, "Uppföljningsform (obligatorisk)", "Händelsestyrd")
    pick(eku, "Åtgärder (obligatorisk)", "Begäran om åtgärdsplan")
    pick(eku, "Bedömning (obligatorisk)", "Brister åtgärdas enligt plan")
    type_date(eku, "Uppföljningsdatum (obligatorisk)", date(2026, 12, 10))
    pick(eku, "Återkopplat till myndighet (obligatorisk)", "Ja")
    pick(eku, "Avsluta ärendet hos EKU (obligatorisk)", "Ja")
    j.shot(eku, "step-4-eku")
    press(eku, "Slutför uppgiften")
    says(eku, "Klart")
    eku.goto(f"{url}{case}")
    no_personal_data(eku)
    j.shot(eku, "case-as-eku")

    erik.goto(f"{url}{case}")
    expect(erik.locator("main")).to_contain_text("Kontrakts- och ramavtalsuppföljning genomförd")
    j.shot(erik, "case-ended")
    sees_nothing(trygg, url, [case], PLANTED)
    final = site.h.as_("erik").ok("GET", f"/api/v1/instances/{instance_id}")
    assert final["state"] == "completed" and final["outcome"] == "eku_uppfoljning_klar"
