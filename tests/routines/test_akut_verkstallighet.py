"""R2 Verkställighet vid akuta behov (``akut_verkstallighet``), told through the HTTP API.

Each lane acts as its own user: the socialsekreterare fills in the applicability checklist, the
enhetschef myndighet judges the criteria and the verksamhetschef myndighet is consulted in a task of
their own; the verksamhetschef korttidsboende vuxna (adults) or korttidsvistelse barn (children)
assesses the need of collaboration, and the convener (for a child an enhetschef korttidshem barn)
calls meetings whose invitations are tasks for each invitee, enforces the decision and evaluates
it. The BmSS renovation side rule is a routine of its own (``test_bmss_lokal_vid_renovering.py``).
The verksamhetschef hälso- och sjukvård belongs to another förvaltning (another committee):
invited, they see only what the convener hands over to them on a recorded basis, not the case. The
clock is the only thing moved by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from service.clock import STOCKHOLM, SYSTEM_CLOCK
from service.models import User
from service.operations.timers import fire_due_timers

from ..conftest import Api, Harness
from .story import (
    ALL_DISTRICTS,
    Cast,
    People,
    complete,
    deploy_routines,
    do,
    history,
    names,
    read,
    start_instance,
    tasks,
    the_task,
)

KEY = "akut_verkstallighet"
MONDAY_MORNING = datetime(2026, 11, 23, 9, 0, tzinfo=STOCKHOLM)

#: The people of the routine: username → (roles, districts). The conveners work city-wide.
PEOPLE: People = {
    "sara.soc": (("socialsekreterare",), ("Nordost",)),
    "fredrik.forste": (("forste_socialsekreterare",), ("Nordost",)),
    "erika.ec": (("enhetschef_myndighet",), ("Nordost",)),
    "vera.vc": (("verksamhetschef_myndighet",), ("Nordost",)),
    "vc.korttid": (("verksamhetschef_korttidsboende_vuxna",), ALL_DISTRICTS),
    "ec.korttidshem": (("enhetschef_korttidshem_barn",), ALL_DISTRICTS),
    "vc.korttidsvistelse": (("verksamhetschef_korttidsvistelse_barn",), ALL_DISTRICTS),
    "fia.fastighet": (("enhetschef_fastighet",), ("Nordost",)),
    "erik.fastighet": (("enhetschef_fastighet",), ("Nordost",)),
    "ulf.utforare": (("verksamhetschef_utforaravdelning",), ("Nordost",)),
    "ulla.utforare": (("verksamhetschef_utforaravdelning",), ("Nordost",)),
    "bo.bemanning": (("enhetschef_bemanning",), ("Nordost",)),
    "berta.bemanning": (("enhetschef_bemanning",), ("Nordost",)),
    "berit.bmss": (("enhetschef_bmss",), ("Nordost",)),
    "bengt.bmss.hisingen": (("enhetschef_bmss",), ("Hisingen",)),
    "ulrika.formedling": (("utvecklingsledare_formedling_bmss",), ("Nordost",)),
    "urban.formedling.hisingen": (("utvecklingsledare_formedling_bmss",), ("Hisingen",)),
    "chef.nordost": (("chef",), ("Nordost",)),
    "sven.soc": (("socialsekreterare",), ("Hisingen",)),
    "adam": (("admin",), ()),
}
#: Äldre samt vård- och omsorgsförvaltningen: another committee, where the health-care verksamhetschef works.
ALDRE_VARD = "aldre_vard"
#: People of other förvaltningar: username → (roles, districts, organisation).
OUTSIDE: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "hilda.hsl": (("verksamhetschef_halso_sjukvard",), ("Nordost",), ALDRE_VARD),
    "harald.hsl": (("verksamhetschef_halso_sjukvard",), ("Nordost",), ALDRE_VARD),
}

START = {"arende_referens": "FFS-2026-1234", "aldersgrupp": "vuxen", "stadsomrade": "Nordost",
         "ansvarig_socialsekreterare": "sara.soc", "beslut_om_insats_fattat": True,
         "beslutad_insats": "bostad_med_sarskild_service", "beslut_lagrum": "LSS", "beslutsdatum": "2026-11-20",
         "erbjuden_verkstallighet_avbojd": False, "behovsbeskrivning": "Akut behov av boende."}
BARN = {**START, "aldersgrupp": "barn", "beslutad_insats": "korttidsvistelse", "arende_referens": "FFS-2026-99"}
CHECKLIST = {"utvecklingsledare_formedling": "ja_ingen_ledig",
             "utvecklingsledare_formedling_notering": "Kontakt 2026-11-21: ingen ledig lägenhet.",
             "priis_matchning": "ja_ingen_plats", "priis_matchning_notering": "Matchning skickad, ingen plats.",
             "utokning_hos_utforare": "ej_aktuellt", "ovriga_mojligheter_uttomda": True,
             "ovriga_mojligheter_notering": "Direktupphandlade platser saknas.",
             "akut_och_omfattande_behov": True, "akut_behov_motivering": "Kan inte vänta."}
CRITERIA = {"kriterier_uppfyllda": True, "samrad_form": "egen_uppgift", "samrad_verksamhetschef_myndighet": "vera.vc",
            "kriterier_motivering": "Uppfyllda."}
NO_COLLABORATION = {"behov_av_samverkan": False}
#: The meeting template's checklist (ROUTINES.md R2 step 4), every point gone through.
MOTESMALL = ["behov", "resurser", "lokal", "personal", "ansvar", "beslut", "nasta_mote"]
MEETING_DONE = {"mote_genomfort_datum": "2026-12-01", "motesmall": MOTESMALL, "motesutfall": "Akutlokal ordnad.",
                "ytterligare_mote_behovs": False}
IN_AKUTLOKAL = {"verkstallighet_form": "akutlokal", "verkstallighet_plats": "Akutlokal Nordost",
                "verkstallighet_beskrivning": "Personal från bemanningsenheten.", "verkstallt_datum": "2026-12-02",
                "evakuering_fran_bmss": False}
KORTTID = {"korttid_insats": "korttidsboende", "korttid_lagrum": "LSS", "korttid_beslut": "bifall",
           "korttid_beslutsdatum": "2026-12-02"}
#: R5b: the consent recorded with a meeting call that invites someone from another förvaltning.
SAMTYCKE_ANNAN_FORVALTNING = {"grund": "samtycke", "samtycke_typ": "uttryckligt", "samtycke_form": "skriftligt",
                              "mottagare": ["annan_forvaltning"], "aktiviteter": ["samverkansmöte"],
                              "giltig_fran": "2026-11-23", "giltig_till": "2027-05-23"}
EVALUATION = {"utvardering_datum": "2026-12-20", "utvardering_deltagare": ["socialsekreterare", "enhetschef_bemanning"],
              "utvardering_vad_fungerade": "Snabb samverkan.", "utvardering_forbattringar": "Tydligare mötesmall."}


#: A participant's own evaluation (R2 step 7).
SYNPUNKTER = {"utvardering_synpunkter": {"vad_fungerade": "Snabba beslut.", "forbattringar": "Tidigare kallelse."}}


class Staff(Cast):
    """The routine's users (:data:`PEOPLE`), each signed in with a real API token."""

    def __init__(self, h: Harness) -> None:
        super().__init__(h, PEOPLE)
        self.organisation(ALDRE_VARD, "annan_forvaltning", "Äldre samt vård- och omsorgsförvaltningen")
        for username, (roles, districts, organisation) in OUTSIDE.items():
            self.user(username, *roles, districts=districts, organisation=organisation)

    def set_away(self, username: str, delegate: str | None) -> None:
        """An out-of-office reply naming a delegate (as the directory sync would record it)."""
        with self.h.services.db.command() as session:
            session.execute(update(User).where(User.username == username).values(away_delegate=delegate))


@pytest.fixture
def staff(harness: Harness) -> Iterator[Staff]:
    """The real routines deployed, the people of R2 created, the clock on a Monday morning."""
    deploy_routines(harness, KEY)
    SYSTEM_CLOCK.set(MONDAY_MORNING)
    yield Staff(harness)


# --- acting as a user ------------------------------------------------------------------------------

def start(api: Api, data: dict[str, Any]) -> dict[str, Any]:
    return start_instance(api, KEY, data, case_ref=data["arende_referens"])


def through_criteria(s: Staff, data: dict[str, Any]) -> dict[str, Any]:
    """The socialsekreterare reports the need and the checklist; the enhetschef finds the criteria met and
    the verksamhetschef myndighet, consulted in a task of her own, agrees."""
    instance = start(s["sara.soc"], data)
    do(s["sara.soc"], instance, "kontrollera_uttomda_mojligheter", CHECKLIST)
    do(s["erika.ec"], instance, "bedom_kriterier", CRITERIA)
    do(s["vera.vc"], instance, "samrada_kriterier", {"verksamhetschef_myndighet_instammer": True})
    return instance


def participants_evaluate(s: Staff, instance: dict[str, Any]) -> list[str]:
    """Everyone with an evaluation task of their own answers it; returns who did (sorted)."""
    open_tasks = [t for t in read(s["sara.soc"], instance)["tasks"]
                  if t["name"] == "utvardera_deltagare" and t["status"] == "open"]
    for task in open_tasks:
        complete(s[task["assignee"]], task, SYNPUNKTER)
    return sorted(t["assignee"] for t in open_tasks)


# --- the stories -------------------------------------------------------------------------------------

def test_each_failed_applicability_condition_ends_as_its_own_ej_tillamplig(staff: Staff) -> None:
    s = staff
    sara, erika = s["sara.soc"], s["erika.ec"]

    # no decision on an insats yet: the routine does not apply, nobody gets a task
    no_decision = start(sara, {k: v for k, v in START.items()
                               if k not in ("beslutad_insats", "beslut_lagrum", "beslutsdatum")}
                        | {"beslut_om_insats_fattat": False})
    assert no_decision["state"] == "completed" and no_decision["outcome"] == "ej_tillamplig_inget_beslut"
    assert tasks(sara, no_decision) == []

    # the client was offered enforcement and declined it
    declined = start(sara, {**START, "erbjuden_verkstallighet_avbojd": True})
    assert declined["state"] == "completed" and declined["outcome"] == "ej_tillamplig_erbjudande_avbojt"

    # the provider can extend the ongoing insats: a possibility is left, so the routine does not apply
    left = start(sara, START)
    [checklist] = tasks(sara, left)
    assert checklist["name"] == "kontrollera_uttomda_mojligheter" and checklist["assignee"] == "sara.soc"
    assert checklist["title"] == "Kontrollera uttömda möjligheter – akut verkställighet (vuxen, Nordost)"
    detail = sara.ok("GET", f"/api/v1/tasks/{checklist['id']}")
    assert set(detail["form"]["schema"]["properties"]["priis_matchning"]["enum"]) >= {"ja_ingen_plats", "nej"}
    # a "yes" without its note is refused: every checklist answer carries a note
    refused = sara.post(f"/api/v1/tasks/{checklist['id']}/complete",
                        json={"data": {**CHECKLIST, "utokning_hos_utforare": "ja_kan_utokas"}})
    assert refused.status_code == 422 and "utokning_hos_utforare_notering" in refused.json()["errors"]
    done = complete(sara, checklist, {**CHECKLIST, "utokning_hos_utforare": "ja_kan_utokas",
                                      "utokning_hos_utforare_notering": "Utföraren kan utöka insatsen."})
    assert done["instance"]["outcome"] == "ej_tillamplig_mojligheter_kvar"
    assert tasks(erika, left) == []

    # every possibility is exhausted but the need can wait for ordinary enforcement
    not_acute = start(sara, START)
    done = do(sara, not_acute, "kontrollera_uttomda_mojligheter", {**CHECKLIST, "akut_och_omfattande_behov": False})
    assert done["instance"]["state"] == "completed" and done["instance"]["outcome"] == "ej_tillamplig_ej_akut"

    # applicable, but the enhetschef myndighet (in consultation with the verksamhetschef) finds the criteria unmet
    unmet = start(sara, START)
    do(sara, unmet, "kontrollera_uttomda_mojligheter", CHECKLIST)
    assert tasks(s["vera.vc"], unmet) == []  # the verksamhetschef is consulted, the enhetschef records it
    [criteria] = tasks(erika, unmet)
    assert criteria["name"] == "bedom_kriterier" and criteria["lane"] == "Enhetschef myndighet"
    assert criteria["assignee"] is None and criteria["district"] == "Nordost"
    done = complete(erika, criteria, {**CRITERIA, "kriterier_uppfyllda": False,
                                      "kriterier_motivering": "Behovet kan mötas inom ramavtal."})
    assert done["instance"]["outcome"] == "ej_tillamplig_kriterier_ej_uppfyllda"
    assert tasks(s["vc.korttid"], unmet) == [] and tasks(s["ec.korttidshem"], unmet) == []
    final = read(sara, unmet)
    assert final["state"] == "completed" and final["data"]["samrad_verksamhetschef_myndighet"] == "vera.vc"


def test_the_verksamhetschef_myndighet_consults_as_a_person_and_a_disagreement_stops_the_case(staff: Staff) -> None:
    s = staff
    sara, erika, vera = s["sara.soc"], s["erika.ec"], s["vera.vc"]
    disagreed = start(sara, START)
    do(sara, disagreed, "kontrollera_uttomda_mojligheter", CHECKLIST)
    do(erika, disagreed, "bedom_kriterier", CRITERIA)
    # the criteria are met in the enhetschef's view: the verksamhetschef myndighet has a task of her own
    [consult] = tasks(vera, disagreed)
    assert consult["name"] == "samrada_kriterier" and consult["assignee"] == "vera.vc"
    assert consult["lane"] == "Verksamhetschef myndighet"
    assert tasks(s["vc.korttid"], disagreed) == [] and tasks(erika, disagreed) == []
    # she disagrees: she must say why, and the case stops there
    refused = vera.post(f"/api/v1/tasks/{consult['id']}/complete",
                        json={"data": {"verksamhetschef_myndighet_instammer": False}})
    assert refused.status_code == 422 and "samrad_kommentar" in refused.json()["errors"]
    done = complete(vera, consult, {"verksamhetschef_myndighet_instammer": False,
                                    "samrad_kommentar": "Behovet kan mötas inom ramavtal."})
    assert done["instance"]["state"] == "completed"
    assert done["instance"]["outcome"] == "stoppat_verksamhetschef_instammer_ej"
    assert tasks(s["vc.korttid"], disagreed) == []

    # she cannot take part: the enhetschef records the reason instead, and the case goes on without her task
    absent = start(sara, START)
    do(sara, absent, "kontrollera_uttomda_mojligheter", CHECKLIST)
    criteria = the_task(erika, absent, "bedom_kriterier")
    erika.ok("POST", f"/api/v1/tasks/{criteria['id']}/claim")
    without = {k: v for k, v in CRITERIA.items() if k != "samrad_verksamhetschef_myndighet"} | {
        "samrad_form": "skal_angivet"}
    refused = erika.post(f"/api/v1/tasks/{criteria['id']}/complete", json={"data": without})
    assert refused.status_code == 422 and "samrad_ej_skal" in refused.json()["errors"]
    complete(erika, criteria, {**without,
                               "samrad_ej_skal": "Verksamhetschefen är på semester; samråd med ställföreträdaren."})
    assert tasks(vera, absent) == []
    assert names(s["vc.korttid"], absent) == ["bedom_samverkan_vuxen"]
    assert read(sara, absent)["data"]["samrad_ej_skal"].startswith("Verksamhetschefen är på semester")


def test_a_child_is_assessed_by_the_korttidsvistelse_chef_convened_by_korttidshem_and_needs_a_decision(
        staff: Staff) -> None:
    s = staff
    instance = through_criteria(s, BARN)

    # a child: the verksamhetschef korttidsvistelse barn assesses; the adults' convener sees nothing
    assert tasks(s["vc.korttid"], instance) == [] and tasks(s["ec.korttidshem"], instance) == []
    [assess] = tasks(s["vc.korttidsvistelse"], instance)
    assert assess["name"] == "bedom_samverkan_barn" and assess["lane"] == "Verksamhetschef korttidsvistelse barn"
    assert assess["title"] == "Bedöm behov av samverkan – akut verkställighet (barn, Nordost)"
    assert s["vc.korttid"].post(f"/api/v1/tasks/{assess['id']}/claim").status_code == 404  # need to know

    # the convener for a child is an enhetschef korttidshem barn, never the assessor nor the adults' convener
    s["vc.korttidsvistelse"].ok("POST", f"/api/v1/tasks/{assess['id']}/claim")
    for wrong in ("vc.korttidsvistelse", "vc.korttid"):
        response = s["vc.korttidsvistelse"].post(f"/api/v1/tasks/{assess['id']}/complete", json={
            "data": {"sammankallande": wrong, **NO_COLLABORATION}})
        assert response.status_code == 422 and "sammankallande" in response.json()["errors"], response.text
    # enforcement in existing operations first; no collaboration needed, so straight to Verkställ
    complete(s["vc.korttidsvistelse"], assess, {"sammankallande": "ec.korttidshem", **NO_COLLABORATION})
    [enforce] = tasks(s["ec.korttidshem"], instance)
    assert enforce["name"] == "verkstall" and enforce["assignee"] == "ec.korttidshem"

    # enforced in an akutlokal: a short-term place, so the socialsekreterare must decide on korttidsvistelse
    complete(s["ec.korttidshem"], enforce, IN_AKUTLOKAL)
    [decision] = tasks(s["sara.soc"], instance)
    assert decision["name"] == "fatta_beslut_korttid" and decision["assignee"] == "sara.soc"
    assert decision["title"] == "Fatta beslut om korttidsvistelse – akut verkställighet (barn, Nordost)"
    assert tasks(s["ec.korttidshem"], instance) == []  # the evaluation waits for the decision
    complete(s["sara.soc"], decision, {**KORTTID, "korttid_insats": "korttidsvistelse"})

    # each participant evaluates in a task of their own first: here the socialsekreterare (no meeting was held)
    assert tasks(s["ec.korttidshem"], instance) == []
    [own] = tasks(s["sara.soc"], instance)
    assert own["name"] == "utvardera_deltagare" and own["assignee"] == "sara.soc"
    assert own["title"] == "Utvärdering: dina synpunkter på rutinen – akut verkställighet (barn, Nordost)"
    refused = s["sara.soc"].post(f"/api/v1/tasks/{own['id']}/complete",
                                 json={"data": {"utvardering_synpunkter": {"vad_fungerade": "Bra."}}})
    assert refused.status_code == 422, refused.text
    complete(s["sara.soc"], own, SYNPUNKTER)

    # the convener compiles what the participants said, within 30 days
    [evaluation] = tasks(s["ec.korttidshem"], instance)
    compiled = s["ec.korttidshem"].ok("GET", f"/api/v1/tasks/{evaluation['id']}")["data"]["utvarderingar"]
    assert compiled == [{"anvandarnamn": "sara.soc", "roll": "socialsekreterare",
                         **SYNPUNKTER["utvardering_synpunkter"]}]
    assert evaluation["name"] == "utvardera"
    due_in = datetime.fromisoformat(evaluation["due_at"]) - datetime.fromisoformat(evaluation["created_at"])
    assert abs(due_in - timedelta(days=30)) < timedelta(seconds=1)
    done = complete(s["ec.korttidshem"], evaluation, EVALUATION)
    assert done["instance"]["state"] == "completed" and done["instance"]["outcome"] == "verkstallt_och_utvarderat"
    final = read(s["sara.soc"], instance)
    assert final["data"]["korttid_insats"] == "korttidsvistelse" and final["timers"] == []


def test_a_short_bmss_evacuation_with_bmss_staff_and_an_unchanged_plan_needs_no_korttid_decision(
        staff: Staff) -> None:
    s = staff
    convener = s["vc.korttid"]
    evacuation = {**IN_AKUTLOKAL, "verkstallighet_beskrivning": "Kortvarig evakuering från BmSS.",
                  "evakuering_fran_bmss": True, "bmss_personal_utfor_stodet": True, "genomforandeplan_oforandrad": True}

    # an adult goes to the verksamhetschef korttidsboende vuxna; the children's convener sees nothing
    exempt = through_criteria(s, START)
    assert tasks(s["ec.korttidshem"], exempt) == []
    do(convener, exempt, "bedom_samverkan_vuxen", {"sammankallande": "vc.korttid", **NO_COLLABORATION})
    # BmSS staff deliver the support, the plan is unchanged: the evaluation follows without a decision
    do(convener, exempt, "verkstall", evacuation)
    assert names(s["sara.soc"], exempt) == ["utvardera_deltagare"]
    assert participants_evaluate(s, exempt) == ["sara.soc"]
    do(convener, exempt, "utvardera", EVALUATION)
    assert read(convener, exempt)["outcome"] == "verkstallt_och_utvarderat"

    # the same evacuation but the implementation plan changes: korttidsboende must be decided
    changed = through_criteria(s, START)
    do(convener, changed, "bedom_samverkan_vuxen", {"sammankallande": "vc.korttid", **NO_COLLABORATION})
    # an evacuation is only ever to an akutlokal or other non-BmSS premises
    enforce = the_task(convener, changed, "verkstall")
    wrong = convener.post(f"/api/v1/tasks/{enforce['id']}/complete",
                          json={"data": {**evacuation, "verkstallighet_form": "bmss_lagenhet"}})
    assert wrong.status_code == 422 and "verkstallighet_form" in wrong.json()["errors"]
    complete(convener, enforce, {**evacuation, "genomforandeplan_oforandrad": False})
    [decision] = tasks(s["sara.soc"], changed)
    assert decision["title"] == "Fatta beslut om korttidsboende – akut verkställighet (vuxen, Nordost)"
    complete(s["sara.soc"], decision, KORTTID)
    assert names(s["sara.soc"], changed) == ["utvardera_deltagare"] and names(convener, changed) == []


def test_enforcement_in_a_vacant_bmss_flat_needs_no_korttid_decision_and_the_evaluation_is_timed(
        staff: Staff) -> None:
    s = staff
    convener = s["vc.korttid"]
    instance = through_criteria(s, START)
    # the convener for an adult is the verksamhetschef korttidsboende vuxna, never the children's enhetschef
    assess = the_task(convener, instance, "bedom_samverkan_vuxen")
    if assess["assignee"] is None:
        convener.ok("POST", f"/api/v1/tasks/{assess['id']}/claim")
    response = convener.post(f"/api/v1/tasks/{assess['id']}/complete", json={
        "data": {"sammankallande": "ec.korttidshem", **NO_COLLABORATION}})
    assert response.status_code == 422 and "sammankallande" in response.json()["errors"], response.text
    do(convener, instance, "bedom_samverkan_vuxen", {"sammankallande": "vc.korttid", **NO_COLLABORATION})

    # a vacant flat: enforcement goes ahead there, without a meeting and without a korttid decision
    [enforce] = tasks(convener, instance)
    assert enforce["name"] == "verkstall"
    complete(convener, enforce, {"verkstallighet_form": "bmss_lagenhet", "verkstallighet_plats": "BmSS Vitsippan",
                                 "verkstallighet_beskrivning": "Flytt under renoveringen.",
                                 "verkstallt_datum": "2026-11-30", "evakuering_fran_bmss": False})
    assert names(s["sara.soc"], instance) == ["utvardera_deltagare"]  # her evaluation, not a korttid decision
    participants_evaluate(s, instance)
    [evaluation] = tasks(convener, instance)
    assert evaluation["name"] == "utvardera"
    [reminder] = read(convener, instance)["timers"]
    assert reminder["task"] == "utvardering_forsenad"
    assert abs(datetime.fromisoformat(reminder["due_at"]) - datetime.fromisoformat(evaluation["due_at"])) \
        < timedelta(seconds=1)

    # evaluated in time: the reminder never fires
    complete(convener, evaluation, EVALUATION)
    final = read(convener, instance)
    assert final["outcome"] == "verkstallt_och_utvarderat" and final["timers"] == []
    SYSTEM_CLOCK.advance(days=31)
    assert fire_due_timers(s.h.services) == 0


def test_a_silent_invitee_is_reminded_a_working_day_before_their_chef_told_and_the_absence_recorded(
        staff: Staff) -> None:
    s = staff
    instance = through_criteria(s, START)
    do(s["vc.korttid"], instance, "bedom_samverkan_vuxen",
       {"sammankallande": "vc.korttid", "behov_av_samverkan": True, "samverkansbehov": ["lokal", "personalresurser"]})
    meeting = "2026-11-30T10:00:00+01:00"  # a Monday: one working day before is Friday 10:00
    do(s["vc.korttid"], instance, "kalla_till_mote", {
        "motestid": meeting, "motesplats": "Byalagsgatan, rum 2", "motesdeltagare": [
            {"roll": "socialsekreterare", "anvandarnamn": "sara.soc"},
            {"roll": "enhetschef_fastighet", "anvandarnamn": "fia.fastighet", "skal": "lokalfrågor"},
            {"roll": "enhetschef_bemanning", "anvandarnamn": "bo.bemanning", "skal": "bemanning"},
            {"roll": "verksamhetschef_utforaravdelning", "anvandarnamn": "ulf.utforare", "skal": "personal"}]})
    # Sara attends and Fia sends Erik with the same mandate; Bo and Ulf say nothing
    do(s["sara.soc"], instance, "besvara_kallelse", {"kallelsesvar": {"deltagande": "kan_delta"}})
    do(s["fia.fastighet"], instance, "besvara_kallelse", {"kallelsesvar": {
        "deltagande": "skickar_ersattare", "ersattare_anvandarnamn": "erik.fastighet", "ersattare_samma_mandat": True}})
    reminders = [t for t in s["adam"].ok("GET", "/api/v1/timers", params={"instance": instance["id"]})["items"]
                 if t["task"] == "paminnelse_fore_motet"]
    assert [datetime.fromisoformat(t["due_at"]) for t in reminders] == \
        [datetime(2026, 11, 27, 10, 0, tzinfo=STOCKHOLM)] * 2

    # Thursday evening nothing happens; Friday at 10:00 Bo and Ulf are reminded and their chef told
    SYSTEM_CLOCK.set(datetime(2026, 11, 26, 18, 0, tzinfo=STOCKHOLM))
    assert fire_due_timers(s.h.services) == 0
    SYSTEM_CLOCK.set(datetime(2026, 11, 27, 10, 1, tzinfo=STOCKHOLM))
    assert fire_due_timers(s.h.services) == 2
    for invitee in ("bo.bemanning", "ulf.utforare"):
        [reminder] = tasks(s[invitee], instance)
        assert reminder["name"] == "besvara_kallelse_paminnelse" and reminder["assignee"] == invitee
        assert reminder["title"] == "Påminnelse: kallelse till samverkansmöte – akut verkställighet (vuxen, Nordost)"
        assert datetime.fromisoformat(reminder["due_at"]) == datetime.fromisoformat(meeting)
    assert tasks(s["sara.soc"], instance) == [] and tasks(s["fia.fastighet"], instance) == []
    notices = [t for t in tasks(s["chef.nordost"], instance) if t["name"] == "kallad_har_inte_svarat"]
    assert len(notices) == 2 and {(t["lane"], t["assignee"], t["district"]) for t in notices} == {
        ("Chef", None, "Nordost")}
    told = {s["chef.nordost"].ok("GET", f"/api/v1/tasks/{t['id']}")["data"]["inbjuden"]["anvandarnamn"]: t
            for t in notices}
    assert sorted(told) == ["bo.bemanning", "ulf.utforare"]
    # need to know: neither a socialsekreterare of another district nor the invitees see the chef's notice
    for outsider in ("sven.soc", "bo.bemanning", "sara.soc"):
        assert all(s[outsider].get(f"/api/v1/tasks/{t['id']}").status_code == 404 for t in notices)
    assert s["sven.soc"].get(f"/api/v1/instances/{instance['id']}").status_code == 404

    # the chef sees to Bo; Ulf answers his reminder, he will attend
    complete(s["chef.nordost"], told["bo.bemanning"], {"chef_atgard": "kontaktar_medarbetaren"})
    do(s["ulf.utforare"], instance, "besvara_kallelse_paminnelse", {"kallelsesvar": {"deltagande": "kan_delta"}})
    assert names(s["vc.korttid"], instance) == []  # Ulf's chef has not answered yet: the round is still open

    # Monday 10:00 the meeting starts without Bo: his invitation closes and his absence is recorded; the
    # answers given before are kept, and nobody is invited to a meeting already under way (Erik)
    SYSTEM_CLOCK.set(datetime(2026, 11, 30, 10, 0, 1, tzinfo=STOCKHOLM))
    assert fire_due_timers(s.h.services) == 2  # Bo's reminder, and the notice about Ulf
    assert tasks(s["bo.bemanning"], instance) == [] and tasks(s["erik.fastighet"], instance) == []
    assert [t["name"] for t in tasks(s["chef.nordost"], instance)] == ["hall_mote"]  # the chef sees the district
    meeting_task = the_task(s["vc.korttid"], instance, "hall_mote")
    answers = {r["anvandarnamn"]: r for r in
               s["vc.korttid"].ok("GET", f"/api/v1/tasks/{meeting_task['id']}")["data"]["alla_kallelsesvar"]}
    assert sorted(answers) == ["bo.bemanning", "fia.fastighet", "sara.soc", "ulf.utforare"]
    assert answers["sara.soc"]["deltagande"] == "kan_delta" and "paminnad" not in answers["sara.soc"]
    assert answers["fia.fastighet"]["deltagande"] == "skickar_ersattare"
    assert answers["fia.fastighet"]["ersattare_anvandarnamn"] == "erik.fastighet"
    assert answers["ulf.utforare"]["deltagande"] == "kan_delta" and answers["ulf.utforare"]["paminnad"] is True
    assert {k: answers["bo.bemanning"][k] for k in ("deltagande", "franvarande", "paminnad")} == {
        "deltagande": "ej_svar", "franvarande": True, "paminnad": True}
    assert s["adam"].ok("GET", "/api/v1/timers", params={"instance": instance["id"]})["items"] == []
    cancelled = sorted(t["name"] for t in read(s["vc.korttid"], instance)["tasks"] if t["status"] == "cancelled")
    assert cancelled == ["besvara_kallelse", "besvara_kallelse", "besvara_kallelse_paminnelse",
                         "kallad_har_inte_svarat"]


def test_an_invitee_called_at_short_notice_is_still_reminded_before_the_meeting(staff: Staff) -> None:
    """R2 step 4: a silent invitee is reminded, and their chef told, *before* the meeting — also when the
    meeting is called later than one working day ahead: then halfway between the call and the meeting."""
    s = staff
    instance = through_criteria(s, START)
    do(s["vc.korttid"], instance, "bedom_samverkan_vuxen",
       {"sammankallande": "vc.korttid", "behov_av_samverkan": True, "samverkansbehov": ["lokal"]})
    SYSTEM_CLOCK.set(datetime(2026, 11, 23, 14, 0, tzinfo=STOCKHOLM))  # Monday 14:00, for Tuesday 09:00
    do(s["vc.korttid"], instance, "kalla_till_mote", {
        "motestid": "2026-11-24T09:00:00+01:00", "motesplats": "Byalagsgatan, rum 2", "motesdeltagare": [
            {"roll": "enhetschef_bemanning", "anvandarnamn": "bo.bemanning", "skal": "bemanning"}]})
    [timer] = [t for t in s["adam"].ok("GET", "/api/v1/timers", params={"instance": instance["id"]})["items"]
               if t["task"] == "paminnelse_fore_motet"]
    assert datetime.fromisoformat(timer["due_at"]) == datetime(2026, 11, 23, 23, 30, tzinfo=STOCKHOLM)

    SYSTEM_CLOCK.set(datetime(2026, 11, 23, 23, 31, tzinfo=STOCKHOLM))
    assert fire_due_timers(s.h.services) == 1
    [reminder] = tasks(s["bo.bemanning"], instance)
    assert reminder["name"] == "besvara_kallelse_paminnelse" and reminder["assignee"] == "bo.bemanning"
    assert len([t for t in tasks(s["chef.nordost"], instance) if t["name"] == "kallad_har_inte_svarat"]) == 1


#: Personal values planted in the case; none of them may reach anyone outside the authority.
PERSONNUMMER, KLIENT, DIARIENUMMER = "19121212-1212", "Tolvan Tolvansson", "FFS-2026-4711"
PLANTED = (PERSONNUMMER, KLIENT, DIARIENUMMER, "Tolvan")
#: What the invitation task and the hand-over to another förvaltning let its people see.
SEEN_OUTSIDE = {"kallelsesvar", "motestid", "motesplats", "underlag_annan_forvaltning"}
UNDERLAG = "Frågor om läkemedelshantering och delegering i akutlokalen."


def test_an_invitee_from_another_forvaltning_sees_only_what_the_convener_hands_over(staff: Staff) -> None:
    s = staff
    convener, hilda = s["vc.korttid"], s["hilda.hsl"]
    instance = start(s["sara.soc"], {**START, "arende_referens": DIARIENUMMER,
                                     "behovsbeskrivning": f"{KLIENT} ({PERSONNUMMER}) behöver akut boende "
                                                          "och hälso- och sjukvårdsinsatser."})
    do(s["sara.soc"], instance, "kontrollera_uttomda_mojligheter",
       {**CHECKLIST, "akut_behov_motivering": f"{KLIENT} kan inte vänta på ordinarie verkställighet."})
    do(s["erika.ec"], instance, "bedom_kriterier", {**CRITERIA, "kriterier_motivering": f"Uppfyllda för {KLIENT}."})
    do(s["vera.vc"], instance, "samrada_kriterier", {"verksamhetschef_myndighet_instammer": True})
    do(convener, instance, "bedom_samverkan_vuxen", {"sammankallande": "vc.korttid", "behov_av_samverkan": True,
                                                     "samverkansbehov": ["lokal"]})
    case = f"/api/v1/instances/{instance['id']}"
    assert hilda.get(case).status_code == 404  # not invited yet: the case does not exist for her

    # the convener invites health care from another förvaltning: only with a basis recorded for it (R5b)
    call = the_task(convener, instance, "kalla_till_mote")
    hsl = {"roll": "verksamhetschef_halso_sjukvard", "anvandarnamn": "hilda.hsl", "organisation": ALDRE_VARD}
    meeting = {"motestid": "2026-11-26T13:00:00+01:00", "motesplats": "Byalagsgatan, rum 2",
               "dagordning": f"Akutlokal och läkemedel för {KLIENT}.",
               "motesdeltagare": [{"roll": "socialsekreterare", "anvandarnamn": "sara.soc"}, hsl]}
    for refused_call, field in (
            (meeting, "utlamningsgrunder"),  # no basis at all
            ({**meeting, "utlamningsgrunder": [{**SAMTYCKE_ANNAN_FORVALTNING, "mottagare": ["region"]}]},
             "utlamningsgrunder"),  # a basis that does not reach another förvaltning
            ({**meeting, "utlamningsgrunder": [SAMTYCKE_ANNAN_FORVALTNING],
              "motesdeltagare": [{**hsl, "organisation": "okand_forvaltning"}]}, "motesdeltagare.0.organisation")):
        response = convener.post(f"/api/v1/tasks/{call['id']}/complete", json={"data": refused_call})
        assert response.status_code == 422 and field in response.json()["errors"], response.text
    done = complete(convener, call, {**meeting, "utlamningsgrunder": [SAMTYCKE_ANNAN_FORVALTNING]})
    # first the hand-over; nobody is invited before it, and she still cannot see the case
    [handover] = done["next_tasks"]
    assert handover["name"] == "lamna_ut_till_annan_forvaltning" and handover["assignee"] == "vc.korttid"
    assert hilda.get(case).status_code == 404 and tasks(hilda, instance) == []
    assert tasks(s["sara.soc"], instance) == []
    # a basis sent with the hand-over itself is no basis: the form does not even take one
    sneaked = convener.post(f"/api/v1/tasks/{handover['id']}/complete",
                            json={"data": {"underlag_annan_forvaltning": UNDERLAG,
                                           "utlamningsgrunder": [SAMTYCKE_ANNAN_FORVALTNING]}})
    assert sneaked.status_code == 422 and "utlamningsgrunder" in sneaked.json()["errors"]
    complete(convener, handover, {"underlag_annan_forvaltning": UNDERLAG})
    [crossed] = [e for e in read(convener, instance)["history"]
                 if e["action"] == "task_completed" and e["detail"]["task"] == "lamna_ut_till_annan_forvaltning"]
    assert crossed["detail"]["utlamning"]["mottagare"] == "annan_forvaltning"
    assert crossed["detail"]["utlamning"]["grund"]["grund"] == "samtycke"

    # her invitation is hers, offered in her förvaltning; she sees it and what was handed over, not the case
    [invitation] = tasks(hilda, instance)
    assert invitation["name"] == "besvara_kallelse" and invitation["assignee"] == "hilda.hsl"
    seen = hilda.ok("GET", case)
    assert seen["case_ref"] is None and set(seen["data"]) <= SEEN_OUTSIDE
    assert seen["data"]["underlag_annan_forvaltning"] == UNDERLAG
    assert seen["data"]["motesplats"] == "Byalagsgatan, rum 2"
    detail = hilda.ok("GET", f"/api/v1/tasks/{invitation['id']}")
    assert detail["case_ref"] is None and set(detail["data"]) <= SEEN_OUTSIDE
    assert set(detail["form"]["schema"]["properties"]) == {"kallelsesvar"}  # no field of the case's own
    for shown in (seen, detail):
        text = json.dumps(shown, ensure_ascii=False)
        assert not [v for v in PLANTED if v in text], text
        for field in ("behovsbeskrivning", "akut_behov_motivering", "kriterier_motivering", "dagordning",
                      "arende_referens", "utlamningsgrunder", "alla_inbjudna", "motesdeltagare"):
            assert field not in shown["data"]
    # inside the authority the case is whole for those who work on it
    assert read(convener, instance)["data"]["behovsbeskrivning"].startswith(KLIENT)
    # nobody else: not a socialsekreterare of another district, not her colleague who was not invited
    for stranger in ("sven.soc", "harald.hsl"):
        assert s[stranger].get(case).status_code == 404
        assert s[stranger].get(f"/api/v1/tasks/{invitation['id']}").status_code == 404

    # she answers: she sends a colleague with the same mandate, whose invitation stays in their förvaltning
    complete(hilda, invitation, {"kallelsesvar": {
        "deltagande": "skickar_ersattare", "ersattare_anvandarnamn": "harald.hsl", "ersattare_samma_mandat": True}})
    do(s["sara.soc"], instance, "besvara_kallelse", {"kallelsesvar": {"deltagande": "kan_delta"}})
    substitute = the_task(s["harald.hsl"], instance, "besvara_kallelse")
    assert substitute["assignee"] == "harald.hsl"
    seen = s["harald.hsl"].ok("GET", case)
    assert seen["case_ref"] is None and set(seen["data"]) <= SEEN_OUTSIDE
    assert not [v for v in PLANTED if v in json.dumps(seen, ensure_ascii=False)]
    complete(s["harald.hsl"], substitute, {"kallelsesvar": {"deltagande": "kan_delta", "svarar_som": "ersattare"}})
    answers = {r["anvandarnamn"]: r["deltagande"] for r in read(convener, instance)["data"]["alla_kallelsesvar"]}
    assert answers == {"sara.soc": "kan_delta", "hilda.hsl": "skickar_ersattare", "harald.hsl": "kan_delta"}
    assert names(convener, instance) == ["hall_mote"]
    # after answering she still sees only her own part
    after = hilda.ok("GET", case)
    assert set(after["data"]) <= SEEN_OUTSIDE and not [v for v in PLANTED if v in json.dumps(after)]

    # after the enforcement her substitute, who attended, evaluates in his own förvaltning: still not the case
    do(convener, instance, "hall_mote", MEETING_DONE)
    do(convener, instance, "verkstall", {**IN_AKUTLOKAL, "verkstallighet_form": "befintlig_verksamhet"})
    [evaluation] = tasks(s["harald.hsl"], instance)
    assert evaluation["name"] == "utvardera_deltagare" and evaluation["assignee"] == "harald.hsl"
    assert tasks(hilda, instance) == []  # she sent a substitute: she did not take part
    for shown in (s["harald.hsl"].ok("GET", case), s["harald.hsl"].ok("GET", f"/api/v1/tasks/{evaluation['id']}")):
        assert set(shown["data"]) <= SEEN_OUTSIDE | {"utvardering_synpunkter"}, shown["data"]
        assert not [v for v in PLANTED if v in json.dumps(shown, ensure_ascii=False)]
    complete(s["harald.hsl"], evaluation, SYNPUNKTER)


def test_longest_path_meetings_with_substitutes_delegates_and_an_overdue_evaluation(staff: Staff) -> None:
    s = staff
    convener, sara, chef, admin = s["vc.korttid"], s["sara.soc"], s["chef.nordost"], s["adam"]
    instance = through_criteria(s, START)

    # the convener needs premises and staff from other units: a meeting; Ulf's out-of-office reply names Ulla
    do(convener, instance, "bedom_samverkan_vuxen",
       {"sammankallande": "vc.korttid", "behov_av_samverkan": True, "samverkansbehov": ["lokal", "personalresurser"]})
    s.set_away("ulf.utforare", "ulla.utforare")
    call = the_task(convener, instance, "kalla_till_mote")
    assert call["title"] == "Kalla till samverkansmöte – akut verkställighet (vuxen, Nordost)"
    first_meeting = "2026-11-26T13:00:00+01:00"
    done = complete(convener, call, {
        "motestid": first_meeting, "motesplats": "Byalagsgatan, rum 2", "dagordning": "Akutlokal och bemanning.",
        "motesdeltagare": [
            {"roll": "socialsekreterare", "anvandarnamn": "sara.soc"},
            {"roll": "enhetschef_fastighet", "anvandarnamn": "fia.fastighet", "skal": "lokalfrågor"},
            {"roll": "verksamhetschef_utforaravdelning", "anvandarnamn": "ulf.utforare", "skal": "personal"},
            {"roll": "enhetschef_bemanning", "anvandarnamn": "bo.bemanning", "skal": "bemanning"}]})
    assert done["next_tasks"] == []  # the invitations are the invitees' tasks, not the convener's

    # each invitee has an invitation of their own, due when the meeting starts; Ulf's went to Ulla
    invitations = {t["assignee"]: t for t in read(convener, instance)["tasks"]
                   if t["name"] == "besvara_kallelse" and t["status"] == "open"}
    assert sorted(invitations) == ["bo.bemanning", "fia.fastighet", "sara.soc", "ulla.utforare"]
    for invitation in invitations.values():
        assert invitation["lane"] == "Mötesdeltagare"
        assert datetime.fromisoformat(invitation["due_at"]) == datetime.fromisoformat(first_meeting)
    assert [t["id"] for t in tasks(s["fia.fastighet"], instance)] == [invitations["fia.fastighet"]["id"]]
    assert tasks(s["ulf.utforare"], instance) == []
    [delegated] = history(convener, instance, "task_delegated")
    assert delegated["detail"]["from_user"] == "ulf.utforare" and delegated["detail"]["to_user"] == "ulla.utforare"
    assert "frånvarande" in delegated["detail"]["reason"]
    # each invitation has its own clock: a reminder one working day before the meeting, and its start
    timers = admin.ok("GET", "/api/v1/timers", params={"instance": instance["id"]})["items"]
    assert sorted(t["task"] for t in timers) == ["motet_borjar"] * 4 + ["paminnelse_fore_motet"] * 4

    # Bo is on sick leave: only he or a chef may hand the invitation on, and only to someone of the lane
    bo_task = invitations["bo.bemanning"]["id"]
    stranger = sara.post(f"/api/v1/tasks/{bo_task}/assign",
                         json={"username": "berta.bemanning", "reason": "Bo är sjuk"})
    assert stranger.status_code == 403
    no_mandate = chef.post(f"/api/v1/tasks/{bo_task}/assign",
                           json={"username": "vc.korttid", "reason": "Bo är sjukskriven"})
    assert no_mandate.status_code == 422 and "username" in no_mandate.json()["errors"]
    handed = chef.ok("POST", f"/api/v1/tasks/{bo_task}/assign",
                     json={"username": "berta.bemanning", "reason": "Bo är sjukskriven, Berta ersätter"})
    assert handed["assignee"] == "berta.bemanning"
    assert tasks(s["bo.bemanning"], instance) == []
    [assigned] = history(convener, instance, "task_assigned")
    assert assigned["actor"] == "chef.nordost" and assigned["task_id"] == bo_task
    assert assigned["detail"] == {"from_user": "bo.bemanning", "to_user": "berta.bemanning",
                                  "reason": "Bo är sjukskriven, Berta ersätter"}

    # Fia cannot attend and names Erik, with the same mandate; Sara brings in her 1:e socialsekreterare
    fia = s["fia.fastighet"]
    no_substitute = fia.post(f"/api/v1/tasks/{invitations['fia.fastighet']['id']}/complete",
                             json={"data": {"kallelsesvar": {"deltagande": "skickar_ersattare"}}})
    assert no_substitute.status_code == 422
    complete(fia, invitations["fia.fastighet"], {"kallelsesvar": {
        "deltagande": "skickar_ersattare", "ersattare_anvandarnamn": "erik.fastighet", "ersattare_namn": "Erik",
        "ersattare_roll": "enhetschef_fastighet", "ersattare_samma_mandat": True}})
    complete(sara, invitations["sara.soc"], {"kallelsesvar": {"deltagande": "kan_delta", "ytterligare_inbjudna": [
        {"roll": "forste_socialsekreterare", "anvandarnamn": "fredrik.forste", "skal": "beslutsfrågor"}]}})
    complete(s["ulla.utforare"], invitations["ulla.utforare"],
             {"kallelsesvar": {"deltagande": "kan_delta", "svarar_som": "hanvisad_vid_franvaro"}})
    assert tasks(s["erik.fastighet"], instance) == []  # the next round opens when the first has answered
    complete(s["berta.bemanning"], handed, {"kallelsesvar": {"deltagande": "kan_delta", "svarar_som": "ersattare"}})
    second_round = [t["assignee"] for t in read(convener, instance)["tasks"]
                    if t["name"] == "besvara_kallelse" and t["status"] == "open"]
    assert sorted(second_round) == ["erik.fastighet", "fredrik.forste"]
    # the substitute and the further invitee answer; then the meeting can be held and its timer is gone
    do(s["erik.fastighet"], instance, "besvara_kallelse", {"kallelsesvar": {"deltagande": "kan_delta",
                                                                            "svarar_som": "ersattare"}})
    do(s["fredrik.forste"], instance, "besvara_kallelse", {"kallelsesvar": {"deltagande": "kan_delta"}})
    meeting = the_task(convener, instance, "hall_mote")
    assert meeting["title"] == "Samverkansmöte: dokumentera utfallet – akut verkställighet (vuxen, Nordost)"
    answers = {r["anvandarnamn"]: r["deltagande"] for r in
               convener.ok("GET", f"/api/v1/tasks/{meeting['id']}")["data"]["alla_kallelsesvar"]}
    assert answers == {"sara.soc": "kan_delta", "fia.fastighet": "skickar_ersattare", "ulf.utforare": "kan_delta",
                       "bo.bemanning": "kan_delta", "erik.fastighet": "kan_delta", "fredrik.forste": "kan_delta"}
    assert admin.ok("GET", "/api/v1/timers", params={"instance": instance["id"]})["items"] == []

    # the meeting form carries the template: a meeting that skipped a point of it is not recorded as held
    for checklist in ([], MOTESMALL[:-1]):
        skipped = convener.post(f"/api/v1/tasks/{meeting['id']}/complete",
                                json={"data": {**MEETING_DONE, "motesmall": checklist}})
        assert skipped.status_code == 422 and "motesmall" in skipped.json()["errors"], skipped.text
    # the first meeting needs a follow-up: a second meeting, with health care from another förvaltning,
    # which gets the time, the place and what the convener hands over on the recorded consent
    complete(convener, meeting, {**MEETING_DONE, "mote_genomfort_datum": "2026-11-26",
                                 "motesutfall": "Lokal hittad, bemanning oklar.", "ytterligare_mote_behovs": True})
    second_meeting = "2026-11-30T10:00:00+01:00"
    do(convener, instance, "kalla_till_mote", {
        "motestid": second_meeting, "motesplats": "Byalagsgatan, rum 2",
        "utlamningsgrunder": [SAMTYCKE_ANNAN_FORVALTNING],
        "motesdeltagare": [{"roll": "enhetschef_bemanning", "anvandarnamn": "berta.bemanning"},
                           {"roll": "verksamhetschef_halso_sjukvard", "anvandarnamn": "hilda.hsl",
                            "organisation": ALDRE_VARD}]})
    do(convener, instance, "lamna_ut_till_annan_forvaltning",
       {"underlag_annan_forvaltning": "Frågor om läkemedelsdelegering i akutlokalen."})
    assert names(s["hilda.hsl"], instance) == ["besvara_kallelse"]
    # Bo is back; Berta, the assignee, hands her invitation to him herself
    berta_task = the_task(s["berta.bemanning"], instance, "besvara_kallelse")
    s["berta.bemanning"].ok("POST", f"/api/v1/tasks/{berta_task['id']}/assign",
                            json={"username": "bo.bemanning", "reason": "Bo är tillbaka och har ärendet"})
    assert names(s["bo.bemanning"], instance) == ["besvara_kallelse"]
    assert [(e["actor"], e["detail"]["to_user"]) for e in history(convener, instance, "task_assigned")] == \
        [("chef.nordost", "berta.bemanning"), ("berta.bemanning", "bo.bemanning")]

    # nobody answers before the meeting starts: the start closes the open invitations, recorded as absent
    starts = [t for t in admin.ok("GET", "/api/v1/timers", params={"instance": instance["id"]})["items"]
              if t["task"] == "motet_borjar"]
    assert len(starts) == 2
    for timer in starts:
        assert datetime.fromisoformat(timer["due_at"]) == datetime.fromisoformat(second_meeting)
        assert admin.ok("POST", f"/api/v1/timers/{timer['id']}/fire")["fired"] is True
    assert tasks(s["hilda.hsl"], instance) == [] and tasks(s["bo.bemanning"], instance) == []
    cancelled = [t for t in read(convener, instance)["tasks"] if t["status"] == "cancelled"]
    assert sorted(t["assignee"] for t in cancelled) == ["bo.bemanning", "hilda.hsl"]
    absent = [r for r in read(convener, instance)["data"]["alla_kallelsesvar"] if r.get("franvarande")]
    assert sorted(r["anvandarnamn"] for r in absent) == ["berta.bemanning", "hilda.hsl"]  # as invited
    assert {(r["deltagande"], r["paminnad"]) for r in absent} == {("ej_svar", False)}
    do(convener, instance, "hall_mote", MEETING_DONE)

    # enforced in an akutlokal (no BmSS evacuation): the socialsekreterare decides on korttidsboende
    do(convener, instance, "verkstall", IN_AKUTLOKAL)
    decision = the_task(sara, instance, "fatta_beslut_korttid")
    assert decision["title"] == "Fatta beslut om korttidsboende – akut verkställighet (vuxen, Nordost)"
    complete(sara, decision, KORTTID)

    # everyone who said they would attend a meeting evaluates in a task of their own (Ulf is still away:
    # his goes to Ulla); the convener compiles and is not asked twice
    assert tasks(convener, instance) == []
    assert participants_evaluate(s, instance) == ["bo.bemanning", "erik.fastighet", "fredrik.forste", "sara.soc",
                                                  "ulla.utforare"]

    # the evaluation is not held within 30 days: the convener is reminded, the task stays open and overdue
    evaluation = the_task(convener, instance, "utvardera")
    SYSTEM_CLOCK.advance(days=30, minutes=1)
    assert fire_due_timers(s.h.services) == 1
    s.sign_in("vc.korttid")  # a month later: yesterday's token has expired
    convener = s["vc.korttid"]
    assert names(convener, instance) == ["paminn_om_utvardering", "utvardera"]
    [overdue] = convener.ok("GET", "/api/v1/tasks", params={"instance": instance["id"], "overdue": "true"})["items"]
    assert overdue["id"] == evaluation["id"] and overdue["overdue"] is True
    do(convener, instance, "paminn_om_utvardering", {"planerat_utvarderingsdatum": "2027-01-10",
                                                     "forsening_orsak": "Semester"})
    assert read(convener, instance)["state"] != "completed"
    done = complete(convener, evaluation, EVALUATION)
    assert done["instance"]["state"] == "completed" and done["instance"]["outcome"] == "verkstallt_och_utvarderat"

    # the whole story is in the instance history
    events = read(convener, instance)["history"]
    assert events[0]["action"] == "instance_started" and events[0]["actor"] == "sara.soc"
    assert [e["detail"]["outcome"] for e in events if e["action"] == "instance_completed"] == \
        ["verkstallt_och_utvarderat"]
    completed = [e["detail"]["task"] for e in events if e["action"] == "task_completed"]
    assert completed == ["kontrollera_uttomda_mojligheter", "bedom_kriterier", "samrada_kriterier",
                         "bedom_samverkan_vuxen",
                         "kalla_till_mote",
                         *["besvara_kallelse"] * 6, "hall_mote", "kalla_till_mote", "lamna_ut_till_annan_forvaltning",
                         "hall_mote", "verkstall",
                         "fatta_beslut_korttid", *["utvardera_deltagare"] * 5, "paminn_om_utvardering",
                         "utvardera"]
