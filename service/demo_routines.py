"""Demo instances of every routine at several stages, so each demo user finds work waiting.

Each story starts and advances instances through the same operations the API uses
(``start(process, username, data)`` and ``complete(task, username, data)``), with data a case
worker would enter. The people and organisations are those of ``service.demo``: where a routine
has a provider's side, the stories give cases to two competing companies (Nordost Omsorg AB and
Trygga Hem Omsorg AB), so each company's people see their own cases and never the other's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

Start = Callable[..., tuple[Any, list[Any]]]
Complete = Callable[[Any, str, dict[str, Any]], list[Any]]


def _task(tasks: list[Any], name: str) -> Any:
    return next(t for t in tasks if t.name == name)


def skyddsombudsstopp(start: Start, complete: Complete, today: date) -> int:
    clients = [
        {"arendereferens": "SoL-2026-101", "lagrum": "SoL", "socialsekreterare": "sara.socsek",
         "stadsomrade": "Nordost", "socialsekreterare_nadd": True},
        {"arendereferens": "LSS-2026-202", "lagrum": "LSS", "socialsekreterare": "sven.socsek",
         "stadsomrade": "Hisingen", "socialsekreterare_nadd": True},
    ]
    report = {"utforare": "nordost_omsorg", "utforarenhet": "Hemtjänst Nordost 3", "stadsomrade": "Nordost",
              "stopp_avser": "Förflyttningar utan taklyft", "galler_fran": f"{today}T10:00:00+01:00",
              "forvantad_varaktighet": "okant", "omfattning": "delar_av_insatsen",
              "stoppade_delar": "Morgonbesök med förflyttning", "krav_for_aterstart": "Taklyft installerad",
              "tidsplan_for_aterstart": "Cirka två veckor", "varfor_inte_egna_atgarder": "Ingen lift att hyra",
              "berorda_brukare": clients}
    # a fresh report from Nordost Omsorg: each client's socialsekreterare has an acknowledgement waiting
    start("skyddsombudsstopp", "anna.enhetschef", report)
    # a second stop, at the competitor Trygga Hem, where Sara has acknowledged and held the dialogue
    _, tasks = start("skyddsombudsstopp", "lars.enhetschef", {**report, "berorda_brukare": clients[:1],
                                                              "utforare": "trygga_hem",
                                                              "utforarenhet": "Trygga Hem Nordost"})
    tasks = complete(_task(tasks, "kvittera_socialsekreterare").id, "sara.socsek", {"kontakt_kvitterad": True})
    complete(_task(tasks, "dialog_om_behov").id, "sara.socsek", {
        "dialog_datum": str(today), "enhetschef_i_dialogen": "Lars Öberg",
        "behov_under_stoppet": "Förflyttning morgon och kväll", "alternativa_utforarformer": "Korttidsboende",
        "alternativ_insats_kan_behovas": True, "dialog_utfall": "Utreds vidare"})
    return 2


def akut_verkstallighet(start: Start, complete: Complete, today: date) -> int:
    data = {"arende_referens": "FFS-2026-1234", "aldersgrupp": "vuxen", "stadsomrade": "Nordost",
            "ansvarig_socialsekreterare": "sara.socsek", "beslut_om_insats_fattat": True,
            "beslutad_insats": "bostad_med_sarskild_service", "beslut_lagrum": "LSS",
            "beslutsdatum": str(today - timedelta(days=4)), "erbjuden_verkstallighet_avbojd": False}
    start("akut_verkstallighet", "sara.socsek", data)
    _, tasks = start("akut_verkstallighet", "sara.socsek", {**data, "arende_referens": "FFS-2026-1240"})
    complete(_task(tasks, "kontrollera_uttomda_mojligheter").id, "sara.socsek", {
        "utvecklingsledare_formedling": "ja_ingen_ledig", "utvecklingsledare_formedling_notering": "Ingen ledig.",
        "priis_matchning": "ja_ingen_plats", "priis_matchning_notering": "Ingen plats i PRIIS.",
        "utokning_hos_utforare": "ej_aktuellt", "ovriga_mojligheter_uttomda": True,
        "ovriga_mojligheter_notering": "Inga direktupphandlade platser.", "akut_och_omfattande_behov": True,
        "akut_behov_motivering": "Kan inte bo kvar hemma i väntan på plats."})
    return 2


def utokat_stod_14_dagar(start: Start, complete: Complete, today: date) -> int:
    data = {"brukare_namn": "Anna Andersson", "personnummer": "19380512-1234", "stadsomrade": "Nordost",
            "utforare": "nordost_omsorg", "hemtjanstutforare": "Hemtjänst Nordost 3",
            "pagaende_beslut": ["omvardnadsbeslut_hemtjanst"], "nytt_omvardnadsbehov": True}
    # Nordost Omsorg's client: the increase waits for its enhetschef
    start("utokat_stod_14_dagar", "anna.enhetschef", data)
    # Trygga Hem's client, in the same district: increased, the follow-up under way
    _, tasks = start("utokat_stod_14_dagar", "lars.enhetschef", {
        **data, "brukare_namn": "Bertil Berg", "personnummer": "19400101-5678", "utforare": "trygga_hem",
        "hemtjanstutforare": "Trygga Hem Nordost"})
    complete(_task(tasks, "utoka_akut").id, "lars.enhetschef", {
        "forandrat_behov": "Behöver hjälp vid alla måltider efter fall", "tillagda_insatser": "Två extra besök/dag",
        "dag_0": str(today), "behov_konstaterat": str(today), "bedomd_varaktighet": "hogst_14_dagar",
        "journal_utforare_text": "Utökat efter fall i hemmet.", "journal_utforare_forfattare": "Lars Öberg"})
    return 2


def klagomal_privat_utforare(start: Start, complete: Complete, today: date) -> int:
    data = {"kalla": "klagomal", "utforare": "nordost_omsorg", "verksamhetstyp": "hemtjanst",
            "kategori": "uteblivna_insatser", "stadsomrade": "Nordost", "inkommen_datum": str(today),
            "beskrivning": "Kvällsbesöken har uteblivit tre gånger.", "lamnad_av": "narstaende",
            "mottagen_av": "avgiftshandlaggare", "onskar_byte": "nej", "hanvisad_till_verksamheten": True,
            "hanvisad_till_myndighet": True, "hjalp_med_kontakt": "verksamheten", "utforaren_far_ta_del": True,
            "till_utforaren": "Kvällsbesöken har uteblivit tre gånger; den närstående vill att de kommer som "
                              "planerat. Personen vill inte att namnet lämnas ut.",
            "utforare_kontakt": "ulf.utforare"}
    # a complaint about Nordost Omsorg: its contact person has step 1 waiting
    start("klagomal_privat_utforare", "mia.mottagare", data)
    # a lex Sarah report about Trygga Hem's LSS housing
    start("klagomal_privat_utforare", "mia.mottagare", {
        "kalla": "lex_sarah", "utforare": "trygga_hem", "verksamhetstyp": "bostad_med_sarskild_service",
        "kategori": "missforhallande", "stadsomrade": "Nordost", "inkommen_datum": str(today),
        "beskrivning": "Lex Sarah-rapport om bristande tillsyn.", "rapport_datum": str(today), "ivo_anmald": True})
    return 2


def sip(start: Start, complete: Complete, today: date) -> int:
    start("sip", "sara.socsek", {"variant": "sip", "stadsomrade": "Nordost", "region": "regionen",
                                 "behov_beskrivning": "Hemtjänst och psykiatri behöver samordnas.",
                                 "berorda_vardgivare": ["Vårdcentralen Nordost"]})
    return 1


def bmss_lokal_vid_renovering(start: Start, complete: Complete, today: date) -> int:
    # the BmSS is to be renovated: its unit manager asks the district's utvecklingsledare for a vacant flat
    start("bmss_lokal_vid_renovering", "bengt.bmss", {
        "stadsomrade": "Nordost", "bmss_enhet": "BmSS Solrosen", "renovering_fran": str(today + timedelta(days=40)),
        "renovering_till": str(today + timedelta(days=100)), "antal_lagenheter": 2})
    return 1


def samverkansmoten(start: Start, complete: Complete, today: date) -> int:
    # this year's arbetsplatsträffar, laid out on working days
    start("samverkansmoten", "erik.ecmyndighet", {"struktur": "apt", "ar": today.year})
    return 1


STORIES: dict[str, Callable[[Start, Complete, date], int]] = {
    "skyddsombudsstopp": skyddsombudsstopp,
    "akut_verkstallighet": akut_verkstallighet,
    "utokat_stod_14_dagar": utokat_stod_14_dagar,
    "klagomal_privat_utforare": klagomal_privat_utforare,
    "sip": sip,
    "bmss_lokal_vid_renovering": bmss_lokal_vid_renovering,
    "samverkansmoten": samverkansmoten,
}
