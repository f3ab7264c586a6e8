"""R2 Verkställighet vid akuta behov carried from the start form to its end event in Chromium.

Each role is its own person signed in through the sign-in page, and every field is typed with the
keyboard (``tests/browser/journey.py``). An adult in Nordost needs acute enforcement: the
socialsekreterare reports it and fills in the checklist, the enhetschef myndighet judges the criteria
and the verksamhetschef myndighet, consulted in a task of her own, agrees; the verksamhetschef
korttidsboende vuxna convenes a meeting, the invited socialsekreterare answers, the meeting goes
through its template's checklist, enforcement happens in an akutlokal so the socialsekreterare
decides on korttidsboende, and the evaluation ends the case. Wherever the case is read, a
socialsekreterare of another district or a verksamhetschef of another förvaltning, neither of them
involved, gets 404 and none of the planted personal values.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from playwright.sync_api import Page, expect

from service.clock import STOCKHOLM, SYSTEM_CLOCK
from service.directory import add_organisation
from tests.browser.conftest import Site
from tests.browser.journey import Journey, choose, pick, press, type_date, type_date_time, type_text
from tests.routines.story import ALL_DISTRICTS
from tests.routines.test_akut_verkstallighet import ALDRE_VARD

PERSONNUMMER, KLIENT, DIARIENUMMER = "19121212-1212", "Tolvan Tolvansson", "FFS-2026-4711"
PLANTED = (PERSONNUMMER, KLIENT, DIARIENUMMER)


def open_task(page: Page, site: Site, title: str) -> None:
    """From the inbox, open (claiming it first when it is the lane's) the task whose title starts with ``title``."""
    page.goto(f"{site.url}/inkorg")
    claimable = page.get_by_role("table", name="Ej tilldelade uppgifter")
    if claimable.count() and claimable.get_by_text(title).count():
        claimable.get_by_role("button", name=f"Ta {title}").focus()
        page.keyboard.press("Enter")
    else:
        page.get_by_role("link", name=title).focus()
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text(title.split(" – ")[0])


def settled(page: Page) -> None:
    """The submitted form has answered: a confirmation, or errors (which fail the journey, named)."""
    outcome = page.get_by_role("status").filter(has_text=re.compile("Klart:|startades")).or_(page.get_by_role("alert"))
    expect(outcome.first).to_be_visible(timeout=30_000)  # a loaded machine may take a while to run the engine
    assert not page.get_by_role("alert").count(), page.locator(".error-message, [role=alert]").all_inner_texts()


def done(page: Page, title: str) -> None:
    press(page, "Slutför uppgiften")
    settled(page)
    expect(page.get_by_role("status")).to_contain_text(f"Klart: {title}")


def strangers_see_nothing(strangers: list[Page], urls: list[str]) -> None:
    """Nobody outside the case: its pages do not exist for them and show nothing planted.

    The strangers take turns, one per step, so each step is checked without walking every page twice.
    """
    page = strangers.pop(0)
    strangers.append(page)
    for url in urls:
        response = page.goto(url)
        assert response is not None and response.status == 404, (url, response and response.status)
        body = page.content()
        assert not [value for value in PLANTED if value in body], url


def test_r2_from_the_report_to_the_evaluation(site: Site) -> None:
    SYSTEM_CLOCK.set(datetime(2026, 11, 23, 9, 0, tzinfo=STOCKHOLM))
    add_organisation(site.h.services, ALDRE_VARD, kind="annan_forvaltning",
                     name="Äldre samt vård- och omsorgsförvaltningen")
    journey = Journey("akut_verkstallighet")
    sara = site.person("sara.soc", "socialsekreterare", districts=("Nordost",), name="Sara Berg")
    erika = site.person("erika.ec", "enhetschef_myndighet", districts=("Nordost",), name="Erika Ek")
    vera = site.person("vera.vc", "verksamhetschef_myndighet", districts=("Nordost",), name="Vera Vik")
    viktor = site.person("vc.korttid", "verksamhetschef_korttidsboende_vuxna", districts=ALL_DISTRICTS,
                         name="Viktor Korttid")
    # neither is involved: a socialsekreterare of another district, a verksamhetschef of another förvaltning
    strangers = [site.person("sven.soc", "socialsekreterare", districts=("Hisingen",), name="Sven Sund"),
                 site.person("harald.hsl", "verksamhetschef_halso_sjukvard", districts=("Nordost",),
                             organisation=ALDRE_VARD, name="Harald Hall")]

    # the socialsekreterare reports the acute need from the start page
    sara.get_by_role("link", name="Starta").click()
    sara.get_by_role("link", name="Verkställighet vid akuta behov").click()
    type_text(sara, "Ärendereferens", DIARIENUMMER)
    pick(sara, "Åldersgrupp", "Vuxen")
    pick(sara, "Stadsområde", "Nordost")
    pick(sara, "Ansvarig socialsekreterare", "Sara Berg (Nordost)")
    pick(sara, "Beslut om insats fattat", "Ja")
    choose(sara, "Beslutad insats", "Bostad med särskild service (BmSS)")
    pick(sara, "Lagrum", "LSS")
    type_date(sara, "Beslutsdatum", date(2026, 11, 20))
    pick(sara, "Erbjuden verkställighet avböjd", "Nej")
    type_text(sara, "Behovet", f"{KLIENT} ({PERSONNUMMER}) behöver akut boende.")
    journey.shot(sara, "start")
    press(sara, "Starta")
    settled(sara)
    expect(sara.get_by_role("status")).to_contain_text("Verkställighet vid akuta behov startades")
    [instance] = site.h.as_("sara.soc").ok("GET", "/api/v1/instances")["items"]
    case = f"{site.url}/arenden/{instance['id']}"

    # her checklist opens at once: every possibility exhausted, each with a note
    expect(sara.get_by_role("heading", level=1)).to_contain_text("Kontrollera uttömda möjligheter")
    pick(sara, "Utvecklingsledare förmedling BmSS kontaktad", "Ja – ingen ledig BmSS-lägenhet finns")
    type_text(sara, "Utvecklingsledare förmedling BmSS kontaktad: notering", "Ingen ledig lägenhet i Nordost.")
    pick(sara, "Matchningsärende i PRIIS", "Ja – ingen plats att få")
    type_text(sara, "Matchningsärende i PRIIS: notering", "Matchning skickad, ingen plats.")
    pick(sara, "Utökning hos nuvarande utförare", "Ej aktuellt – den enskilde har inga pågående insatser")
    pick(sara, "Alla möjligheter uttömda", "Ja")
    type_text(sara, "Övriga möjligheter: notering", "Direktupphandlade platser saknas.")
    pick(sara, "Akut och omfattande behov", "Ja")
    type_text(sara, "Motivering", f"{KLIENT} kan inte vänta på ordinarie verkställighet.")
    journey.shot(sara, "checklista")
    strangers_see_nothing(strangers, [case, sara.url])
    done(sara, "Kontrollera uttömda möjligheter")

    # the enhetschef myndighet takes the assessment from the lane; the verksamhetschef myndighet consults
    open_task(erika, site, "Bedöm kriterier")
    pick(erika, "Kriterierna uppfyllda", "Ja")
    pick(erika, "Samråd med verksamhetschef myndighet", "Verksamhetschefen samråder i en egen uppgift")
    pick(erika, "Verksamhetschef myndighet", "Vera Vik (Nordost)")
    type_text(erika, "Motivering", "Kriterierna är uppfyllda.")
    journey.shot(erika, "kriterier")
    strangers_see_nothing(strangers, [case, erika.url])
    done(erika, "Bedöm kriterier")

    open_task(vera, site, "Samråd om kriterierna")
    pick(vera, "Jag instämmer i bedömningen", "Ja")
    journey.shot(vera, "samrad")
    strangers_see_nothing(strangers, [case, vera.url])
    done(vera, "Samråd om kriterierna")

    # an adult: the verksamhetschef korttidsboende vuxna needs premises and convenes a meeting
    open_task(viktor, site, "Bedöm behov av samverkan")
    pick(viktor, "Sammankallande", "Viktor Korttid (Centrum, Hisingen, Nordost, Sydväst)")
    pick(viktor, "Behövs samverkan", "Ja")
    pick(viktor, "Vad samverkan gäller", "Lokal för verkställighet")
    journey.shot(viktor, "samverkan")
    strangers_see_nothing(strangers, [case, viktor.url])
    done(viktor, "Bedöm behov av samverkan")

    open_task(viktor, site, "Kalla till samverkansmöte")
    type_date_time(viktor, "Mötestid", datetime(2026, 11, 26, 13, 0))
    type_text(viktor, "Plats", "Byalagsgatan, rum 2")
    first = viktor.get_by_role("group", name="Deltagare 1")
    choose(viktor, "Funktion", "Socialsekreterare", within=first)
    choose(viktor, "Person", "Sara Berg (Nordost)", within=first)
    type_text(viktor, "Dagordning", "Akutlokal och bemanning.")
    journey.shot(viktor, "kallelse")
    strangers_see_nothing(strangers, [case, viktor.url])
    done(viktor, "Kalla till samverkansmöte")

    # the invitation is the socialsekreterare's own task
    open_task(sara, site, "Kallelse till samverkansmöte")
    pick(sara, "Deltagande", "Jag kan delta")
    journey.shot(sara, "kallelsesvar")
    strangers_see_nothing(strangers, [case, sara.url])
    done(sara, "Kallelse till samverkansmöte")

    open_task(viktor, site, "Samverkansmöte: dokumentera utfallet")
    type_date(viktor, "Mötesdatum", date(2026, 11, 26))
    for point in ("Behovet", "Resurser", "Lokal", "Personal", "Ansvarsfördelning", "Beslut", "Nästa möte"):
        pick(viktor, "Mötesmallen", point)
    type_text(viktor, "Utfall", "Akutlokal ordnad med personal från bemanningsenheten.")
    pick(viktor, "Behövs ytterligare möte", "Nej")
    journey.shot(viktor, "mote")
    strangers_see_nothing(strangers, [case, viktor.url])
    done(viktor, "Samverkansmöte: dokumentera utfallet")

    open_task(viktor, site, "Verkställ beslutet")
    pick(viktor, "Var verkställs beslutet", "I akutlokal (korttidsplats)")
    type_text(viktor, "Plats", "Akutlokal Nordost")
    type_text(viktor, "Hur", "Personal från bemanningsenheten.")
    type_date(viktor, "Verkställt från", date(2026, 11, 27))
    pick(viktor, "Kortare evakuering från BmSS", "Nej")
    journey.shot(viktor, "verkstall")
    strangers_see_nothing(strangers, [case, viktor.url])
    done(viktor, "Verkställ beslutet")

    # an akutlokal is a short-term place: the socialsekreterare decides on korttidsboende
    open_task(sara, site, "Fatta beslut om korttidsboende")
    pick(sara, "Insats", "Korttidsboende")
    pick(sara, "Lagrum", "LSS")
    pick(sara, "Beslut", "Bifall")
    type_date(sara, "Beslutsdatum", date(2026, 11, 27))
    journey.shot(sara, "korttidsbeslut")
    strangers_see_nothing(strangers, [case, sara.url])
    done(sara, "Fatta beslut om korttidsboende")

    # each participant evaluates in a task of their own; the convener compiles
    open_task(sara, site, "Utvärdering: dina synpunkter på rutinen")
    type_text(sara, "Vad fungerade", "Snabba beslut och tydlig sammankallande.")
    type_text(sara, "Förbättringar", "Kalla bemanningsenheten tidigare.")
    journey.shot(sara, "utvardering-deltagare")
    strangers_see_nothing(strangers, [case, sara.url])
    done(sara, "Utvärdering: dina synpunkter på rutinen")

    open_task(viktor, site, "Utvärdera rutinen och processen")
    type_date(viktor, "Utvärderingsdatum", date(2026, 12, 20))
    pick(viktor, "Deltagare", "Socialsekreterare")
    type_text(viktor, "Vad fungerade", "Snabb samverkan.")
    type_text(viktor, "Förbättringar", "Tydligare mötesmall.")
    journey.shot(viktor, "utvardering")
    strangers_see_nothing(strangers, [case, viktor.url])
    done(viktor, "Utvärdera rutinen och processen")

    # the case has reached its end event
    sara.goto(case)
    expect(sara.locator("main")).to_contain_text("Avslutat")
    journey.shot(sara, "avslutat")
    strangers_see_nothing(strangers, [case])
