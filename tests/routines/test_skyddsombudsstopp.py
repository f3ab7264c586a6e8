"""R1 Skyddsombudsstopp end to end through the HTTP API, on SQLite and PostgreSQL.

A safety representative has stopped work at a provider unit. The unit manager (Enhetschef
utförare) reports the stop with the affected clients; for each client the contact goes to the
responsible socialsekreterare when reached, otherwise to the client's district Mottag in office
hours or Socialjouren when the offices are closed; an unacknowledged contact escalates after two
hours by the clock to whoever is on duty then (Mottag while the offices are open, Socialjouren when
they are closed; after Mottag in office hours, Myndighet), and an unacknowledged Socialjouren task to
Myndighet after two more hours. Then
Dialog om behov, Informera den enskilde och hantera ansökan, Myndighet's decision on informing
other providers (a disclosure across a confidentiality boundary), a daily follow-up while the
process waits for ``stopp_havt`` (the socialsekreterare's on working days, Socialjouren's on
closed days; needs not met go at once to Enhetschef myndighet), and Avslut per client with a
summary kept for the case.

The story runs on the real routines (``bpmn/skyddsombudsstopp.bpmn``, ``forms/skyddsombudsstopp/``)
with the clock placed in office hours (Tuesday 2026-12-01 10:00 Europe/Stockholm) or outside them.

The stopped unit belongs to a provider company (Omsorg Nordost AB); a competitor works in the same
district with the same role. Need to know (DESIGN.md, "Access to case data"): the competitor never
learns that the case exists, and only the stopped unit's manager tells the case the stop is lifted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from service.clock import STOCKHOLM, SYSTEM_CLOCK
from service.config import ROOT
from service.models import HumanTask
from service.operations.timers import fire_due_timers
from tests.conftest import Api, Harness
from tests.routines import story as steps
from tests.routines.story import ALL_DISTRICTS, Cast

KEY = "skyddsombudsstopp"
#: The provider whose unit is stopped, and a competitor in the same district.
UTFORARE, KONKURRENT = "omsorg_nordost", "vardbolaget_nordost"
#: Personal data a unit manager may well write into the free text of the report: it must reach
#: nobody outside the case.
KLIENT_NAMN, PERSONNUMMER = "Tora Testsson", "19121212-1212"
TUESDAY_10 = datetime(2026, 12, 1, 10, 0, tzinfo=STOCKHOLM)
SATURDAY_10 = datetime(2026, 12, 5, 10, 0, tzinfo=STOCKHOLM)
TUESDAY_EVENING = datetime(2026, 12, 1, 19, 30, tzinfo=STOCKHOLM)
JULAFTON_10 = datetime(2026, 12, 24, 10, 0, tzinfo=STOCKHOLM)  # a Thursday, but the offices are closed

SOL = "SoL – skälig levnadsnivå"
LSS = "LSS – goda levnadsvillkor"

KVITTERA = {"kontakt_kvitterad": True}
DIALOG = {"dialog_datum": "2026-12-01", "enhetschef_i_dialogen": "Eva Enhetschef",
          "behov_under_stoppet": "Hjälp vid förflyttning morgon och kväll",
          "alternativa_utforarformer": "Korttidsboende under stoppet", "alternativ_insats_kan_behovas": True,
          "dialog_utfall": "Korttidsboende utreds"}
BEVILJAD = {"enskilde_informerad_datum": "2026-12-01", "information_om_alternativ": "Korttidsboende",
            "ansokan_inkommen": True, "utredning_visar_behov": True, "samtycke_fran_den_enskilde": True,
            "utfall_ansokan": "beviljad_alternativ_insats", "alternativ_insats": "Korttidsboende",
            "alternativ_insats_fran": "2026-12-02", "motivering": "Utredningen visar behov; brukaren samtycker"}
EJ_BEHOV = {"enskilde_informerad_datum": "2026-12-01", "information_om_alternativ": "Korttidsboende",
            "ansokan_inkommen": False, "utredning_visar_behov": False, "samtycke_fran_den_enskilde": False,
            "utfall_ansokan": "ej_behov", "motivering": "Anhöriga hjälper under stoppet"}
AVBOJER = {"enskilde_informerad_datum": "2026-12-01", "information_om_alternativ": "Korttidsboende",
           "ansokan_inkommen": False, "utredning_visar_behov": True, "samtycke_fran_den_enskilde": False,
           "utfall_ansokan": "den_enskilde_avbojer", "motivering": "Brukaren vill bo kvar hemma"}
SAMTYCKE = {"grund": "samtycke", "samtycke_typ": "uttryckligt", "samtycke_form": "skriftligt",
            "mottagare": ["andra_utforare"], "enheter": ["Dagverksamhet Nordost"],
            "aktiviteter": ["skyddsombudsstopp"], "giltig_fran": "2026-12-01", "giltig_till": "2027-03-01",
            "aterkallad": None}
# a duty to disclose runs to another authority only: recorded for other providers it covers nobody
UPPGIFTSSKYLDIGHET = {"grund": "sekretessbrytande_regel", "regel": "uppgiftsskyldighet",
                      "mottagare": ["andra_utforare"], "giltig_fran": "2026-12-01"}
# an oral consent for today only
SAMTYCKE_IDAG = {**SAMTYCKE, "samtycke_form": "muntligt", "giltig_till": "2026-12-01"}
INFORMERA_JA = {"andra_utforare_ska_informeras": True,
                "sekretessbedomning": "Dagverksamheten behöver veta att morgonbesöket uteblir",
                "utforare_att_informera": ["Dagverksamhet Nordost"], "utlamningsgrunder": [SAMTYCKE]}
INFORMERA_NEJ = {"andra_utforare_ska_informeras": False, "sekretessbedomning": "Inga andra utförare berörs"}
INFORMERAT = {"informerade_utforare": [{"utforare": "Dagverksamhet Nordost", "informerad_datum": "2026-12-01",
                                        "kanal": "telefon", "lamnade_uppgifter": "Morgonbesöket uteblir"}]}
UPPF_OK = {"behoven_tillgodoses": True, "uppfoljning_kommentar": "Anhöriga hjälper"}
AVSLUT_ALT = {"ordinarie_insats_aterupptagen": "2026-12-10T07:00:00+01:00", "alternativ_insats_avslut": "avslutad",
              "alternativ_insats_avslutad_datum": "2026-12-10", "avslut_sammanfattning": "Åter hem, hemtjänst igen"}
AVSLUT_INGEN = {"ordinarie_insats_aterupptagen": "2026-12-10T07:00:00+01:00",
                "alternativ_insats_avslut": "ingen_alternativ_insats", "avslut_sammanfattning": "Hemtjänst igen"}


def brukare(ref: str, lagrum: str, socialsekreterare: str, stadsomrade: str, nadd: bool) -> dict[str, Any]:
    return {"arendereferens": ref, "lagrum": lagrum, "berord_insats": "Hemtjänst",
            "socialsekreterare": socialsekreterare, "stadsomrade": stadsomrade, "socialsekreterare_nadd": nadd}


def anmalan(*clients: dict[str, Any]) -> dict[str, Any]:
    return {
        "utforare": UTFORARE, "utforarenhet": "Hemtjänst Nordost 3", "stadsomrade": "Nordost",
        "stopp_avser": "Förflyttningar utan taklyft i två lägenheter",
        "galler_fran": SYSTEM_CLOCK.local_now().isoformat(timespec="seconds"),
        "forvantad_varaktighet": "okant", "omfattning": "delar_av_insatsen",
        "stoppade_delar": "Morgon- och kvällsbesök med förflyttning",
        "krav_for_aterstart": "Taklyft installerad", "tidsplan_for_aterstart": "Cirka två veckor",
        "varfor_inte_egna_atgarder": "Ingen taklyft går att hyra inom en vecka",
        "berorda_brukare": list(clients),
    }


class Story(Cast):
    """The service with the real routines, the people of R1's lanes (in Nordost unless said otherwise),
    and the clock; people's tokens are renewed as the story jumps a day ahead (see :class:`Cast`)."""

    districts = ("Nordost",)

    def __init__(self, h: Harness) -> None:
        super().__init__(h)
        self._client_of: dict[str, str | None] = {}

    def report(self, *clients: dict[str, Any]) -> dict[str, Any]:
        """The unit manager reports the stop; returns the new instance."""
        return steps.start_instance(self.as_("eva"), KEY, anmalan(*clients), case_ref="AML-2026-17")

    def inbox(self, who: str, name: str | None = None, **params: str) -> list[dict[str, Any]]:
        return steps.inbox(self.as_(who), name, process=KEY, **params)

    def task(self, who: str, name: str, ref: str) -> dict[str, Any]:
        """The one open task ``name`` about the client ``ref`` that ``who`` may act on.

        Which client a task is about is in its data (``GET /tasks/{id}``); an open task's data does
        not change, so each task is opened once.
        """
        found = []
        for summary in self.inbox(who, name):
            if summary["id"] not in self._client_of:
                data = steps.task_detail(self.as_(who), summary)["data"]
                client: dict[str, Any] = next(
                    (data[k] for k in ("brukare", "brukare_uppfoljning", "utfall_for_brukare")
                     if isinstance(data.get(k), dict)), {})
                self._client_of[summary["id"]] = client.get("arendereferens")
            if self._client_of[summary["id"]] == ref:
                found.append(summary)
        assert len(found) == 1, f"{who} has {len(found)} open {name} about {ref}"
        return found[0]

    def complete(self, who: str, task: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        return steps.submit(self.as_(who), task, data)

    def refused(self, who: str, task: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """Completing is refused with 422 and the task stays open; returns the problem."""
        problem: dict[str, Any] = steps.refused(self.as_(who), task, data, process=KEY).json()
        return problem

    def instance(self, instance_id: str, who: str = "kerstin") -> dict[str, Any]:
        """The case as ``who`` sees it; by default as the authority's chef, who sees the whole case."""
        return steps.read(self.as_(who), instance_id)

    def timers(self, instance_id: str, name: str | None = None) -> list[dict[str, Any]]:
        return steps.timers(self.as_("adam"), instance_id, name)

    def fire(self, instance_id: str, name: str) -> dict[str, Any]:
        """The monitoring console fires the only pending timer ``name`` of the instance."""
        [timer] = self.timers(instance_id, name)
        steps.fire(self.as_("adam"), timer)
        return timer

    def lift_stop(self, instance_id: str, datum: str) -> dict[str, Any]:
        """The unit manager sends ``stopp_havt`` with the date the stop was lifted."""
        return steps.message(self.as_("eva"), instance_id, "stopp_havt",
                             {"datum": datum, "kommentar": "Taklyft installerad"})


def case_page(s: Story, username: str, instance_id: str) -> str:
    """The case page's HTML as ``username`` sees it (signed in by session, as the pages do)."""
    from sqlalchemy import select

    from service.models import User

    with s.h.services.db.read() as db:
        user = db.scalars(select(User).where(User.username == username)).one()
        epoch = getattr(user, "session_epoch", 0)  # the session belongs to the user's current sign-in epoch
    client = s.h.server.app.test_client()
    with client.session_transaction() as session:
        session["username"], session["epoch"] = username, epoch
    response = client.get(f"/arenden/{instance_id}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def local(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(STOCKHOLM)


def assert_due(task: dict[str, Any], expected: datetime) -> None:
    """Due dates follow the clock, which keeps running from where the story set it."""
    assert abs(local(task["due_at"]) - expected) < timedelta(minutes=1), (task["due_at"], expected)


@pytest.fixture
def story(harness: Harness) -> Iterator[Story]:
    """R1's people (two districts for most roles) on the real routines, on a Tuesday at 10:00: the
    stopped unit's manager at her provider company, a competitor's unit manager in the same district,
    and the authority's people."""
    harness.deploy_dir(ROOT / "bpmn", ROOT / "forms")
    SYSTEM_CLOCK.set(TUESDAY_10)
    s = Story(harness)
    s.organisation(UTFORARE, "utforare", "Omsorg Nordost AB")
    s.organisation(KONKURRENT, "utforare", "Vårdbolaget Nordost AB")
    s.user("eva", "enhetschef_utforare", organisation=UTFORARE)
    s.user("ester", "enhetschef_utforare", organisation=KONKURRENT)  # same role, same district
    s.user("kerstin", "chef", districts=ALL_DISTRICTS)
    s.user("sara", "socialsekreterare")
    s.user("sven", "socialsekreterare")  # a colleague of sara's in Nordost
    s.user("olle", "socialsekreterare", districts=("Hisingen",))
    s.user("karin", "socialsekreterare", districts=("Hisingen",))
    s.user("mona", "mottag")
    s.user("hilda", "mottag", districts=("Hisingen",))
    s.user("jour", "socialjouren", districts=ALL_DISTRICTS)
    s.user("maja", "myndighet")
    s.user("mats", "myndighet", districts=("Hisingen",))
    s.user("adam", "admin")
    yield s


def test_contact_goes_to_the_reached_socialsekreterare_or_the_districts_mottag(
        story: Story, monkeypatch: pytest.MonkeyPatch) -> None:
    s = story
    # the report must say when the stop is expected to end (or that it is unknown) and name the clients
    incomplete = {**anmalan(brukare("SoL-2026-101", "SoL", "sara", "Nordost", True)),
                  "forvantad_varaktighet": "datum", "berorda_brukare": []}
    response = s.as_("eva").post("/api/v1/instances", json={"process": KEY, "data": incomplete})
    assert response.status_code == 422
    assert {"forvantat_slutdatum", "berorda_brukare"} <= set(response.json()["errors"])
    # only the provider's unit manager reports a stop
    assert s.as_("sara").post("/api/v1/instances", json={
        "process": KEY, "data": anmalan(brukare("SoL-2026-101", "SoL", "sara", "Nordost", True))}).status_code == 403

    # Tuesday 10:00: the unit manager reports the stop for two clients in two districts; she reached
    # sara (Nordost, SoL) but not olle (Hisingen, LSS)
    instance = s.report(brukare("SoL-2026-101", "SoL", "sara", "Nordost", True),
                        brukare("LSS-2026-202", "LSS", "olle", "Hisingen", False))
    assert instance["state"] == "running"

    # sara's own task shows the law's requirement and the district, due in two working hours
    [kvittens] = s.inbox("sara", assigned="me")
    assert kvittens["name"] == "kvittera_socialsekreterare" and kvittens["assignee"] == "sara"
    with s.h.services.db.read() as db:  # two clock hours: told in clock time, not working time
        assert db.get(HumanTask, kvittens["id"]).due_counts is None
    assert kvittens["title"] == f"Skyddsombudsstopp: kvittera kontakt ({SOL}, Nordost)"
    assert kvittens["lane"] == "Socialsekreterare" and kvittens["district"] == "Nordost"
    assert_due(kvittens, TUESDAY_10 + timedelta(hours=2))
    detail = s.as_("sara").ok("GET", f"/api/v1/tasks/{kvittens['id']}")
    assert detail["data"]["brukare"]["arendereferens"] == "SoL-2026-101"
    assert detail["form"]["schema"]["properties"]["kontakt_kvitterad"]["const"] is True

    # olle was not reached in office hours: Hisingen's Mottag gets the contact, for anyone there to claim
    [mottag] = s.inbox("hilda", "kvittera_mottag", assigned="unassigned")
    assert mottag["assignee"] is None and mottag["district"] == "Hisingen" and mottag["lane"] == "Mottag"
    assert mottag["title"] == f"Skyddsombudsstopp: kvittera kontakt – socialsekreteraren ej nådd ({LSS}, Hisingen)"
    assert_due(mottag, TUESDAY_10 + timedelta(hours=2))

    # nobody else has anything: not olle, not Nordost's Mottag, not Socialjouren, not sara's colleague
    for who in ("olle", "mona", "jour", "sven", "karin", "maja", "eva"):
        assert s.inbox(who) == [], who
    # the colleague may not take sara's task either: not his client, so not his case (404, not 403)
    assert s.as_("sven").post(f"/api/v1/tasks/{kvittens['id']}/complete",
                              json={"data": KVITTERA}).status_code == 404
    # two acknowledgement deadlines run, and the daily follow-up while the stop lasts
    names = sorted(t["task"] for t in s.timers(instance["id"]))
    assert names == ["daglig_uppfoljning", "kvittens_tidsgrans_mottag", "kvittens_tidsgrans_socialsekreterare"]

    # sara acknowledges; Hisingen's Mottag claims the contact and names karin to handle it during the stop
    done = s.complete("sara", kvittens, {**KVITTERA, "kvittens_kommentar": "Enhetschefen ringde 09:55"})
    assert [t["name"] for t in done["next_tasks"]] == ["dialog_om_behov"]
    s.as_("hilda").ok("POST", f"/api/v1/tasks/{mottag['id']}/claim")
    assert s.inbox("hilda", assigned="me")[0]["id"] == mottag["id"]
    s.complete("hilda", mottag, {**KVITTERA, "handlaggare_under_stoppet": "karin"})

    # the dialog about needs lands with whoever handles each client during the stop
    [dialog_sara] = s.inbox("sara", "dialog_om_behov", assigned="me")
    assert dialog_sara["title"] == f"Skyddsombudsstopp: dialog om behov med enhetschefen ({SOL}, Nordost)"
    [dialog_karin] = s.inbox("karin", "dialog_om_behov", assigned="me")
    assert dialog_karin["title"] == f"Skyddsombudsstopp: dialog om behov med enhetschefen ({LSS}, Hisingen)"
    assert s.inbox("olle") == [] and s.inbox("hilda") == []
    # both contacts are acknowledged: only the daily follow-up is left to run
    assert [t["task"] for t in s.timers(instance["id"])] == ["daglig_uppfoljning"]
    assert s.instance(instance["id"])["state"] == "running"

    # the deadline and the follow-up rhythm are product choices, configured without touching the diagram
    monkeypatch.setenv("SAMVERKAN_R1_ACK_HOURS", "4")
    monkeypatch.setenv("SAMVERKAN_R1_FOLLOWUP_CYCLE", "R/PT12H")
    configured = s.report(brukare("SoL-2026-111", "SoL", "sven", "Nordost", True))
    [kvittens_sven] = s.inbox("sven", "kvittera_socialsekreterare")
    assert_due(kvittens_sven, TUESDAY_10 + timedelta(hours=4))
    [daily] = s.timers(configured["id"], "daglig_uppfoljning")
    assert abs(local(daily["due_at"]) - (TUESDAY_10 + timedelta(hours=12))) < timedelta(minutes=1)


def test_outside_office_hours_the_contact_goes_to_socialjouren(story: Story) -> None:
    s = story
    # a weekday evening, a Saturday and Christmas Eve (a Thursday): the social offices are closed
    closed = ((TUESDAY_EVENING, datetime(2026, 12, 2, 8, 0, tzinfo=STOCKHOLM)),
              (SATURDAY_10, datetime(2026, 12, 7, 8, 0, tzinfo=STOCKHOLM)),
              (JULAFTON_10, datetime(2026, 12, 28, 8, 0, tzinfo=STOCKHOLM)))
    for when, _opening in closed:
        SYSTEM_CLOCK.set(when)
        # olle could not be reached, so Socialjouren takes the contact; sara was reached
        instance = s.report(brukare("SoL-2026-404", "SoL", "olle", "Hisingen", False),
                            brukare("LSS-2026-505", "LSS", "sara", "Nordost", True))
        [jour] = s.inbox("jour", "kvittera_socialjouren", instance=instance["id"])
        assert jour["lane"] == "Socialjouren" and jour["district"] == "Hisingen" and jour["assignee"] is None
        assert jour["title"] == f"Skyddsombudsstopp: kvittera kontakt – socialjour ({SOL}, Hisingen)"
        assert_due(jour, when + timedelta(hours=2))  # Socialjouren works now: clock hours
        for who in ("hilda", "mona", "olle"):
            assert s.inbox(who, instance=instance["id"]) == [], (when, who)
        # a socialsekreterare who was reached still gets her task, due two hours later by the clock
        [kvittens] = s.inbox("sara", "kvittera_socialsekreterare", instance=instance["id"])
        assert kvittens["title"] == f"Skyddsombudsstopp: kvittera kontakt ({LSS}, Nordost)"
        assert_due(kvittens, when + timedelta(hours=2))

    # Socialjouren must say what it did for the client until the offices open
    problem = s.refused("jour", jour, KVITTERA)
    assert "akuta_atgarder" in problem["errors"]
    s.complete("jour", jour, {**KVITTERA, "akuta_atgarder": "Anhörig kontaktad, kommer i kväll"})
    # the client's own socialsekreterare takes the dialog when the offices open
    [dialog] = s.inbox("olle", "dialog_om_behov")
    assert dialog["district"] == "Hisingen" and dialog["assignee"] == "olle"
    assert dialog["instance_id"] == instance["id"]


def test_an_unacknowledged_contact_escalates_to_mottag_then_to_whoever_is_on_duty(story: Story) -> None:
    s = story
    # sara was reached at 10:00 but does not acknowledge
    instance = s.report(brukare("SoL-2026-101", "SoL", "sara", "Nordost", True))
    [kvittens] = s.inbox("sara", "kvittera_socialsekreterare")
    [deadline] = s.timers(instance["id"], "kvittens_tidsgrans_socialsekreterare")
    assert abs(local(deadline["due_at"]) - local(kvittens["due_at"])) < timedelta(seconds=2)
    assert s.inbox("mona") == []  # Mottag has nothing before the deadline

    # 12:00, two working hours later: the deadline fires and the contact escalates to Nordost's Mottag
    SYSTEM_CLOCK.set(TUESDAY_10 + timedelta(hours=2))
    s.fire(instance["id"], "kvittens_tidsgrans_socialsekreterare")
    assert s.inbox("sara") == []  # her task was withdrawn
    [mottag] = s.inbox("mona", "kvittera_mottag")
    assert mottag["district"] == "Nordost"
    assert "socialsekreteraren ej nådd" in mottag["title"] and SOL in mottag["title"]
    assert_due(mottag, TUESDAY_10 + timedelta(hours=4))
    assert s.inbox("hilda") == [] and s.inbox("jour") == []
    history = s.instance(instance["id"])["history"]
    assert any(e["action"] == "task_cancelled" and e["detail"]["task"] == "kvittera_socialsekreterare"
               for e in history)

    # 14:00: Mottag has not acknowledged either. The offices are open, so Socialjouren is not on duty:
    # the contact goes up to Myndighet (the chef of the client's district)
    SYSTEM_CLOCK.set(TUESDAY_10 + timedelta(hours=4))
    s.fire(instance["id"], "kvittens_tidsgrans_mottag")
    assert s.inbox("mona") == [] and s.inbox("jour") == []
    [chef] = s.inbox("maja", "kvittera_myndighet")
    assert chef["district"] == "Nordost" and chef["lane"] == "Myndighet" and SOL in chef["title"]
    assert_due(chef, TUESDAY_10 + timedelta(hours=6))
    assert sorted(t["task"] for t in s.timers(instance["id"])) == ["daglig_uppfoljning"]
    s.complete("maja", chef, {**KVITTERA, "akuta_atgarder": "Inga"})
    assert [t["name"] for t in s.inbox("sara")] == ["dialog_om_behov"]

    # a contact acknowledged by nobody until closing time goes straight to Socialjouren:
    # reached at 15:00, the deadline is 17:00, when the offices close
    SYSTEM_CLOCK.set(TUESDAY_10 + timedelta(hours=5))
    late = s.report(brukare("LSS-2026-606", "LSS", "olle", "Hisingen", True))
    [kvittens_olle] = s.inbox("olle", "kvittera_socialsekreterare")
    assert_due(kvittens_olle, datetime(2026, 12, 1, 17, 0, tzinfo=STOCKHOLM))
    # and one that Nordost's Mottag took at 15:00 and has not acknowledged when the offices close
    evening = s.report(brukare("SoL-2026-707", "SoL", "sara", "Nordost", False))
    [mottag_evening] = s.inbox("mona", "kvittera_mottag", instance=evening["id"])
    SYSTEM_CLOCK.set(datetime(2026, 12, 1, 17, 0, 30, tzinfo=STOCKHOLM))
    assert fire_due_timers(s.h.services) == 2  # the scheduler's path: only these two deadlines are due
    # Mottag's deadline passed after closing time: Socialjouren is on duty then, not Myndighet
    assert s.inbox("mona", instance=evening["id"]) == [] and s.inbox("maja", instance=evening["id"]) == []
    [jour] = s.inbox("jour", "kvittera_socialjouren", instance=evening["id"])
    assert jour["district"] == "Nordost" and SOL in jour["title"]
    # Socialjouren's own deadline runs beside the daily follow-up
    assert sorted(t["task"] for t in s.timers(evening["id"])) == ["daglig_uppfoljning",
                                                                   "kvittens_tidsgrans_socialjouren"]
    assert s.inbox("olle") == [] and s.inbox("hilda") == []
    [jour_olle] = s.inbox("jour", "kvittera_socialjouren", instance=late["id"])
    assert jour_olle["instance_id"] == late["id"] and jour_olle["district"] == "Hisingen" and LSS in jour_olle["title"]


def test_each_client_gets_an_outcome_and_the_case_keeps_a_summary(story: Story) -> None:
    s = story
    # three clients, all socialsekreterare reached: two in Nordost (sara), one in Hisingen (olle)
    instance = s.report(brukare("SoL-2026-101", "SoL", "sara", "Nordost", True),
                        brukare("LSS-2026-202", "LSS", "olle", "Hisingen", True),
                        brukare("SoL-2026-303", "SoL", "sara", "Nordost", True))
    assert len(s.inbox("sara", "kvittera_socialsekreterare")) == 2
    for who, ref in (("sara", "SoL-2026-101"), ("olle", "LSS-2026-202"), ("sara", "SoL-2026-303")):
        s.complete(who, s.task(who, "kvittera_socialsekreterare", ref), KVITTERA)

    # Dialog om behov with the unit manager: the outcome must be recorded
    dialog = s.task("sara", "dialog_om_behov", "SoL-2026-101")
    assert "dialog_utfall" in s.refused("sara", dialog, {k: v for k, v in DIALOG.items() if k != "dialog_utfall"})[
        "errors"]
    for who, ref in (("sara", "SoL-2026-101"), ("olle", "LSS-2026-202"), ("sara", "SoL-2026-303")):
        s.complete(who, s.task(who, "dialog_om_behov", ref), DIALOG)

    # client 101: an alternative insats may only be granted when an investigation shows the need
    # and the client agrees
    informera = s.task("sara", "informera_enskilde_och_hantera_ansokan", "SoL-2026-101")
    assert informera["title"] == f"Skyddsombudsstopp: informera den enskilde och hantera ansökan ({SOL}, Nordost)"
    problem = s.refused("sara", informera, {**BEVILJAD, "utredning_visar_behov": False})
    assert "utredning_visar_behov" in problem["errors"]
    problem = s.refused("sara", informera, {**BEVILJAD, "samtycke_fran_den_enskilde": False})
    assert "samtycke_fran_den_enskilde" in problem["errors"]
    assert "alternativ_insats" in s.refused("sara", informera, {
        k: v for k, v in BEVILJAD.items() if k != "alternativ_insats"})["errors"]
    done = s.complete("sara", informera, BEVILJAD)
    assert done["next_tasks"] == []  # the next step is Myndighet's, not hers
    # client 202: no need; client 303 declines (and cannot both decline and consent)
    s.complete("olle", s.task("olle", "informera_enskilde_och_hantera_ansokan", "LSS-2026-202"), EJ_BEHOV)
    avbojer = s.task("sara", "informera_enskilde_och_hantera_ansokan", "SoL-2026-303")
    assert "samtycke_fran_den_enskilde" in s.refused(
        "sara", avbojer, {**AVBOJER, "samtycke_fran_den_enskilde": True})["errors"]
    s.complete("sara", avbojer, AVBOJER)
    # the case page keeps each client's own answer, though the branches ran side by side
    page = case_page(s, "kerstin", instance["id"])
    for answer in ("Beviljad alternativ insats", "Ej behov", "Den enskilde avböjer"):
        assert answer in page, answer

    # Myndighet in each client's district decides whether other providers must be informed
    assert len(s.inbox("maja", "bedom_informera_andra_utforare")) == 2
    [hisingen] = s.inbox("mats", "bedom_informera_andra_utforare")
    assert hisingen["title"] == f"Skyddsombudsstopp: ska andra utförare informeras? ({LSS}, Hisingen)"
    s.complete("mats", s.task("mats", "bedom_informera_andra_utforare", "LSS-2026-202"), INFORMERA_NEJ)
    s.complete("maja", s.task("maja", "bedom_informera_andra_utforare", "SoL-2026-303"), INFORMERA_NEJ)
    bedom = s.task("maja", "bedom_informera_andra_utforare", "SoL-2026-101")
    # informing others needs a basis that covers other providers
    assert "utlamningsgrunder" in s.refused("maja", bedom, {
        **INFORMERA_JA, "utlamningsgrunder": [{**SAMTYCKE, "mottagare": ["region"]}]})["errors"]
    s.complete("maja", bedom, INFORMERA_JA)
    handover = s.task("maja", "informera_andra_utforare", "SoL-2026-101")
    assert handover["title"] == f"Skyddsombudsstopp: informera andra utförare ({SOL}, Nordost)"
    assert s.inbox("mats") == []  # Hisingen's Myndighet does not see a Nordost client
    s.complete("maja", handover, INFORMERAT)
    assert s.inbox("maja") == [] and s.inbox("sara") == [] and s.inbox("olle") == []

    # every contact is done; the process waits for the stop to be lifted
    waiting = s.instance(instance["id"])
    assert waiting["state"] == "waiting" and waiting["outcome"] is None
    assert [t["task"] for t in waiting["timers"]] == ["daglig_uppfoljning"]

    # 2026-12-10: the unit manager lifts the stop; Avslut per client, to whoever handled the client
    SYSTEM_CLOCK.set(datetime(2026, 12, 10, 9, 0, tzinfo=STOCKHOLM))
    assert s.lift_stop(instance["id"], "2026-12-10")["state"] == "running"
    assert len(s.inbox("sara", "avsluta_for_brukare")) == 2
    avslut = s.task("sara", "avsluta_for_brukare", "SoL-2026-101")
    assert avslut["title"] == f"Skyddsombudsstopp hävt: avslut ({SOL}, Nordost)"
    # a granted alternative insats must be recorded as ended: the task comes back until it is
    s.complete("sara", avslut, AVSLUT_INGEN)
    again = s.task("sara", "avsluta_for_brukare", "SoL-2026-101")
    assert again["id"] != avslut["id"]
    assert "alternativ_insats_avslutad_datum" in s.refused(
        "sara", again, {**AVSLUT_ALT, "alternativ_insats_avslutad_datum": None})["errors"]
    s.complete("sara", again, AVSLUT_ALT)
    s.complete("sara", s.task("sara", "avsluta_for_brukare", "SoL-2026-303"), AVSLUT_INGEN)
    s.complete("olle", s.task("olle", "avsluta_for_brukare", "LSS-2026-202"), AVSLUT_INGEN)

    # the stop is over: the summary is kept for the case
    final = s.instance(instance["id"])
    assert final["state"] == "completed" and final["outcome"] == "stoppet_avslutat" and final["ended_at"]
    assert final["timers"] == [] and all(t["status"] != "open" for t in final["tasks"])
    summary = final["data"]["sammanfattning"]
    assert summary["stopp_havt"] == "2026-12-10" and summary["stopp_fran"].startswith("2026-12-01T10:00")
    assert (summary["antal_brukare"], summary["antal_beviljad_alternativ_insats"], summary["antal_ej_behov"],
            summary["antal_avbojt"]) == (3, 1, 1, 1)
    per_client = {b["arendereferens"]: b for b in summary["brukare"]}
    assert per_client["SoL-2026-101"] == {
        "arendereferens": "SoL-2026-101", "lagrum": "SoL", "stadsomrade": "Nordost", "socialsekreterare": "sara",
        "handlaggare": "sara", "utfall_ansokan": "beviljad_alternativ_insats", "alternativ_insats": "Korttidsboende",
        "alternativ_insats_fran": "2026-12-02", "informerade_utforare": ["Dagverksamhet Nordost"],
        "andra_utforare_ska_informeras": True, "utlamningsgrunder": ["samtycke"],
        "ordinarie_insats_aterupptagen": "2026-12-10T07:00:00+01:00",
        "alternativ_insats_avslutad_datum": "2026-12-10", "avslut_sammanfattning": "Åter hem, hemtjänst igen"}
    assert per_client["LSS-2026-202"]["utfall_ansokan"] == "ej_behov"
    assert per_client["LSS-2026-202"]["alternativ_insats"] is None
    assert per_client["LSS-2026-202"]["informerade_utforare"] == []
    assert per_client["SoL-2026-303"]["utfall_ansokan"] == "den_enskilde_avbojer"
    # Myndighet's answers ran side by side, yet each client keeps its own: "Ja, med samtycke" for the
    # SoL client, "Nej" for the LSS client and the other SoL client (issue 8, item 3)
    assert (per_client["LSS-2026-202"]["andra_utforare_ska_informeras"],
            per_client["LSS-2026-202"]["utlamningsgrunder"]) == (False, [])
    assert (per_client["SoL-2026-303"]["andra_utforare_ska_informeras"],
            per_client["SoL-2026-303"]["utlamningsgrunder"]) == (False, [])
    # and the case page shows each decision under its own client's step
    page = case_page(s, "kerstin", instance["id"])
    decisions = []
    for step in page.split('<section class="step"')[1:]:
        law = re.search(r"ska andra utförare informeras\? \((SoL|LSS)", step)
        answer = re.search(r"Ska andra utförare informeras\?</dt>\s*<dd>(Ja|Nej)</dd>", step)
        if law and answer:
            decisions.append((law[1], answer[1]))
    assert sorted(decisions) == [("LSS", "Nej"), ("SoL", "Ja"), ("SoL", "Nej")], decisions
    # a message to a finished instance is a conflict
    assert s.as_("eva").post(f"/api/v1/instances/{instance['id']}/messages",
                             json={"name": "stopp_havt", "data": {"datum": "2026-12-11"}}).status_code == 409


def test_daily_follow_up_reminds_each_socialsekreterare_until_the_stop_is_lifted(story: Story) -> None:
    s = story
    instance = s.report(brukare("SoL-2026-101", "SoL", "sara", "Nordost", True),
                        brukare("LSS-2026-202", "LSS", "olle", "Hisingen", False))
    [daily] = s.timers(instance["id"], "daglig_uppfoljning")
    assert daily["kind"] == "cycle"
    assert abs(local(daily["due_at"]) - (TUESDAY_10 + timedelta(days=1))) < timedelta(minutes=1)

    # Wednesday 10:00, day one of the stop: one follow-up per client, to the client's socialsekreterare
    SYSTEM_CLOCK.set(TUESDAY_10 + timedelta(days=1))
    s.fire(instance["id"], "daglig_uppfoljning")
    [first_sara] = s.inbox("sara", "bekrafta_behov_tillgodoses")
    assert first_sara["title"] == f"Bekräfta att behoven tillgodoses under stoppet ({SOL}, Nordost)"
    assert first_sara["assignee"] == "sara"
    assert_due(first_sara, TUESDAY_10 + timedelta(days=2))
    [first_olle] = s.inbox("olle", "bekrafta_behov_tillgodoses")
    assert first_olle["district"] == "Hisingen" and LSS in first_olle["title"]
    assert s.inbox("sven", "bekrafta_behov_tillgodoses") == [] and s.inbox("karin", "bekrafta_behov_tillgodoses") == []
    # the cycle goes on: the next reminder is due a day later
    [daily] = s.timers(instance["id"], "daglig_uppfoljning")
    assert abs(local(daily["due_at"]) - (TUESDAY_10 + timedelta(days=2))) < timedelta(minutes=1)

    # a need that is not met must say what is done about it
    problem = s.refused("olle", first_olle, {"behoven_tillgodoses": False})
    assert "atgard_vid_brist" in problem["errors"]
    s.complete("olle", first_olle, {"behoven_tillgodoses": False, "atgard_vid_brist": "Extra besök av bemanningen"})
    s.complete("sara", first_sara, UPPF_OK)
    assert s.inbox("sara", "bekrafta_behov_tillgodoses") == []

    # Thursday, day two: a second round, one more task each
    SYSTEM_CLOCK.set(TUESDAY_10 + timedelta(days=2))
    s.fire(instance["id"], "daglig_uppfoljning")
    [second_sara] = s.inbox("sara", "bekrafta_behov_tillgodoses")
    assert second_sara["id"] != first_sara["id"]
    assert_due(second_sara, TUESDAY_10 + timedelta(days=3))
    assert len(s.inbox("olle", "bekrafta_behov_tillgodoses")) == 1
    s.complete("sara", second_sara, UPPF_OK)
    completed = [t for t in s.instance(instance["id"])["tasks"]
                 if t["name"] == "bekrafta_behov_tillgodoses" and t["status"] == "completed"]
    assert len(completed) == 3

    # the stop is lifted while Mottag has not yet acknowledged the Hisingen contact: the reminders stop,
    # olle's open one is withdrawn, and the contact work goes on
    s.lift_stop(instance["id"], "2026-12-03")
    assert s.inbox("olle", "bekrafta_behov_tillgodoses") == []
    assert s.timers(instance["id"], "daglig_uppfoljning") == []
    after = s.instance(instance["id"])
    assert after["state"] == "running" and after["data"]["stopp_havt"]["datum"] == "2026-12-03"
    [mottag] = s.inbox("hilda", "kvittera_mottag")
    s.complete("hilda", mottag, KVITTERA)
    assert [t["name"] for t in s.inbox("olle")] == ["dialog_om_behov"]
    # a second stopp_havt finds nothing waiting
    assert s.as_("eva").post(f"/api/v1/instances/{instance['id']}/messages",
                             json={"name": "stopp_havt", "data": {"datum": "2026-12-04"}}).status_code == 409


def test_longest_path_escalations_grant_disclosure_follow_ups_and_closing(story: Story) -> None:
    s = story
    # Tuesday 10:00: one LSS client in Nordost; sara was reached but never acknowledges
    instance = s.report(brukare("LSS-2026-707", "LSS", "sara", "Nordost", True))
    SYSTEM_CLOCK.set(TUESDAY_10 + timedelta(hours=2))
    s.fire(instance["id"], "kvittens_tidsgrans_socialsekreterare")
    SYSTEM_CLOCK.set(TUESDAY_10 + timedelta(hours=4))
    s.fire(instance["id"], "kvittens_tidsgrans_mottag")
    # Mottag neither, in office hours: Myndighet acknowledges and hands the client to sven while sara is away
    chef = s.task("maja", "kvittera_myndighet", "LSS-2026-707")
    s.complete("maja", chef, {**KVITTERA, "akuta_atgarder": "Inga", "handlaggare_under_stoppet": "sven",
                              "kvittens_kommentar": "Sara är sjuk"})
    assert s.inbox("sara") == []
    dialog = s.task("sven", "dialog_om_behov", "LSS-2026-707")
    assert dialog["title"] == f"Skyddsombudsstopp: dialog om behov med enhetschefen ({LSS}, Nordost)"

    # day one of the stop: the follow-up still goes to the client's responsible socialsekreterare
    SYSTEM_CLOCK.set(TUESDAY_10 + timedelta(days=1))
    s.fire(instance["id"], "daglig_uppfoljning")
    s.complete("sara", s.task("sara", "bekrafta_behov_tillgodoses", "LSS-2026-707"), UPPF_OK)
    s.complete("sven", dialog, {**DIALOG, "dialog_datum": "2026-12-02"})
    informera = s.task("sven", "informera_enskilde_och_hantera_ansokan", "LSS-2026-707")
    s.refused("sven", informera, {**BEVILJAD, "utredning_visar_behov": False, "samtycke_fran_den_enskilde": False})
    s.complete("sven", informera, {**BEVILJAD, "enskilde_informerad_datum": "2026-12-02"})

    # Myndighet decides to inform the day centre, on a rule that does not reach other providers:
    # no hand-over on that basis — the decision comes back, saying why
    bedom = s.task("maja", "bedom_informera_andra_utforare", "LSS-2026-707")
    done = s.complete("maja", bedom, {**INFORMERA_JA, "utlamningsgrunder": [UPPGIFTSSKYLDIGHET]})
    [again] = done["next_tasks"]
    assert again["name"] == "bedom_informera_andra_utforare" and again["id"] != bedom["id"]
    assert again["title"] == (f"Skyddsombudsstopp: utlämningsgrunden bär inte – ska andra utförare informeras? "
                              f"({LSS}, Nordost)")
    assert s.inbox("maja", "informera_andra_utforare") == []
    # with the client's written consent recorded in the decision, the day centre is informed
    s.complete("maja", s.task("maja", "bedom_informera_andra_utforare", "LSS-2026-707"), INFORMERA_JA)
    handover = s.task("maja", "informera_andra_utforare", "LSS-2026-707")
    s.complete("maja", handover, INFORMERAT)

    # day two: another reminder
    SYSTEM_CLOCK.set(TUESDAY_10 + timedelta(days=2))
    s.fire(instance["id"], "daglig_uppfoljning")
    s.complete("sara", s.task("sara", "bekrafta_behov_tillgodoses", "LSS-2026-707"), UPPF_OK)

    # the stop is lifted; sven closes the client's case: the short-term stay ends the same day
    SYSTEM_CLOCK.set(datetime(2026, 12, 10, 9, 0, tzinfo=STOCKHOLM))
    s.lift_stop(instance["id"], "2026-12-10")
    avslut = s.task("sven", "avsluta_for_brukare", "LSS-2026-707")
    s.complete("sven", avslut, AVSLUT_INGEN)
    s.complete("sven", s.task("sven", "avsluta_for_brukare", "LSS-2026-707"), AVSLUT_ALT)

    final = s.instance(instance["id"])
    assert final["state"] == "completed" and final["outcome"] == "stoppet_avslutat"
    [client] = final["data"]["sammanfattning"]["brukare"]
    assert client["handlaggare"] == "sven" and client["socialsekreterare"] == "sara"
    assert client["utfall_ansokan"] == "beviljad_alternativ_insats"
    assert client["informerade_utforare"] == ["Dagverksamhet Nordost"]
    assert client["alternativ_insats_avslutad_datum"] == "2026-12-10"
    # what happened, in order, as the case's history shows it
    created = [e["detail"]["task"] for e in final["history"] if e["action"] == "task_created"]
    assert created == ["kvittera_socialsekreterare", "kvittera_mottag", "kvittera_myndighet", "dialog_om_behov",
                       "bekrafta_behov_tillgodoses", "informera_enskilde_och_hantera_ansokan",
                       "bedom_informera_andra_utforare", "bedom_informera_andra_utforare", "informera_andra_utforare",
                       "bekrafta_behov_tillgodoses", "avsluta_for_brukare", "avsluta_for_brukare"]
    assert sum(e["action"] == "timer_fired" for e in final["history"]) == 4
    # the hand-over rested on the consent recorded before it
    [handed] = [e for e in final["history"] if e["action"] == "task_completed" and e["task_id"] == handover["id"]]
    assert handed["detail"]["utlamning"] == {"mottagare": "andra_utforare", "grund": {
        "grund": "samtycke", "samtycke_typ": "uttryckligt", "samtycke_form": "skriftligt",
        "giltig_fran": "2026-12-01", "giltig_till": "2027-03-01"}}


def received(api: Api) -> list[str]:
    """Every response body ``api`` receives from now on (to look for personal data that must not reach it)."""
    bodies: list[str] = []
    api.http.hooks["response"].append(lambda response, *args, **kwargs: bodies.append(response.text))
    return bodies


def test_only_the_stopped_units_manager_sees_the_case_and_lifts_the_stop(story: Story) -> None:
    s = story
    # the unit manager writes the client's name and personnummer into the report's free text
    data = {**anmalan(brukare("SoL-2026-101", "SoL", "sara", "Nordost", True)),
            "stopp_avser": f"Förflyttningar utan taklyft hos {KLIENT_NAMN} ({PERSONNUMMER})"}
    instance = steps.start_instance(s.as_("eva"), KEY, data, case_ref="AML-2026-17")
    [kvittens] = s.inbox("sara", "kvittera_socialsekreterare")
    assert PERSONNUMMER in s.as_("kerstin").get(f"/api/v1/instances/{instance['id']}").text  # the plant took

    # the competitor's unit manager (same role, same district) never learns the case exists
    ester = s.as_("ester")
    bodies = received(ester)
    assert ester.get(f"/api/v1/instances/{instance['id']}").status_code == 404
    assert ester.ok("GET", "/api/v1/instances", params={"process": KEY})["items"] == []
    assert ester.ok("GET", "/api/v1/tasks")["items"] == []
    assert ester.get(f"/api/v1/tasks/{kvittens['id']}").status_code == 404
    assert ester.post(f"/api/v1/tasks/{kvittens['id']}/complete", json={"data": KVITTERA}).status_code == 404
    # nor can she lift a stop that is not hers
    assert ester.post(f"/api/v1/instances/{instance['id']}/messages",
                      json={"name": "stopp_havt", "data": {"datum": "2026-12-01"}}).status_code == 404
    assert bodies and not any(KLIENT_NAMN in b or PERSONNUMMER in b or "SoL-2026-101" in b for b in bodies)

    # the stopped unit's manager sees her case, without its reference, and may send "Stoppet är hävt"
    case = s.instance(instance["id"], "eva")
    assert case["state"] == "running" and case["case_ref"] is None
    assert case["waits_for"] == ["stopp_havt"] and case["may_send"] == ["stopp_havt"]
    # the client's socialsekreterare sees the case but is not the one to lift the stop
    sara_view = s.instance(instance["id"], "sara")
    assert sara_view["case_ref"] == "AML-2026-17" and sara_view["may_send"] == []
    refused = s.as_("sara").post(f"/api/v1/instances/{instance['id']}/messages",
                                 json={"name": "stopp_havt", "data": {"datum": "2026-12-01"}})
    assert refused.status_code == 403, refused.text
    # the message's form: a date is required, and nothing rides along
    eva = s.as_("eva")
    for bad, field in (({"datum": "2026-12-01", "brukare": KLIENT_NAMN}, "brukare"),
                       ({"kommentar": "Taklyft installerad"}, "datum"),
                       ({"datum": "1 december"}, "datum")):
        response = eva.post(f"/api/v1/instances/{instance['id']}/messages", json={"name": "stopp_havt", "data": bad})
        assert response.status_code == 422 and field in response.json()["errors"], response.text
    assert "stopp_havt" not in s.instance(instance["id"])["data"]
    lifted = s.lift_stop(instance["id"], "2026-12-01")
    assert lifted["state"] == "running"
    after = s.instance(instance["id"])
    assert after["data"]["stopp_havt"] == {"datum": "2026-12-01", "kommentar": "Taklyft installerad"}
    assert any(e["action"] == "message_delivered" and e["actor"] == "eva" for e in after["history"])
    # still nothing for the competitor
    assert ester.get(f"/api/v1/instances/{instance['id']}").status_code == 404
    assert not any(KLIENT_NAMN in b or PERSONNUMMER in b for b in bodies)


def test_a_hand_over_rests_only_on_a_basis_recorded_before_it(story: Story) -> None:
    s = story
    instance = s.report(brukare("SoL-2026-808", "SoL", "sara", "Nordost", True))
    s.complete("sara", s.task("sara", "kvittera_socialsekreterare", "SoL-2026-808"), KVITTERA)
    s.complete("sara", s.task("sara", "dialog_om_behov", "SoL-2026-808"), DIALOG)
    s.complete("sara", s.task("sara", "informera_enskilde_och_hantera_ansokan", "SoL-2026-808"), BEVILJAD)

    # Myndighet records the client's oral consent, valid today only, and decides to inform the day centre
    s.complete("maja", s.task("maja", "bedom_informera_andra_utforare", "SoL-2026-808"),
               {**INFORMERA_JA, "utlamningsgrunder": [SAMTYCKE_IDAG]})
    handover = s.task("maja", "informera_andra_utforare", "SoL-2026-808")
    # the hand-over lapses with its basis: at the end of the consent's last day
    [lapse] = s.timers(instance["id"], "utlamningsgrund_upphor")
    assert local(lapse["due_at"]) == datetime(2026, 12, 2, 0, 0, tzinfo=STOCKHOLM)
    # a basis sent with the hand-over itself never counts: the hand-over form takes none
    problem = s.refused("maja", handover, {**INFORMERAT, "utlamningsgrunder": [SAMTYCKE]})
    assert "utlamningsgrunder" in problem["errors"]

    # the next morning the consent has lapsed: the hand-over is refused, a fresh consent sent along or not
    SYSTEM_CLOCK.set(datetime(2026, 12, 2, 9, 0, tzinfo=STOCKHOLM))
    problem = s.refused("maja", handover, {**INFORMERAT, "utlamningsgrunder": [SAMTYCKE]})
    assert "utlamningsgrunder" in problem["errors"]
    problem = s.refused("maja", handover, INFORMERAT)
    assert "utlamningsgrunder" in problem["errors"] and "2026-12-01" in problem["detail"]
    assert "har upphört" in problem["detail"]
    data = s.instance(instance["id"])
    assert not any(e["action"] == "task_completed" and e["task_id"] == handover["id"] for e in data["history"])

    # the lapse timer withdraws the hand-over and gives the decision back to Myndighet
    s.fire(instance["id"], "utlamningsgrund_upphor")
    assert s.inbox("maja", "informera_andra_utforare") == []
    bedom = s.task("maja", "bedom_informera_andra_utforare", "SoL-2026-808")
    assert bedom["title"] == (f"Skyddsombudsstopp: utlämningsgrunden bär inte – ska andra utförare informeras? "
                              f"({SOL}, Nordost)")
    # with a new consent recorded first, the hand-over goes through, resting on it
    s.complete("maja", bedom, {**INFORMERA_JA, "utlamningsgrunder": [{**SAMTYCKE, "giltig_fran": "2026-12-02"}]})
    handover = s.task("maja", "informera_andra_utforare", "SoL-2026-808")
    s.complete("maja", handover, INFORMERAT)
    assert s.timers(instance["id"], "utlamningsgrund_upphor") == []
    final = s.instance(instance["id"])
    [handed] = [e for e in final["history"] if e["action"] == "task_completed" and e["task_id"] == handover["id"]]
    assert handed["detail"]["utlamning"]["grund"]["giltig_fran"] == "2026-12-02"
    assert [t["task"] for t in final["timers"]] == ["daglig_uppfoljning"]


# --- the corrected rules of issue 10 (ROUTINES.md R1, steps 2 and 6) ---------------------------------

FRIDAY_16_30 = datetime(2026, 12, 4, 16, 30, tzinfo=STOCKHOLM)
DEC_23_16 = datetime(2026, 12, 23, 16, 0, tzinfo=STOCKHOLM)  # a Wednesday; the 24th–27th are closed


def test_the_acknowledgement_clock_runs_on_the_clock_to_whoever_is_on_duty_then(story: Story) -> None:
    s = story
    s.user("erik", "enhetschef_myndighet")
    for reported, deadline in ((FRIDAY_16_30, datetime(2026, 12, 4, 18, 30, tzinfo=STOCKHOLM)),
                               (DEC_23_16, datetime(2026, 12, 23, 18, 0, tzinfo=STOCKHOLM))):
        # sara is reached before the weekend (or Christmas) but does not acknowledge
        SYSTEM_CLOCK.set(reported)
        instance = s.report(brukare("SoL-2026-101", "SoL", "sara", "Nordost", True))
        [kvittens] = s.inbox("sara", "kvittera_socialsekreterare", instance=instance["id"])
        assert_due(kvittens, deadline)  # two hours by the clock, not Monday (or 28 Dec) morning
        [timer] = s.timers(instance["id"], "kvittens_tidsgrans_socialsekreterare")
        assert abs(local(timer["due_at"]) - deadline) < timedelta(minutes=1)
        # a minute past the deadline the offices are closed: Socialjouren is on duty and holds the contact
        SYSTEM_CLOCK.set(deadline + timedelta(minutes=1))
        s.fire(instance["id"], "kvittens_tidsgrans_socialsekreterare")
        assert s.inbox("sara", instance=instance["id"]) == [] and s.inbox("mona", instance=instance["id"]) == []
        [jour] = s.inbox("jour", "kvittera_socialjouren", instance=instance["id"])
        assert_due(jour, deadline + timedelta(hours=2, minutes=1))

    # Socialjouren does not acknowledge the 23 December contact either: two hours later Myndighet
    # (the on-call chef of the client's district) holds it, and the contact goes on from there
    assert s.inbox("maja") == []
    SYSTEM_CLOCK.set(datetime(2026, 12, 23, 20, 2, tzinfo=STOCKHOLM))
    s.fire(instance["id"], "kvittens_tidsgrans_socialjouren")
    assert s.inbox("jour", instance=instance["id"]) == []
    [chef] = s.inbox("maja", "kvittera_myndighet")
    assert chef["lane"] == "Myndighet" and chef["district"] == "Nordost" and chef["assignee"] is None
    assert chef["title"] == f"Skyddsombudsstopp: kvittera kontakt – inte kvitterad i tid ({SOL}, Nordost)"
    assert s.inbox("mats") == []  # Hisingen's Myndighet has nothing to do with a Nordost client
    assert "akuta_atgarder" in s.refused("maja", chef, KVITTERA)["errors"]
    s.complete("maja", chef, {**KVITTERA, "akuta_atgarder": "Bemanningen gör kvällsbesöket"})
    assert [t["name"] for t in s.inbox("sara", instance=instance["id"])] == ["dialog_om_behov"]


def test_the_daily_follow_up_is_socialjourens_on_closed_days_and_unmet_needs_go_to_the_enhetschef(
        story: Story) -> None:
    s = story
    s.user("erik", "enhetschef_myndighet")
    s.user("elin", "enhetschef_myndighet", districts=("Hisingen",))
    SYSTEM_CLOCK.set(datetime(2026, 12, 4, 10, 0, tzinfo=STOCKHOLM))  # a Friday
    instance = s.report(brukare("SoL-2026-101", "SoL", "sara", "Nordost", True),
                        brukare("LSS-2026-202", "LSS", "olle", "Hisingen", True))
    # Saturday: the offices are closed, so Socialjouren confirms each client's needs, not sara or olle
    SYSTEM_CLOCK.set(datetime(2026, 12, 5, 10, 0, tzinfo=STOCKHOLM))
    s.fire(instance["id"], "daglig_uppfoljning")
    assert s.inbox("sara", "bekrafta_behov_tillgodoses") == [] and s.inbox("olle", "bekrafta_behov_tillgodoses") == []
    weekend = s.inbox("jour", "bekrafta_behov_socialjouren")
    assert sorted(t["district"] for t in weekend) == ["Hisingen", "Nordost"]
    assert all(t["lane"] == "Socialjouren" and t["assignee"] is None for t in weekend)
    # the Nordost client's needs are met; the Hisingen client's are not: Hisingen's Enhetschef
    # myndighet has it at once, nobody else
    s.complete("jour", s.task("jour", "bekrafta_behov_socialjouren", "SoL-2026-101"), UPPF_OK)
    assert s.inbox("erik") == []
    s.complete("jour", s.task("jour", "bekrafta_behov_socialjouren", "LSS-2026-202"),
               {"behoven_tillgodoses": False, "atgard_vid_brist": "Ingen kvällspersonal i helgen"})
    [brist] = s.inbox("elin", "behov_ej_tillgodosett")
    assert brist["lane"] == "Enhetschef myndighet" and brist["district"] == "Hisingen"
    assert brist["title"] == f"Skyddsombudsstopp: brukarens behov tillgodoses inte ({LSS}, Hisingen)"
    assert s.inbox("erik") == []
    s.complete("elin", brist, {"beslutad_atgard": "Korttidsplats från i kväll", "atgard_datum": "2026-12-05"})

    # Monday, a working day: the socialsekreterare confirm again
    SYSTEM_CLOCK.set(datetime(2026, 12, 7, 10, 0, tzinfo=STOCKHOLM))
    s.fire(instance["id"], "daglig_uppfoljning")
    assert len(s.inbox("sara", "bekrafta_behov_tillgodoses")) == 1
    assert len(s.inbox("olle", "bekrafta_behov_tillgodoses")) == 1
    assert s.inbox("jour", "bekrafta_behov_socialjouren") == []


def test_the_stop_is_lifted_by_its_units_manager_not_before_it_took_effect(story: Story) -> None:
    s = story
    instance = s.report(brukare("SoL-2026-101", "SoL", "sara", "Nordost", True))
    # a unit manager of another unit of the same company is not the stopped unit's manager
    s.user("erika", "enhetschef_utforare", organisation=UTFORARE)
    assert s.as_("erika").post(f"/api/v1/instances/{instance['id']}/messages",
                               json={"name": "stopp_havt", "data": {"datum": "2026-12-01"}}).status_code == 404
    response = s.as_("eva").post(f"/api/v1/instances/{instance['id']}/messages",
                                 json={"name": "stopp_havt", "data": {"datum": "2026-11-30"}})
    assert response.status_code == 422, response.text
    assert response.json()["errors"]["datum"] == ["får inte vara före träder i kraft (2026-12-01)"]
    case = s.instance(instance["id"])
    assert "stopp_havt" not in case["data"] and case["waits_for"] == ["stopp_havt"]
    # the day it took effect is a date it may be lifted
    assert s.lift_stop(instance["id"], "2026-12-01")["state"] == "running"
