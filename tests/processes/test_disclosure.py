"""R5b: the disclosure rule the service applies before any task with ``disclosureTo`` completes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from processes import script_functions
from processes.disclosure import (
    MISSING_RECIPIENTS,
    RECIPIENTS,
    disclosure_allowed,
    disclosure_basis_problems,
    disclosure_basis_valid,
    disclosure_consent_review_due,
    disclosure_consent_review_overdue,
    disclosure_covering_basis,
    disclosure_refusal_reason,
    disclosure_withdraw_consents,
)
from processes.disclosure import __all__ as exported

AT = "2026-12-10T10:00:00+01:00"


def consent(**changes: Any) -> dict[str, Any]:
    basis: dict[str, Any] = {
        "grund": "samtycke", "samtycke_typ": "uttryckligt", "samtycke_form": "skriftligt",
        "mottagare": ["region"], "enheter": ["Hemtjänst Nordost"], "aktiviteter": ["SIP"],
        "giltig_fran": "2026-11-24", "giltig_till": "2027-05-24", "aterkallad": None,
    }
    basis.update(changes)
    return basis


def rule(regel: str | None = "nodsituation", **changes: Any) -> dict[str, Any]:
    return {"grund": "sekretessbrytande_regel", "regel": regel, "mottagare": ["polis"], **changes}


def harm_test(outcome: str = "inget_men", **changes: Any) -> dict[str, Any]:
    return {"grund": "menprovning", "menprovning_utfall": outcome, "mottagare": ["andra_utforare"], **changes}


def test_every_function_is_exported_to_diagrams() -> None:
    functions = script_functions()
    assert all(functions[name].__module__ == "processes.disclosure" for name in exported)


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("basis", [
    consent(),
    consent(samtycke_typ="konkludent", omprovas_senast="2027-02-22", samtycke_form="muntligt"),
    consent(samtycke_typ="presumerat", omprovas_senast="2027-02-22T12:00:00+01:00"),
    consent(giltig_fran="2026-11-24T08:00:00+01:00", giltig_till="2026-11-24T17:00:00+01:00"),
    consent(aterkallad="2026-12-01T10:00:00+01:00"),  # withdrawn, but well-formed
    rule(), rule("uppgiftsskyldighet", mottagare=["region", "annan_namnd"]), rule("brott_mot_barn"),
    rule("vardsituation", mottagare=["region"], giltig_fran="2026-12-01"),
    harm_test(), harm_test("men"),
    consent(enheter=None),
])
def test_complete_bases_have_no_problems(basis: dict[str, Any]) -> None:
    assert disclosure_basis_problems(basis) == []
    assert disclosure_basis_valid(basis)


@pytest.mark.parametrize(("basis", "expected"), [
    ("samtycke", "måste vara ett objekt"),
    ({"grund": "annat", "mottagare": ["region"]}, "Grunden (grund)"),
    ({"mottagare": ["region"]}, "Grunden (grund)"),
    (consent(mottagare=None), MISSING_RECIPIENTS),
    (consent(mottagare=[]), MISSING_RECIPIENTS),
    (consent(mottagare="region"), MISSING_RECIPIENTS),  # a string is not a list of recipients
    (consent(mottagare=["region", "grannen"]), "Okänd mottagarkategori: grannen"),
    (consent(samtycke_typ="generellt"), "samtycke_typ"),
    (consent(samtycke_form=None), "samtycke_form"),
    (consent(giltig_fran=None), "Giltig från (giltig_fran) saknas"),  # consent is never open-ended
    (consent(giltig_till=""), "Giltig till (giltig_till) saknas"),
    (consent(giltig_till="snart"), "Giltig till (giltig_till) är inget giltigt datum"),
    (consent(giltig_fran="2026-13-40"), "Giltig från (giltig_fran) är inget giltigt datum"),
    (consent(giltig_fran=20261124), "Giltig från (giltig_fran) är inget giltigt datum"),
    (consent(giltig_fran="2026-12-01", giltig_till="2026-11-30"), "slutar innan den börjar"),
    (consent(samtycke_typ="konkludent"), "omprovas_senast"),
    (consent(samtycke_typ="presumerat", omprovas_senast=""), "omprovas_senast"),
    (consent(omprovas_senast="sen"), "Omprövas senast (omprovas_senast) är inget giltigt datum"),
    (rule(regel=None), "regel"),
    (rule("brott_mot_barn", mottagare=["polis", "region"]), "medger inte utlämning till regionen"),
    (rule("uppgiftsskyldighet", mottagare=["andra_utforare"]), "medger inte utlämning till andra utförare"),
    (rule(giltig_till="aldrig"), "Giltig till (giltig_till) är inget giltigt datum"),
    (harm_test("kanske"), "menprovning_utfall"),
    (harm_test(mottagare=[]), MISSING_RECIPIENTS),
    (consent(aterkallad="igår"), "Återkallad (aterkallad)"),
    (consent(enheter="Hemtjänst"), "enheter ska vara en lista"),
    (consent(aktiviteter=["SIP", 3]), "aktiviteter ska vara en lista"),
])
def test_incomplete_bases_are_named(basis: Any, expected: str) -> None:
    problems = disclosure_basis_problems(basis)
    assert any(expected in problem for problem in problems), problems
    assert not disclosure_basis_valid(basis)


def test_rule_reach_is_not_checked_against_unknown_or_missing_recipients() -> None:
    # the unknown category is reported once, by the recipient check
    assert disclosure_basis_problems(rule("brott_mot_barn", mottagare=["grannen"])) == [
        "Okänd mottagarkategori: grannen."]
    assert disclosure_basis_problems(rule("brott_mot_barn", mottagare=None)) == [MISSING_RECIPIENTS]


# --- does a basis allow the hand-over now? ----------------------------------------------------


def test_a_valid_consent_covering_the_recipient_allows_the_hand_over() -> None:
    assert disclosure_refusal_reason([consent()], "region", AT) is None
    assert disclosure_allowed([consent()], "region", AT)


def test_unknown_recipient_category() -> None:
    reason = disclosure_refusal_reason([consent()], "grannen", AT)
    assert reason is not None and "Okänd mottagarkategori 'grannen'" in reason
    assert not disclosure_allowed([consent()], "grannen", AT)


@pytest.mark.parametrize("bases", [None, []])
def test_no_basis_at_all(bases: list[Any] | None) -> None:
    reason = disclosure_refusal_reason(bases, "region", AT)
    assert reason is not None and "ingen registrerad utlämningsgrund" in reason


def test_consent_is_never_general_a_basis_must_name_the_recipient() -> None:
    reason = disclosure_refusal_reason([consent(mottagare=["andra_utforare"]), "skräp"], "region", AT)
    assert reason is not None and "ingen registrerad utlämningsgrund omfattar den mottagaren" in reason
    assert "regionen" in reason


@pytest.mark.parametrize(("basis", "at", "expected"), [
    (consent(aterkallad="2026-12-01T10:00:00+01:00"), AT, "samtycket (uttryckligt) återkallades 2026-12-01"),
    (consent(aterkallad="2026-12-10"), AT, "återkallades 2026-12-10"),  # a date: from the start of that day
    (consent(giltig_fran="2026-12-11"), AT, "gäller först från 2026-12-11"),
    (consent(giltig_till="2026-12-09"), AT, "gällde till och med 2026-12-09 och har upphört"),
    (consent(giltig_till="2026-12-10T09:00:00+01:00"), AT, "gällde till och med 2026-12-10"),
    (consent(samtycke_typ="konkludent", omprovas_senast="2026-12-09"), AT,
     "samtycket (konkludent) skulle ha omprövats senast 2026-12-09 och har inte omprövats"),
    (harm_test("men", mottagare=["region"]), AT, "menprövningen fann att den enskilde eller en närstående"),
    (rule(mottagare=["region"], giltig_till="2026-12-01"), AT,
     "den sekretessbrytande regeln (nodsituation) gällde till och med 2026-12-01"),
    (consent(samtycke_typ="presumerat"), AT, "samtycket (presumerat): ofullständigt registrerad"),
    (consent(samtycke_typ="alla"), AT, "samtycket: ofullständigt registrerad"),
])
def test_why_a_basis_naming_the_recipient_does_not_hold(basis: dict[str, Any], at: str, expected: str) -> None:
    reason = disclosure_refusal_reason([basis], "region", at)
    assert reason is not None and expected in reason, reason
    assert reason.startswith("Uppgifter får inte lämnas till regionen (hälso- och sjukvården): ")


@pytest.mark.parametrize(("basis", "at"), [
    (consent(aterkallad="2026-12-10T11:00:00+01:00"), AT),  # withdrawn later than this hand-over
    (consent(giltig_till="2026-12-10"), "2026-12-10T23:59:00+01:00"),  # end dates are inclusive
    (consent(giltig_fran="2026-12-10"), "2026-12-10T00:00:00+01:00"),
    (consent(samtycke_typ="konkludent", omprovas_senast="2026-12-10"), "2026-12-10T23:00:00+01:00"),
    (harm_test(mottagare=["region"]), AT),
    (rule(mottagare=["region"]), AT),  # a rule without dates has no period to run out
])
def test_bases_that_hold(basis: dict[str, Any], at: str) -> None:
    assert disclosure_refusal_reason([basis], "region", at) is None


def test_any_basis_that_holds_is_enough_and_reasons_are_listed_once() -> None:
    withdrawn = consent(aterkallad="2026-12-01")
    assert disclosure_allowed([withdrawn, consent()], "region", AT)
    reason = disclosure_refusal_reason([withdrawn, dict(withdrawn), harm_test("men", mottagare=["region"])],
                                       "region", AT)
    assert reason is not None
    assert reason.count("återkallades") == 1 and "; menprövningen fann" in reason and reason.endswith(".")


def test_a_harm_test_that_found_harm_is_outweighed_by_a_secrecy_breaking_rule() -> None:
    bases = [harm_test("men", mottagare=["polis"]), rule("brott_mot_barn")]
    assert disclosure_allowed(bases, "polis", AT)


@pytest.mark.parametrize("at", [
    "2026-12-10", date(2026, 12, 10), datetime(2026, 12, 10, 10, 0),
    datetime(2026, 12, 10, 10, 0, tzinfo=ZoneInfo("Europe/Stockholm")),
])
def test_moments_may_be_dates_naive_or_aware(at: Any) -> None:
    assert disclosure_allowed([consent(giltig_fran="2026-12-10")], "region", at)
    assert not disclosure_allowed([consent(giltig_till="2026-12-09")], "region", at)


def test_every_recipient_category_has_a_swedish_phrase() -> None:
    assert set(RECIPIENTS) == {"andra_utforare", "eku", "region", "polis", "annan_namnd", "annan_forvaltning",
                               "fristaende_verksamhet", "forsakringskassan", "arbetsformedlingen", "skolan",
                               "kommunal_halso_sjukvard"}
    for recipient in RECIPIENTS:
        reason = disclosure_refusal_reason([], recipient, AT)
        assert reason is not None and RECIPIENTS[recipient] in reason


def test_the_covering_basis_is_named_for_the_audit_log() -> None:
    good = consent(mottagare=["region", "andra_utforare"])
    bases = ["skräp", consent(samtycke_typ="konkludent"), consent(aterkallad="2026-12-01"), good]
    assert disclosure_covering_basis(bases, "region", AT) == good
    assert disclosure_covering_basis(bases, "polis", AT) is None
    assert disclosure_covering_basis(bases, "grannen", AT) is None
    assert disclosure_covering_basis(None, "region", AT) is None


# --- re-review of implied and presumed consent ------------------------------------------------


@pytest.mark.parametrize(("basis", "at", "notice", "due"), [
    (consent(), AT, 0, False),  # explicit consent is not re-reviewed
    (rule(), AT, 0, False),
    ("skräp", AT, 0, False),
    (consent(samtycke_typ="konkludent"), AT, 0, True),  # no date: incomplete, due at once
    (consent(samtycke_typ="konkludent", omprovas_senast="2026-12-20"), AT, 0, False),
    (consent(samtycke_typ="konkludent", omprovas_senast="2026-12-20"), AT, 10, True),
    (consent(samtycke_typ="presumerat", omprovas_senast="2026-12-10"), AT, 0, True),
    (consent(samtycke_typ="presumerat", omprovas_senast="2026-12-10"), "2026-12-09T23:59:00+01:00", 0, False),
])
def test_consent_review_due(basis: Any, at: str, notice: int, due: bool) -> None:
    assert disclosure_consent_review_due(basis, at, notice) is due


@pytest.mark.parametrize(("basis", "at", "overdue"), [
    (consent(), AT, False),
    (consent(samtycke_typ="konkludent"), AT, True),
    (consent(samtycke_typ="konkludent", omprovas_senast="2026-12-10"), AT, False),  # due today, not late
    (consent(samtycke_typ="konkludent", omprovas_senast="2026-12-10"), "2026-12-11T00:00:00+01:00", True),
])
def test_consent_review_overdue(basis: Any, at: str, overdue: bool) -> None:
    assert disclosure_consent_review_overdue(basis, at) is overdue


# --- withdrawal -------------------------------------------------------------------------------


def test_withdrawal_marks_every_consent_and_leaves_other_grounds() -> None:
    earlier = consent(aterkallad="2026-12-01T08:00:00+01:00")
    first = consent()
    bases: list[Any] = [first, earlier, rule(), "skräp"]
    result = disclosure_withdraw_consents(bases, AT)
    assert result[0]["aterkallad"] == AT
    assert result[1]["aterkallad"] == "2026-12-01T08:00:00+01:00"  # the first withdrawal stands
    assert result[2:] == [rule(), "skräp"]
    assert first["aterkallad"] is None  # the input is not changed
    assert disclosure_withdraw_consents(None, AT) == []
    assert not disclosure_allowed(result, "region", "2026-12-10T10:00:01+01:00")
