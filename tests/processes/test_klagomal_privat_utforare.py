"""R4 klagomal_privat_utforare: the complaint record, the provider summary and the step 3 rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from processes import script_functions
from processes.klagomal_privat_utforare import (
    CATEGORY_LABELS,
    provider_complaint_summary,
    r4_klagomalspost,
    r4_nasta_eku_uppfoljning,
    r4_rubrik,
    r4_ska_kontakta_eku,
    r4_utforarsvar_frist,
)
from processes.klagomal_privat_utforare import (
    __all__ as exported,
)

ROOT = Path(__file__).resolve().parents[2]
FORMS = ROOT / "forms" / "klagomal_privat_utforare"
NO_ENV: dict[str, str] = {}


def complaint(category: str = "uteblivna_insatser", district: str = "Hisingen", received: str = "2026-10-01",
              provider: str = "Omsorg AB", **extra: object) -> dict[str, object]:
    return {"provider": provider, "category": category, "district": district, "received": received, **extra}


def test_every_function_is_exported_to_diagrams() -> None:
    functions = script_functions()
    assert all(name in functions for name in exported)


# --- the de-identified record ------------------------------------------------------------------------------


def test_the_complaint_record_holds_provider_level_facts_only() -> None:
    record = r4_klagomalspost(" Omsorg AB ", "bemotande", "Nordost", "2026-11-20", "klagomal", "hemtjanst")
    assert record == {"provider": "Omsorg AB", "category": "bemotande", "district": "Nordost",
                      "received": "2026-11-20", "source": "klagomal", "activity": "hemtjanst", "closed": None}


def test_the_record_refuses_unknown_categories_and_sources() -> None:
    with pytest.raises(ValueError):
        r4_klagomalspost("Omsorg AB", "dåligt", "Nordost", "2026-11-20", "klagomal", "hemtjanst")
    with pytest.raises(ValueError):
        r4_klagomalspost("Omsorg AB", "bemotande", "Nordost", "2026-11-20", "mejl", "hemtjanst")


# --- provider_complaint_summary -----------------------------------------------------------------------------


def test_a_single_complaint_flags_nothing() -> None:
    summary = provider_complaint_summary([complaint()], "Omsorg AB", "2026-11-24", env=NO_ENV)
    assert summary["total"] == 1 and summary["open"] == 1 and summary["closed"] == 0
    assert summary["flags"] == {"recurring_unremedied": False, "serious": False, "systematic": False}
    assert summary["flagged"] is False and summary["reasons"] == []


def test_counts_categories_districts_and_dates_per_provider() -> None:
    complaints = [
        complaint(received="2026-03-01", closed="2026-03-20"),
        complaint("social_dokumentation", "Nordost", "2026-05-10"),
        complaint(received="2026-09-15T08:30:00+02:00"),
        complaint(provider="Annan Omsorg AB", received="2026-09-01"),  # another provider: ignored
        # the same provider, spelled differently
        complaint(provider="omsorg ab ", received="2026-10-01", status="closed"),
    ]
    summary = provider_complaint_summary(complaints, "Omsorg AB", "2026-11-24", env=NO_ENV)
    assert summary["total"] == 4
    assert summary["open"] == 2 and summary["closed"] == 2
    assert summary["by_category"] == {"social_dokumentation": 1, "uteblivna_insatser": 3}
    assert summary["by_district"] == {"Hisingen": 3, "Nordost": 1}
    assert summary["by_source"] == {"klagomal": 4}
    assert summary["first_received"] == "2026-03-01" and summary["last_received"] == "2026-10-01"
    assert summary["window_start"] == "2025-11-24" and summary["as_of"] == "2026-11-24"


def test_recurring_and_unremedied() -> None:
    complaints = [complaint(received=d) for d in ("2026-02-01", "2026-06-01")]
    complaints.append(complaint(received="2026-10-01", closed="2026-10-10"))
    summary = provider_complaint_summary(complaints, "Omsorg AB", "2026-11-24", env=NO_ENV)
    assert summary["recurring_categories"] == ["uteblivna_insatser"]
    assert summary["flags"]["recurring_unremedied"] is True
    assert summary["reasons"][0].startswith("Återkommande: 3 klagomål om uteblivna insatser")


def test_recurring_but_all_remedied_is_not_flagged_as_unremedied() -> None:
    dates = ("2026-02-01", "2026-06-01", "2026-10-01")
    complaints = [complaint(received=d, closed="2026-11-01") for d in dates]
    summary = provider_complaint_summary(complaints, "Omsorg AB", "2026-11-24", env=NO_ENV)
    assert summary["recurring_categories"] == ["uteblivna_insatser"]
    assert summary["flags"]["recurring_unremedied"] is False


def test_a_complaint_closed_after_as_of_was_still_open_then() -> None:
    records = [complaint(closed="2026-12-01")]
    summary = provider_complaint_summary(records, "Omsorg AB", "2026-11-24", env=NO_ENV)
    assert summary["open"] == 1


def test_lex_sarah_reports_and_complaints_marked_serious_are_serious() -> None:
    lex = provider_complaint_summary([complaint("missforhallande", source="lex_sarah")], "Omsorg AB",
                                     "2026-11-24", env=NO_ENV)
    assert lex["flags"]["serious"] is True and lex["by_source"] == {"lex_sarah": 1}
    marked = provider_complaint_summary([complaint(serious=True)], "Omsorg AB", "2026-11-24", env=NO_ENV)
    assert marked["flags"]["serious"] is True


def test_many_complaints_together_become_serious_and_spread_over_districts_systematic() -> None:
    spread = [("bemotande", "Centrum"), ("social_dokumentation", "Hisingen"),
              ("uteblivna_insatser", "Nordost"), ("bemotande", "Sydväst"), ("lokaler_miljo", "Centrum")]
    complaints = [complaint(cat, dist, f"2026-0{i + 1}-01") for i, (cat, dist) in enumerate(spread)]
    summary = provider_complaint_summary(complaints, "Omsorg AB", "2026-11-24", env=NO_ENV)
    assert summary["flags"] == {"recurring_unremedied": False, "serious": True, "systematic": True}
    # five complaints in one district are many, but not systematic across the organisation
    one_district = [dict(c, district="Centrum") for c in complaints]
    assert provider_complaint_summary(one_district, "Omsorg AB", "2026-11-24",
                                      env=NO_ENV)["flags"]["systematic"] is False


def test_the_window_leaves_out_old_complaints() -> None:
    complaints = [complaint(received=d) for d in ("2024-01-01", "2024-06-01", "2026-10-01")]
    summary = provider_complaint_summary(complaints, "Omsorg AB", "2026-11-24", env=NO_ENV)
    assert summary["total"] == 1 and summary["flagged"] is False
    wide = provider_complaint_summary(complaints, "Omsorg AB", "2026-11-24", window_days=1100, env=NO_ENV)
    assert wide["total"] == 3 and wide["flags"]["recurring_unremedied"] is True


def test_thresholds_from_the_environment_and_arguments() -> None:
    complaints = [complaint(received=d) for d in ("2026-09-01", "2026-10-01")]
    env = {"SAMVERKAN_R4_RECURRING_MIN": "2"}
    assert provider_complaint_summary(complaints, "Omsorg AB", "2026-11-24", env=env)["flagged"] is True
    assert provider_complaint_summary(complaints, "Omsorg AB", "2026-11-24", env=env,
                                      recurring_min=3)["flagged"] is False


def test_without_as_of_the_latest_complaint_ends_the_window() -> None:
    summary = provider_complaint_summary([complaint(received="2026-10-01")], "Omsorg AB", env=NO_ENV)
    assert summary["as_of"] == "2026-10-01" and summary["total"] == 1


def test_no_complaints_for_the_provider() -> None:
    records = [complaint(provider="Annan AB")]
    summary = provider_complaint_summary(records, "Omsorg AB", "2026-11-24", env=NO_ENV)
    assert summary["total"] == 0 and summary["flagged"] is False and summary["first_received"] is None


@pytest.mark.parametrize("bad", [{"SAMVERKAN_R4_WINDOW_DAYS": "0"}, {"SAMVERKAN_R4_SYSTEMATIC_MIN": "många"}])
def test_bad_thresholds_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        provider_complaint_summary([complaint()], "Omsorg AB", "2026-11-24", env=bad)


def test_a_bad_date_is_refused() -> None:
    with pytest.raises(ValueError):
        provider_complaint_summary([complaint(received="igår")], "Omsorg AB", "2026-11-24", env=NO_ENV)


def test_the_summary_is_de_identified() -> None:
    """Only provider-level keys come out, whatever the input records carry."""
    records = [complaint(arende_referens="FFS-1", beskrivning="Namn Namnsson", personnummer="19121212-1212")]
    summary = provider_complaint_summary(records, "Omsorg AB", "2026-11-24", env=NO_ENV)
    text = json.dumps(summary, ensure_ascii=False)
    assert "FFS-1" not in text and "Namnsson" not in text and "1212" not in text


# --- step 3: when to contact EKU -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remain", "recurring", "serious", "systematic", "contact"),
    [
        (True, True, False, False, True),
        (True, False, True, False, True),
        (True, False, False, True, True),
        (True, False, False, False, False),
        (False, True, True, True, False),
    ],
)
def test_contact_eku_when_deficiencies_remain_and_a_criterion_holds(
    remain: bool, recurring: bool, serious: bool, systematic: bool, contact: bool
) -> None:
    assert r4_ska_kontakta_eku(remain, recurring, serious, systematic) is contact


def test_provider_response_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    assert r4_utforarsvar_frist({}) == "P14D"
    monkeypatch.setenv("SAMVERKAN_R4_PROVIDER_RESPONSE_DAYS", "10")
    assert r4_utforarsvar_frist() == "P10D"
    with pytest.raises(ValueError):
        r4_utforarsvar_frist({"SAMVERKAN_R4_PROVIDER_RESPONSE_DAYS": "0"})


def test_eku_follows_up_every_three_months_at_office_opening(monkeypatch: pytest.MonkeyPatch) -> None:
    assert r4_nasta_eku_uppfoljning("2026-11-23T09:00:00+01:00") == "2027-02-23T08:00:00+01:00"
    assert r4_nasta_eku_uppfoljning("2026-11-30T15:00:00+01:00") == "2027-03-01T08:00:00+01:00"  # 28 Feb a Sunday
    monkeypatch.setenv("SAMVERKAN_R4_EKU_FOLLOW_UP_MONTHS", "1")
    assert r4_nasta_eku_uppfoljning("2026-12-10T10:00:00+01:00") == "2027-01-11T08:00:00+01:00"  # 10 Jan a Sunday
    monkeypatch.setenv("SAMVERKAN_R4_EKU_FOLLOW_UP_MONTHS", "0")
    with pytest.raises(ValueError):
        r4_nasta_eku_uppfoljning("2026-12-10T10:00:00+01:00")


def test_titles_name_the_provider_and_category_only() -> None:
    assert r4_rubrik("Individuell uppföljning", "Omsorg AB", "social_dokumentation") == (
        "Individuell uppföljning: Omsorg AB – social dokumentation")


# --- the forms keep personal data away from EKU ------------------------------------------------------------


def _schema(name: str) -> dict:
    return json.loads((FORMS / f"{name}.schema.json").read_text(encoding="utf-8"))


def test_the_forms_use_the_category_keys() -> None:
    assert _schema("start")["properties"]["kategori"]["enum"] == list(CATEGORY_LABELS)
    assert _schema("sammanstall_infor_eku")["properties"]["avvikelse_kategorier"]["items"]["enum"] == list(
        CATEGORY_LABELS)


def test_ekus_form_has_no_personal_field_and_shows_only_de_identified_facts() -> None:
    eku = _schema("eku_uppfoljning")["properties"]
    assert not any(prop.get("x-personal-data") for prop in eku.values())
    personal = {name for form in FORMS.glob("*.schema.json")
                for name, prop in json.loads(form.read_text(encoding="utf-8"))["properties"].items()
                if prop.get("x-personal-data")}
    assert personal.isdisjoint(eku)
    assert {"beskrivning", "arende_referens", "utforare_atgarder", "individuppfoljning_anteckning",
            "bytesorsak", "intern_anteckning"} <= personal


# --- need to know: what the provider and EKU are given, as the forms and the diagram declare it ----------

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
DIAGRAM = ROOT / "bpmn" / "klagomal_privat_utforare.bpmn"
#: The authority's forms a user task completes (the start form is not one: it is no task).
AUTHORITY_TASK_FORMS = ("individuell_uppfoljning", "bedom_kvarstaende_brister", "sammanstall_infor_eku")


def _task_properties() -> dict[str, dict[str, str]]:
    root = etree.parse(str(DIAGRAM)).getroot()
    return {task.get("id"): {p.get("name"): p.get("value") for p in task.iter(f"{{{SPIFF}}}property")}
            for task in root.iter(f"{{{BPMN}}}userTask")}


def test_the_provider_field_holds_an_organisation_key_everywhere() -> None:
    for form in FORMS.glob("*.schema.json"):
        field = json.loads(form.read_text(encoding="utf-8"))["properties"].get("utforare")
        if field is not None:
            assert field.get("x-organisation") == "utforare", form.name
            assert not field.get("x-personal-data"), form.name


def test_the_provider_task_is_offered_only_to_the_provider_complained_about() -> None:
    properties = _task_properties()
    assert properties["utforarens_hantering"]["organisation"] == "utforare"
    # every other task lies inside the administration (the authority, EKU) and names no organisation
    assert all("organisation" not in p for task, p in properties.items() if task != "utforarens_hantering")


def test_the_provider_sees_only_what_the_person_agreed_to_pass_on() -> None:
    provider = _schema("utforarens_hantering")["properties"]
    start = _schema("start")["properties"]
    # from the complaint: which provider, what kind of activity, what it concerns, when — and the text
    # written for the provider; never the person's identity or the authority's own notes
    shown = {name for name, field in provider.items() if field.get("readOnly")}
    assert shown == {"utforare", "verksamhetstyp", "kategori", "inkommen_datum", "till_utforaren"}
    assert shown <= set(start)
    assert {"brukare_namn", "brukare_personnummer", "beskrivning", "arende_referens", "lamnad_av",
            "onskar_byte"}.isdisjoint(provider)
    for form in AUTHORITY_TASK_FORMS:  # they share only the provider-level facts about the provider itself
        assert set(_schema(form)["properties"]) & set(provider) <= {"utforare", "verksamhetstyp"}, form
    assert _schema("utforarens_hantering")["additionalProperties"] is False


def test_what_eku_sees_is_written_by_the_authority_through_a_form_that_declares_it() -> None:
    eku = _schema("eku_uppfoljning")["properties"]
    facts = {name for name, field in eku.items() if field.get("readOnly")}
    declared = {name: field for form in AUTHORITY_TASK_FORMS for name, field in _schema(form)["properties"].items()}
    # every fact EKU is shown is a non-personal field of a form the authority completes
    assert facts <= set(declared), facts - set(declared)
    assert not any(declared[name].get("x-personal-data") for name in facts)
    # the compilation carries the provider and its activity; EKU's own comment is not among what it writes
    assert {"utforare", "verksamhetstyp"} <= set(_schema("sammanstall_infor_eku")["required"])
    assert "eku_kommentar" not in _schema("sammanstall_infor_eku")["properties"]
