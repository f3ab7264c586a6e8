"""R3 utökat stöd i 14 dagar: scope, deadlines and the invoicing record the diagram relies on."""

from __future__ import annotations

import pytest

from processes import script_functions
from processes.utokat_stod_14_dagar import (
    __all__ as exported,
)
from processes.utokat_stod_14_dagar import (
    r3_fakturaunderlag,
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


def test_granted_persisting_need_is_backdated_and_compensated() -> None:
    record = r3_fakturaunderlag("bifall_bakatdaterat", "2026-12-01", "2026-12-18")
    assert record == {"ersatts": True, "utfall": "bifall_bakatdaterat", "period_fran": "2026-12-01",
                      "period_till": "2026-12-18", "antal_dagar": 18, "bakatdaterat_fran": "2026-12-01"}


@pytest.mark.parametrize("reason", ["overgaende_behov", "avslag", "ingen_ansokan"])
def test_other_outcomes_give_no_compensation(reason: str) -> None:
    record = r3_fakturaunderlag(reason, "2026-12-01", "2026-12-10")
    assert record["ersatts"] is False and record["bakatdaterat_fran"] is None
    assert record["utfall"] == reason and record["antal_dagar"] == 10


def test_an_end_before_day_0_is_kept_usable_and_flagged() -> None:
    record = r3_fakturaunderlag("overgaende_behov", "2026-12-10", "2026-12-01")
    assert record["period_till"] == "2026-12-10" and record["antal_dagar"] == 1
    assert "före dag 0" in record["anmarkning"]


def test_unknown_outcome_is_refused() -> None:
    with pytest.raises(ValueError):
        r3_fakturaunderlag("ersatt", "2026-12-01", "2026-12-10")


def test_task_title_names_day_0_not_the_client() -> None:
    assert r3_rubrik("Uppföljning dag 14", "2026-12-01") == "Uppföljning dag 14 – utökat stöd från 2026-12-01"
