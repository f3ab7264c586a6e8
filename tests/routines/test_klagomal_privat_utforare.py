"""R4 Synpunkter och klagomål på privat utförare (``klagomal_privat_utforare``), through the HTTP API.

The escalation staircase as its users live it: a receiver registers the complaint, the private
provider answers it (step 1) within a deadline, the socialsekreterare follows up the individual
(step 2 — where lex Sarah reports and IVO notifications enter), the enhetschef myndighet judges
whether deficiencies remain and hands provider-level facts to EKU (step 3) — de-identified by
construction, so no disclosure basis is asked for — and EKU follows up the contract (step 4).

Need to know (DESIGN.md, "Access to case data"), told as the people outside the authority see it:
the provider complained about is offered step 1 only when the person agreed, and sees only what the
person agreed to pass on; a competitor in the same district never sees the case at all; EKU sees
only the non-personal facts its own form declares, as the authority wrote them. A personnummer and
a name are planted in the start data and in free text, and must never surface for any of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from service.clock import STOCKHOLM, SYSTEM_CLOCK
from service.config import ROOT
from service.operations.timers import fire_due_timers

from ..conftest import Api, Harness
from .story import (
    ALL_DISTRICTS,
    Cast,
    People,
    complete,
    deploy_routines,
    do,
    read,
    start_instance,
    tasks,
    the_task,
    timers,
)

KEY = "klagomal_privat_utforare"
FORMS = ROOT / "forms" / KEY
MONDAY_MORNING = datetime(2026, 11, 23, 9, 0, tzinfo=STOCKHOLM)

#: The providers: the one complained about and a competitor in the same district.
OMSORG, TRYGG = "omsorg_ab", "trygg_omsorg"

#: username → (roles, districts). EKU works city-wide.
PEOPLE: People = {
    "mona.mottagare": (("mottagare",), ("Hisingen",)),
    "hanna.soc": (("socialsekreterare",), ("Hisingen",)),
    "carl.soc": (("socialsekreterare",), ("Centrum",)),
    "sven.soc": (("socialsekreterare",), ("Sydväst",)),
    "erik.ec": (("enhetschef_myndighet",), ("Hisingen", "Centrum")),
    "chef.hisingen": (("chef",), ("Hisingen",)),
    "adam": (("admin",), ()),
}
#: People of other organisations: username → (roles, districts, organisation).
OUTSIDE: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "omsorg.kontakt": (("utforare",), ("Hisingen",), OMSORG),  # the provider's named contact
    "omsorg.ec": (("utforare",), ("Hisingen",), OMSORG),  # the provider's unit manager in the district
    "trygg.ec": (("utforare",), ("Hisingen",), TRYGG),  # the competitor's unit manager, same district
    "eku.anna": (("eku",), ALL_DISTRICTS, "eku"),
    "eku.bertil": (("eku",), ALL_DISTRICTS, "eku"),
}

#: Planted in the start data and in free text: never to reach the provider, a competitor or EKU.
NAMN, PERSONNUMMER = "Kalle Anka", "19121212-1212"
PLANTED = (NAMN, PERSONNUMMER, "Kalle", "Anka", "Vårvädersgatan", "Lisa", "Greta", "Olle", "DNR-7731-XQ")

# Personal facts are written with names that must never surface outside the authority.
COMPLAINT = {"kalla": "klagomal", "utforare": OMSORG, "verksamhetstyp": "hemtjanst",
             "kategori": "uteblivna_insatser", "stadsomrade": "Hisingen", "inkommen_datum": "2026-11-20",
             "beskrivning": f"{NAMN} ({PERSONNUMMER}) på Vårvädersgatan fick inte sina besök tre gånger.",
             "brukare_namn": NAMN, "brukare_personnummer": PERSONNUMMER,
             "arende_referens": "DNR-7731-XQ", "lamnad_av": "god_man_forvaltare", "mottagen_av": "avgiftshandlaggare",
             "onskar_byte": "hemtjanst", "hanvisad_till_verksamheten": True, "hanvisad_till_myndighet": True,
             "hjalp_med_kontakt": "verksamheten", "utforaren_far_ta_del": True,
             "till_utforaren": "Kvällsbesöken uteblev tre gånger vecka 47. Personen vill ha fasta tider.",
             "utforare_kontakt": "omsorg.kontakt"}
LEX_SARAH = {"kalla": "lex_sarah", "utforare": OMSORG, "verksamhetstyp": "bostad_med_sarskild_service",
             "kategori": "missforhallande", "stadsomrade": "Centrum", "inkommen_datum": "2026-11-22",
             "beskrivning": "Lex Sarah-rapport: Greta Boendesson föll och låg kvar i två timmar.",
             "rapport_datum": "2026-11-21", "ivo_anmald": True}
IVO = {"kalla": "ivo", "utforare": OMSORG, "verksamhetstyp": "daglig_verksamhet",
       "kategori": "sakerhet_risker", "stadsomrade": "Sydväst", "inkommen_datum": "2026-11-23",
       "beskrivning": "IVO-anmälan gällande Olle Deltagarsson.", "rapport_datum": "2026-11-23"}
PROVIDER_ANSWER = {"utforare_mottaget_datum": "2026-11-21", "utforare_hanterat_i_kvalitetssystem": True,
                   "utforare_avvikelse_upprattad": True, "utforare_atgarder": "Kvällsschemat ändrat, ny kontaktperson.",
                   "utforare_atgardat": "delvis"}
FOLLOW_UP = {"individuppfoljning_behovs": True, "behov_tillgodosett": "delvis",
             "individuppfoljning_datum": "2026-10-13",
             "individuppfoljning_anteckning": f"Hembesök hos {NAMN} ({PERSONNUMMER}) med dottern Lisa.",
             "bytesonskemal_utrett": "klagomal_orsak", "bytesorsak": "Kalle litar inte på personalen.",
             "kontakt_med_utforaren": True, "mojliga_kvarstaende_brister": True}
NOTHING_REMAINS = {"individuppfoljning_behovs": False, "bytesonskemal_utrett": "ej_aktuellt",
                   "kontakt_med_utforaren": True, "mojliga_kvarstaende_brister": False}
REMAINING = {"brister_kvarstar": True, "aterkommande_ej_atgardade": True, "allvarliga": False,
             "omfattande_systematiska": False,
             "bedomning_anteckning": f"{NAMN}s dotter Lisa har klagat förut."}
COMPILED = {"utforare": OMSORG, "verksamhetstyp": "hemtjanst",
            "avvikelser_rapporterade_till_utforaren": "ja", "aterkoppling_fran_utforaren": "delvis",
            "antal_avvikelser": 7, "avvikelse_kategorier": ["uteblivna_insatser", "social_dokumentation"],
            "avvikelse_omraden": ["Hisingen", "Nordost"], "avvikelser_fran": "2026-06-01",
            "avvikelser_till": "2026-11-20", "sammanstallt_inom_avdelningen": True,
            "intern_anteckning": f"Gäller bl.a. {NAMN} {PERSONNUMMER} och Lisa."}
EKU_FOLLOW_UP = {"eku_uppfoljningsform": "handelsestyrd",
                 "eku_atgarder": ["dialog_med_utforaren", "begaran_om_atgardsplan"],
                 "eku_bedomning": "brister_atgardas", "eku_uppfoljning_datum": "2026-12-10",
                 "eku_aterkopplat_till_myndighet": True, "eku_kommentar": "Åtgärdsplan begärd.",
                 "eku_arendet_avslutat": True}


class Staff(Cast):
    """The routine's users (:data:`PEOPLE`, :data:`OUTSIDE`), each signed in with a real API token: two
    provider companies, EKU, and the authority's own people."""

    def __init__(self, h: Harness) -> None:
        super().__init__(h, PEOPLE)
        self.organisation(OMSORG, "utforare", "Omsorg AB")
        self.organisation(TRYGG, "utforare", "Trygg Omsorg AB")
        self.organisation("eku", "eku", "EKU")
        for username, (roles, districts, organisation) in OUTSIDE.items():
            self.user(username, *roles, districts=districts, organisation=organisation)


@pytest.fixture
def staff(harness: Harness) -> Iterator[Staff]:
    """The real routines deployed, the people of R4 created, the clock on a Monday morning."""
    deploy_routines(harness, KEY)
    SYSTEM_CLOCK.set(MONDAY_MORNING)
    yield Staff(harness)


# --- acting as a user ------------------------------------------------------------------------------

def start(api: Api, data: dict[str, Any], case_ref: str | None = None) -> dict[str, Any]:
    return start_instance(api, KEY, data, case_ref)


def to_step_3(s: Staff) -> dict[str, Any]:
    """A complaint that climbs the staircase to the enhetschef myndighet's step 3."""
    instance = start(s["mona.mottagare"], COMPLAINT, case_ref="DNR-7731-XQ")
    do(s["omsorg.kontakt"], instance, "utforarens_hantering", PROVIDER_ANSWER)
    do(s["hanna.soc"], instance, "individuell_uppfoljning", FOLLOW_UP)
    return instance


# --- what counts as personal --------------------------------------------------------------------------

def personal_fields() -> set[str]:
    """Every field marked ``x-personal-data`` in any of the routine's forms (at any depth)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, child in (node.get("properties") or {}).items():
                if isinstance(child, dict) and child.get("x-personal-data"):
                    found.add(name)
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for path in FORMS.glob("*.schema.json"):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return found


def keys_in(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node).union(*(keys_in(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(keys_in(v) for v in node))
    return set()


def assert_nothing_planted(body: Any) -> None:
    """None of the planted personal values (:data:`PLANTED`) appears anywhere in a response."""
    text = json.dumps(body, ensure_ascii=False)
    leaked = [value for value in PLANTED if value in text]
    assert leaked == [], f"planted personal values in the response: {leaked}"


def assert_nothing_personal(body: Any, *submitted: dict[str, Any]) -> set[str]:
    """No personal field and no value written into one appears anywhere in a response to EKU.

    Values are the strings entered in personal fields (and the case reference); a value that is
    also a legitimate part of EKU's own form (an enum key such as ``hemtjanst``, shared with the
    non-personal activity type) cannot tell anything and is not searched for. Returns the values
    searched for.
    """
    personal = personal_fields()
    text = json.dumps(body, ensure_ascii=False)
    eku_form = (FORMS / "eku_uppfoljning.schema.json").read_text(encoding="utf-8")
    values = {"DNR-7731-XQ"}
    for data in submitted:
        values |= {v for k, v in data.items() if k in personal and isinstance(v, str)}
    searched = {v for v in values if f'"{v}"' not in eku_form}
    leaked = sorted(v for v in searched if v in text)
    assert leaked == [], f"personal values reached EKU: {leaked}"
    assert_nothing_planted(body)
    assert keys_in(body) & personal == set(), f"personal fields reached EKU: {keys_in(body) & personal}"
    return searched


def assert_never_sees(api: Api, instance: dict[str, Any], *task_ids: str) -> None:
    """Someone outside the case: the instance and its tasks do not exist for them (404), neither
    their inbox nor their list of cases names it, and nothing they get holds a planted value."""
    for path in (f"/api/v1/instances/{instance['id']}", *(f"/api/v1/tasks/{t}" for t in task_ids)):
        response = api.get(path)
        assert response.status_code == 404, (path, response.status_code)
        assert_nothing_planted(response.json())
    inbox = api.ok("GET", "/api/v1/tasks")
    assert instance["id"] not in {t["instance_id"] for t in inbox["items"]}
    listed = api.ok("GET", "/api/v1/instances")
    assert instance["id"] not in {i["id"] for i in listed["items"]}
    assert_nothing_planted([inbox, listed])


# --- the stories -------------------------------------------------------------------------------------

def test_the_full_staircase_reaches_eku_and_nothing_personal_reaches_eku(staff: Staff) -> None:
    s = staff
    eku = s["eku.anna"]

    # a receiver (the complaint came in to an avgiftshandläggare) registers it for the authority; a
    # name and personnummer typed into a field the start form does not have are refused, not kept
    planted = s["mona.mottagare"].post("/api/v1/instances", json={
        "process": KEY, "data": {**COMPLAINT, "klagande": f"{NAMN} {PERSONNUMMER}"}})
    assert planted.status_code == 422 and planted.json()["errors"] == {"klagande": ["fältet finns inte i formuläret"]}
    instance = start(s["mona.mottagare"], COMPLAINT, case_ref="DNR-7731-XQ")
    assert instance["state"] == "running"

    # step 1: the person agreed, so the provider's contact gets it, due in 14 days
    [step_1] = tasks(s["omsorg.kontakt"], instance)
    assert step_1["name"] == "utforarens_hantering" and step_1["assignee"] == "omsorg.kontakt"
    assert step_1["title"] == f"Synpunkt/klagomål att hantera: {OMSORG} – uteblivna insatser"
    due_in = datetime.fromisoformat(step_1["due_at"]) - datetime.fromisoformat(step_1["created_at"])
    assert abs(due_in - timedelta(days=14)) < timedelta(seconds=1)
    # the provider sees what the person agreed to pass on — not who the person is, nor the case
    provider_view = s["omsorg.kontakt"].ok("GET", f"/api/v1/tasks/{step_1['id']}")
    assert provider_view["case_ref"] is None
    assert provider_view["data"]["till_utforaren"] == COMPLAINT["till_utforaren"]
    assert provider_view["data"]["kategori"] == "uteblivna_insatser" and provider_view["data"]["utforare"] == OMSORG
    assert set(provider_view["data"]) <= set(provider_view["form"]["schema"]["properties"])
    assert {"brukare_namn", "brukare_personnummer", "beskrivning", "arende_referens"}.isdisjoint(
        provider_view["data"])
    provider_case = read(s["omsorg.kontakt"], instance)
    assert provider_case["case_ref"] is None and set(provider_case["data"]) <= set(
        provider_view["form"]["schema"]["properties"])
    assert_nothing_planted([provider_view, provider_case, s["omsorg.kontakt"].ok("GET", "/api/v1/tasks")])
    # the competitor in the same district holds the same role, and the case does not exist for them
    assert_never_sees(s["trygg.ec"], instance, step_1["id"])
    complete(s["omsorg.kontakt"], step_1, PROVIDER_ANSWER)

    # step 2: a socialsekreterare of the district follows up the individual; other districts see nothing
    assert tasks(s["carl.soc"], instance) == []
    [step_2] = tasks(s["hanna.soc"], instance)
    assert step_2["name"] == "individuell_uppfoljning" and step_2["assignee"] is None
    detail = s["hanna.soc"].ok("GET", f"/api/v1/tasks/{step_2['id']}")
    assert detail["data"]["utforare_atgardat"] == "delvis" and detail["case_ref"] == "DNR-7731-XQ"
    assert detail["data"]["brukare_personnummer"] == PERSONNUMMER  # inside the authority: the whole case
    complete(s["hanna.soc"], step_2, FOLLOW_UP)
    # the provider answered and is done: it still sees only its own step, none of the follow-up
    provider_case = read(s["omsorg.kontakt"], instance)
    assert "individuppfoljning_anteckning" not in provider_case["data"]
    assert_nothing_planted(provider_case)

    # step 3: deficiencies remain and recur; EKU is to be contacted. What reaches EKU is provider-level
    # by construction, so no disclosure basis is asked for (ROUTINES.md R4) — and none is accepted
    step_3 = the_task(s["erik.ec"], instance, "bedom_kvarstaende_brister")
    s["erik.ec"].ok("POST", f"/api/v1/tasks/{step_3['id']}/claim")
    with_basis = s["erik.ec"].post(f"/api/v1/tasks/{step_3['id']}/complete", json={"data": {
        **REMAINING, "utlamningsgrunder": [{"grund": "samtycke", "mottagare": ["eku"]}]}})
    assert with_basis.status_code == 422 and "utlamningsgrunder" in with_basis.json()["errors"]
    s["erik.ec"].ok("POST", f"/api/v1/tasks/{step_3['id']}/complete", json={"data": REMAINING})
    assert tasks(eku, instance) == []  # nothing is handed over before the compilation
    assert eku.get(f"/api/v1/instances/{instance['id']}").status_code == 404
    compile_task = the_task(s["erik.ec"], instance, "sammanstall_infor_eku")
    s["erik.ec"].ok("POST", f"/api/v1/tasks/{compile_task['id']}/claim")
    # the compilation cannot carry anything its form does not declare — not even into a field EKU's
    # own form has (a free-text comment): the name and personnummer are refused, by field
    for field in ("eku_kommentar", "klagande"):
        planted = s["erik.ec"].post(f"/api/v1/tasks/{compile_task['id']}/complete",
                                    json={"data": {**COMPILED, field: f"{NAMN} {PERSONNUMMER}"}})
        assert planted.status_code == 422 and planted.json()["errors"] == {field: ["fältet finns inte i formuläret"]}
    done = s["erik.ec"].ok("POST", f"/api/v1/tasks/{compile_task['id']}/complete", json={"data": COMPILED})
    assert done["next_tasks"] == []  # EKU's task is not the enhetschef's

    # step 4: EKU's inbox holds the follow-up, titled with provider-level facts only (provider, category)
    inbox = eku.ok("GET", "/api/v1/tasks")
    [eku_task] = inbox["items"]
    assert eku_task["name"] == "eku_uppfoljning" and eku_task["lane"] == "EKU"
    assert eku_task["title"] == f"Kontrakts- och ramavtalsuppföljning: {OMSORG} – uteblivna insatser"
    detail = eku.ok("GET", f"/api/v1/tasks/{eku_task['id']}")
    assert detail["case_ref"] is None
    assert detail["data"]["antal_avvikelser"] == 7
    assert detail["data"]["avvikelse_kategorier"] == ["uteblivna_insatser", "social_dokumentation"]
    assert detail["data"]["avvikelse_omraden"] == ["Hisingen", "Nordost"]
    assert detail["data"]["aterkommande_ej_atgardade"] is True
    # EKU sees what its own form declares, as the authority wrote it in the compilation (the provider
    # among it), nothing else of the case
    assert detail["data"]["utforare"] == OMSORG and detail["data"]["verksamhetstyp"] == "hemtjanst"
    assert set(detail["data"]) <= set(detail["form"]["schema"]["properties"])
    submitted = (COMPLAINT, PROVIDER_ANSWER, FOLLOW_UP, REMAINING, COMPILED)
    assert_nothing_personal(inbox, *submitted)
    searched = assert_nothing_personal(detail, *submitted)
    assert {"DNR-7731-XQ", "god_man_forvaltare", "2026-10-13", COMPLAINT["beskrivning"], NAMN, PERSONNUMMER,
            PROVIDER_ANSWER["utforare_atgarder"], REMAINING["bedomning_anteckning"]} <= searched
    # offered its task, EKU may open the case — and finds the same de-identified facts, nothing more
    case_for_eku = read(eku, instance)
    assert case_for_eku["case_ref"] is None and case_for_eku["data"] == detail["data"]
    assert_nothing_personal(case_for_eku, *submitted)
    assert eku.get(f"/api/v1/tasks/{step_2['id']}").status_code == 404
    listed = eku.ok("GET", "/api/v1/instances")
    assert_nothing_personal(listed, *submitted)

    # EKU's contract manager for the provider is named on the task: still only the de-identified facts
    handed = s["chef.hisingen"].ok("POST", f"/api/v1/tasks/{eku_task['id']}/assign",
                                   json={"username": "eku.anna", "reason": "Avtalsansvarig för Omsorg AB"})
    assert handed["assignee"] == "eku.anna" and tasks(s["eku.bertil"], instance) == []
    assert s["eku.bertil"].get(f"/api/v1/instances/{instance['id']}").status_code == 404
    assert_nothing_personal(read(eku, instance), *submitted)

    # EKU records its contract follow-up; the answer to EKU holds nothing personal either
    done = complete(eku, handed, EKU_FOLLOW_UP)
    assert done["instance"]["state"] == "completed" and done["instance"]["outcome"] == "eku_uppfoljning_klar"
    assert_nothing_personal(done, *submitted)
    assert_nothing_personal(read(eku, instance), *submitted)
    # the competitor never saw any of it
    assert_never_sees(s["trygg.ec"], instance, step_1["id"], step_2["id"], eku_task["id"])

    # the authority keeps the whole case, including the de-identified record for the decision support
    final = read(s["erik.ec"], instance)
    assert final["data"]["klagomalspost"] == {"provider": OMSORG, "category": "uteblivna_insatser",
                                              "district": "Hisingen", "received": "2026-11-20",
                                              "source": "klagomal", "activity": "hemtjanst", "closed": None}
    assert final["data"]["eku_bedomning"] == "brister_atgardas"
    assert [e["detail"]["task"] for e in final["history"] if e["action"] == "task_completed"] == [
        "utforarens_hantering", "individuell_uppfoljning", "bedom_kvarstaende_brister", "sammanstall_infor_eku",
        "eku_uppfoljning"]


def test_without_a_named_contact_step_1_goes_to_the_providers_own_people(staff: Staff) -> None:
    s = staff
    # the receiver does not know whom to name at the provider: step 1 goes to its people in the district
    instance = start(s["mona.mottagare"], {k: v for k, v in COMPLAINT.items() if k != "utforare_kontakt"})
    step_1 = the_task(s["omsorg.ec"], instance, "utforarens_hantering")
    assert step_1["assignee"] is None and step_1["lane"] == "Utförare"
    assert [t["id"] for t in tasks(s["omsorg.kontakt"], instance)] == [step_1["id"]]
    # the competitor holds the same role in the same district: never offered, and may not claim it
    assert_never_sees(s["trygg.ec"], instance, step_1["id"])
    assert s["trygg.ec"].post(f"/api/v1/tasks/{step_1['id']}/claim").status_code == 404
    assert s["trygg.ec"].post(f"/api/v1/tasks/{step_1['id']}/complete",
                              json={"data": PROVIDER_ANSWER}).status_code == 404
    # the competitor's person cannot be named as the provider's contact: refused, nothing started
    before = s["mona.mottagare"].ok("GET", "/api/v1/instances", params={"process": KEY})["total"]
    misnamed = s["mona.mottagare"].post("/api/v1/instances", json={
        "process": KEY, "data": {**COMPLAINT, "utforare_kontakt": "trygg.ec"}})
    assert misnamed.status_code == 422 and set(misnamed.json()["errors"]) == {"utforare_kontakt"}
    assert s["mona.mottagare"].ok("GET", "/api/v1/instances", params={"process": KEY})["total"] == before
    # the start form's picker names each person with their provider, so the receiver sees whose staff
    # they pick
    form = s["mona.mottagare"].ok("GET", f"/api/v1/processes/{KEY}")
    contact = form["start_form"]["schema"]["properties"]["utforare_kontakt"]
    labels = dict(zip(contact["enum"], contact["x-enum-labels"], strict=True))
    assert "(Omsorg AB, Hisingen)" in labels["omsorg.kontakt"] and "(Trygg Omsorg AB" in labels["trygg.ec"]
    # the provider's answer carries only its own fields: a planted name is refused
    s["omsorg.ec"].ok("POST", f"/api/v1/tasks/{step_1['id']}/claim")
    planted = s["omsorg.ec"].post(f"/api/v1/tasks/{step_1['id']}/complete",
                                  json={"data": {**PROVIDER_ANSWER, "antal_avvikelser": 1, "klagande": NAMN}})
    assert planted.status_code == 422
    assert set(planted.json()["errors"]) == {"antal_avvikelser", "klagande"}
    complete(s["omsorg.ec"], step_1, PROVIDER_ANSWER)
    assert tasks(s["hanna.soc"], instance)[0]["name"] == "individuell_uppfoljning"
    assert_nothing_planted(read(s["omsorg.ec"], instance))


def test_a_silent_provider_passes_the_deadline_and_the_complaint_goes_on_to_step_2(staff: Staff) -> None:
    s = staff
    instance = start(s["mona.mottagare"], COMPLAINT, case_ref="DNR-7731-XQ")
    [timer] = s["adam"].ok("GET", "/api/v1/timers", params={"instance": instance["id"]})["items"]
    assert timer["task"] == "utforarsvar_uteblev" and timer["kind"] == "duration"

    # nothing happens for 14 days
    SYSTEM_CLOCK.advance(days=13)
    assert fire_due_timers(s.h.services) == 0
    SYSTEM_CLOCK.advance(days=1, minutes=1)
    assert fire_due_timers(s.h.services) == 1
    s.sign_in("omsorg.kontakt", "hanna.soc", "erik.ec")  # two weeks later: new tokens

    # the provider's task is withdrawn; the socialsekreterare follows up, the missing answer noted
    assert tasks(s["omsorg.kontakt"], instance) == []
    step_2 = the_task(s["hanna.soc"], instance, "individuell_uppfoljning")
    detail = s["hanna.soc"].ok("GET", f"/api/v1/tasks/{step_2['id']}")
    assert detail["data"]["utforarsvar_uteblev"] is True and "utforare_atgarder" not in detail["data"]
    [withdrawn] = [t for t in read(s["hanna.soc"], instance)["tasks"] if t["name"] == "utforarens_hantering"]
    assert withdrawn["status"] == "cancelled"

    # the need is met and nothing remains: the complaint closes at step 2
    done = complete(s["hanna.soc"], step_2, NOTHING_REMAINS)
    assert done["instance"]["state"] == "completed"
    assert done["instance"]["outcome"] == "avslutat_efter_individuppfoljning"
    assert tasks(s["erik.ec"], instance) == []


def test_lex_sarah_reports_and_ivo_notifications_enter_at_step_2(staff: Staff) -> None:
    s = staff
    eku = s["eku.anna"]

    # a lex Sarah report from the provider arrives at the authority: no provider step, straight to step 2
    report = start(s["carl.soc"], LEX_SARAH)
    assert tasks(s["omsorg.kontakt"], report) == [] and tasks(s["hanna.soc"], report) == []
    assert_never_sees(s["omsorg.ec"], report)  # the report is the provider's own: the case is the authority's
    step_2 = the_task(s["carl.soc"], report, "individuell_uppfoljning")
    assert step_2["district"] == "Centrum"
    assert step_2["title"] == f"Individuell uppföljning: {OMSORG} – missförhållande eller risk för missförhållande"
    complete(s["carl.soc"], step_2, {**{k: v for k, v in FOLLOW_UP.items() if k != "bytesorsak"},
                                     "bytesonskemal_utrett": "ej_aktuellt"})
    # serious: the enhetschef myndighet goes to EKU
    do(s["erik.ec"], report, "bedom_kvarstaende_brister",
       {**REMAINING, "aterkommande_ej_atgardade": False, "allvarliga": True})
    do(s["erik.ec"], report, "sammanstall_infor_eku",
       {**COMPILED, "antal_avvikelser": 1, "avvikelse_kategorier": ["missforhallande"],
        "avvikelse_omraden": ["Centrum"]})
    [eku_task] = tasks(eku, report)
    assert eku_task["name"] == "eku_uppfoljning"
    detail = eku.ok("GET", f"/api/v1/tasks/{eku_task['id']}")
    assert detail["data"]["allvarliga"] is True and detail["data"]["utforare"] == OMSORG
    assert "Greta" not in json.dumps(detail, ensure_ascii=False)
    assert_nothing_personal(detail, LEX_SARAH, FOLLOW_UP, REMAINING, COMPILED)
    assert_nothing_personal(read(eku, report), LEX_SARAH, FOLLOW_UP, REMAINING, COMPILED)
    assert_never_sees(s["trygg.ec"], report, step_2["id"], eku_task["id"])

    # an IVO notification: the follow-up finds nothing that remains, and the case closes at step 2
    notification = start(s["sven.soc"], IVO)
    done = do(s["sven.soc"], notification, "individuell_uppfoljning", NOTHING_REMAINS)
    assert done["instance"]["outcome"] == "avslutat_efter_individuppfoljning"
    final = read(s["sven.soc"], notification)
    assert final["data"]["klagomalspost"]["source"] == "ivo"
    assert [t["name"] for t in final["tasks"]] == ["individuell_uppfoljning"]


def test_remaining_deficiencies_without_any_criterion_do_not_reach_eku(staff: Staff) -> None:
    s = staff

    # deficiencies remain after follow-up, but they neither recur, are serious nor appear systematic
    instance = to_step_3(s)
    done = do(s["erik.ec"], instance, "bedom_kvarstaende_brister",
              {"brister_kvarstar": True, "aterkommande_ej_atgardade": False, "allvarliga": False,
               "omfattande_systematiska": False, "bedomning_anteckning": "Enstaka brist, åtgärdad."})
    assert done["instance"]["state"] == "completed" and done["instance"]["outcome"] == "ingen_kontakt_med_eku"
    assert s["eku.anna"].ok("GET", "/api/v1/tasks")["items"] == []

    # the person did not want the provider told through the service: no step 1, so the provider is
    # never offered anything and the case does not exist for it — straight to step 2, nothing remains
    private = start(s["mona.mottagare"], {k: v for k, v in {**COMPLAINT, "utforaren_far_ta_del": False}.items()
                                          if k not in ("utforare_kontakt", "till_utforaren")})
    for provider in ("omsorg.kontakt", "omsorg.ec", "trygg.ec"):
        assert_never_sees(s[provider], private)
    do(s["hanna.soc"], private, "individuell_uppfoljning", FOLLOW_UP)
    assert_never_sees(s["omsorg.ec"], private)
    # "no deficiencies remain" cannot be combined with a criterion
    step_3 = the_task(s["erik.ec"], private, "bedom_kvarstaende_brister")
    s["erik.ec"].ok("POST", f"/api/v1/tasks/{step_3['id']}/claim")
    contradictory = s["erik.ec"].post(f"/api/v1/tasks/{step_3['id']}/complete", json={"data": {
        "brister_kvarstar": False, "aterkommande_ej_atgardade": True, "allvarliga": False,
        "omfattande_systematiska": False}})
    assert contradictory.status_code == 422
    done = s["erik.ec"].ok("POST", f"/api/v1/tasks/{step_3['id']}/complete", json={"data": {
        "brister_kvarstar": False, "aterkommande_ej_atgardade": False, "allvarliga": False,
        "omfattande_systematiska": False}})
    assert done["instance"]["outcome"] == "ingen_kontakt_med_eku"
    assert s["eku.anna"].ok("GET", "/api/v1/tasks")["items"] == []


def test_the_enhetschef_sees_a_provider_flagged_when_complaints_recur(staff: Staff) -> None:
    s = staff
    # three complaints about missed visits at the same provider, from two districts, plus one elsewhere
    for district in ("Hisingen", "Hisingen", "Centrum"):
        start(s["mona.mottagare"], {**COMPLAINT, "stadsomrade": district})
    start(s["mona.mottagare"], {**COMPLAINT, "utforare": TRYGG, "utforare_kontakt": "trygg.ec"})
    summary = s["erik.ec"].ok("GET", f"/api/v1/providers/{OMSORG}/complaints")
    assert summary["total"] == 3 and summary["open"] == 3
    assert summary["by_category"] == {"uteblivna_insatser": 3}
    assert summary["by_district"] == {"Hisingen": 2, "Centrum": 1}
    assert summary["flags"]["recurring_unremedied"] is True and summary["flagged"] is True
    assert any("uteblivna insatser" in reason.lower() or "återkommande" in reason.lower()
               for reason in summary["reasons"])
    # EKU may read the same provider-level figures; nothing in them names a person or a case
    for_eku = s["eku.anna"].ok("GET", f"/api/v1/providers/{OMSORG}/complaints")
    assert for_eku["total"] == 3
    assert_nothing_personal(for_eku, COMPLAINT)
    # a case worker outside the enhetschef's function may not
    assert s["hanna.soc"].get(f"/api/v1/providers/{OMSORG}/complaints").status_code == 403
    # nor may the providers: not even about themselves, let alone a competitor
    assert s["trygg.ec"].get(f"/api/v1/providers/{OMSORG}/complaints").status_code == 403
    assert s["omsorg.ec"].get(f"/api/v1/providers/{OMSORG}/complaints").status_code == 403
    assert s["erik.ec"].ok("GET", "/api/v1/providers/Ingen Sådan AB/complaints")["total"] == 0


def test_eku_follows_up_every_three_months_and_when_another_complaint_reaches_step_3(staff: Staff) -> None:
    s = staff
    eku = s["eku.anna"]
    instance = to_step_3(s)
    do(s["erik.ec"], instance, "bedom_kvarstaende_brister", REMAINING)
    do(s["erik.ec"], instance, "sammanstall_infor_eku", COMPILED)
    bodies = [read(eku, instance)]

    # EKU keeps the matter open: the next regular follow-up is three months on, at office opening
    do(eku, instance, "eku_uppfoljning", {**EKU_FOLLOW_UP, "eku_arendet_avslutat": False})
    assert tasks(eku, instance) == [] and read(eku, instance)["state"] != "completed"
    [regular] = timers(s["adam"], instance, "var_tredje_manad")
    assert datetime.fromisoformat(regular["due_at"]) == datetime(2027, 2, 23, 8, 0, tzinfo=STOCKHOLM)

    # only the authority starts an event-driven follow-up, never EKU itself
    event = {"name": "ny_handelse_eku", "data": {}}
    assert eku.post(f"/api/v1/instances/{instance['id']}/messages", json=event).status_code == 403

    # another complaint about the same provider reaches step 3: EKU gets a follow-up at once
    other = to_step_3(s)
    [event_driven] = tasks(eku, instance)
    assert event_driven["name"] == "eku_uppfoljning" and timers(s["adam"], instance, "var_tredje_manad") == []
    assert tasks(eku, other) == []  # the new complaint itself is at step 3, not with EKU
    bodies += [eku.ok("GET", f"/api/v1/tasks/{event_driven['id']}"), read(eku, instance)]
    do(eku, instance, "eku_uppfoljning", {**EKU_FOLLOW_UP, "eku_arendet_avslutat": False})

    # three months later the regular follow-up comes; EKU closes the matter
    [regular] = timers(s["adam"], instance, "var_tredje_manad")
    SYSTEM_CLOCK.set(datetime.fromisoformat(regular["due_at"]) + timedelta(minutes=1))
    assert fire_due_timers(s.h.services) == 1
    eku = s["eku.anna"]  # (signed in anew, months later)
    do(eku, instance, "eku_uppfoljning", {**EKU_FOLLOW_UP, "eku_uppfoljningsform": "regelbunden"})
    final = read(eku, instance)
    assert final["state"] == "completed" and final["outcome"] == "eku_uppfoljning_klar"
    # nothing personal reached EKU on any of it
    for body in (*bodies, final, eku.ok("GET", "/api/v1/tasks")):
        assert_nothing_planted(body)
    assert read(s["erik.ec"], other)["state"] == "running"


def test_a_municipality_without_districts_registers_complaints_without_one(
        staff: Staff, monkeypatch: pytest.MonkeyPatch) -> None:
    s = staff
    # Staffanstorp has no districts (SAMVERKAN_DISTRICTS=""): the form asks for none, the staircase still starts
    monkeypatch.setattr("service.directory.DISTRICTS", frozenset())
    without = {k: v for k, v in COMPLAINT.items() if k != "stadsomrade"}
    instance = start(s["mona.mottagare"], without)
    step_1 = the_task(s["omsorg.kontakt"], instance, "utforarens_hantering")
    assert step_1["district"] is None and step_1["assignee"] == "omsorg.kontakt"
