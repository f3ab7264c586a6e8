"""R3 Tillfälligt utökat stöd i 14 dagar end to end through the HTTP API, on SQLite and PostgreSQL.

A home care provider's unit manager increases a client's care at once (day 0) under the 14-day
agreement; Mottagningsfunktionen tells the responsible biståndshandläggare, who confirms the start.
A change judged to last longer than 14 days must be reported within a week (escalated to
Mottagningsfunktionen when missed). On day 14 the handläggare follows up: a transient need is not
compensated; a persisting need leads to an application and a decision — approval is backdated to
day 0 and the provider compensated for the period, recorded for invoicing. Clients without an
ongoing care decision and a new care need are *okända brukare*: the routine ends with the
instruction to apply via Myndighetsenhetens Mottagning.

The story runs on the real routine (``bpmn/utokat_stod_14_dagar.bpmn``, ``forms/utokat_stod_14_dagar/``)
from Tuesday 2026-12-01 09:00 Europe/Stockholm; day 14 is Tuesday 2026-12-15.

The client's home care provider is a company (Omsorg Syd AB); a competitor delivers home care in the
same district. The provider's tasks name their organisation (DESIGN.md, "Access to case data"): the
competitor's unit manager, same role and same district, is never offered them and never sees the case.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from service.clock import STOCKHOLM, SYSTEM_CLOCK
from service.config import ROOT
from service.models import HumanTask
from service.operations.timers import fire_due_timers
from tests.conftest import Api, Harness
from tests.routines import story as steps
from tests.routines.story import Cast

KEY = "utokat_stod_14_dagar"
#: The client's home care provider, and a competitor in the same district.
UTFORARE, KONKURRENT = "omsorg_syd", "hemtjanst_vast"
DAY_0 = datetime(2026, 12, 1, 9, 0, tzinfo=STOCKHOLM)
DAY_14_OPENING = datetime(2026, 12, 15, 8, 0, tzinfo=STOCKHOLM)
SUFFIX = " – utökat stöd från 2026-12-01"
AVTAL = "avtal (14 dagar utan ny biståndsbedömning)"

START = {"brukare_namn": "Anna Andersson", "personnummer": "19380512-1234", "stadsomrade": "Sydväst",
         "utforare": UTFORARE, "hemtjanstutforare": "Omsorg Syd AB",
         "pagaende_beslut": ["omvardnadsbeslut_hemtjanst", "trygghetslarm"],
         "nytt_omvardnadsbehov": True}
UTOKA = {"forandrat_behov": "Behöver hjälp vid på- och avklädning efter fall",
         "tillagda_insatser": "Två extra besök/dag",
         "dag_0": "2026-12-01", "behov_konstaterat": "2026-12-01", "bedomd_varaktighet": "hogst_14_dagar",
         "journal_utforare_text": "Fallit i hemmet, utökat med morgon- och kvällsbesök",
         "journal_utforare_forfattare": "Kim Samordnare, samordnare"}
MEDDELA = {"situation_och_behov": "Fall i hemmet, behöver två extra besök per dag",
           "ansvarig_handlaggare": "bo", "meddelad_datum": "2026-12-01"}
BEKRAFTA = {"uppstart_bekraftad": True, "bekraftad_till": "Kim Samordnare",
            "journal_myndighet_text": "Uppstart enligt avtal 14 dagar bekräftad till utföraren",
            "journal_myndighet_forfattare": "Bo Handläggare, biståndshandläggare"}
INFORMERA = {"informerad_handlaggare": "bo", "handlaggare_informerad_datum": "2026-12-04",
             "varaktigt_behov_beskrivning": "Läkaren bedömer lång rehabilitering"}
ESKALERA = {"eskalering_kontakt_med_utforare": "Utföraren hade glömt; bekräftar varaktigt behov",
            "informerad_handlaggare": "bo", "handlaggare_informerad_datum": "2026-12-10"}
OVERGAENDE = {"kontakt_med_utforare_datum": "2026-12-15", "behov_efter_14_dagar": "overgaende",
              "utokning_upphorde": "2026-12-10", "uppfoljning_anteckning": "Återhämtat sig"}
KVARSTAR = {"kontakt_med_utforare_datum": "2026-12-15", "behov_efter_14_dagar": "kvarstar",
            "uppfoljning_anteckning": "Behovet kvarstår"}
ANSOKAN_JA = {"kontakt_med_brukaren_datum": "2026-12-15", "ansokan_inkommen": True, "ansokan_datum": "2026-12-15",
              "kontakt_anteckning": "Brukaren ansöker om utökad hemtjänst"}
ANSOKAN_NEJ = {"kontakt_med_brukaren_datum": "2026-12-16", "ansokan_inkommen": False,
               "kontakt_anteckning": "Brukaren vill inte ansöka"}
BIFALL = {"beslut": "bifall", "beslutsdatum": "2026-12-18", "beviljade_insatser": "Två extra besök per dag",
          "uppdrag_uppdaterat": True, "beslut_motivering": "Behovet kvarstår"}
AVSLAG = {"beslut": "avslag", "beslutsdatum": "2026-12-18", "beslut_motivering": "Behovet tillgodoses på annat sätt"}


class Story(Cast):
    """The service with the real routines, the people of R3's lanes (in Sydväst unless said otherwise),
    and the clock; people's tokens are renewed as the story jumps days ahead (see :class:`Cast`)."""

    districts = ("Sydväst",)

    def report(self, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """The provider's coordinator reports the changed care need; returns the new instance."""
        return steps.start_instance(self.as_("kim"), KEY, data or START, case_ref="HT-2026-0815")

    def inbox(self, who: str, name: str | None = None, **params: str) -> list[dict[str, Any]]:
        return steps.inbox(self.as_(who), name, process=KEY, **params)

    def only(self, who: str, name: str) -> dict[str, Any]:
        """The one open task ``name`` that ``who`` may act on."""
        return steps.only(self.as_(who), name, process=KEY)

    def complete(self, who: str, task: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        return steps.submit(self.as_(who), task, data)

    def refused(self, who: str, task: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """Completing is refused with 422 and the task stays open; returns the field errors."""
        errors: dict[str, Any] = steps.refused(self.as_(who), task, data, process=KEY).json()["errors"]
        return errors

    def instance(self, instance_id: str, who: str = "vera") -> dict[str, Any]:
        """The case as ``who`` sees it; by default as the authority's chef, who sees the whole case."""
        return steps.read(self.as_(who), instance_id)

    def timers(self, instance_id: str, name: str | None = None) -> list[dict[str, Any]]:
        return steps.timers(self.as_("adam"), instance_id, name)

    def begin(self, utoka: dict[str, Any] | None = None) -> dict[str, Any]:
        """Day 0: the increase starts, the handläggare is told and confirms the start."""
        instance = self.report()
        self.complete("kim", self.only("kim", "utoka_akut"), utoka or UTOKA)
        self.complete("mf", self.only("mf", "meddela_handlaggare"), MEDDELA)
        self.complete("bo", self.only("bo", "bekrafta_uppstart"), BEKRAFTA)
        return instance

    def day_14(self, instance_id: str, opening: datetime = DAY_14_OPENING, timer: str = "dag_14") -> dict[str, Any]:
        """Day 14 at opening time: the follow-up timer (``timer``: the one the case waits on) is due and
        the scheduler fires it."""
        [pending] = self.timers(instance_id, timer)
        assert local(pending["due_at"]) == opening
        SYSTEM_CLOCK.set(opening + timedelta(seconds=30))
        assert fire_due_timers(self.h.services) >= 1  # (the 14 days' end, at midnight, may be due too)
        assert self.timers(instance_id, timer) == []
        return self.only("bo", "uppfoljning_dag_14")


def local(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(STOCKHOLM)


@pytest.fixture
def story(harness: Harness) -> Iterator[Story]:
    """R3's people in Sydväst (and colleagues elsewhere) on the real routines, on day 0 at 09:00: the
    client's home care provider, a competitor in the same district, and the authority's people."""
    harness.deploy_dir(ROOT / "bpmn", ROOT / "forms")
    SYSTEM_CLOCK.set(DAY_0)
    s = Story(harness)
    s.organisation(UTFORARE, "utforare", "Omsorg Syd AB")
    s.organisation(KONKURRENT, "utforare", "Hemtjänst Väst AB")
    s.user("kim", "enhetschef_utforare", organisation=UTFORARE)
    s.user("ulla", "enhetschef_utforare", districts=("Nordost",), organisation=UTFORARE)
    s.user("kajsa", "enhetschef_utforare", organisation=KONKURRENT)  # same role, same district
    s.user("vera", "chef")
    s.user("mf", "mottagningsfunktionen")
    s.user("mf.nordost", "mottagningsfunktionen", districts=("Nordost",))
    s.user("bo", "bistandshandlaggare")
    s.user("lisa", "bistandshandlaggare")  # bo's colleague in Sydväst
    s.user("nils", "bistandshandlaggare", districts=("Nordost",), display_name="Nils Nordost")  # another district
    s.user("sara", "socialsekreterare")  # another role in the same district
    s.user("erik", "enhetschef_myndighet")  # Mottagningsfunktionen's and the handläggare's chef
    s.user("adam", "admin")
    yield s


def test_an_unknown_client_ends_with_the_instruction_to_apply(story: Story) -> None:
    s = story
    # only a service decision, only a safety alarm, only HSL, no decision at all, or no new care need:
    # the coordinator's report ends at once with the instruction to apply via Myndighetsenhetens Mottagning
    unknown = ({**START, "pagaende_beslut": ["servicebeslut", "trygghetslarm"]},
               {**START, "pagaende_beslut": ["trygghetslarm"]},
               {**START, "pagaende_beslut": ["hsl_uppdrag"]},
               {**START, "pagaende_beslut": []},
               {**START, "nytt_omvardnadsbehov": False})
    for data in unknown:
        instance = s.report(data)
        assert instance["state"] == "completed" and instance["outcome"] == "okand_brukare", data
        final = s.instance(instance["id"])
        assert "Myndighetsenhetens Mottagning" in final["data"]["instruktion"]
        assert "ansökan" in final["data"]["instruktion"]
        assert final["tasks"] == [] and final["timers"] == [] and final["ended_at"]
    for who in ("kim", "mf", "bo"):
        assert s.inbox(who) == [], who
    assert s.as_("kim").ok("GET", "/api/v1/instances", params={"process": KEY, "state": "completed"})["total"] == 5

    # the start form refuses what is not a known decision or a personnummer, and starts nothing
    for bad, field in (({**START, "pagaende_beslut": ["okand"]}, "pagaende_beslut.0"),
                       ({**START, "personnummer": "380512-1234"}, "personnummer")):
        response = s.as_("kim").post("/api/v1/instances", json={"process": KEY, "data": bad})
        assert response.status_code == 422 and field in response.json()["errors"], response.text
    # only the provider's lane starts the routine
    assert s.as_("bo").post("/api/v1/instances", json={"process": KEY, "data": START}).status_code == 403
    assert s.as_("kim").ok("GET", "/api/v1/instances", params={"process": KEY})["total"] == 5


def due_counts(s: Story, task: dict[str, Any]) -> str | None:
    with s.h.services.db.read() as db:
        row = db.get(HumanTask, task["id"])
        assert row is not None
        return row.due_counts


def test_transient_need_follows_up_on_day_14_and_is_not_compensated(story: Story) -> None:
    s = story
    # day 0: the coordinator increases the care at once; any unit manager of the client's provider in
    # Sydväst may do it
    instance = s.report()
    assert instance["state"] == "running"
    utoka = s.only("kim", "utoka_akut")
    assert utoka["title"] == "Utöka insatser akut – tillfälligt utökat stöd i 14 dagar"
    assert utoka["lane"] == "Enhetschef/samordnare utförare" and utoka["district"] == "Sydväst"
    assert s.inbox("ulla") == []  # the same provider's unit manager in Nordost does not see it
    assert s.inbox("kajsa") == []  # nor does a competitor's unit manager in Sydväst
    problem = s.refused("kim", utoka, {**UTOKA, "bedomd_varaktighet": "kanske"})
    assert "bedomd_varaktighet" in problem
    done = s.complete("kim", utoka, UTOKA)
    # a change within 14 days needs no lasting-need report; Mottagningsfunktionen tells the handläggare
    assert done["next_tasks"] == [] and s.inbox("kim") == []
    meddela = s.only("mf", "meddela_handlaggare")
    assert meddela["title"] == "Meddela biståndshandläggaren" + SUFFIX and meddela["lane"] == "Mottagningsfunktionen"
    assert s.inbox("mf.nordost") == [] and s.inbox("bo") == []
    assert due_counts(s, meddela) == "working"  # "inom 1 arbetsdag": the inbox tells it in working time
    s.complete("mf", meddela, MEDDELA)

    # the named handläggare confirms the start under the agreement; her colleague does not get it
    bekrafta = s.only("bo", "bekrafta_uppstart")
    assert bekrafta["assignee"] == "bo" and bekrafta["title"] == "Bekräfta uppstart enligt avtal 14 dagar" + SUFFIX
    assert s.inbox("lisa") == [] and s.inbox("sara") == []
    assert "uppstart_bekraftad" in s.refused("bo", bekrafta, {**BEKRAFTA, "uppstart_bekraftad": False})
    s.complete("bo", bekrafta, BEKRAFTA)
    # both sides' journal notes are kept with who wrote them
    waiting = s.instance(instance["id"])
    assert waiting["state"] == "waiting"
    assert waiting["data"]["journal_utforare_forfattare"] == "Kim Samordnare, samordnare"
    assert waiting["data"]["journal_myndighet_text"] == BEKRAFTA["journal_myndighet_text"]
    assert waiting["data"]["journal_myndighet_forfattare"] == "Bo Handläggare, biståndshandläggare"

    # the day-14 follow-up waits for the first office opening 14 days after day 0; until the 14 days are
    # over (midnight starting day 14) the provider may still record a lasting need
    assert sorted(t["task"] for t in s.timers(instance["id"])) == ["avtalsperioden_slut", "dag_14"]
    SYSTEM_CLOCK.set(DAY_14_OPENING - timedelta(hours=1))
    assert fire_due_timers(s.h.services) == 1
    assert [t["task"] for t in s.timers(instance["id"])] == ["dag_14"]
    late = s.as_("kim").post(f"/api/v1/instances/{instance['id']}/messages",
                             json={"name": "varaktigt_behov_konstaterat", "data": {"bedomning": "För sent"}})
    assert late.status_code == 409, late.text  # the 14 days are over: no lasting-need report any more
    uppfoljning = s.day_14(instance["id"])
    assert uppfoljning["assignee"] == "bo"
    assert uppfoljning["title"] == "Uppföljning dag 14: övergående eller kvarstående behov?" + SUFFIX
    assert s.inbox("lisa") == []

    # the need was transient: say when the extra support ended
    assert "utokning_upphorde" in s.refused("bo", uppfoljning, {
        k: v for k, v in OVERGAENDE.items() if k != "utokning_upphorde"})
    s.complete("bo", uppfoljning, OVERGAENDE)
    final = s.instance(instance["id"])
    assert final["state"] == "completed" and final["outcome"] == "overgaende_ingen_ersattning"
    # ended within the 14 days: the agreement covers the whole increase
    assert final["data"]["fakturaunderlag"] == {
        "utfall": "overgaende_behov", "bakatdaterat_fran": None, "efter_avtalsperioden": None,
        "avtalsperiod": {"fran": "2026-12-01", "till": "2026-12-10", "antal_dagar": 10, "ersatts": True,
                         "grund": AVTAL}}
    assert "beslut_galler_fran" not in final["data"]
    assert s.inbox("bo") == [] and final["timers"] == []


def test_lasting_need_reported_in_time_then_the_application_is_refused(story: Story) -> None:
    s = story
    # the coordinator judges the change will last longer than 14 days: report it within a week
    instance = s.report()
    done = s.complete("kim", s.only("kim", "utoka_akut"), {**UTOKA, "bedomd_varaktighet": "langre_an_14_dagar"})
    assert sorted(t["name"] for t in done["next_tasks"]) == ["informera_om_varaktigt_behov"]
    informera = s.only("kim", "informera_om_varaktigt_behov")
    assert informera["title"] == "Informera biståndshandläggaren om varaktigt behov" + SUFFIX
    week = datetime(2026, 12, 9, 0, 0, tzinfo=STOCKHOLM)  # the end of the seventh day after 2026-12-01
    assert local(informera["due_at"]) == week
    [deadline] = s.timers(instance["id"], "varaktigt_behov_tidsgrans")
    assert local(deadline["due_at"]) == week
    s.complete("mf", s.only("mf", "meddela_handlaggare"), MEDDELA)
    s.complete("bo", s.only("bo", "bekrafta_uppstart"), BEKRAFTA)

    # 2026-12-04: reported in time; the deadline is withdrawn and nothing escalates
    SYSTEM_CLOCK.set(datetime(2026, 12, 4, 11, 0, tzinfo=STOCKHOLM))
    assert s.only("kim", "informera_om_varaktigt_behov")["overdue"] is False
    # the provider picks among the district's handläggare only: not another district's, not a free text
    picker = steps.task_detail(s.as_("kim"), informera)["form"]["schema"]["properties"]["informerad_handlaggare"]
    assert sorted(picker["enum"]) == ["bo", "lisa"]
    assert "Nils Nordost" not in str(steps.task_detail(s.as_("kim"), informera))
    assert "informerad_handlaggare" in s.refused("kim", informera, {**INFORMERA, "informerad_handlaggare": "Bo H"})
    assert "informerad_handlaggare" in s.refused("kim", informera, {**INFORMERA, "informerad_handlaggare": "nils"})
    s.complete("kim", informera, INFORMERA)
    assert s.timers(instance["id"], "varaktigt_behov_tidsgrans") == []
    assert [t["task"] for t in s.timers(instance["id"])] == ["dag_14"]

    # day 14: the need persists; the handläggare contacts the client, who applies; the decision is avslag
    s.complete("bo", s.day_14(instance["id"]), KVARSTAR)
    inhamta = s.only("bo", "inhamta_ansokan")
    assert "ansokan_datum" in s.refused("bo", inhamta, {k: v for k, v in ANSOKAN_JA.items() if k != "ansokan_datum"})
    s.complete("bo", inhamta, ANSOKAN_JA)
    beslut = s.only("bo", "fatta_beslut")
    assert beslut["title"] == "Besluta om fortsatta insatser (bifall bakåtdateras till dag 0)" + SUFFIX
    s.complete("bo", beslut, AVSLAG)
    final = s.instance(instance["id"])
    assert final["state"] == "completed" and final["outcome"] == "avslag_ingen_ersattning"
    # refused: the agreement covers the 14 days, nothing covers the days after them
    assert final["data"]["fakturaunderlag"] == {
        "utfall": "avslag", "bakatdaterat_fran": None,
        "avtalsperiod": {"fran": "2026-12-01", "till": "2026-12-14", "antal_dagar": 14, "ersatts": True,
                         "grund": AVTAL},
        "efter_avtalsperioden": {"fran": "2026-12-15", "till": "2026-12-18", "antal_dagar": 4, "ersatts": False,
                                 "grund": "inget beviljat beslut"}}
    assert "beslut_galler_fran" not in final["data"]
    assert final["data"]["informerad_handlaggare"] == "bo"
    # the invoicing record is read on the case page, in words and Swedish dates, not as keys and ISO
    page = case_page(s, "bo", instance["id"]).text
    assert "Underlag för fakturering" in page and "Avtalsperioden (14 dagar)" in page
    assert "Efter avtalsperioden" in page and "Avslag" in page
    assert "15 dec. 2026" in page and "antal_dagar" not in page and "efter_avtalsperioden" not in page
    competitor = case_page(s, "kajsa", instance["id"])
    assert competitor.status_code == 404 and "Underlag för fakturering" not in competitor.text
    assert not any(t["name"] == "eskalera_varaktigt_behov" for t in final["tasks"])


def test_persisting_need_without_an_application_is_not_compensated(story: Story) -> None:
    s = story
    # the provider increased the care on Saturday 2026-11-28 and reports it on Tuesday
    instance = s.begin({**UTOKA, "dag_0": "2026-11-28", "behov_konstaterat": "2026-11-28",
                        "bedomd_varaktighet": "oklart"})
    assert s.inbox("kim") == []  # "oklart" is not a lasting-need report
    # day 14 is Saturday 2026-12-12: the follow-up comes on Monday morning
    uppfoljning = s.day_14(instance["id"], datetime(2026, 12, 14, 8, 0, tzinfo=STOCKHOLM))
    assert uppfoljning["title"].endswith("– utökat stöd från 2026-11-28")
    s.complete("bo", uppfoljning, KVARSTAR)
    # the client does not want to apply: no decision to backdate, no compensation
    s.complete("bo", s.only("bo", "inhamta_ansokan"), ANSOKAN_NEJ)
    assert s.inbox("bo") == []
    final = s.instance(instance["id"])
    assert final["state"] == "completed" and final["outcome"] == "ingen_ansokan_ingen_ersattning"
    assert final["data"]["fakturaunderlag"]["avtalsperiod"] == {
        "fran": "2026-11-28", "till": "2026-12-11", "antal_dagar": 14, "ersatts": True, "grund": AVTAL}
    assert final["data"]["fakturaunderlag"]["efter_avtalsperioden"] == {
        "fran": "2026-12-12", "till": "2026-12-16", "antal_dagar": 5, "ersatts": False,
        "grund": "inget beviljat beslut"}


def test_longest_path_missed_report_escalates_and_approval_is_backdated_and_compensated(story: Story) -> None:
    s = story
    # day 0 is 2026-12-01; the coordinator establishes the lasting need on 2026-12-02 but never reports it
    instance = s.begin({**UTOKA, "bedomd_varaktighet": "langre_an_14_dagar", "behov_konstaterat": "2026-12-02"})
    informera = s.only("kim", "informera_om_varaktigt_behov")
    week = datetime(2026, 12, 10, 0, 0, tzinfo=STOCKHOLM)
    assert local(informera["due_at"]) == week
    SYSTEM_CLOCK.set(datetime(2026, 12, 9, 16, 0, tzinfo=STOCKHOLM))
    assert [t["id"] for t in s.inbox("kim", overdue="true")] == []
    assert s.inbox("mf") == []  # nothing to escalate yet

    # the week has passed: the report shows as overdue, the deadline fires and Mottagningsfunktionen
    # of the client's district takes over
    SYSTEM_CLOCK.set(week + timedelta(minutes=1))
    assert [t["id"] for t in s.inbox("kim", overdue="true")] == [informera["id"]]
    [deadline] = s.timers(instance["id"], "varaktigt_behov_tidsgrans")
    assert s.as_("adam").ok("POST", f"/api/v1/timers/{deadline['id']}/fire")["fired"] is True
    assert s.inbox("kim") == []  # the coordinator's task was withdrawn
    eskalera = s.only("mf", "eskalera_varaktigt_behov")
    assert eskalera["title"] == "Eskalering: varaktigt behov har inte meddelats inom en vecka" + SUFFIX
    assert eskalera["district"] == "Sydväst" and eskalera["lane"] == "Mottagningsfunktionen"
    assert s.inbox("mf.nordost") == [] and s.inbox("bo") == []
    s.as_("mf").ok("POST", f"/api/v1/tasks/{eskalera['id']}/claim")
    s.complete("mf", eskalera, ESKALERA)

    # day 14: the need persists, the client applies, and the handläggare approves
    s.complete("bo", s.day_14(instance["id"]), KVARSTAR)
    s.complete("bo", s.only("bo", "inhamta_ansokan"), ANSOKAN_JA)
    SYSTEM_CLOCK.set(datetime(2026, 12, 18, 10, 0, tzinfo=STOCKHOLM))
    beslut = s.only("bo", "fatta_beslut")
    # approval needs the provider's assignment updated
    assert "uppdrag_uppdaterat" in s.refused("bo", beslut, {k: v for k, v in BIFALL.items()
                                                            if k != "uppdrag_uppdaterat"})
    s.complete("bo", beslut, BIFALL)

    # the decision is backdated to day 0 and the provider is compensated for day 0 – the decision date
    final = s.instance(instance["id"])
    assert final["state"] == "completed" and final["outcome"] == "ersatt"
    assert final["data"]["beslut_galler_fran"] == "2026-12-01"
    # the agreement covers the 14 days; the backdated approval covers what follows, to the decision
    assert final["data"]["fakturaunderlag"] == {
        "utfall": "bifall_bakatdaterat", "bakatdaterat_fran": "2026-12-01",
        "avtalsperiod": {"fran": "2026-12-01", "till": "2026-12-14", "antal_dagar": 14, "ersatts": True,
                         "grund": AVTAL},
        "efter_avtalsperioden": {"fran": "2026-12-15", "till": "2026-12-18", "antal_dagar": 4, "ersatts": True,
                                 "grund": "beslut bakåtdaterat till dag 0"}}
    assert final["data"]["eskalering_kontakt_med_utforare"] == ESKALERA["eskalering_kontakt_med_utforare"]
    created = [e["detail"]["task"] for e in final["history"] if e["action"] == "task_created"]
    # (the report to Mottagningsfunktionen and the lasting-need report start together on day 0)
    assert created[0] == "utoka_akut"
    assert sorted(created[1:3]) == ["informera_om_varaktigt_behov", "meddela_handlaggare"]
    assert created[3:] == ["bekrafta_uppstart", "eskalera_varaktigt_behov", "uppfoljning_dag_14", "inhamta_ansokan",
                           "fatta_beslut"]
    assert [e["detail"]["task"] for e in final["history"] if e["action"] == "timer_fired"] == [
        "varaktigt_behov_tidsgrans", "dag_14"]
    assert all(t["status"] != "open" for t in final["tasks"]) and final["timers"] == []


def received(api: Api) -> list[str]:
    """Every response body ``api`` receives from now on (to look for personal data that must not reach it)."""
    bodies: list[str] = []
    api.http.hooks["response"].append(lambda response, *args, **kwargs: bodies.append(response.text))
    return bodies


def test_only_the_clients_provider_is_offered_its_tasks_and_a_competitor_sees_nothing(story: Story) -> None:
    s = story
    name, personnummer = "Tora Testsson", "19121212-1212"
    instance = s.report({**START, "brukare_namn": name, "personnummer": personnummer})
    utoka = s.only("kim", "utoka_akut")
    assert personnummer in s.as_("vera").get(f"/api/v1/instances/{instance['id']}").text  # the plant took

    # the competitor's unit manager (same role, same district): no task, no case, no way to act
    kajsa = s.as_("kajsa")
    bodies = received(kajsa)
    assert kajsa.ok("GET", "/api/v1/tasks")["items"] == []
    assert kajsa.ok("GET", "/api/v1/tasks", params={"assigned": "unassigned"})["items"] == []
    assert kajsa.get(f"/api/v1/tasks/{utoka['id']}").status_code == 404
    assert kajsa.get(f"/api/v1/instances/{instance['id']}").status_code == 404
    assert kajsa.ok("GET", "/api/v1/instances", params={"process": KEY})["items"] == []
    assert kajsa.post(f"/api/v1/tasks/{utoka['id']}/claim").status_code == 404
    assert kajsa.post(f"/api/v1/tasks/{utoka['id']}/complete", json={"data": UTOKA}).status_code == 404

    # the client's provider sees its own task, with its form, and acts on it
    detail = steps.task_detail(s.as_("kim"), utoka)
    assert detail["lane"] == "Enhetschef/samordnare utförare" and detail["case_ref"] is None
    assert set(detail["form"]["schema"]["properties"]) >= {"forandrat_behov", "dag_0", "bedomd_varaktighet"}
    # its form is closed: a field it does not declare is refused by name
    assert "brukare_namn" in s.refused("kim", utoka, {**UTOKA, "brukare_namn": name})
    done = s.complete("kim", utoka, {**UTOKA, "bedomd_varaktighet": "langre_an_14_dagar"})
    assert [t["name"] for t in done["next_tasks"]] == ["informera_om_varaktigt_behov"]
    informera = s.only("kim", "informera_om_varaktigt_behov")

    # the provider's second task goes to the provider too — never to the competitor
    assert kajsa.ok("GET", "/api/v1/tasks")["items"] == []
    assert kajsa.get(f"/api/v1/tasks/{informera['id']}").status_code == 404
    assert kajsa.post(f"/api/v1/tasks/{informera['id']}/complete", json={"data": INFORMERA}).status_code == 404
    assert kajsa.get(f"/api/v1/instances/{instance['id']}").status_code == 404
    # the authority's side works on as before; the competitor still learns nothing
    s.complete("mf", s.only("mf", "meddela_handlaggare"), MEDDELA)
    assert s.only("bo", "bekrafta_uppstart")["instance_id"] == instance["id"]
    assert kajsa.get(f"/api/v1/instances/{instance['id']}").status_code == 404
    assert bodies and not any(name in b or personnummer in b or "HT-2026-0815" in b for b in bodies)
    assert s.instance(instance["id"])["data"]["utforare"] == UTFORARE


LASTING = {"name": "varaktigt_behov_konstaterat", "data": {"bedomning": "Rehabiliteringen tar flera veckor"}}


def test_a_lasting_need_recorded_on_day_5_is_due_with_the_handlaggare_by_day_12(story: Story) -> None:
    s = story
    # day 0: the increase is judged to last at most 14 days; no report is due yet
    instance = s.begin()
    assert s.inbox("kim") == []

    # day 5 (Sunday 2026-12-06): the coordinator records on the case that the need will last
    SYSTEM_CLOCK.set(datetime(2026, 12, 6, 10, 0, tzinfo=STOCKHOLM))
    path = f"/api/v1/instances/{instance['id']}/messages"
    assert s.as_("kajsa").post(path, json=LASTING).status_code == 404  # the competitor: no such case
    assert s.as_("bo").post(path, json=LASTING).status_code == 403  # the provider's action, not hers
    refused = s.as_("kim").post(path, json={**LASTING, "data": {}})
    assert refused.status_code == 422 and "bedomning" in refused.json()["errors"]
    steps.message(s.as_("kim"), instance, "varaktigt_behov_konstaterat", LASTING["data"])

    # the week runs from then: the report is due by the end of day 12 (2026-12-13), escalated after it
    informera = s.only("kim", "informera_om_varaktigt_behov")
    day_12_ends = datetime(2026, 12, 14, 0, 0, tzinfo=STOCKHOLM)
    assert local(informera["due_at"]) == day_12_ends
    [deadline] = s.timers(instance["id"], "varaktigt_behov_tidsgrans")
    assert local(deadline["due_at"]) == day_12_ends
    assert s.timers(instance["id"], "avtalsperioden_slut") == []
    assert s.as_("kim").post(path, json=LASTING).status_code == 409  # recorded once
    case = s.instance(instance["id"])
    assert case["data"]["varaktigt_behov_konstaterat"] == "2026-12-06"
    assert case["data"]["behov_konstaterat"] == UTOKA["behov_konstaterat"]  # what she typed on day 0 stays
    s.complete("kim", informera, INFORMERA)
    assert s.timers(instance["id"], "varaktigt_behov_tidsgrans") == []
    # the case page shows the reasoning under the message's title; the competitor has no such case
    page = case_page(s, "bo", instance["id"])
    assert page.status_code == 200
    assert re.search(r'<h3 id="step-\d+">Varaktigt behov konstaterat\s', page.text)
    assert "Varför behovet bedöms vara varaktigt" in page.text and LASTING["data"]["bedomning"] in page.text
    competitor = case_page(s, "kajsa", instance["id"])
    assert competitor.status_code == 404 and LASTING["data"]["bedomning"] not in competitor.text


def case_page(s: Story, username: str, instance_id: str) -> requests.Response:
    """The case page as ``username`` reads it in a browser (signed in through the form)."""
    from service.operations.users import set_password

    set_password(s.h.services, username, "Lösenord-för-sidan-1")
    http = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get(f"{s.h.url}/logga-in").text)[1]  # type: ignore[index]
    http.post(f"{s.h.url}/logga-in", data={"username": username, "password": "Lösenord-för-sidan-1",
                                           "csrf_token": token})
    return http.get(f"{s.h.url}/arenden/{instance_id}")


def test_missed_steps_escalate_and_the_day_14_follow_up_comes_regardless(story: Story) -> None:
    s = story
    # Tuesday 2026-12-01 09:00: the increase starts; Mottagningsfunktionen has one working day
    instance = s.report()
    s.complete("kim", s.only("kim", "utoka_akut"), UTOKA)
    meddela = s.only("mf", "meddela_handlaggare")
    assert local(meddela["due_at"]) == datetime(2026, 12, 2, 9, 0, tzinfo=STOCKHOLM)
    SYSTEM_CLOCK.set(datetime(2026, 12, 2, 8, 59, tzinfo=STOCKHOLM))
    assert fire_due_timers(s.h.services) == 0 and s.inbox("erik") == []

    # missed: the chef is told; the step stays with Mottagningsfunktionen, who does it late
    SYSTEM_CLOCK.set(datetime(2026, 12, 2, 9, 1, tzinfo=STOCKHOLM))
    assert fire_due_timers(s.h.services) == 1
    eskalering = s.only("erik", "eskalera_meddela")
    assert eskalering["title"] == "Eskalering: handläggaren har inte meddelats inom 1 arbetsdag" + SUFFIX
    assert eskalering["lane"] == "Enhetschef myndighet" and eskalering["district"] == "Sydväst"
    s.as_("erik").ok("POST", f"/api/v1/tasks/{eskalering['id']}/claim")
    s.complete("erik", eskalering, {"eskalering_atgard": "Ringde Mottagningsfunktionen"})
    SYSTEM_CLOCK.set(datetime(2026, 12, 2, 10, 0, tzinfo=STOCKHOLM))
    s.complete("mf", s.only("mf", "meddela_handlaggare"), MEDDELA)

    # the handläggare has two working days to confirm; she does not, and the chef is told
    bekrafta = s.only("bo", "bekrafta_uppstart")
    assert local(bekrafta["due_at"]) == datetime(2026, 12, 4, 10, 0, tzinfo=STOCKHOLM)
    SYSTEM_CLOCK.set(datetime(2026, 12, 4, 10, 1, tzinfo=STOCKHOLM))
    assert fire_due_timers(s.h.services) == 1
    eskalering = s.only("erik", "eskalera_bekraftelse")
    assert eskalering["title"] == "Eskalering: uppstarten har inte bekräftats inom 2 arbetsdagar" + SUFFIX
    assert s.only("bo", "bekrafta_uppstart")["id"] == bekrafta["id"]  # still hers

    # day 14 comes from day 0 all the same: the unconfirmed start gives way to the follow-up, with her
    uppfoljning = s.day_14(instance["id"], timer="bekrafta_dag_14")
    assert uppfoljning["assignee"] == "bo"
    assert s.inbox("bo", "bekrafta_uppstart") == []
    s.complete("bo", uppfoljning, OVERGAENDE)
    s.complete("erik", s.only("erik", "eskalera_bekraftelse"), {"eskalering_atgard": "Påmint handläggaren"})
    final = s.instance(instance["id"])
    assert final["state"] == "completed", final["tasks"]


def test_a_municipality_without_districts_is_never_offered_goteborgs(story: Story,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    s = story

    def start_form() -> dict[str, Any]:
        schema: dict[str, Any] = s.as_("kim").ok("GET", f"/api/v1/processes/{KEY}")["start_form"]["schema"]
        return schema

    # Göteborg (the default configuration): the start form offers its four stadsområden
    assert start_form()["properties"]["stadsomrade"]["enum"] == ["Centrum", "Hisingen", "Nordost", "Sydväst"]

    # Staffanstorp has no districts (SAMVERKAN_DISTRICTS=""): no district field, and one typed anyway is refused
    monkeypatch.setattr("service.directory.DISTRICTS", frozenset())
    schema = start_form()
    assert "stadsomrade" not in schema["properties"] and "stadsomrade" not in schema["required"]
    refused = s.as_("kim").post("/api/v1/instances", json={"process": KEY, "data": START})
    assert refused.status_code == 422 and "stadsomrade" in refused.json()["errors"], refused.text
    without = {k: v for k, v in START.items() if k != "stadsomrade"}
    instance = s.report(without)
    utoka = s.only("kim", "utoka_akut")
    assert utoka["district"] is None and utoka["instance_id"] == instance["id"]
    assert s.inbox("kajsa") == []  # still only the client's own provider
