"""R1 Skyddsombudsstopp carried from the start form to its end event in Chromium, each role as its own person.

The stopped unit's manager (Omsorg Nordost AB) reports a stop that affects two clients on a Tuesday
morning: a SoL client whose socialsekreterare she reached, and an LSS client whose socialsekreterare
she did not (the district's Mottag takes that contact). Each person signs in, finds their task in the
inbox, types every answer with the keyboard (tests/browser/journey.py) and submits; Myndighet answers
"Ska andra utförare informeras?" with "Ja", on the client's consent, for the SoL client and "Nej" for
the LSS client, and both answers stay under their own client on the case page. The manager sends
"Stoppet är hävt" from the case page (a date before the stop began is refused there), each
socialsekreterare closes their client, and the case ends.

At every step a competitor provider's unit manager (same role, same district) asks for the case and
its tasks: 404, and none of the personal values planted in the report reach her.
"""

from __future__ import annotations

from datetime import date, datetime

from playwright.sync_api import Page, expect

from service.clock import STOCKHOLM, SYSTEM_CLOCK
from service.directory import add_organisation
from tests.browser.conftest import Site
from tests.browser.journey import Journey, pick, press, tick, type_date, type_date_time, type_text

UTFORARE, KONKURRENT = "omsorg_nordost", "vardbolaget_nordost"
KLIENT_NAMN, PERSONNUMMER = "Tora Testsson", "19121212-1212"
TUESDAY_10 = datetime(2026, 12, 1, 10, 0, tzinfo=STOCKHOLM)
SOL, LSS = "SoL-2026-101", "LSS-2026-202"
#: How long a page may take to answer on a loaded machine (the contexts' own default for actions).
WAIT = 15_000


def req(label: str) -> str:
    """A required field's label as a person reads it (and as its accessible name is)."""
    return f"{label} (obligatorisk)"


class Outsider:
    """The competitor's unit manager, signed in: at every step she asks for the case and its open tasks
    (pages and API, with her own session) and gets 404 without a trace of the planted personal values."""

    def __init__(self, site: Site, page: Page) -> None:
        self.site, self.page = site, page

    def sees_nothing(self, instance_id: str) -> None:
        case = self.site.h.as_("kerstin").ok("GET", f"/api/v1/instances/{instance_id}")
        task_ids = [t["id"] for t in case["tasks"] if t["status"] == "open"]
        paths = [f"/arenden/{instance_id}", f"/api/v1/instances/{instance_id}",
                 *(f"/uppgifter/{t}" for t in task_ids), *(f"/api/v1/tasks/{t}" for t in task_ids)]
        for path in paths:
            response = self.page.request.get(self.site.url + path)
            assert response.status == 404, (path, response.status)
            body = response.text()
            assert not any(value in body for value in (KLIENT_NAMN, PERSONNUMMER, SOL, LSS)), path


def person(site: Site, username: str, name: str, role: str) -> Page:
    """A person of the authority in Nordost, known by ``name``, signed in."""
    site.h.user(username, role, districts=("Nordost",), display_name=name)
    return site.sign_in(username)


def open_task(page: Page, title: str, *, take: bool = False) -> None:
    """From the inbox, open the task ``title`` that is hers — or ``take`` it from the lane's."""
    page.get_by_role("link", name="Inkorg").click()
    if take:
        page.get_by_role("table", name="Ej tilldelade uppgifter").get_by_role("button", name=f"Ta {title}").click()
    else:
        page.get_by_role("table", name="Uppgifter som är dina").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", level=1)).to_be_visible(timeout=WAIT)


def finish(page: Page) -> None:
    press(page, "Slutför uppgiften")
    expect(page.get_by_role("status")).to_contain_text("Klart", timeout=WAIT)


def test_r1_from_the_report_to_the_end_in_the_browser(site: Site) -> None:
    SYSTEM_CLOCK.set(TUESDAY_10)
    add_organisation(site.h.services, UTFORARE, kind="utforare", name="Omsorg Nordost AB")
    add_organisation(site.h.services, KONKURRENT, kind="utforare", name="Vårdbolaget Nordost AB")
    site.h.user("kerstin", "chef", districts=("Nordost",))  # the authority's chef reads the whole case
    j = Journey("skyddsombudsstopp")
    eva = site.person("eva", "enhetschef_utforare", districts=("Nordost",), organisation=UTFORARE)
    ester = Outsider(site, site.person("ester", "enhetschef_utforare", districts=("Nordost",),
                                       organisation=KONKURRENT))
    sara = person(site, "sara", "Sara Berg", "socialsekreterare")
    olle = person(site, "olle", "Olle Lind", "socialsekreterare")
    mona = person(site, "mona", "Mona Ek", "mottag")
    maja = person(site, "maja", "Maja Holm", "myndighet")

    # 1. Anmälan: the unit manager reports the stop, naming both clients
    eva.get_by_role("link", name="Starta").click()
    eva.get_by_role("link", name="Skyddsombudsstopp – samverkan kring berörda brukares insatser").click()
    type_text(eva, "Ärendereferens", "AML-2026-17", exact=True)
    pick(eva, req("Utförare"), "Omsorg Nordost AB")
    type_text(eva, req("Utförarenhet"), "Hemtjänst Nordost 3")
    pick(eva, req("Enhetens stadsområde"), "Nordost")
    type_text(eva, req("Vad stoppet avser"), f"Förflyttningar utan taklyft hos {KLIENT_NAMN} ({PERSONNUMMER})")
    type_date_time(eva, req("Träder i kraft"), datetime(2026, 12, 1, 9, 30))
    pick(eva, req("Förväntad varaktighet"), "Okänt")
    pick(eva, req("Omfattning"), "Delar av insatsen")
    type_text(eva, req("Stoppade delar"), "Morgon- och kvällsbesök med förflyttning")
    type_text(eva, req("Krav för att starta igen"), "Taklyft installerad")
    type_text(eva, req("Bedömd tidsplan"), "Cirka två veckor")
    type_text(eva, req("Varför egna åtgärder inte räcker"), "Ingen taklyft går att hyra inom en vecka")
    press(eva, "Lägg till Berörda brukare")
    clients = ((SOL, "SoL – socialtjänstlagen", "Sara Berg (Nordost)", "Ja"),
               (LSS, "LSS – lagen om stöd och service", "Olle Lind (Nordost)", "Nej"))
    for number, (ref, law, socialsekreterare, reached) in enumerate(clients, start=1):
        row = eva.get_by_role("group", name=f"Berörda brukare {number}", exact=True)
        type_text(eva, req("Ärendereferens"), ref, within=row)
        pick(eva, req("Lagrum"), law, within=row)
        type_text(eva, "Berörd insats", "Hemtjänst", within=row)
        pick(eva, req("Ansvarig socialsekreterare"), socialsekreterare, within=row)
        pick(eva, req("Brukarens stadsområde"), "Nordost", within=row)
        pick(eva, req("Socialsekreteraren nådd"), reached, within=row)
    j.shot(eva, "anmalan")
    press(eva, "Starta")
    expect(eva.get_by_role("status")).to_contain_text("startades", timeout=WAIT)
    [case] = site.h.as_("kerstin").ok("GET", "/api/v1/instances", params={"process": "skyddsombudsstopp"})["items"]
    instance_id = case["id"]
    j.shot(eva, "anmalan-startad")
    ester.sees_nothing(instance_id)

    # 2. Kontakt: sara was reached and acknowledges the SoL client; Nordost's Mottag takes the LSS client
    open_task(sara, "Skyddsombudsstopp: kvittera kontakt (SoL – skälig levnadsnivå, Nordost)")
    tick(sara, req("Jag har tagit emot kontakten"))
    type_text(sara, "Kommentar", "Enhetschefen ringde 09:55")
    j.shot(sara, "kvittera-socialsekreterare")
    finish(sara)
    open_task(mona, "Skyddsombudsstopp: kvittera kontakt – socialsekreteraren ej nådd "
                    "(LSS – goda levnadsvillkor, Nordost)", take=True)
    tick(mona, req("Jag har tagit emot kontakten"))
    type_text(mona, "Kommentar", "Olle är på hembesök, tar det efter lunch")
    j.shot(mona, "kvittera-mottag")
    finish(mona)
    ester.sees_nothing(instance_id)

    # 3–4. Dialog om behov, then Informera den enskilde: each socialsekreterare for their own client
    for page, law, outcome, shot in ((sara, "SoL – skälig levnadsnivå", "Ej behov", "sol"),
                                     (olle, "LSS – goda levnadsvillkor", "Den enskilde avböjer", "lss")):
        open_task(page, f"Skyddsombudsstopp: dialog om behov med enhetschefen ({law}, Nordost)")
        type_date(page, req("Datum för dialogen"), date(2026, 12, 1))
        type_text(page, req("Enhetschef utförare"), "Eva Enhetschef")
        type_text(page, req("Behov under stoppet"), "Hjälp vid förflyttning morgon och kväll")
        type_text(page, req("Alternativa utförarformer"), "Korttidsboende under stoppet")
        pick(page, req("Kan en alternativ insats behövas?"), "Ja")
        type_text(page, req("Utfall av dialogen"), "Korttidsboende erbjuds")
        j.shot(page, f"dialog-{shot}")
        finish(page)
        open_task(page, f"Skyddsombudsstopp: informera den enskilde och hantera ansökan ({law}, Nordost)")
        type_date(page, req("Den enskilde informerad"), date(2026, 12, 1))
        type_text(page, req("Information om alternativ"), "Korttidsboende under stoppet")
        pick(page, req("Ansökan har kommit in"), "Nej")
        pick(page, req("Utredningen visar behov"), "Nej" if outcome == "Ej behov" else "Ja")
        pick(page, req("Den enskilde samtycker"), "Nej")
        pick(page, req("Utfall"), outcome)
        type_text(page, req("Motivering"), "Anhöriga hjälper" if outcome == "Ej behov" else "Vill bo kvar hemma")
        j.shot(page, f"informera-enskilde-{shot}")
        finish(page)
        ester.sees_nothing(instance_id)

    # 5. Myndighet: "Ja, med samtycke" for the SoL client, "Nej" for the LSS client
    open_task(maja, "Skyddsombudsstopp: ska andra utförare informeras? (SoL – skälig levnadsnivå, Nordost)",
              take=True)
    pick(maja, req("Ska andra utförare informeras?"), "Ja")
    type_text(maja, req("Sekretessbedömning"), "Dagverksamheten behöver veta att morgonbesöket uteblir")
    type_text(maja, req("Utförare som ska informeras"), "Dagverksamhet Nordost")
    grund = maja.get_by_role("group", name="Rättslig grund 1", exact=True)
    pick(maja, req("Grund"), "Samtycke från den enskilde", within=grund)
    pick(maja, req("Typ av samtycke"), "Uttryckligt", within=grund)
    pick(maja, req("Samtyckets form"), "Skriftligt", within=grund)
    pick(maja, req("Mottagare som grunden omfattar"), "Andra utförare", within=grund)
    type_date(maja, req("Gäller från"), date(2026, 12, 1), within=grund)
    type_date(maja, req("Gäller till"), date(2027, 3, 1), within=grund)
    j.shot(maja, "bedom-sol-ja-samtycke")
    finish(maja)
    open_task(maja, "Skyddsombudsstopp: ska andra utförare informeras? (LSS – goda levnadsvillkor, Nordost)",
              take=True)
    pick(maja, req("Ska andra utförare informeras?"), "Nej")
    type_text(maja, req("Sekretessbedömning"), "Inga andra utförare berörs")
    j.shot(maja, "bedom-lss-nej")
    finish(maja)
    open_task(maja, "Skyddsombudsstopp: informera andra utförare (SoL – skälig levnadsnivå, Nordost)", take=True)
    informerad = maja.get_by_role("group", name="Informerade utförare 1", exact=True)
    type_text(maja, req("Utförare"), "Dagverksamhet Nordost", within=informerad)
    type_date(maja, req("Informerad"), date(2026, 12, 1), within=informerad)
    pick(maja, req("Hur"), "Telefon", within=informerad)
    type_text(maja, req("Lämnade uppgifter"), "Morgonbesöket uteblir", within=informerad)
    j.shot(maja, "informera-andra-utforare")
    finish(maja)
    ester.sees_nothing(instance_id)

    # 6. The stopped unit's manager sends "Stoppet är hävt" from the case page
    eva.goto(f"{site.url}/arenden/{instance_id}")
    form = eva.get_by_role("region", name="Stoppet är hävt")
    type_date(eva, req("Stoppet hävt"), date(2026, 11, 30), within=form)
    type_text(eva, "Kommentar", "Taklyft installerad", within=form)
    press(eva, "Skicka: Stoppet är hävt")
    expect(eva.get_by_role("alert")).to_contain_text("Får inte vara före träder i kraft", timeout=WAIT)
    j.shot(eva, "stoppet-havt-fel-datum")
    form = eva.get_by_role("region", name="Stoppet är hävt")
    type_date(eva, req("Stoppet hävt"), date(2026, 12, 1), within=form)
    j.shot(eva, "stoppet-havt")
    press(eva, "Skicka: Stoppet är hävt")
    expect(eva.get_by_role("status")).to_be_visible(timeout=WAIT)
    j.shot(eva, "stoppet-havt-skickat")
    ester.sees_nothing(instance_id)

    # 7. Avslut: each socialsekreterare closes their client
    for page, law, shot in ((sara, "SoL – skälig levnadsnivå", "sol"), (olle, "LSS – goda levnadsvillkor", "lss")):
        open_task(page, f"Skyddsombudsstopp hävt: avslut ({law}, Nordost)")
        type_date_time(page, req("Ordinarie insats återupptogs"), datetime(2026, 12, 2, 7, 0))
        pick(page, req("Alternativ insats"), "Ingen alternativ insats beviljades")
        type_text(page, req("Sammanfattning"), "Hemtjänst igen")
        j.shot(page, f"avslut-{shot}")
        finish(page)
    ester.sees_nothing(instance_id)

    # the case has ended; its page keeps each client's own answer under that client's step
    final = site.h.as_("kerstin").ok("GET", f"/api/v1/instances/{instance_id}")
    assert final["state"] == "completed" and final["outcome"] == "stoppet_avslutat", final["state"]
    per_client = {b["arendereferens"]: b for b in final["data"]["sammanfattning"]["brukare"]}
    assert per_client[SOL]["andra_utforare_ska_informeras"] is True and per_client[SOL]["utlamningsgrunder"] == [
        "samtycke"]
    assert per_client[LSS]["andra_utforare_ska_informeras"] is False
    chef = site.sign_in("kerstin")
    chef.goto(f"{site.url}/arenden/{instance_id}")
    for law, answer in (("SoL – skälig levnadsnivå", "Ja"), ("LSS – goda levnadsvillkor", "Nej")):
        step = chef.locator("section.step").filter(has=chef.get_by_role(
            "heading", name=f"Skyddsombudsstopp: ska andra utförare informeras? ({law}, Nordost)"))
        expect(step.locator("dt", has_text="Ska andra utförare informeras?").locator("xpath=following-sibling::dd[1]")
               ).to_have_text(answer, timeout=WAIT)
    j.shot(chef, "arendet-avslutat")
