"""R1 skyddsombudsstopp: the routing, deadlines and records the diagram relies on."""

from __future__ import annotations

import pytest

from processes import script_functions
from processes.skyddsombudsstopp import (
    __all__ as exported,
)
from processes.skyddsombudsstopp import (
    r1_alternativ_insats_tillaten,
    r1_avslut_post,
    r1_avslut_stammer,
    r1_bedom_rubrik,
    r1_brukarutfall,
    r1_jour_kvittens_deadline,
    r1_kontaktvag,
    r1_kvittens_deadline,
    r1_lagkrav,
    r1_nasta_i_tur,
    r1_sammanfattning,
    r1_uppfoljning_hos,
    r1_uppfoljningscykel,
    r1_uppgiftstitel,
    r1_utlamningsgrund_upphor,
)

TUESDAY_10 = "2026-12-01T10:00:00+01:00"
TUESDAY_16_30 = "2026-12-01T16:30:00+01:00"
TUESDAY_17 = "2026-12-01T17:00:00+01:00"
SATURDAY_10 = "2026-12-05T10:00:00+01:00"
CHRISTMAS_EVE_10 = "2026-12-24T10:00:00+01:00"


def brukare(**changes: object) -> dict[str, object]:
    return {"arendereferens": "SoL-2026-101", "lagrum": "SoL", "socialsekreterare": "sara.ss",
            "stadsomrade": "Nordost", "socialsekreterare_nadd": False, **changes}


def test_every_function_is_exported_to_diagrams() -> None:
    functions = script_functions()
    assert all(name in functions for name in exported)


@pytest.mark.parametrize(
    ("nadd", "at", "expected"),
    [
        (True, TUESDAY_10, "socialsekreterare"),
        (True, SATURDAY_10, "socialsekreterare"),   # reached is reached, whatever the hour
        (False, TUESDAY_10, "mottag"),
        (False, TUESDAY_17, "socialjouren"),        # offices close at 17:00
        (False, SATURDAY_10, "socialjouren"),
        (False, CHRISTMAS_EVE_10, "socialjouren"),  # the offices treat julafton as a holiday
    ],
)
def test_contact_goes_to_the_socialsekreterare_mottag_or_socialjouren(nadd: bool, at: str,
                                                                      expected: str) -> None:
    assert r1_kontaktvag(brukare(socialsekreterare_nadd=nadd), at) == expected


def test_escalation_goes_to_mottag_in_office_hours_then_socialjouren() -> None:
    assert r1_nasta_i_tur("socialsekreterare", TUESDAY_10) == "mottag"
    assert r1_nasta_i_tur("socialsekreterare", TUESDAY_17) == "socialjouren"
    assert r1_nasta_i_tur("mottag", TUESDAY_10) == "myndighet"  # Socialjouren is not on duty then
    assert r1_nasta_i_tur("mottag", TUESDAY_17) == "socialjouren"
    assert r1_nasta_i_tur("socialjouren", TUESDAY_10) == "myndighet"
    with pytest.raises(ValueError):
        r1_nasta_i_tur("enhetschef", TUESDAY_10)


def test_acknowledgement_deadline_counts_two_hours_by_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAMVERKAN_R1_ACK_HOURS", raising=False)
    assert r1_kvittens_deadline(TUESDAY_10) == "2026-12-01T12:00:00+01:00"
    # a stop halts daily insatser in the evening and over the weekend too: no waiting for the offices
    assert r1_kvittens_deadline(TUESDAY_16_30) == "2026-12-01T18:30:00+01:00"
    assert r1_kvittens_deadline(SATURDAY_10) == "2026-12-05T12:00:00+01:00"


def test_the_daily_follow_up_is_the_socialsekreterares_on_working_days_else_socialjourens() -> None:
    assert r1_uppfoljning_hos(TUESDAY_10) == "socialsekreterare"
    assert r1_uppfoljning_hos(SATURDAY_10) == "socialjouren"
    assert r1_uppfoljning_hos("2026-12-24T10:00:00+01:00") == "socialjouren"  # Julafton: offices closed
    with pytest.raises(ValueError):
        r1_uppfoljning_hos("2026-12-01T10:00:00")


def test_acknowledgement_deadline_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMVERKAN_R1_ACK_HOURS", "0,5")
    assert r1_kvittens_deadline(TUESDAY_10) == "2026-12-01T10:30:00+01:00"
    monkeypatch.setenv("SAMVERKAN_R1_ACK_HOURS", "0")
    with pytest.raises(ValueError):
        r1_kvittens_deadline(TUESDAY_10)


def test_socialjouren_deadline_counts_clock_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAMVERKAN_R1_JOUR_ACK_HOURS", raising=False)
    assert r1_jour_kvittens_deadline(SATURDAY_10) == "2026-12-05T12:00:00+01:00"
    monkeypatch.setenv("SAMVERKAN_R1_JOUR_ACK_HOURS", "1")
    assert r1_jour_kvittens_deadline("2026-12-05T23:30:00+01:00") == "2026-12-06T00:30:00+01:00"
    with pytest.raises(ValueError):
        r1_jour_kvittens_deadline("2026-12-05T23:30:00")


def test_follow_up_cycle_is_daily_by_default_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAMVERKAN_R1_FOLLOWUP_CYCLE", raising=False)
    assert r1_uppfoljningscykel() == "R/P1D"
    monkeypatch.setenv("SAMVERKAN_R1_FOLLOWUP_CYCLE", "R/PT12H")
    assert r1_uppfoljningscykel() == "R/PT12H"
    monkeypatch.setenv("SAMVERKAN_R1_FOLLOWUP_CYCLE", "P1D")
    with pytest.raises(ValueError):
        r1_uppfoljningscykel()


def test_the_law_is_shown_on_the_task_without_the_clients_identity() -> None:
    assert r1_lagkrav("SoL") == "SoL – skälig levnadsnivå"
    assert r1_lagkrav("LSS") == "LSS – goda levnadsvillkor"
    title = r1_uppgiftstitel("Kvittera kontakt", brukare(lagrum="LSS", stadsomrade="Hisingen"))
    assert title == "Kvittera kontakt (LSS – goda levnadsvillkor, Hisingen)"
    assert "SoL-2026-101" not in title
    # a municipality without districts: the client has none, the title names none
    without = {k: v for k, v in brukare(lagrum="LSS").items() if k != "stadsomrade"}
    assert r1_uppgiftstitel("Kvittera kontakt", without) == "Kvittera kontakt (LSS – goda levnadsvillkor)"
    with pytest.raises(ValueError):
        r1_lagkrav("HSL")


@pytest.mark.parametrize(
    ("utfall", "utredning", "samtycke", "allowed"),
    [
        ("beviljad_alternativ_insats", True, True, True),
        ("beviljad_alternativ_insats", False, True, False),   # no investigation showing the need
        ("beviljad_alternativ_insats", True, False, False),   # the client does not agree
        ("ej_behov", False, False, True),
        ("den_enskilde_avbojer", True, False, True),
    ],
)
def test_alternative_insats_needs_investigation_and_consent(utfall: str, utredning: bool, samtycke: bool,
                                                           allowed: bool) -> None:
    assert r1_alternativ_insats_tillaten(utfall, utredning, samtycke) is allowed


def test_unknown_outcome_is_refused() -> None:
    with pytest.raises(ValueError):
        r1_alternativ_insats_tillaten("beviljad", True, True)


def test_client_result_keeps_the_alternative_only_when_granted() -> None:
    informed = [{"utforare": "Dagverksamhet Nordost", "informerad_datum": "2026-12-01"}]
    granted = r1_brukarutfall(brukare(), "karin.ss", "beviljad_alternativ_insats", "Korttidsboende",
                              "2026-12-02", informed)
    assert granted["handlaggare"] == "karin.ss"
    assert granted["alternativ_insats"] == "Korttidsboende"
    assert granted["informerade_utforare"] == ["Dagverksamhet Nordost"]
    declined = r1_brukarutfall(brukare(), "sara.ss", "den_enskilde_avbojer", "Korttidsboende", None, None)
    assert declined["alternativ_insats"] is None and declined["informerade_utforare"] == []
    # Myndighet's decision stays with its own client, with the grounds a "Ja" rests on
    informed = r1_brukarutfall(brukare(), "sara.ss", "ej_behov", None, None, [], True,
                               [{"grund": "samtycke", "mottagare": ["andra_utforare"]}])
    assert informed["andra_utforare_ska_informeras"] is True and informed["utlamningsgrunder"] == ["samtycke"]
    not_informed = r1_brukarutfall(brukare(), "sara.ss", "ej_behov", None, None, [], False, [])
    assert not_informed["andra_utforare_ska_informeras"] is False and not_informed["utlamningsgrunder"] == []


def test_closing_must_end_a_granted_alternative() -> None:
    granted = {"utfall_ansokan": "beviljad_alternativ_insats"}
    none = {"utfall_ansokan": "ej_behov"}
    assert r1_avslut_stammer(granted, "avslutad")
    assert not r1_avslut_stammer(granted, "ingen_alternativ_insats")
    assert r1_avslut_stammer(none, "ingen_alternativ_insats")
    assert not r1_avslut_stammer(none, "avslutad")


def test_summary_counts_outcomes_per_client() -> None:
    granted = r1_brukarutfall(brukare(), "sara.ss", "beviljad_alternativ_insats", "Korttidsboende",
                              "2026-12-02", [])
    first = r1_avslut_post(granted, "2026-12-10T07:00:00+01:00", "2026-12-10", "Åter hem")
    none = r1_brukarutfall(brukare(arendereferens="LSS-2026-202", lagrum="LSS"), "olle.ss", "ej_behov",
                           None, None, [])
    second = r1_avslut_post(none, "2026-12-10T07:00:00+01:00", None, "Hemtjänst igen")
    summary = r1_sammanfattning(TUESDAY_10, {"datum": "2026-12-10"}, [first, second])
    assert summary["stopp_fran"] == TUESDAY_10 and summary["stopp_havt"] == "2026-12-10"
    assert summary["antal_brukare"] == 2
    assert summary["antal_beviljad_alternativ_insats"] == 1 and summary["antal_ej_behov"] == 1
    assert summary["brukare"][0]["alternativ_insats_avslutad_datum"] == "2026-12-10"


SAMTYCKE = {"grund": "samtycke", "samtycke_typ": "uttryckligt", "samtycke_form": "skriftligt",
            "mottagare": ["andra_utforare"], "giltig_fran": "2026-12-01", "giltig_till": "2027-03-01"}
UPPGIFTSSKYLDIGHET = {"grund": "sekretessbrytande_regel", "regel": "uppgiftsskyldighet",
                      "mottagare": ["andra_utforare"], "giltig_fran": "2026-12-01"}
NODSITUATION = {"grund": "sekretessbrytande_regel", "regel": "nodsituation", "mottagare": ["andra_utforare"],
                "giltig_fran": "2026-12-01"}


def test_the_decision_says_when_it_comes_back_because_the_basis_does_not_carry() -> None:
    asks = "Skyddsombudsstopp: ska andra utförare informeras?"
    assert r1_bedom_rubrik(None, TUESDAY_10) == asks
    assert r1_bedom_rubrik([], TUESDAY_10) == asks
    assert r1_bedom_rubrik([SAMTYCKE], TUESDAY_10) == asks
    again = "Skyddsombudsstopp: utlämningsgrunden bär inte – ska andra utförare informeras?"
    # a duty to disclose reaches other authorities, not other providers
    assert r1_bedom_rubrik([UPPGIFTSSKYLDIGHET], TUESDAY_10) == again
    # a consent that has ended, or one for the region only
    assert r1_bedom_rubrik([SAMTYCKE], "2027-03-02T08:00:00+01:00") == again
    assert r1_bedom_rubrik([{**SAMTYCKE, "mottagare": ["region"]}], TUESDAY_10) == again


def test_the_hand_over_lapses_when_its_last_carrying_basis_ends() -> None:
    # a consent carries to the end of its last day
    assert r1_utlamningsgrund_upphor([SAMTYCKE], TUESDAY_10) == "2027-03-02T00:00:00+01:00"
    # implied consent: the re-review date comes first
    implied = {**SAMTYCKE, "samtycke_typ": "konkludent", "omprovas_senast": "2026-12-15"}
    assert r1_utlamningsgrund_upphor([implied], TUESDAY_10) == "2026-12-16T00:00:00+01:00"
    # the longest-lasting of several carrying bases decides; one that does not carry is ignored
    assert r1_utlamningsgrund_upphor([implied, SAMTYCKE, UPPGIFTSSKYLDIGHET], TUESDAY_10) == \
        "2027-03-02T00:00:00+01:00"
    # a rule without an end date never lapses
    assert r1_utlamningsgrund_upphor([SAMTYCKE, NODSITUATION], TUESDAY_10) == "9999-12-31T00:00:00+01:00"
    # nothing carries: due at once
    assert r1_utlamningsgrund_upphor([UPPGIFTSSKYLDIGHET], TUESDAY_10) == TUESDAY_10
    assert r1_utlamningsgrund_upphor(None, TUESDAY_10) == TUESDAY_10
