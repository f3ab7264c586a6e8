"""R3 utökat stöd i 14 dagar: scope, deadlines and the invoicing record the diagram relies on."""

from __future__ import annotations

import pytest

from processes import script_functions
from processes.utokat_stod_14_dagar import (
    __all__ as exported,
)
from processes.utokat_stod_14_dagar import (
    r3_avtalsperiod_slut,
    r3_datum,
    r3_fakturaunderlag,
    r3_frist_arbetsdagar,
    r3_instruktion_okand_brukare,
    r3_omfattas_av_rutinen,
    r3_rubrik,
    r3_uppfoljningsdag,
    r3_varaktigt_behov_informeras_senast,
)


def test_every_function_is_exported_to_diagrams() -> None:
    functions = script_functions()
    assert all(name in functions for name in exported)


@pytest.mark.parametrize(
    ("beslut", "nytt_behov", "in_scope"),
    [
        (["omvardnadsbeslut_hemtjanst"], True, True),
        (["omvardnadsbeslut_hemtjanst", "trygghetslarm"], True, True),
        (["omvardnadsbeslut_hemtjanst"], False, False),   # no new care need
        (["servicebeslut"], True, False),                 # only a service decision
        (["trygghetslarm"], True, False),                 # only a safety alarm
        (["hsl_uppdrag"], True, False),                   # only HSL
        (["servicebeslut", "trygghetslarm", "hsl_uppdrag"], True, False),
        ([], True, False),
    ],
)
def test_only_clients_with_a_care_decision_and_a_new_need_are_in_scope(beslut: list[str], nytt_behov: bool,
                                                                       in_scope: bool) -> None:
    assert r3_omfattas_av_rutinen(beslut, nytt_behov) is in_scope


def test_unknown_clients_are_told_to_apply_via_the_reception() -> None:
    assert "Myndighetsenhetens Mottagning" in r3_instruktion_okand_brukare()


@pytest.mark.parametrize(
    ("dag_0", "follow_up"),
    [
        ("2026-12-01", "2026-12-15T08:00:00+01:00"),              # Tuesday → Tuesday, office opening
        ("2026-12-05", "2026-12-21T08:00:00+01:00"),              # day 14 a Saturday → Monday
        ("2026-12-12", "2026-12-28T08:00:00+01:00"),              # day 14 annandag jul → Monday 28th
        ("2027-03-15", "2027-03-30T08:00:00+02:00"),              # annandag påsk, after summer time starts
        ("2026-12-01T22:30:00+01:00", "2026-12-15T08:00:00+01:00"),
    ],
)
def test_follow_up_starts_on_day_14_when_the_office_opens(dag_0: str, follow_up: str) -> None:
    assert r3_uppfoljningsdag(dag_0) == follow_up


def test_lasting_need_must_be_reported_within_a_week() -> None:
    assert r3_varaktigt_behov_informeras_senast("2026-12-01") == "2026-12-09T00:00:00+01:00"
    assert r3_varaktigt_behov_informeras_senast("2027-03-25") == "2027-04-02T00:00:00+02:00"


AVTAL = "avtal (14 dagar utan ny biståndsbedömning)"


def test_the_agreement_covers_14_days_and_only_a_granted_decision_what_follows() -> None:
    record = r3_fakturaunderlag("bifall_bakatdaterat", "2026-12-01", "2026-12-18")
    assert record == {
        "utfall": "bifall_bakatdaterat", "bakatdaterat_fran": "2026-12-01",
        "avtalsperiod": {"fran": "2026-12-01", "till": "2026-12-14", "antal_dagar": 14, "ersatts": True,
                         "grund": AVTAL},
        "efter_avtalsperioden": {"fran": "2026-12-15", "till": "2026-12-18", "antal_dagar": 4, "ersatts": True,
                                 "grund": "beslut bakåtdaterat till dag 0"}}


@pytest.mark.parametrize("reason", ["avslag", "ingen_ansokan", "overgaende_behov"])
def test_without_a_granted_decision_the_agreement_still_covers_the_14_days(reason: str) -> None:
    record = r3_fakturaunderlag(reason, "2026-12-01", "2026-12-18")
    assert record["bakatdaterat_fran"] is None
    assert record["avtalsperiod"] == {"fran": "2026-12-01", "till": "2026-12-14", "antal_dagar": 14, "ersatts": True,
                                      "grund": AVTAL}
    assert record["efter_avtalsperioden"] == {"fran": "2026-12-15", "till": "2026-12-18", "antal_dagar": 4,
                                              "ersatts": False, "grund": "inget beviljat beslut"}


def test_an_increase_ended_within_the_14_days_is_the_agreements_alone() -> None:
    record = r3_fakturaunderlag("overgaende_behov", "2026-12-01", "2026-12-10")
    assert record["avtalsperiod"]["till"] == "2026-12-10" and record["avtalsperiod"]["antal_dagar"] == 10
    assert record["avtalsperiod"]["ersatts"] is True and record["efter_avtalsperioden"] is None


def test_an_end_before_day_0_is_kept_usable_and_flagged() -> None:
    record = r3_fakturaunderlag("overgaende_behov", "2026-12-10", "2026-12-01")
    assert record["avtalsperiod"]["till"] == "2026-12-10" and record["avtalsperiod"]["antal_dagar"] == 1
    assert "före dag 0" in record["anmarkning"]


@pytest.mark.parametrize(
    ("start", "days", "deadline"),
    [
        ("2026-12-01T09:00:42+01:00", 1, "2026-12-02T09:00:00+01:00"),  # a working day of office time, to the minute
        ("2026-12-04T16:30:00+01:00", 1, "2026-12-07T16:30:00+01:00"),  # Friday afternoon → Monday afternoon
        ("2026-12-05T10:00:00+01:00", 2, "2026-12-08T17:00:00+01:00"),  # Saturday → Tuesday at closing
        ("2026-12-23T12:00:00+01:00", 1, "2026-12-28T12:00:00+01:00"),  # over Christmas
    ],
)
def test_escalation_deadlines_count_working_days(start: str, days: int, deadline: str) -> None:
    assert r3_frist_arbetsdagar(start, days) == deadline


def test_the_agreement_period_ends_when_day_14_begins() -> None:
    assert r3_avtalsperiod_slut("2026-12-01") == "2026-12-15T00:00:00+01:00"
    assert r3_datum("2026-12-06T23:30:00+01:00") == "2026-12-06"


def test_unknown_outcome_is_refused() -> None:
    with pytest.raises(ValueError):
        r3_fakturaunderlag("ersatt", "2026-12-01", "2026-12-10")


def test_task_title_names_day_0_not_the_client() -> None:
    assert r3_rubrik("Uppföljning dag 14", "2026-12-01") == "Uppföljning dag 14 – utökat stöd från 2026-12-01"
