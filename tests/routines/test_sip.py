"""R5 Samverkan på individnivå end to end through the HTTP API, on SQLite and PostgreSQL.

R5a SIP (``bpmn/sip.bpmn``, ``forms/sip/``): the individual must consent — without consent there is
no SIP; the consent is recorded as a disclosure basis (R5b) and checked (complete, valid today, and
for SIP and utskrivning covering the region); the socialsekreterare calls the SIP meeting and sets
up the plan (which insatser, who is responsible for each, who holds the main responsibility), both
hand-overs to the region; the plan is followed up after 90 days or on request until it is closed.
Variants: utskrivning från sluten vård (the biståndshandläggare contacts the patient and plans for
going home, the region's fast vårdkontakt calls the SIP, the message *utskrivningsklar* starts the
homecoming, late homecomings escalate to the enhetschef) and I-SIP (internal, no region).

A SIP takes explicit consent only (implied or presumed consent is refused, saying why); the consent
names each outside party, and each party invited to the meeting is checked against it. After
utskrivning the region's fast vårdkontakt documents the plan and follows it up.

R5b (``processes/disclosure.py``): a task with ``disclosureTo`` is refused (422, in Swedish, naming
why) unless a basis covers the recipient at that moment. Expired consent asks for a new consent;
withdrawal (message ``samtycke_aterkallat``, at every stage once consent is recorded) ends the SIP
at once and marks every consent withdrawn. A consent that lapses before the plan is in place gives the consent task
back. Every hand-over (to whom, on which basis) and every read of the case is in the audit trail.

Need to know (DESIGN.md, "Access to case data"): the region — a fast vårdkontakt of the region the
start form names, never another region in the same district — sees nothing before a consent covering
it exists and case data has been handed over to it; then it sees only its own task's form and what the
hand-overs disclosed (no name or personnummer planted elsewhere in the case). An I-SIP never reaches
the region. Messages come only from the roles their catching elements allow (403), with a payload
their form declares (422).

The story runs on the real routines, one service per database kind for the module (each test works
on cases of its own), from Monday 2030-03-04 09:00 Europe/Stockholm (summer time starts 2030-03-31,
so the 90-day follow-up lands at 09:00+02:00).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from processes.disclosure import disclosure_refusal_reason
from processes.sip import sip_consent_problems
from service.clock import STOCKHOLM, SYSTEM_CLOCK
from service.config import ROOT
from tests.conftest import Api, start_harness
from tests.routines import story as steps
from tests.routines.story import Cast

KEY = "sip"
T0 = datetime(2030, 3, 4, 9, 0, tzinfo=STOCKHOLM)
REGION = "Uppgifter får inte lämnas till regionen (hälso- och sjukvården): "
VGR, HALLAND = "vgregion", "region_halland"
#: Planted in the start data and in free text: never to reach the region unless a hand-over declares it.
NAMN, PERSONNUMMER = "Kalle Anka", "19121212-1212"
PLANTED = (NAMN, PERSONNUMMER)
CASE_REF = "SIP-2030-0042"  # every case of the story has it: the region never sees it
REGION_PEOPLE = frozenset({"eva", "fia", "hal"})
HAND_OVERS = {"kalla_till_sip_mote", "uppratta_plan", "planera_hemgang_och_sip", "uppfoljning"}

START_SIP = {"variant": "sip", "stadsomrade": "Hisingen",
             "behov_beskrivning": "Hemtjänst och psykiatrisk öppenvård behöver samordnas.",
             "berorda_vardgivare": ["Vårdcentralen Hisingen", "Psykiatrimottagning Nord"]}
START_UTSKRIVNING = {"variant": "utskrivning", "stadsomrade": "Nordost", "region": VGR,
                     "behov_beskrivning": f"{NAMN} ({PERSONNUMMER}) inlagd efter fall i hemmet; bor ensam.",
                     "inskrivningsmeddelande": {"mottaget_at": "2030-03-04T08:15:00+01:00", "sjukhus": "Sahlgrenska",
                                                "avdelning": "Avd 12", "inskriven_datum": "2030-03-03"}}
START_I_SIP = {"variant": "i_sip", "stadsomrade": "Centrum", "behov_beskrivning": "Har hemtjänst och ett missbruk.",
               "i_sip_verksamhetsomraden": ["vard_och_omsorg", "ifo_missbruk"],
               "i_sip_anledning": "Hemtjänsten och missbruksenheten behöver samordna stödet."}

MEETING = {"sip_mote_tid": "2030-03-11T10:00:00+01:00", "sip_mote_plats": "Vårdcentralen Hisingen",
           "sip_deltagare": [{"namn": "Sara Ek", "funktion": "Socialsekreterare", "organisation": "socialtjansten"},
                             {"namn": "Per Berg", "funktion": "Distriktssköterska",
                              "organisation": "regionen_primarvard"}],
           "brukaren_deltar": "ja", "anhoriga": [{"namn": "Lisa Ek", "relation": "dotter"}],
           "overlamnade_uppgifter": "Namn, personnummer, behov av hemtjänst."}
MEETING_FVK = {"sip_mote_tid": "2030-03-20T13:00:00+01:00", "sip_mote_plats": "Vårdcentralen Nordost",
               "sip_deltagare": [{"namn": "Eva Lind", "funktion": "Fast vårdkontakt",
                                  "organisation": "regionen_primarvard"},
                                 {"namn": "Bo Holm", "funktion": "Biståndshandläggare",
                                  "organisation": "socialtjansten"}],
               "brukaren_deltar": "ja"}
MEETING_I_SIP = {"sip_mote_tid": "2030-03-11T10:00:00+01:00", "sip_mote_plats": "Stadsdelshuset",
                 "sip_deltagare": [{"namn": "Cilla Ask", "funktion": "Biståndshandläggare",
                                    "organisation": "vard_och_omsorg"},
                                   {"namn": "Omar Ali", "funktion": "Behandlare", "organisation": "ifo_missbruk"}],
                 "brukaren_deltar": "nej", "brukaren_deltar_ej_skal": "Vill att dottern företräder hen."}
INSATS_KOMMUN = {"insats": "Hemtjänst morgon och kväll", "huvudman": "kommunen",
                 "ansvarig_verksamhet": "Hemtjänst Hisingen", "ansvarig_person": "Anna Ek"}
INSATS_REGION = {"insats": "Läkemedelsgenomgång", "huvudman": "regionen",
                 "ansvarig_verksamhet": "Vårdcentralen Hisingen", "planerad_start": "2030-03-20"}
HUVUDANSVARIG = {"namn": "Sara Ek", "verksamhet": "Socialtjänsten Hisingen", "huvudman": "kommunen"}
PLAN = {"sip_mote_genomfort": "2030-03-11", "brukaren_deltog": "ja", "plan_insatser": [INSATS_KOMMUN, INSATS_REGION],
        "huvudansvarig": HUVUDANSVARIG, "sip_mal": "Klara sig hemma med stöd."}
PLAN_I_SIP = {"sip_mote_genomfort": "2030-03-11", "brukaren_deltog": "nej",
              "plan_insatser": [{"insats": "Hemtjänst", "verksamhetsomrade": "vard_och_omsorg",
                                 "ansvarig_verksamhet": "Hemtjänst Centrum"},
                                {"insats": "Samtalsstöd", "verksamhetsomrade": "ifo_missbruk",
                                 "ansvarig_verksamhet": "Beroendeenheten"}],
              "huvudansvarig": {"namn": "Omar Ali", "verksamhet": "Beroendeenheten"},
              "sip_mal": "Minska alkoholkonsumtionen och bo kvar."}
HEMGANG = {"hemgangsplan": "Hemtjänst morgon och kväll, trygghetslarm.",
           "insatser_vid_hemgang": ["hemtjanst", "trygghetslarm"],
           "fast_vardkontakt": {"namn": "Eva Lind", "enhet": "Vårdcentralen Nordost"},
           "overlamnade_uppgifter": "Beviljade insatser och kontaktuppgifter."}
UTSKRIVNINGSKLAR = {"utskrivningsklar_at": "2030-03-04T14:00:00+01:00"}
NORDOST = ("Hemtjänst Nordost", "Vårdcentralen Nordost", "Sahlgrenska avd 12")
ESKALERING = {"forsening_orsak": "Hemtjänsten saknade personal.", "forsening_atgard": "Bemanningsenheten kopplad.",
              "betalningsansvar_noterat": True}


def day(offset: int = 0) -> str:
    """The service's local date ``offset`` days from now (consent dates follow the clock)."""
    return (SYSTEM_CLOCK.local_now() + timedelta(days=offset)).date().isoformat()


def local(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(STOCKHOLM)


def minute(value: str) -> datetime:
    """A due time to the minute, in Stockholm: deadlines counted from ``now()`` carry the seconds the
    story's requests took since the clock was set (it runs on at real speed)."""
    return local(value).replace(second=0, microsecond=0)


def consent(kind: str = "uttryckligt", recipients: tuple[str, ...] = ("region",), days: int = 365,
            review: str | None = None, units: tuple[str, ...] = ("Hemtjänst Hisingen", "Vårdcentralen Hisingen"),
            **extra: Any) -> dict[str, Any]:
    """The consent form: the individual consents, with recipients, units and a period from today."""
    samtycke: dict[str, Any] = {
        "samtycke_typ": kind, "samtycke_form": "skriftligt", "mottagare": list(recipients), "enheter": list(units),
        "aktiviteter": ["SIP"], "giltig_fran": day(), "giltig_till": day(days),
        "anteckning": "Samtycket lämnades vid hembesök."}
    if review:
        samtycke["omprovas_senast"] = review
    return {"samtycke_lamnat": "ja", "samtycke": samtycke, **extra}


def contact(form: dict[str, Any]) -> dict[str, Any]:
    """The utskrivning variant's first task: the patient contacted, and the consent."""
    return {"patient_kontaktad_datum": day(), "kontaktsatt": "besok",
            "patientens_situation": f"{NAMN} vill hem, behöver hjälp med hygien.", **form}


def follow_up(status: str, **extra: Any) -> dict[str, Any]:
    return {"uppfoljning_datum": day(), "uppfoljning_insatser": [{"insats": INSATS_KOMMUN["insats"],
                                                                   "status": "pagar"}],
            "uppfoljning_anteckning": "Fungerar väl.", "plan_status": status, **extra}


class Story(Cast):
    """The service with the real routines, R5's people, and the clock — one per database kind for
    the module (each test works on cases of its own and reads only their tasks).

    People work in no district unless said otherwise; their tokens are renewed as the story jumps in
    time (see :class:`Cast`).
    """

    def start(self, who: str, data: dict[str, Any]) -> Case:
        body = steps.start_instance(self.as_(who), KEY, data, case_ref=CASE_REF)
        assert body["state"] == "running" and body["process"] == KEY
        return Case(self, body["id"])


class Case:
    """One SIP instance, as its people see it through the API."""

    def __init__(self, story: Story, instance_id: str) -> None:
        self.s = story
        self.id = instance_id

    def inbox(self, who: str, name: str | None = None) -> list[dict[str, Any]]:
        """The open tasks of this case that ``who`` may act on."""
        return steps.inbox(self.s.as_(who), name, process=KEY, instance=self.id)

    def names(self, who: str) -> list[str]:
        return sorted(t["name"] for t in self.inbox(who))

    def only(self, who: str, name: str) -> dict[str, Any]:
        """The one open task ``name`` that ``who`` may act on."""
        return steps.only(self.s.as_(who), name, process=KEY, instance=self.id)

    def task_data(self, who: str, task: dict[str, Any]) -> dict[str, Any]:
        """The case data as the task shows it (a read of the case)."""
        data: dict[str, Any] = steps.task_detail(self.s.as_(who), task)["data"]
        return data

    def complete(self, who: str, task: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        return steps.submit(self.s.as_(who), task, data)

    def do(self, who: str, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """``who`` completes the one open task ``name``."""
        return self.complete(who, self.only(who, name), data)

    def refused(self, who: str, task: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """Completing is refused with 422 and the task stays open; returns the problem."""
        response = steps.refused(self.s.as_(who), task, data, process=KEY, instance=self.id)
        assert response.headers["Content-Type"] == "application/problem+json"
        problem: dict[str, Any] = response.json()
        return problem

    def detail(self, who: str) -> dict[str, Any]:
        return steps.read(self.s.as_(who), self.id)

    def timers(self, name: str | None = None) -> list[dict[str, Any]]:
        return steps.timers(self.s.as_("adam"), self.id, name)

    def timer(self, name: str) -> dict[str, Any]:
        timers = self.timers(name)
        assert len(timers) == 1, self.timers()
        return timers[0]

    def fire(self, name: str, *, move_clock: bool = True) -> None:
        """The timer ``name`` comes due (the clock moves to it) and the admin console fires it."""
        timer = self.timer(name)
        due = local(timer["due_at"])
        if move_clock and due > SYSTEM_CLOCK.now():
            SYSTEM_CLOCK.set(due)
        steps.fire(self.s.as_("adam"), timer)

    def message(self, who: str, name: str, data: dict[str, Any]) -> dict[str, Any]:
        return steps.message(self.s.as_(who), self.id, name, data)

    def audit(self) -> list[dict[str, Any]]:
        """The audit log of this case, as the auditor reads it."""
        return self.s.as_("aud").ok("GET", "/api/v1/audit",  # type: ignore[no-any-return]
                                    params={"instance": self.id, "per_page": 500})["items"]

    def agree(self, who: str, form: dict[str, Any] | None = None) -> None:
        """The SIP variant up to a plan in place: consent, the meeting call, the plan."""
        self.do(who, "inhamta_samtycke", form or consent())
        self.do(who, "kalla_till_sip_mote", MEETING)
        self.do(who, "uppratta_plan", PLAN)
        assert self.detail(who)["state"] == "waiting"


def hand_overs(detail: dict[str, Any]) -> list[tuple[str, str]]:
    """The hand-overs in the instance history — completed tasks with disclosureTo — and by whom.

    Each one's ``task_completed`` event says who, when, what (the form's fields), to whom and on which
    recorded basis (R5b); no other completion claims a hand-over."""
    completed = {t["id"]: t for t in detail["tasks"] if t["status"] == "completed"}
    found = []
    for event in detail["history"]:
        if event["action"] != "task_completed":
            continue
        task = completed[event["task_id"]]
        assert task["completed_by"] == event["actor"] and task["name"] == event["detail"]["task"]
        if event["detail"]["task"] not in HAND_OVERS:
            assert "utlamning" not in event["detail"], event
            continue
        assert event["detail"]["fields"] and event["at"]
        utlamning = event["detail"]["utlamning"]
        assert utlamning["mottagare"] == "region" and utlamning["grund"]["grund"] == "samtycke", event
        assert {"samtycke_typ", "giltig_fran", "giltig_till", "registrerad"} <= set(utlamning["grund"])
        found.append((event["detail"]["task"], event["actor"]))
    return found


def assert_nothing_planted(body: Any, *also: str) -> None:
    """None of the planted personal values (:data:`PLANTED`, and ``also``) appears anywhere in a response."""
    text = json.dumps(body, ensure_ascii=False)
    leaked = [value for value in (*PLANTED, *also) if value in text]
    assert leaked == [], f"planted personal values in the response: {leaked}"


def assert_never_sees(api: Api, case: Case, *task_ids: str, also: tuple[str, ...] = ()) -> None:
    """The case and its tasks do not exist for ``api``'s user (404): not in their inbox, not among
    their cases, and nothing they get back holds a planted value (or one of ``also``)."""
    for path in (f"/api/v1/instances/{case.id}", *(f"/api/v1/tasks/{t}" for t in task_ids)):
        response = api.get(path)
        assert response.status_code == 404, (path, response.status_code)
        assert_nothing_planted(response.json(), *also)
    inbox = api.ok("GET", "/api/v1/tasks")
    listed = api.ok("GET", "/api/v1/instances")
    assert case.id not in {t["instance_id"] for t in inbox["items"]} | {i["id"] for i in listed["items"]}
    assert_nothing_planted([inbox, listed], *also)


def form_fields(name: str) -> set[str]:
    """The fields the routine's form ``name`` declares."""
    schema = json.loads((ROOT / "forms" / KEY / f"{name}.schema.json").read_text(encoding="utf-8"))
    return set(schema["properties"])


def bases_used(detail: dict[str, Any]) -> list[tuple[str, str]]:
    """Each hand-over with the consent it rested on (when that consent was recorded)."""
    return [(e["detail"]["task"], e["detail"]["utlamning"]["grund"]["registrerad"]) for e in detail["history"]
            if e["action"] == "task_completed" and "utlamning" in e["detail"]]


@pytest.fixture(scope="module")
def world(module_database_url: str) -> Iterator[Story]:
    """R5's people in the districts of the start data (and colleagues elsewhere), on the real routines."""
    url = module_database_url
    h = start_harness(url)
    try:
        h.deploy_dir(ROOT / "bpmn", ROOT / "forms")
        SYSTEM_CLOCK.set(T0)
        s = Story(h)
        s.user("sara", "socialsekreterare", districts=("Hisingen",))
        s.user("sam", "socialsekreterare", districts=("Nordost",))
        s.user("cilla", "socialsekreterare", districts=("Centrum",))
        s.user("bo", "bistandshandlaggare", districts=("Nordost",))
        s.user("bea", "bistandshandlaggare", districts=("Hisingen",))
        # the region the start form names, and another region with a fast vårdkontakt in the same district
        s.organisation(VGR, "region", "Västra Götalandsregionen")
        s.organisation(HALLAND, "region", "Region Halland")
        s.user("eva", "fast_vardkontakt", districts=("Nordost",), organisation=VGR)
        s.user("fia", "fast_vardkontakt", districts=("Hisingen",), organisation=VGR)
        s.user("hal", "fast_vardkontakt", districts=("Nordost",), organisation=HALLAND)
        s.user("erik", "enhetschef_myndighet", districts=("Nordost",))
        s.user("elin", "enhetschef_myndighet", districts=("Hisingen",))
        s.user("adam", "admin")
        s.user("aud", "auditor")
        yield s
    finally:
        SYSTEM_CLOCK.reset()
        h.server.stop()


@pytest.fixture
def story(world: Story) -> Story:
    """The story at its beginning: Monday 2030-03-04 09:00 in Stockholm."""
    SYSTEM_CLOCK.set(T0)
    return world


def test_without_consent_there_is_no_sip(story: Story) -> None:
    s = story
    # the socialsekreterare in Hisingen starts a SIP; she is asked for the individual's consent first
    case = s.start("sara", START_SIP)
    task = case.only("sara", "inhamta_samtycke")
    assert task["title"] == "Inhämta samtycke till SIP" and task["lane"] == "Socialsekreterare"
    assert task["district"] == "Hisingen" and task["due_at"] is None
    # a colleague in Nordost, and the other lanes in Hisingen, have nothing
    for who in ("sam", "bea", "fia", "elin"):
        assert case.inbox(who) == [], who
    # "yes" needs the consent itself; "no" cannot carry one
    assert "samtycke" in str(case.refused("sara", task, {"samtycke_lamnat": "ja"})["errors"])
    assert case.refused("sara", task, {**consent(), "samtycke_lamnat": "nej"})["errors"]

    # the individual does not consent: no SIP, nothing handed to anyone
    done = case.complete("sara", task, {"samtycke_lamnat": "nej", "samtycke_kommentar": "Vill inte."})
    assert done["next_tasks"] == [] and done["instance"]["state"] == "completed"
    final = case.detail("sara")
    assert final["outcome"] == "ingen_sip_samtycke_saknas" and final["ended_at"]
    assert final["data"]["utlamningsgrunder"] == [] and final["timers"] == []
    assert case.inbox("sara") == []

    # the same at an utskrivning: the biståndshandläggare of the district contacts the patient, who says no
    case = s.start("sam", START_UTSKRIVNING)
    kontakta = case.only("bo", "kontakta_patienten")
    assert kontakta["title"] == "Kontakta patienten och inhämta samtycke" and kontakta["district"] == "Nordost"
    for who in ("sam", "bea", "eva", "erik"):
        assert case.inbox(who) == [], who
    case.complete("bo", kontakta, contact({"samtycke_lamnat": "nej", "samtycke_kommentar": "Vill klara sig själv."}))
    final = case.detail("bo")
    assert final["state"] == "completed" and final["outcome"] == "ingen_sip_samtycke_saknas"
    assert final["data"]["utlamningsgrunder"] == [] and case.inbox("bo") == [] and case.inbox("eva") == []
    # no consent, so nothing ever reached the region: the case does not exist for it
    for who in ("eva", "hal"):
        assert_never_sees(s.as_(who), case, kontakta["id"], also=(CASE_REF,))


def test_an_incomplete_consent_comes_back_to_the_case_worker(story: Story) -> None:
    s = story
    case = s.start("sara", START_SIP)
    # consent is never general: a consent naming no recipient comes back with what to complete
    first = case.only("sara", "inhamta_samtycke")
    done = case.complete("sara", first, consent(recipients=()))
    [again] = done["next_tasks"]
    assert again["name"] == "inhamta_samtycke" and again["id"] != first["id"]
    assert again["title"] == (
        "Inhämta samtycke till SIP – komplettera: Utlämningsgrunden måste ange vilka mottagare den omfattar "
        "(mottagare). Samtycket måste omfatta regionen (hälso- och sjukvården) för att en SIP ska kunna upprättas.")
    assert case.only("sara", "inhamta_samtycke")["id"] == again["id"] and case.inbox("sam") == []
    # a consent for other providers only does not cover the region, which takes part in a SIP
    case.complete("sara", again, consent(recipients=("andra_utforare",)))
    task = case.only("sara", "inhamta_samtycke")
    assert task["title"] == ("Inhämta samtycke till SIP – komplettera: Samtycket måste omfatta regionen "
                             "(hälso- och sjukvården) för att en SIP ska kunna upprättas.")
    # a consent that starts tomorrow does not carry the SIP today
    case.complete("sara", task, {**consent(), "samtycke": {**consent()["samtycke"], "giltig_fran": day(1)}})
    task = case.only("sara", "inhamta_samtycke")
    assert task["title"].endswith("komplettera: Samtycket måste gälla från i dag för att SIP-arbetet ska kunna börja.")
    assert case.task_data("sara", task)["utlamningsgrunder"] == []

    # a complete consent is registered as the disclosure basis and the SIP goes on
    case.complete("sara", task, consent())
    mote = case.only("sara", "kalla_till_sip_mote")
    assert mote["title"] == "Kalla till SIP-möte" and mote["lane"] == "Socialsekreterare"
    data = case.task_data("sara", mote)
    assert data["samtycke_brister"] == []
    [basis] = data["utlamningsgrunder"]
    assert minute(basis["registrerad"]) == T0  # the clock runs on at real speed while the story acts
    assert basis == {**consent()["samtycke"], "grund": "samtycke", "aterkallad": None,
                     "registrerad": basis["registrerad"]}
    assert data["sip_samtycke"] == basis
    assert case.inbox("sam") == [] and case.inbox("fia") == []


def test_sip_from_consent_to_a_closed_plan(story: Story) -> None:
    s = story
    case = s.start("sara", START_SIP)
    case.do("sara", "inhamta_samtycke", consent())

    # the meeting call hands case data to the region: the form needs someone from the region
    mote = case.only("sara", "kalla_till_sip_mote")
    assert "sip_deltagare" in case.refused("sara", mote, {**MEETING, "sip_deltagare": MEETING["sip_deltagare"][:1]})[
        "errors"]
    # with the recorded consent covering the region the hand-over is accepted
    done = case.complete("sara", mote, MEETING)
    [plan] = done["next_tasks"]
    assert plan["name"] == "uppratta_plan" and plan["title"] == "Upprätta plan" and plan["assignee"] is None
    assert case.inbox("sam") == [] and case.inbox("fia") == [] and case.inbox("bea") == []

    # the plan: which insatser, who is responsible for each, who holds the main responsibility;
    # a SIP has insatser of both the municipality and the region
    problem = case.refused("sara", plan, {**PLAN, "plan_insatser": [INSATS_KOMMUN]})
    assert "plan_insatser" in problem["errors"]
    assert "huvudansvarig" in case.refused("sara", plan, {k: v for k, v in PLAN.items() if k != "huvudansvarig"})[
        "errors"]
    done = case.complete("sara", plan, PLAN)
    assert done["next_tasks"] == [] and done["instance"]["state"] == "waiting"
    waiting = case.detail("sara")
    assert waiting["data"]["plan_insatser"] == [INSATS_KOMMUN, INSATS_REGION]
    assert waiting["data"]["huvudansvarig"] == HUVUDANSVARIG

    # the plan is followed up after 90 days (product choice), at the same time of day across summer time
    timer = case.timer("bevakningsdatum_natt")
    assert minute(timer["due_at"]) == datetime(2030, 6, 2, 9, 0, tzinfo=STOCKHOLM) == T0 + timedelta(days=90)
    assert case.inbox("sara") == []
    case.fire("bevakningsdatum_natt")
    uppfoljning = case.only("sara", "uppfoljning")
    assert uppfoljning["title"] == "Följ upp planen – SIP" and uppfoljning["due_at"] is None
    assert case.inbox("sam") == []
    # while the follow-up is open, the only timer is the consent's end (it would interrupt the hand-over)
    [check] = case.timers()
    assert check["task"] == "samtycke_kraver_atgard"
    assert local(check["due_at"]) == datetime(2031, 3, 5, tzinfo=STOCKHOLM)
    case.complete("sara", uppfoljning, follow_up("fortsatter"))
    assert minute(case.timer("bevakningsdatum_natt")["due_at"]) == datetime(2030, 8, 31, 9, 0, tzinfo=STOCKHOLM)

    # twenty days later someone asks for a follow-up: it comes at once, and the timer is withdrawn
    SYSTEM_CLOCK.advance(days=20)
    case.message("sara", "sip_uppfoljning_begard", {"anledning": "Försämrat mående", "begard_av": "Hemtjänsten"})
    uppfoljning = requested = case.only("sara", "uppfoljning")
    assert [t["task"] for t in case.timers()] == ["samtycke_kraver_atgard"]
    assert case.task_data("sara", uppfoljning)["uppfoljning_begaran"]["anledning"] == "Försämrat mående"
    # the plan is revised: a revision needs the new insatser
    assert "plan_insatser" in case.refused("sara", uppfoljning, follow_up("revideras"))["errors"]
    revised = {**INSATS_KOMMUN, "insats": "Hemtjänst tre gånger om dagen"}
    case.complete("sara", uppfoljning, follow_up("revideras", plan_insatser=[revised, INSATS_REGION]))
    assert case.detail("sara")["data"]["plan_insatser"] == [revised, INSATS_REGION]
    next_due = minute(case.timer("bevakningsdatum_natt")["due_at"])
    assert abs(next_due - datetime(2030, 9, 20, 9, 0, tzinfo=STOCKHOLM)) < timedelta(seconds=5)  # 90 days on

    # at the next follow-up the plan is closed
    case.fire("bevakningsdatum_natt")
    uppfoljning = case.only("sara", "uppfoljning")
    assert "avslut_anledning" in case.refused("sara", uppfoljning, follow_up("avslutas"))["errors"]
    case.complete("sara", uppfoljning, follow_up("avslutas", avslut_anledning="mal_uppnatt"))
    final = case.detail("sara")
    assert final["state"] == "completed" and final["outcome"] == "sip_avslutad" and final["timers"] == []
    assert case.inbox("sara") == []

    # the audit trail: every hand-over to the region, by whom; every read of the case, by whom
    assert hand_overs(final) == [("kalla_till_sip_mote", "sara"), ("uppratta_plan", "sara"),
                                 ("uppfoljning", "sara"), ("uppfoljning", "sara"), ("uppfoljning", "sara")]
    # need to know: holding a role of one of the routine's lanes in the district is no reason to read
    # the case — the biståndshandläggare in Hisingen, the socialsekreterare in Nordost and the region
    # (which held no task: the meeting call and the plan reached it outside the service) may not, and
    # there is nothing to log
    for who in ("bea", "sam", "fia", "eva"):
        assert_never_sees(s.as_(who), case, requested["id"], also=(CASE_REF,) if who in REGION_PEOPLE else ())
    events = case.audit()
    reads = [(e["actor"], e["task_id"]) for e in events if e["action"] == "case_read"]
    assert ("sara", None) in reads  # GET /api/v1/instances/{id}
    assert ("sara", requested["id"]) in reads  # GET /api/v1/tasks/{id}
    assert {actor for actor, _ in reads} == {"sara"}
    assert [e for e in events if e["action"] == "task_completed" and e["detail"]["task"] == "uppratta_plan"][0][
        "actor"] == "sara"


def test_expired_consent_stops_hand_overs_and_asks_for_a_new_consent(story: Story) -> None:
    s = story
    # the consent holds for 30 days, through 2030-04-03
    case = s.start("sara", START_SIP)
    case.agree("sara", consent(days=30))
    end_of_consent = datetime(2030, 4, 4, 0, 0, tzinfo=STOCKHOLM)
    # the plan's watch wakes at the consent's end, long before the 90-day follow-up
    assert minute(case.timer("bevakningsdatum_natt")["due_at"]) == end_of_consent

    # on 2030-03-29 a follow-up is requested; it is still open when the consent runs out
    SYSTEM_CLOCK.set(datetime(2030, 3, 29, 10, 0, tzinfo=STOCKHOLM))
    case.message("sara", "sip_uppfoljning_begard", {"anledning": "Ny oro från hemtjänsten"})
    uppfoljning = case.only("sara", "uppfoljning")
    assert minute(case.timer("samtycke_kraver_atgard")["due_at"]) == end_of_consent
    # just after midnight the follow-up can no longer be handed to the region
    SYSTEM_CLOCK.set(end_of_consent + timedelta(seconds=30))
    problem = case.refused("sara", uppfoljning, follow_up("fortsatter"))
    reason = REGION + "samtycket (uttryckligt) gällde till och med 2030-04-03 och har upphört."
    assert problem["detail"] == reason and problem["errors"] == {"utlamningsgrunder": [reason]}
    # the consent's timer withdraws the follow-up and asks for a new consent first
    case.fire("samtycke_kraver_atgard")
    assert case.inbox("sara") == []
    case.fire("bevakningsdatum_natt")  # the interrupted follow-up is due at once
    nytt = case.only("sara", "inhamta_nytt_samtycke")
    assert nytt["title"] == "Inhämta nytt samtycke" and nytt["district"] == "Hisingen"
    assert case.inbox("sam") == [] and case.timers() == []
    assert [t["status"] for t in case.detail("sara")["tasks"] if t["id"] == uppfoljning["id"]] != ["open"]

    # a consent that has already run out comes back; a valid one carries the follow-up again
    expired = consent()
    expired["samtycke"] |= {"giltig_fran": "2030-02-01", "giltig_till": "2030-04-01"}
    case.complete("sara", nytt, expired)
    again = case.only("sara", "inhamta_nytt_samtycke")
    assert again["title"] == "Inhämta nytt samtycke – komplettera: Samtyckets giltighetstid har redan löpt ut."
    SYSTEM_CLOCK.set(datetime(2030, 4, 4, 11, 0, tzinfo=STOCKHOLM))
    case.complete("sara", again, consent(days=180))
    case.fire("bevakningsdatum_natt")
    uppfoljning = case.only("sara", "uppfoljning")
    bases = case.task_data("sara", uppfoljning)["utlamningsgrunder"]
    assert [(b["giltig_till"], b["aterkallad"]) for b in bases] == [("2030-04-03", None), ("2030-10-01", None)]
    case.complete("sara", uppfoljning, follow_up("avslutas", avslut_anledning="mal_uppnatt"))
    final = case.detail("sara")
    assert final["state"] == "completed" and final["outcome"] == "sip_avslutad"
    # the refused attempt handed nothing over: the history has one follow-up, on the new consent
    assert hand_overs(final) == [("kalla_till_sip_mote", "sara"), ("uppratta_plan", "sara"), ("uppfoljning", "sara")]
    # (to the minute: the clock runs on at real speed while the story acts)
    assert [minute(registered) for _, registered in bases_used(final)] == [
        T0, T0, datetime(2030, 4, 4, 11, 0, tzinfo=STOCKHOLM)]


def test_no_new_consent_ends_the_sip(story: Story) -> None:
    s = story
    case = s.start("sara", START_SIP)
    case.agree("sara", consent(days=30))
    case.fire("bevakningsdatum_natt")
    # the individual does not consent again: the SIP ends, nothing more goes to the region
    assert case.inbox("sara", "uppfoljning") == []
    case.do("sara", "inhamta_nytt_samtycke", {"samtycke_lamnat": "nej", "samtycke_kommentar": "Vill avsluta."})
    final = case.detail("sara")
    assert final["state"] == "completed" and final["outcome"] == "sip_avslutad_samtycke_saknas"
    assert final["timers"] == [] and case.inbox("sara") == []
    assert disclosure_refusal_reason(final["data"]["utlamningsgrunder"], "region", SYSTEM_CLOCK.local_now()) == (
        REGION + "samtycket (uttryckligt) gällde till och med 2030-04-03 och har upphört.")


def test_a_consent_that_lapses_before_the_plan_asks_for_a_new_one(story: Story) -> None:
    s = story
    # a short consent, through 2030-03-10; the meeting is not called in time
    case = s.start("sara", START_SIP)
    case.do("sara", "inhamta_samtycke", consent(days=6))
    mote = case.only("sara", "kalla_till_sip_mote")
    lapse = datetime(2030, 3, 11, tzinfo=STOCKHOLM)
    assert minute(case.timer("samtycke_upphor_fore_motet")["due_at"]) == lapse
    # just after midnight the meeting call can no longer hand the case to the region
    SYSTEM_CLOCK.set(lapse + timedelta(seconds=20))
    problem = case.refused("sara", mote, MEETING)
    reason = REGION + "samtycket (uttryckligt) gällde till och med 2030-03-10 och har upphört."
    assert problem["detail"] == reason and problem["errors"] == {"utlamningsgrunder": [reason]}
    # the consent's timer withdraws the call and gives the consent task back, saying why
    case.fire("samtycke_upphor_fore_motet")
    assert case.names("sara") == ["inhamta_samtycke"]
    assert case.only("sara", "inhamta_samtycke")["title"] == (
        "Inhämta samtycke till SIP – komplettera: Samtycket gällde till och med 2030-03-10 och har upphört: "
        "inhämta ett nytt samtycke innan uppgifter lämnas till regionen.")
    # a consent through 2030-03-19 this time; the meeting is called on it
    SYSTEM_CLOCK.set(datetime(2030, 3, 11, 9, 0, tzinfo=STOCKHOLM))
    case.do("sara", "inhamta_samtycke", consent(days=8))
    case.do("sara", "kalla_till_sip_mote", MEETING)

    # the plan is not set up before it ends: the consent is asked for again, then the plan resumes
    plan = case.only("sara", "uppratta_plan")
    assert minute(case.timer("samtycke_upphor_fore_planen")["due_at"]) == datetime(2030, 3, 20, tzinfo=STOCKHOLM)
    case.fire("samtycke_upphor_fore_planen")
    assert case.inbox("sara", "uppratta_plan") == []
    task = case.only("sara", "inhamta_samtycke")
    assert task["title"] == (
        "Inhämta samtycke till SIP – komplettera: Samtycket gällde till och med 2030-03-19 och har upphört: "
        "inhämta ett nytt samtycke innan uppgifter lämnas till regionen.")
    SYSTEM_CLOCK.set(datetime(2030, 3, 20, 9, 0, tzinfo=STOCKHOLM))
    case.complete("sara", task, consent())
    again = case.only("sara", "uppratta_plan")  # straight back to the plan: the meeting was already called
    assert again["id"] != plan["id"] and case.inbox("sara", "kalla_till_sip_mote") == []
    case.complete("sara", again, PLAN)
    final = case.detail("sara")
    assert final["state"] == "waiting"
    assert [b["giltig_till"] for b in final["data"]["utlamningsgrunder"]] == ["2030-03-10", "2030-03-19",
                                                                               "2031-03-20"]
    # one meeting call and one plan were handed over, each on the consent that held then
    assert hand_overs(final) == [("kalla_till_sip_mote", "sara"), ("uppratta_plan", "sara")]
    assert bases_used(final) == [("kalla_till_sip_mote", "2030-03-11T09:00:00+01:00"),
                                 ("uppratta_plan", "2030-03-20T09:00:00+01:00")]


def test_withdrawn_consent_ends_the_sip_and_marks_the_bases_withdrawn(story: Story) -> None:
    s = story
    case = s.start("sara", START_SIP)
    case.agree("sara")
    # on 2030-04-01 the individual calls and withdraws the consent
    SYSTEM_CLOCK.set(datetime(2030, 4, 1, 14, 30, tzinfo=STOCKHOLM))
    withdrawn_at = "2030-04-01T14:00:00+02:00"
    # the withdrawal carries when it happened — nothing else rides along with it
    noted = s.as_("sara").post(f"/api/v1/instances/{case.id}/messages", json={
        "name": "samtycke_aterkallat", "data": {"aterkallad_at": withdrawn_at, "anteckning": "Ringde."}})
    assert noted.status_code == 422 and noted.json()["errors"] == {"anteckning": ["fältet finns inte i formuläret"]}
    assert case.detail("sara")["state"] == "waiting"
    case.message("sara", "samtycke_aterkallat", {"aterkallad_at": withdrawn_at})
    final = case.detail("sara")
    assert final["state"] == "completed" and final["outcome"] == "sip_avslutad_samtycke_aterkallat"
    assert final["timers"] == [] and case.inbox("sara") == []
    [basis] = final["data"]["utlamningsgrunder"]
    assert basis["aterkallad"] == withdrawn_at and final["data"]["sip_samtycke"]["aterkallad"] == withdrawn_at
    # no later hand-over can rest on it, and the ended SIP takes no more messages
    assert disclosure_refusal_reason(final["data"]["utlamningsgrunder"], "region", SYSTEM_CLOCK.local_now()) == (
        REGION + "samtycket (uttryckligt) återkallades 2030-04-01.")
    late = s.as_("sara").post(f"/api/v1/instances/{case.id}/messages",
                              json={"name": "sip_uppfoljning_begard", "data": {}})
    assert late.status_code == 409
    assert [e["detail"].get("message") for e in final["history"] if e["action"] == "message_delivered"] == [
        "samtycke_aterkallat"]


def test_withdrawal_while_a_hand_over_is_open_stops_it(story: Story) -> None:
    s = story
    # the individual withdraws the consent while the meeting call is still open
    case = s.start("sara", START_SIP)
    case.do("sara", "inhamta_samtycke", consent())
    mote = case.only("sara", "kalla_till_sip_mote")
    case.message("sara", "samtycke_aterkallat", {"aterkallad_at": "2030-03-04T10:00:00+01:00"})
    final = case.detail("sara")
    assert final["state"] == "completed" and final["outcome"] == "sip_avslutad_samtycke_aterkallat"
    assert [b["aterkallad"] for b in final["data"]["utlamningsgrunder"]] == ["2030-03-04T10:00:00+01:00"]
    assert case.inbox("sara") == [] and final["timers"] == []
    assert s.as_("sara").post(f"/api/v1/tasks/{mote['id']}/complete", json={"data": MEETING}).status_code == 409

    # … and in another SIP while the plan is being set up, and while a follow-up is open
    for open_task in ("uppratta_plan", "uppfoljning"):
        case = s.start("sara", START_SIP)
        case.do("sara", "inhamta_samtycke", consent())
        case.do("sara", "kalla_till_sip_mote", MEETING)
        if open_task == "uppfoljning":
            case.do("sara", "uppratta_plan", PLAN)
            case.message("sara", "sip_uppfoljning_begard", {"anledning": "Oro"})
        task = case.only("sara", open_task)
        case.message("sara", "samtycke_aterkallat", {})
        final = case.detail("sara")
        assert final["outcome"] == "sip_avslutad_samtycke_aterkallat", open_task
        assert all(b["aterkallad"] for b in final["data"]["utlamningsgrunder"])
        assert case.inbox("sara") == [] and final["timers"] == []
        assert [t["status"] for t in final["tasks"] if t["id"] == task["id"]] != ["completed"]
        assert s.as_("sara").post(f"/api/v1/tasks/{task['id']}/complete", json={"data": PLAN}).status_code == 409


def test_a_sip_takes_explicit_consent_only(story: Story) -> None:
    s = story
    # implied or presumed consent is not enough for a SIP: refused, saying why, and nothing changes
    case = s.start("sara", START_SIP)
    task = case.only("sara", "inhamta_samtycke")
    for kind in ("konkludent", "presumerat"):
        problem = case.refused("sara", task, consent(kind=kind, review=day(30)))
        [reason] = problem["errors"]["samtycke.samtycke_typ"]
        assert "Uttryckligt" in reason and "det enda som räcker för en SIP" in reason
    assert case.task_data("sara", task)["utlamningsgrunder"] == [] and case.names("sara") == ["inhamta_samtycke"]
    # the form says so beside the field, and the routine's own check gives the rule in a sentence
    field = json.loads((ROOT / "forms" / KEY / "inhamta_samtycke.schema.json").read_text(encoding="utf-8"))[
        "properties"]["samtycke"]["properties"]["samtycke_typ"]
    assert field["enum"] == ["uttryckligt"]
    assert "Konkludent eller presumerat samtycke räcker inte" in field["description"]
    assert sip_consent_problems(consent(kind="presumerat", review=day(30))["samtycke"], "sip", T0.isoformat())[0] == (
        "En SIP kräver att den enskilde uttryckligen samtycker, muntligt eller skriftligt: ett konkludent eller "
        "presumerat samtycke räcker inte.")
    # explicit consent, oral this time, is recorded and the SIP goes on
    oral = consent()
    oral["samtycke"]["samtycke_form"] = "muntligt"
    case.complete("sara", task, oral)
    [basis] = case.detail("sara")["data"]["utlamningsgrunder"]
    assert (basis["samtycke_typ"], basis["samtycke_form"]) == ("uttryckligt", "muntligt")
    assert case.names("sara") == ["kalla_till_sip_mote"]


def test_each_invited_party_is_checked_against_the_consent(story: Story) -> None:
    s = story
    # the consent names the region only: Försäkringskassan cannot be called, nor an unnamed "other" party
    case = s.start("sara", START_SIP)
    case.do("sara", "inhamta_samtycke", consent())
    fk = {"namn": "Fia Kassa", "funktion": "Handläggare", "organisation": "forsakringskassan"}
    other = {"namn": "Olle Annan", "organisation": "annan"}
    case.do("sara", "kalla_till_sip_mote", {**MEETING, "sip_deltagare": [*MEETING["sip_deltagare"], fk, other]})
    again = case.only("sara", "kalla_till_sip_mote")
    assert again["title"] == (
        "Kalla till SIP-möte – komplettera: Samtycket omfattar inte Försäkringskassan, som därför inte kan kallas "
        "till SIP-mötet. Ange vilken part Olle Annan kommer från, så att det kan prövas mot samtycket.")
    assert case.inbox("sara", "uppratta_plan") == []
    # without them the call goes through
    case.complete("sara", again, MEETING)
    assert case.names("sara") == ["uppratta_plan"]

    # a consent that names the region, Försäkringskassan, Arbetsförmedlingen, skolan and the municipal health
    # care lets each of them be called
    case = s.start("sara", START_SIP)
    parties = ("region", "forsakringskassan", "arbetsformedlingen", "skolan", "kommunal_halso_sjukvard")
    case.do("sara", "inhamta_samtycke", consent(recipients=parties))
    invited = [{"namn": f"Person {i}", "organisation": org} for i, org in enumerate(
        ("forsakringskassan", "arbetsformedlingen", "skolan", "kommunal_halso_sjukvard"))]
    case.do("sara", "kalla_till_sip_mote", {**MEETING, "sip_deltagare": [*MEETING["sip_deltagare"], *invited]})
    assert case.names("sara") == ["uppratta_plan"]
    [basis] = case.detail("sara")["data"]["utlamningsgrunder"]
    assert basis["mottagare"] == list(parties)


def test_utskrivning_from_inskrivningsmeddelande_to_the_patient_at_home(story: Story) -> None:
    s = story
    # the inskrivningsmeddelande reaches the socialsekreterare of the patient's district, who starts the routine;
    # the biståndshandläggare cannot start it
    refused = s.as_("bo").post("/api/v1/instances", json={"process": KEY, "data": START_UTSKRIVNING})
    assert refused.status_code == 403
    case = s.start("sam", START_UTSKRIVNING)
    # the biståndshandläggare contacts the patient and asks for consent; until the patient consents
    # the region has nothing: the case does not exist for its fast vårdkontakt
    kontakta = case.only("bo", "kontakta_patienten")
    assert kontakta["lane"] == "Biståndshandläggare" and kontakta["district"] == "Nordost"
    for who in ("sam", "bea", "eva", "erik"):
        assert case.inbox(who) == [], who
    assert_never_sees(s.as_("eva"), case, kontakta["id"], also=(CASE_REF,))
    case.complete("bo", kontakta, contact(consent(units=NORDOST)))

    # while the patient is in hospital, home and SIP are planned — a hand-over to the region; the
    # consent covering the region is on record, but nothing has been handed over yet
    planera = case.only("bo", "planera_hemgang_och_sip")
    assert planera["title"] == "Planera hemgång och SIP" and case.inbox("eva") == []
    assert_never_sees(s.as_("eva"), case, planera["id"], also=(CASE_REF,))
    assert case.task_data("bo", planera)["inskrivningsmeddelande"]["sjukhus"] == "Sahlgrenska"
    done = case.complete("bo", planera, HEMGANG)
    assert done["next_tasks"] == []  # nothing more for the biståndshandläggare until the hospital's message
    # the fast vårdkontakt (the region the start form names, Nordost) calls the SIP; not the one in
    # Hisingen, not another region's in Nordost, not the municipality
    kalla = case.only("eva", "kalla_till_sip_fast_vardkontakt")
    assert kalla["title"] == "Kalla till SIP (fast vårdkontakt)" and kalla["lane"] == "Fast vårdkontakt"
    for who in ("fia", "hal", "bo", "sam", "erik"):
        assert case.inbox(who) == [], who
    assert_never_sees(s.as_("hal"), case, kalla["id"], planera["id"], also=(CASE_REF,))
    # the region sees its own form and what the planning handed over to it — no name, no personnummer,
    # no case reference, nothing of the consent or the patient's situation
    seen = form_fields("kalla_till_sip_fast_vardkontakt") | form_fields("planera_hemgang_och_sip")
    task_view = steps.task_detail(s.as_("eva"), kalla)
    case_view = case.detail("eva")
    assert task_view["data"]["fast_vardkontakt"] == HEMGANG["fast_vardkontakt"]
    assert case_view["data"]["hemgangsplan"] == HEMGANG["hemgangsplan"]
    assert set(task_view["data"]) <= seen and set(case_view["data"]) <= seen
    assert task_view["case_ref"] is None and case_view["case_ref"] is None
    assert_nothing_planted([task_view, case_view], CASE_REF)
    # the region may not speak for the individual: a withdrawal of consent is not its message
    withdrawal = s.as_("eva").post(f"/api/v1/instances/{case.id}/messages",
                                   json={"name": "samtycke_aterkallat", "data": {}})
    assert withdrawal.status_code == 403

    # 14:00 the hospital says the patient is ready to leave: the region's fast vårdkontakt passes it on,
    # and the municipality takes the patient home within three days. The message carries the time only
    # — not the socialsekreterare's to send, and nothing beside the time rides along.
    SYSTEM_CLOCK.set(datetime(2030, 3, 4, 14, 5, tzinfo=STOCKHOLM))
    wrong_role = s.as_("sam").post(f"/api/v1/instances/{case.id}/messages",
                                   json={"name": "utskrivningsklar", "data": UTSKRIVNINGSKLAR})
    assert wrong_role.status_code == 403
    planted = s.as_("eva").post(f"/api/v1/instances/{case.id}/messages", json={
        "name": "utskrivningsklar", "data": {**UTSKRIVNINGSKLAR, "patient": f"{NAMN} {PERSONNUMMER}"}})
    assert planted.status_code == 422 and planted.json()["errors"] == {"patient": ["fältet finns inte i formuläret"]}
    assert case.inbox("bo", "ta_hem_patienten") == []
    case.message("eva", "utskrivningsklar", UTSKRIVNINGSKLAR)
    ta_hem = case.only("bo", "ta_hem_patienten")
    deadline = datetime(2030, 3, 7, 14, 0, tzinfo=STOCKHOLM)
    assert ta_hem["title"] == "Ta hem patienten" and local(ta_hem["due_at"]) == deadline
    assert minute(case.timer("hemgang_forsenad")["due_at"]) == deadline
    assert case.inbox("erik") == []
    case.complete("eva", kalla, MEETING_FVK)

    # the patient is not home in time: the enhetschef myndighet of the district gets the escalation,
    # and the homecoming goes on
    case.fire("hemgang_forsenad")
    eskalera = case.only("erik", "eskalera_forsenad_hemgang")
    assert eskalera["title"] == "Hantera försenad hemgång" and eskalera["lane"] == "Enhetschef myndighet"
    assert case.inbox("elin") == [] and case.names("bo") == ["ta_hem_patienten"]
    assert case.inbox("bo", "ta_hem_patienten")[0]["overdue"] is True
    SYSTEM_CLOCK.set(datetime(2030, 3, 8, 10, 0, tzinfo=STOCKHOLM))
    case.do("bo", "ta_hem_patienten", {"hemkomst_at": "2030-03-08T10:00:00+01:00",
                                       "insatser_vid_hemkomst": ["hemtjanst", "trygghetslarm"]})
    # the plan waits for the escalation to be handled
    assert case.inbox("sam") == []
    assert "betalningsansvar_noterat" in case.refused("erik", eskalera, {
        k: v for k, v in ESKALERING.items() if k != "betalningsansvar_noterat"})["errors"]
    case.complete("erik", eskalera, ESKALERING)

    # after utskrivning the fast vårdkontakt documents the SIP; the municipality takes part with its
    # insatser in the plan (a SIP has insatser of both), it does not own the task
    plan = case.only("eva", "uppratta_plan_fast_vardkontakt")
    assert plan["title"] == "Upprätta plan" and plan["lane"] == "Fast vårdkontakt"
    for who in ("sam", "sara", "bo", "fia", "hal"):
        assert case.inbox(who) == [], who
    assert "plan_insatser" in case.refused("eva", plan, {**PLAN, "plan_insatser": [INSATS_REGION]})["errors"]
    case.complete("eva", plan, PLAN)
    # the region now sees the plan it wrote — still nothing planted
    case_view = case.detail("eva")
    assert case_view["data"]["plan_insatser"] == PLAN["plan_insatser"]
    assert set(case_view["data"]) <= seen | form_fields("uppratta_plan")
    assert_nothing_planted(case_view, CASE_REF)
    # the region's fast vårdkontakt follows the plan up too, and asks for a follow-up; the request
    # carries the fields its form declares, nothing else
    planted = s.as_("eva").post(f"/api/v1/instances/{case.id}/messages", json={
        "name": "sip_uppfoljning_begard", "data": {"anledning": "Återinläggning", "personnummer": PERSONNUMMER}})
    assert planted.status_code == 422 and set(planted.json()["errors"]) == {"personnummer"}
    case.message("eva", "sip_uppfoljning_begard", {"anledning": "Uppföljning efter hemkomsten",
                                                   "begard_av": "Vårdcentralen Nordost"})
    # the fast vårdkontakt follows the plan up as well; the municipality has no follow-up task of its own
    uppfoljning = case.only("eva", "uppfoljning_fast_vardkontakt")
    assert uppfoljning["title"] == "Följ upp planen – SIP vid utskrivning från sluten vård"
    assert uppfoljning["lane"] == "Fast vårdkontakt" and case.inbox("sam") == [] and case.inbox("bo") == []
    assert_nothing_planted(steps.task_detail(s.as_("eva"), uppfoljning), CASE_REF)
    case.complete("eva", uppfoljning, follow_up("avslutas", avslut_anledning="mal_uppnatt"))
    final = case.detail("sam")
    assert final["state"] == "completed" and final["outcome"] == "sip_avslutad"
    assert final["data"]["hemkomst_at"] == "2030-03-08T10:00:00+01:00"
    assert final["data"]["utskrivningsklar"]["utskrivningsklar_at"] == UTSKRIVNINGSKLAR["utskrivningsklar_at"]

    # the audit trail: the hand-overs to the region, and who read the case — the fast vårdkontakt too
    assert hand_overs(final) == [("planera_hemgang_och_sip", "bo")]
    reads = {(e["actor"], e["task_id"]) for e in case.audit() if e["action"] == "case_read"}
    assert {("bo", planera["id"]), ("eva", kalla["id"]), ("sam", None)} <= reads
    assert {actor for actor, _ in reads} == {"bo", "eva", "sam", "erik"}  # erik's inbox showed the escalation


def test_utskrivning_home_in_time_needs_no_escalation(story: Story) -> None:
    s = story
    case = s.start("sam", START_UTSKRIVNING)
    case.do("bo", "kontakta_patienten", contact(consent(units=NORDOST)))
    # the hospital's message can come before the planning is done — before the region holds any task in
    # the case, so the biståndshandläggare who receives it passes it on
    assert s.as_("eva").post(f"/api/v1/instances/{case.id}/messages", json={
        "name": "utskrivningsklar", "data": {"utskrivningsklar_at": "2030-03-04T09:00:00+01:00"}}).status_code == 404
    case.message("bo", "utskrivningsklar", {"utskrivningsklar_at": "2030-03-04T09:00:00+01:00"})
    assert case.names("bo") == ["planera_hemgang_och_sip", "ta_hem_patienten"]
    case.do("bo", "planera_hemgang_och_sip", HEMGANG)
    SYSTEM_CLOCK.set(datetime(2030, 3, 6, 15, 0, tzinfo=STOCKHOLM))
    case.do("bo", "ta_hem_patienten", {"hemkomst_at": "2030-03-06T15:00:00+01:00", "insatser_vid_hemkomst": []})
    assert case.timers("hemgang_forsenad") == []  # home in time: the escalation is withdrawn
    assert case.inbox("sam") == []  # the plan waits for the SIP call
    case.do("eva", "kalla_till_sip_fast_vardkontakt", MEETING_FVK)
    assert case.inbox("erik") == []
    case.do("eva", "uppratta_plan_fast_vardkontakt", PLAN)
    detail = case.detail("sam")
    assert detail["state"] == "waiting"
    assert "eskalera_forsenad_hemgang" not in {t["name"] for t in detail["tasks"]}
    # the plan is followed up 90 days after it was set up
    assert minute(case.timer("bevakningsdatum_natt")["due_at"]) == datetime(2030, 6, 4, 15, 0, tzinfo=STOCKHOLM)


def test_i_sip_stays_inside_the_administration(story: Story) -> None:
    s = story
    # a client with home care and an addiction: the socialsekreterare in Centrum starts an internal SIP
    case = s.start("cilla", START_I_SIP)
    samtycke = consent(recipients=(), units=("Hemtjänst Centrum", "Beroendeenheten"))
    # an I-SIP consent may name no recipient outside the committee (inre sekretess), but names its units
    case.do("cilla", "inhamta_samtycke", samtycke)
    mote = case.only("cilla", "kalla_till_i_sip_mote")
    assert mote["title"] == "Kalla till I-SIP-möte" and mote["district"] == "Centrum"
    data = case.task_data("cilla", mote)
    assert data["utlamningsgrunder"] == [] and data["sip_samtycke"]["enheter"] == ["Hemtjänst Centrum",
                                                                                    "Beroendeenheten"]
    case.complete("cilla", mote, MEETING_I_SIP)
    plan = case.only("cilla", "uppratta_i_sip_plan")
    assert plan["title"] == "Upprätta I-SIP-plan"
    # the plan coordinates at least two of the administration's own areas
    problem = case.refused("cilla", plan, {**PLAN_I_SIP, "plan_insatser": PLAN_I_SIP["plan_insatser"][:1]})
    assert "plan_insatser" in problem["errors"]
    case.complete("cilla", plan, PLAN_I_SIP)

    # the plan is followed up internally and closed
    assert minute(case.timer("bevakningsdatum_natt")["due_at"]) == datetime(2030, 6, 2, 9, 0, tzinfo=STOCKHOLM)
    case.fire("bevakningsdatum_natt")
    uppfoljning = case.only("cilla", "i_sip_uppfoljning")
    assert uppfoljning["title"] == "Följ upp planen – I-SIP (intern SIP)"
    assert [t["task"] for t in case.timers()] == []  # no hand-over to interrupt
    case.complete("cilla", uppfoljning, follow_up("avslutas", avslut_anledning="behov_upphort",
                                                  uppfoljning_insatser=[{"insats": "Hemtjänst",
                                                                         "status": "genomford"}]))
    final = case.detail("cilla")
    assert final["state"] == "completed" and final["outcome"] == "sip_avslutad"
    # nothing crossed a confidentiality boundary, and the region's people never saw the case
    assert hand_overs(final) == [] and final["data"]["utlamningsgrunder"] == []
    for who in ("eva", "fia", "hal", "sara", "sam"):
        assert_never_sees(s.as_(who), case, mote["id"], plan["id"], uppfoljning["id"],
                          also=(CASE_REF,) if who in REGION_PEOPLE else ())
    assert {e["actor"] for e in case.audit() if e["action"] == "case_read"} == {"cilla"}


def test_withdrawal_is_accepted_at_every_stage_and_stops_hand_overs(story: Story) -> None:
    s = story

    def withdrawn(case: Case, who: str, *open_tasks: dict[str, Any]) -> None:
        """The withdrawal ended the SIP at once, every consent is marked, and no open task can be handed over."""
        case.message(who, "samtycke_aterkallat", {})
        final = case.detail(who)
        assert final["state"] == "completed" and final["outcome"] == "sip_avslutad_samtycke_aterkallat"
        assert final["timers"] == [] and all(t["status"] != "open" for t in final["tasks"])
        assert final["data"]["sip_samtycke"]["aterkallad"]
        assert all(b["aterkallad"] for b in final["data"]["utlamningsgrunder"])
        for task in open_tasks:
            assert s.as_(task["_who"]).post(f"/api/v1/tasks/{task['id']}/complete",
                                            json={"data": {}}).status_code == 409

    def task(case: Case, who: str, name: str) -> dict[str, Any]:
        return {**case.only(who, name), "_who": who}

    # utskrivning: while home and SIP are planned and the hospital's message is awaited
    case = s.start("sam", START_UTSKRIVNING)
    case.do("bo", "kontakta_patienten", contact(consent(units=NORDOST)))
    withdrawn(case, "bo", task(case, "bo", "planera_hemgang_och_sip"))
    assert hand_overs(case.detail("bo")) == []  # nothing reached the region
    # … while the fast vårdkontakt calls the SIP and the patient is being taken home
    case = s.start("sam", START_UTSKRIVNING)
    case.do("bo", "kontakta_patienten", contact(consent(units=NORDOST)))
    case.do("bo", "planera_hemgang_och_sip", HEMGANG)
    case.message("bo", "utskrivningsklar", UTSKRIVNINGSKLAR)
    withdrawn(case, "sam", task(case, "eva", "kalla_till_sip_fast_vardkontakt"), task(case, "bo", "ta_hem_patienten"))
    # … while the fast vårdkontakt documents the plan
    case = s.start("sam", START_UTSKRIVNING)
    case.do("bo", "kontakta_patienten", contact(consent(units=NORDOST)))
    case.message("bo", "utskrivningsklar", UTSKRIVNINGSKLAR)
    case.do("bo", "planera_hemgang_och_sip", HEMGANG)
    case.do("bo", "ta_hem_patienten", {"hemkomst_at": "2030-03-04T15:00:00+01:00", "insatser_vid_hemkomst": []})
    case.do("eva", "kalla_till_sip_fast_vardkontakt", MEETING_FVK)
    withdrawn(case, "bo", task(case, "eva", "uppratta_plan_fast_vardkontakt"))

    # I-SIP: while the meeting is called, while the plan is set up, during a follow-up
    samtycke = consent(recipients=(), units=("Hemtjänst Centrum", "Beroendeenheten"))
    for stage in ("kalla_till_i_sip_mote", "uppratta_i_sip_plan", "i_sip_uppfoljning"):
        case = s.start("cilla", START_I_SIP)
        case.do("cilla", "inhamta_samtycke", samtycke)
        if stage != "kalla_till_i_sip_mote":
            case.do("cilla", "kalla_till_i_sip_mote", MEETING_I_SIP)
        if stage == "i_sip_uppfoljning":
            case.do("cilla", "uppratta_i_sip_plan", PLAN_I_SIP)
            case.message("cilla", "sip_uppfoljning_begard", {"anledning": "Oro"})
        withdrawn(case, "cilla", task(case, "cilla", stage))

    # while a new consent is asked for, after the first one ended
    case = s.start("sara", START_SIP)
    case.agree("sara", consent(days=30))
    case.fire("bevakningsdatum_natt")
    withdrawn(case, "sara", task(case, "sara", "inhamta_nytt_samtycke"))


def test_longest_path(story: Story) -> None:
    """Utskrivning with every loop: consent sent back, the hospital's message before the planning, a late
    homecoming, the invitation sent back, follow-ups by timer and by request, the consent's end during an
    open follow-up, a new consent sent back, the plan revised, a third consent, and finally the individual
    withdraws it."""
    s = story
    case = s.start("sam", START_UTSKRIVNING)
    # the patient's consent must cover the region (the form says so), and hold from today: back to the
    # biståndshandläggare
    kontakta = case.only("bo", "kontakta_patienten")
    problem = case.refused("bo", kontakta, contact(consent(recipients=("andra_utforare",), units=NORDOST)))
    assert "samtycke.mottagare" in problem["errors"]
    tomorrow = contact(consent(units=NORDOST))
    tomorrow["samtycke"]["giltig_fran"] = day(1)
    case.complete("bo", kontakta, tomorrow)
    kontakta = case.only("bo", "kontakta_patienten")
    assert kontakta["title"] == ("Kontakta patienten och inhämta samtycke – komplettera: Samtycket måste gälla "
                                 "från i dag för att SIP-arbetet ska kunna börja.")
    # explicit consent through 2030-07-31
    case.complete("bo", kontakta, contact(consent(days=149, units=NORDOST)))
    SYSTEM_CLOCK.set(datetime(2030, 3, 4, 10, 0, tzinfo=STOCKHOLM))
    case.message("bo", "utskrivningsklar", {"utskrivningsklar_at": "2030-03-04T10:00:00+01:00"})
    case.do("bo", "planera_hemgang_och_sip", HEMGANG)
    # the fast vårdkontakt would call the school too, which the consent does not name
    skolan = {"namn": "Sven Skola", "organisation": "skolan"}
    case.do("eva", "kalla_till_sip_fast_vardkontakt",
            {**MEETING_FVK, "sip_deltagare": [*MEETING_FVK["sip_deltagare"], skolan]})
    assert case.only("eva", "kalla_till_sip_fast_vardkontakt")["title"].endswith(
        "Samtycket omfattar inte skolan, som därför inte kan kallas till SIP-mötet.")
    case.do("eva", "kalla_till_sip_fast_vardkontakt", MEETING_FVK)
    case.fire("hemgang_forsenad")
    case.do("erik", "eskalera_forsenad_hemgang", ESKALERING)
    SYSTEM_CLOCK.set(datetime(2030, 3, 8, 9, 0, tzinfo=STOCKHOLM))
    case.do("bo", "ta_hem_patienten", {"hemkomst_at": "2030-03-08T08:30:00+01:00", "insatser_vid_hemkomst": []})
    case.do("eva", "uppratta_plan_fast_vardkontakt", PLAN)

    # 2030-06-06: the planned follow-up (90 days after the plan), by the fast vårdkontakt
    assert minute(case.timer("bevakningsdatum_natt")["due_at"]) == datetime(2030, 6, 6, 9, 0, tzinfo=STOCKHOLM)
    case.fire("bevakningsdatum_natt")
    case.do("eva", "uppfoljning_fast_vardkontakt", follow_up("fortsatter"))

    # 2030-06-10: a follow-up on request, still open when the consent ends
    SYSTEM_CLOCK.set(datetime(2030, 6, 10, 13, 0, tzinfo=STOCKHOLM))
    case.message("bo", "sip_uppfoljning_begard", {"anledning": "Hemtjänsten ser försämring"})
    interrupted = case.only("eva", "uppfoljning_fast_vardkontakt")
    case.fire("samtycke_kraver_atgard_fast_vardkontakt")
    assert case.inbox("eva") == []
    case.fire("bevakningsdatum_natt")  # the consent goes first: a new one is needed
    SYSTEM_CLOCK.set(datetime(2030, 8, 1, 9, 0, tzinfo=STOCKHOLM))
    nytt = case.only("sam", "inhamta_nytt_samtycke")
    stale = consent(units=NORDOST)
    stale["samtycke"] |= {"giltig_fran": "2030-01-01", "giltig_till": "2030-07-31"}
    case.complete("sam", nytt, stale)
    assert case.only("sam", "inhamta_nytt_samtycke")["title"].endswith("Samtyckets giltighetstid har redan löpt ut.")
    # an explicit consent for 40 days (through 2030-09-10); the interrupted follow-up comes back at once
    case.do("sam", "inhamta_nytt_samtycke", consent(days=40, units=NORDOST))
    case.fire("bevakningsdatum_natt")
    uppfoljning = case.only("eva", "uppfoljning_fast_vardkontakt")
    assert uppfoljning["id"] != interrupted["id"]
    revised = {**INSATS_KOMMUN, "insats": "Hemtjänst tre gånger om dagen"}
    case.complete("eva", uppfoljning, follow_up("revideras", plan_insatser=[revised, INSATS_REGION],
                                                huvudansvarig={**HUVUDANSVARIG, "namn": "Eva Lind"}))

    # the consent ends before the next follow-up: a third consent, and the follow-up 90 days after the last
    assert minute(case.timer("bevakningsdatum_natt")["due_at"]) == datetime(2030, 9, 11, tzinfo=STOCKHOLM)
    case.fire("bevakningsdatum_natt")
    SYSTEM_CLOCK.set(datetime(2030, 9, 11, 10, 0, tzinfo=STOCKHOLM))
    case.do("sam", "inhamta_nytt_samtycke", consent(units=NORDOST))
    assert minute(case.timer("bevakningsdatum_natt")["due_at"]) == datetime(2030, 10, 30, 9, 0, tzinfo=STOCKHOLM)
    case.fire("bevakningsdatum_natt")
    case.do("eva", "uppfoljning_fast_vardkontakt", follow_up("fortsatter"))

    # 2030-11-03: the individual withdraws the consent; every consent on record is marked withdrawn
    SYSTEM_CLOCK.set(datetime(2030, 11, 3, 11, 0, tzinfo=STOCKHOLM))
    case.message("sam", "samtycke_aterkallat", {})
    final = case.detail("sam")
    assert final["state"] == "completed" and final["outcome"] == "sip_avslutad_samtycke_aterkallat"
    bases = final["data"]["utlamningsgrunder"]
    assert [b["giltig_till"] for b in bases] == ["2030-07-31", "2030-09-10", "2031-09-11"]
    assert all(local(b["aterkallad"]).date().isoformat() == "2030-11-03" for b in bases)
    assert "återkallades 2030-11-03" in str(disclosure_refusal_reason(bases, "region", SYSTEM_CLOCK.local_now()))
    assert final["data"]["plan_insatser"] == [revised, INSATS_REGION]
    assert final["data"]["huvudansvarig"]["namn"] == "Eva Lind"
    assert final["timers"] == [] and all(t["status"] != "open" for t in final["tasks"])

    # every task and hand-over, in order, with who did it
    created = [e["detail"]["task"] for e in final["history"] if e["action"] == "task_created"]
    assert created == [
        "kontakta_patienten", "kontakta_patienten", "planera_hemgang_och_sip", "ta_hem_patienten",
        "kalla_till_sip_fast_vardkontakt", "kalla_till_sip_fast_vardkontakt", "eskalera_forsenad_hemgang",
        "uppratta_plan_fast_vardkontakt", "uppfoljning_fast_vardkontakt", "uppfoljning_fast_vardkontakt",
        "inhamta_nytt_samtycke", "inhamta_nytt_samtycke", "uppfoljning_fast_vardkontakt", "inhamta_nytt_samtycke",
        "uppfoljning_fast_vardkontakt"]
    assert [e["detail"]["task"] for e in final["history"] if e["action"] == "timer_fired"] == [
        "hemgang_forsenad", "bevakningsdatum_natt", "samtycke_kraver_atgard_fast_vardkontakt",
        "bevakningsdatum_natt", "bevakningsdatum_natt", "bevakningsdatum_natt", "bevakningsdatum_natt"]
    assert hand_overs(final) == [("planera_hemgang_och_sip", "bo")]
    assert [t["status"] for t in final["tasks"] if t["id"] == interrupted["id"]] != ["completed"]
