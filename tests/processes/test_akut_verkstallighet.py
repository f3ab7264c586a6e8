"""R2 akut_verkstallighet: the applicability check, invitations, the korttid rule and deadlines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from processes import script_functions
from processes.akut_verkstallighet import (
    __all__ as exported,
)
from processes.akut_verkstallighet import (
    r2_franvaro,
    r2_kalla_fler,
    r2_kallar_annan_forvaltning,
    r2_kallelsesvar_med_inbjuden,
    r2_korttidsinsats,
    r2_kraver_korttidsbeslut,
    r2_kvarvarande_mojligheter,
    r2_mojligheter_uttomda,
    r2_nya_inbjudna,
    r2_paminnelse_registrerad,
    r2_paminnelsetid,
    r2_rubrik,
    r2_utvardering_frist,
    r2_utvarderingar,
    r2_utvarderingsdeltagare,
)

ROOT = Path(__file__).resolve().parents[2]


def test_every_function_is_exported_to_diagrams() -> None:
    functions = script_functions()
    assert all(name in functions for name in exported)


# --- applicability: are all enforcement possibilities exhausted? -----------------------------------------


def test_all_possibilities_exhausted() -> None:
    assert r2_mojligheter_uttomda("ja_ingen_ledig", "ja_ingen_plats", "ja_kan_ej_utokas", True)
    # items that do not apply to the client count as exhausted
    assert r2_mojligheter_uttomda("ej_aktuellt", "ej_aktuellt", "ej_aktuellt", True)


@pytest.mark.parametrize(
    ("answers", "remaining"),
    [
        (("ja_ledig_finns", "ja_ingen_plats", "ej_aktuellt", True), ["utvecklingsledare_formedling"]),
        (("nej", "ja_ingen_plats", "ej_aktuellt", True), ["utvecklingsledare_formedling"]),
        (("ej_aktuellt", "ja_plats_finns", "ej_aktuellt", True), ["priis_matchning"]),
        (("ej_aktuellt", "nej", "ej_aktuellt", True), ["priis_matchning"]),
        (("ej_aktuellt", "ja_ingen_plats", "ja_kan_utokas", True), ["utokning_hos_utforare"]),
        (("ej_aktuellt", "ja_ingen_plats", "nej", True), ["utokning_hos_utforare"]),
        (("ej_aktuellt", "ja_ingen_plats", "ej_aktuellt", False), ["ovriga_mojligheter"]),
        (("nej", "nej", "nej", False),
         ["utvecklingsledare_formedling", "priis_matchning", "utokning_hos_utforare", "ovriga_mojligheter"]),
    ],
)
def test_a_possibility_left_makes_the_routine_not_applicable(answers: tuple, remaining: list[str]) -> None:
    assert r2_kvarvarande_mojligheter(*answers) == remaining
    assert not r2_mojligheter_uttomda(*answers)


# --- invitations -------------------------------------------------------------------------------------------

INVITED = [
    {"roll": "socialsekreterare", "anvandarnamn": "sara.soc"},
    {"roll": "enhetschef_fastighet", "anvandarnamn": "fia.fastighet"},
    {"roll": "verksamhetschef_utforaravdelning", "anvandarnamn": "ulf.utforare"},
]


def test_substitutes_and_further_invitees_get_invitations_of_their_own() -> None:
    # SpiffWorkflow collects the answers keyed by the invitee's position (int, or str after JSON)
    answers = {
        0: {"deltagande": "kan_delta", "ytterligare_inbjudna": [
            {"roll": "forste_socialsekreterare", "anvandarnamn": "fredrik.forste", "skal": "beslutsfrågor"}]},
        "1": {"deltagande": "skickar_ersattare", "ersattare_anvandarnamn": "erik.fastighet",
              "ersattare_samma_mandat": True},
        2: {"deltagande": "kan_delta"},
    }
    new = r2_nya_inbjudna(INVITED, answers, INVITED)
    assert new == [
        {"roll": "forste_socialsekreterare", "anvandarnamn": "fredrik.forste", "inbjuden_av": "sara.soc",
         "skal": "beslutsfrågor"},
        {"roll": "enhetschef_fastighet", "anvandarnamn": "erik.fastighet", "inbjuden_av": "fia.fastighet",
         "skal": "ersättare med samma mandat"},
    ]


def test_nobody_is_invited_twice() -> None:
    answers = [
        {"deltagande": "kan_delta", "ytterligare_inbjudna": [
            {"roll": "enhetschef_fastighet", "anvandarnamn": "fia.fastighet"},
            {"roll": "enhetschef_bemanning", "anvandarnamn": "bo.bemanning"}]},
        {"deltagande": "kan_delta", "ytterligare_inbjudna": [
            {"roll": "enhetschef_bemanning", "anvandarnamn": "bo.bemanning"}]},
        {"deltagande": "skickar_ersattare", "ersattare_anvandarnamn": "sara.soc"},
    ]
    new = r2_nya_inbjudna(INVITED, answers, INVITED)
    assert [p["anvandarnamn"] for p in new] == ["bo.bemanning"]


def test_a_substitute_keeps_the_invitees_role_when_none_is_named() -> None:
    new = r2_nya_inbjudna(INVITED[:1], {0: {"deltagande": "skickar_ersattare",
                                             "ersattare_anvandarnamn": "stina.soc"}}, INVITED[:1])
    assert new[0]["roll"] == "socialsekreterare"


def test_a_substitute_for_an_invitee_from_another_forvaltning_belongs_to_it_too() -> None:
    # the same mandate: the substitute's invitation names the same organisation, so it is offered only there
    hilda = {"roll": "verksamhetschef_halso_sjukvard", "anvandarnamn": "hilda.hsl", "organisation": "aldre_vard"}
    answers = {0: {"deltagande": "skickar_ersattare", "ersattare_anvandarnamn": "harald.hsl",
                   "ytterligare_inbjudna": [{"roll": "socialsekreterare", "anvandarnamn": "stina.soc"}]}}
    new = r2_nya_inbjudna([hilda], answers, [hilda])
    assert new == [
        {"roll": "verksamhetschef_halso_sjukvard", "anvandarnamn": "harald.hsl", "inbjuden_av": "hilda.hsl",
         "skal": "ersättare med samma mandat", "organisation": "aldre_vard"},
        # a further invitee names no organisation: an invitation within the authority
        {"roll": "socialsekreterare", "anvandarnamn": "stina.soc", "inbjuden_av": "hilda.hsl",
         "skal": "berörs av ärendet"},
    ]


def test_a_call_naming_another_forvaltning_needs_a_hand_over() -> None:
    hilda = {"roll": "verksamhetschef_halso_sjukvard", "anvandarnamn": "hilda.hsl", "organisation": "aldre_vard"}
    assert r2_kallar_annan_forvaltning([*INVITED, hilda])
    assert not r2_kallar_annan_forvaltning(INVITED)
    assert not r2_kallar_annan_forvaltning([{**INVITED[0], "organisation": " "}])
    assert not r2_kallar_annan_forvaltning([])
    assert not r2_kallar_annan_forvaltning(None)


def test_no_answers_no_new_invitees() -> None:
    assert r2_nya_inbjudna(INVITED, {}, INVITED) == []
    assert r2_nya_inbjudna(INVITED, None, INVITED) == []


def test_answers_are_recorded_with_the_invitee() -> None:
    records = r2_kallelsesvar_med_inbjuden(INVITED, {0: {"deltagande": "kan_delta"},
                                                     "2": {"deltagande": "skickar_ersattare",
                                                           "ersattare_anvandarnamn": "x.y"}})
    assert records == [
        {"roll": "socialsekreterare", "anvandarnamn": "sara.soc", "deltagande": "kan_delta"},
        {"roll": "enhetschef_fastighet", "anvandarnamn": "fia.fastighet", "deltagande": "ej_svar"},
        {"roll": "verksamhetschef_utforaravdelning", "anvandarnamn": "ulf.utforare",
         "deltagande": "skickar_ersattare", "ersattare_anvandarnamn": "x.y"},
    ]


# --- enforcement in an akutlokal needs a korttid decision, except the BmSS evacuation --------------------


@pytest.mark.parametrize(
    ("form", "exception", "needed"),
    [
        ("akutlokal", False, True),
        ("akutlokal", True, False),  # short evacuation from a BmSS, BmSS staff, plan unchanged
        ("befintlig_verksamhet", False, False),
        ("bmss_lagenhet", False, False),
        ("annan_lokal", False, False),
        ("annan_lokal", True, False),
    ],
)
def test_korttid_decision_rule(form: str, exception: bool, needed: bool) -> None:
    assert r2_kraver_korttidsbeslut(form, exception) is needed


def test_the_exception_needs_all_three_conditions_as_the_diagram_passes_them() -> None:
    # the gateway passes `evakuering_fran_bmss and bmss_personal_utfor_stodet and genomforandeplan_oforandrad`
    cases = [(True, True, False), (True, False, True), (False, True, True)]
    for evacuation, bmss_staff, plan_unchanged in cases:
        assert r2_kraver_korttidsbeslut("akutlokal", evacuation and bmss_staff and plan_unchanged)


def test_korttid_wording_follows_the_age_group() -> None:
    assert r2_korttidsinsats("vuxen") == "korttidsboende"
    assert r2_korttidsinsats("barn") == "korttidsvistelse"
    with pytest.raises(ValueError):
        r2_korttidsinsats("okänd")


def test_titles_hold_no_personal_data() -> None:
    assert r2_rubrik("Fatta beslut om {insats}", "barn", "Nordost") == (
        "Fatta beslut om korttidsvistelse – akut verkställighet (barn, Nordost)")
    assert r2_rubrik("Kalla till samverkansmöte", "vuxen", "Centrum") == (
        "Kalla till samverkansmöte – akut verkställighet (vuxen, Centrum)")


# --- the evaluation deadline is configurable ------------------------------------------------------------


def test_evaluation_due_within_30_days_by_default() -> None:
    assert r2_utvardering_frist({}) == "P30D"


def test_evaluation_deadline_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMVERKAN_R2_EVALUATION_DAYS", "14")
    assert r2_utvardering_frist() == "P14D"


@pytest.mark.parametrize("bad", ["0", "-3", "trettio"])
def test_a_bad_evaluation_deadline_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        r2_utvardering_frist({"SAMVERKAN_R2_EVALUATION_DAYS": bad})


# --- the forms agree with the lanes -------------------------------------------------------------------------


def test_the_meeting_catalogue_is_the_lane_of_meeting_participants() -> None:
    lanes = json.loads((ROOT / "bpmn" / "lanes.json").read_text(encoding="utf-8"))
    schema = json.loads((ROOT / "forms" / "akut_verkstallighet" / "kalla_till_mote.schema.json")
                        .read_text(encoding="utf-8"))
    roles = schema["properties"]["motesdeltagare"]["items"]["properties"]["roll"]["enum"]
    assert roles == lanes["Mötesdeltagare"]


def test_each_attending_participant_evaluates_once_and_the_convener_compiles() -> None:
    invited = [{"roll": "socialsekreterare", "anvandarnamn": "sara"},
               {"roll": "verksamhetschef_halso_sjukvard", "anvandarnamn": "hilda", "organisation": "aldre_vard"},
               {"roll": "enhetschef_fastighet", "anvandarnamn": "fia"}]
    answers = [{"anvandarnamn": "sara", "roll": "socialsekreterare", "deltagande": "kan_delta"},
               {"anvandarnamn": "hilda", "roll": "verksamhetschef_halso_sjukvard", "deltagande": "kan_delta"},
               {"anvandarnamn": "fia", "roll": "enhetschef_fastighet", "deltagande": "skickar_ersattare"},
               {"anvandarnamn": "vc", "roll": "verksamhetschef_korttidsboende_vuxna", "deltagande": "kan_delta"}]
    people = r2_utvarderingsdeltagare(answers, invited, "sara", "vc")
    assert people == [{"anvandarnamn": "sara", "roll": "socialsekreterare"},
                      {"anvandarnamn": "hilda", "roll": "verksamhetschef_halso_sjukvard", "organisation": "aldre_vard"}]
    # no meeting held: the responsible socialsekreterare alone
    assert r2_utvarderingsdeltagare([], [], "sara", "vc") == [{"anvandarnamn": "sara", "roll": "socialsekreterare"}]
    said = {"1": {"vad_fungerade": "Snabbt.", "forbattringar": "Inget."}}
    assert r2_utvarderingar(people, said) == [
        {"anvandarnamn": "sara", "roll": "socialsekreterare"},
        {"anvandarnamn": "hilda", "roll": "verksamhetschef_halso_sjukvard", "vad_fungerade": "Snabbt.",
         "forbattringar": "Inget."}]


@pytest.mark.parametrize(("meeting", "reminder"), [
    ("2026-11-26T13:00:00+01:00", "2026-11-25T13:00:00+01:00"),  # Thursday → Wednesday, same time
    ("2026-11-30T10:00:00+01:00", "2026-11-27T10:00:00+01:00"),  # Monday → Friday
    ("2026-12-28T10:00:00+01:00", "2026-12-23T10:00:00+01:00"),  # past Christmas Eve, Christmas and a weekend
])
def test_a_silent_invitee_is_reminded_one_working_day_before_the_meeting(meeting: str, reminder: str) -> None:
    assert r2_paminnelsetid(meeting, "2026-11-23T09:00:00+01:00") == reminder


def test_an_invitation_sent_at_short_notice_is_reminded_halfway_to_the_meeting() -> None:
    # called on Monday 14:00 for Tuesday 09:00: one working day before has passed; reminded at 23:30,
    # still before the meeting (R2 step 4: reminded, and the chef told, before the meeting)
    assert r2_paminnelsetid("2026-11-24T09:00:00+01:00", "2026-11-23T14:00:00+01:00") == "2026-11-23T23:30:00+01:00"
    # an invitation sent once the meeting has begun is not reminded: the moment lies after its start
    assert r2_paminnelsetid("2026-11-24T09:00:00+01:00", "2026-11-24T09:30:00+01:00") > "2026-11-24T09:00:00+01:00"


def test_absence_is_recorded_with_whether_the_invitee_was_reminded() -> None:
    assert r2_franvaro(False) == {"deltagande": "ej_svar", "franvarande": True, "paminnad": False}
    assert r2_paminnelse_registrerad({"deltagande": "kan_delta"}) == {"deltagande": "kan_delta", "paminnad": True}
    assert r2_paminnelse_registrerad(r2_franvaro(True))["franvarande"] is True


def test_nobody_is_invited_once_the_meeting_has_started() -> None:
    named = [{"anvandarnamn": "erik"}]
    assert r2_kalla_fler(named, "2026-11-30T10:00:00+01:00", "2026-11-30T09:59:00+01:00") is True
    assert r2_kalla_fler(named, "2026-11-30T10:00:00+01:00", "2026-11-30T10:00:00+01:00") is False
    assert r2_kalla_fler([], "2026-11-30T10:00:00+01:00", "2026-11-29T10:00:00+01:00") is False
