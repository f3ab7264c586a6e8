"""R5a SIP: consent as a disclosure basis, the watch over the plan, and the configurable deadlines."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from processes import script_functions
from processes.disclosure import disclosure_allowed, disclosure_basis_valid
from processes.sip import __all__ as exported
from processes.sip import (
    sip_append_basis,
    sip_consent_basis,
    sip_consent_check_at,
    sip_consent_lapse_problems,
    sip_consent_problems,
    sip_consent_review_days,
    sip_consent_task_title,
    sip_consent_withdrawn,
    sip_due_check,
    sip_follow_up_days,
    sip_follow_up_due,
    sip_hemgang_days,
    sip_hemgang_deadline,
    sip_next_check_at,
    sip_title,
    sip_variant_label,
    sip_withdrawal_at,
)
from service.roles import ROLES

NOW = "2026-11-24T10:00:00+01:00"
DIAGRAM = Path(__file__).resolve().parents[2] / "bpmn" / "sip.bpmn"


def form_consent(**changes: Any) -> dict[str, Any]:
    """A consent as the form records it (``samtycke``)."""
    samtycke: dict[str, Any] = {
        "samtycke_typ": "uttryckligt", "samtycke_form": "skriftligt", "mottagare": ["region"],
        "enheter": ["Hemtjänst Nordost", "Vårdcentralen Nordost"], "aktiviteter": ["SIP"],
        "giltig_fran": "2026-11-24", "giltig_till": "2027-05-24", "anteckning": "Vid hembesök.",
    }
    samtycke.update(changes)
    return {k: v for k, v in samtycke.items() if v is not None}


@pytest.fixture(autouse=True)
def _default_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SAMVERKAN_SIP_FOLLOW_UP_DAYS", "SAMVERKAN_SIP_CONSENT_REVIEW_DAYS", "SAMVERKAN_SIP_HEMGANG_DAYS",
                 "SAMVERKAN_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)


def test_every_function_is_exported_to_diagrams() -> None:
    functions = script_functions()
    assert all(functions[name].__module__ == "processes.sip" for name in exported)


def test_the_diagram_calls_only_exported_functions() -> None:
    tree = etree.parse(str(DIAGRAM))
    code = [el.text or "" for el in tree.iter() if etree.QName(el).localname in (
        "script", "conditionExpression", "timeDate", "timeDuration", "timeCycle")]
    code += [el.get("value", "") for el in tree.iter() if etree.QName(el).localname == "property"
             and el.get("name") in ("title", "due", "assignee", "district")]
    called = {name for text in code for name in re.findall(r"\b([a-z_]+)\(", text)}
    assert called - {"len", "now"} <= set(script_functions())
    assert {"sip_consent_problems", "disclosure_withdraw_consents", "sip_next_check_at"} <= called


# --- configurable deadlines ---------------------------------------------------------------------


def test_defaults_are_the_product_choices() -> None:
    assert (sip_follow_up_days(), sip_consent_review_days(), sip_hemgang_days()) == (90, 90, 3)


def test_deadlines_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMVERKAN_SIP_FOLLOW_UP_DAYS", "30")
    monkeypatch.setenv("SAMVERKAN_SIP_CONSENT_REVIEW_DAYS", " 60 ")
    monkeypatch.setenv("SAMVERKAN_SIP_HEMGANG_DAYS", "5")
    assert sip_follow_up_due(NOW) == "2026-12-24T10:00:00+01:00"
    assert sip_consent_basis(form_consent(samtycke_typ="konkludent"), NOW)["omprovas_senast"] == "2027-01-23"
    assert sip_hemgang_deadline(None, NOW) == "2026-11-29T10:00:00+01:00"


@pytest.mark.parametrize("value", ["0", "-3", "nittio"])
def test_a_bad_configuration_is_an_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SAMVERKAN_SIP_FOLLOW_UP_DAYS", value)
    with pytest.raises(ValueError):
        sip_follow_up_days()


def test_follow_up_keeps_the_wall_clock_time_across_summer_time() -> None:
    assert sip_follow_up_due("2030-03-04T09:00:00+01:00") == "2030-06-02T09:00:00+02:00"
    assert sip_follow_up_due("2030-03-04T08:00:00Z") == "2030-06-02T09:00:00+02:00"


@pytest.mark.parametrize(("message", "deadline"), [
    ({"utskrivningsklar_at": "2026-11-23T15:00:00+01:00"}, "2026-11-26T15:00:00+01:00"),
    ({"utskrivningsklar_at": "2026-11-23"}, "2026-11-26T00:00:00+01:00"),
    ({"utskrivningsklar_at": "i morgon"}, "2026-11-27T10:00:00+01:00"),  # unreadable: from now
    ({"utskrivningsklar_at": 5}, "2026-11-27T10:00:00+01:00"),
    ({}, "2026-11-27T10:00:00+01:00"),
    (None, "2026-11-27T10:00:00+01:00"),
])
def test_patient_taken_home_within_three_days_of_utskrivningsklar(message: Any, deadline: str) -> None:
    assert sip_hemgang_deadline(message, NOW) == deadline


# --- consent -------------------------------------------------------------------------------------


def test_the_consent_becomes_a_disclosure_basis() -> None:
    basis = sip_consent_basis(form_consent(extra="ignored"), NOW)
    assert basis == {
        "grund": "samtycke", "samtycke_typ": "uttryckligt", "samtycke_form": "skriftligt", "mottagare": ["region"],
        "enheter": ["Hemtjänst Nordost", "Vårdcentralen Nordost"], "aktiviteter": ["SIP"],
        "giltig_fran": "2026-11-24", "giltig_till": "2027-05-24", "anteckning": "Vid hembesök.",
        "aterkallad": None, "registrerad": NOW,
    }
    assert disclosure_basis_valid(basis) and disclosure_allowed([basis], "region", NOW)


def test_implied_and_presumed_consent_get_a_review_date() -> None:
    assert sip_consent_basis(form_consent(samtycke_typ="konkludent"), NOW)["omprovas_senast"] == "2027-02-22"
    given = sip_consent_basis(form_consent(samtycke_typ="presumerat", omprovas_senast="2027-01-10"), NOW)
    assert given["omprovas_senast"] == "2027-01-10"
    assert "omprovas_senast" not in sip_consent_basis(form_consent(), NOW)


def test_an_i_sip_consent_may_name_no_outside_recipient() -> None:
    basis = sip_consent_basis(form_consent(mottagare=None), NOW)
    assert basis["mottagare"] == []
    assert sip_consent_problems(form_consent(mottagare=[]), "i_sip", NOW) == []


@pytest.mark.parametrize(("samtycke", "variant", "expected"), [
    (form_consent(mottagare=["andra_utforare"]), "sip", "måste omfatta regionen"),
    (form_consent(mottagare=[]), "utskrivning", "måste omfatta regionen"),
    (form_consent(mottagare=[]), "sip", "vilka mottagare"),
    (form_consent(mottagare=[], enheter=None), "i_sip", "Ange vilka enheter"),
    (form_consent(giltig_fran="2026-11-25"), "sip", "gälla från i dag"),
    (form_consent(giltig_fran="2026-01-01", giltig_till="2026-11-23"), "sip", "redan löpt ut"),
    (form_consent(samtycke_typ="konkludent", omprovas_senast="2026-11-24"), "sip", "efter i dag"),
    (form_consent(giltig_till=None), "sip", "giltighetstid"),
    (form_consent(giltig_fran="snart"), "i_sip", "inget giltigt datum"),
])
def test_a_consent_that_cannot_carry_the_sip_is_sent_back(samtycke: dict[str, Any], variant: str,
                                                         expected: str) -> None:
    problems = sip_consent_problems(samtycke, variant, NOW)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize("variant", ["sip", "utskrivning", "i_sip"])
def test_a_complete_consent_covering_the_region_carries_every_variant(variant: str) -> None:
    assert sip_consent_problems(form_consent(), variant, NOW) == []


def test_bases_are_appended_without_changing_the_input() -> None:
    first = sip_consent_basis(form_consent(), NOW)
    bases = sip_append_basis(None, first)
    assert bases == [first]
    assert sip_append_basis(bases, sip_consent_basis(form_consent(mottagare=[]), NOW)) == [first]
    later = sip_consent_basis(form_consent(), "2027-01-01T09:00:00+01:00")
    assert sip_append_basis(bases, later) == [first, later] and bases == [first]


# --- watching the plan ---------------------------------------------------------------------------


def test_the_consent_needs_attention_at_its_review_date_or_when_it_runs_out() -> None:
    explicit = sip_consent_basis(form_consent(), NOW)
    implied = sip_consent_basis(form_consent(samtycke_typ="konkludent"), NOW)
    short = sip_consent_basis(form_consent(samtycke_typ="presumerat", giltig_till="2026-12-31"), NOW)
    assert sip_consent_check_at(explicit) == "2027-05-25T00:00:00+02:00"
    assert sip_consent_check_at(implied) == "2027-02-22T00:00:00+01:00"
    assert sip_consent_check_at(short) == "2027-01-01T00:00:00+01:00"


def test_the_watch_fires_at_the_first_of_follow_up_and_consent() -> None:
    implied = sip_consent_basis(form_consent(samtycke_typ="konkludent"), NOW)
    assert sip_next_check_at("2027-02-20T10:00:00+01:00", implied) == "2027-02-20T10:00:00+01:00"
    assert sip_next_check_at("2027-03-01T10:00:00+01:00", implied) == "2027-02-22T00:00:00+01:00"


@pytest.mark.parametrize(("at", "due"), [
    ("2027-02-20T10:00:00+01:00", "uppfoljning"),
    ("2027-02-22T00:00:00+01:00", "samtycke_omprovning"),
    ("2027-05-25T00:00:00+02:00", "samtycke_utganget"),  # after giltig_till: before any review
])
def test_what_is_due_when_the_watch_fires(at: str, due: str) -> None:
    implied = sip_consent_basis(form_consent(samtycke_typ="konkludent"), NOW)
    assert sip_due_check("2027-02-20T10:00:00+01:00", implied, at) == due


def test_explicit_consent_is_never_due_for_review() -> None:
    explicit = sip_consent_basis(form_consent(omprovas_senast="2027-01-01"), NOW)
    assert sip_due_check("2027-02-20T10:00:00+01:00", explicit, "2027-02-20T10:00:00+01:00") == "uppfoljning"


@pytest.mark.parametrize(("consent", "at", "problem"), [
    ({}, "2027-05-25T00:00:00+02:00", "Samtycket gällde till och med 2027-05-24 och har upphört: inhämta ett nytt "
                                      "samtycke innan uppgifter lämnas till regionen."),
    ({"samtycke_typ": "konkludent"}, "2027-02-22T00:00:00+01:00",
     "Samtycket (konkludent) ska omprövas senast 2027-02-22: pröva det på nytt innan uppgifter lämnas till regionen."),
    ({"samtycke_typ": "presumerat", "giltig_till": "2027-02-01"}, "2027-02-02T00:00:00+01:00",
     "Samtycket gällde till och med 2027-02-01 och har upphört: inhämta ett nytt samtycke innan uppgifter lämnas "
     "till regionen."),  # ended goes before the review date
    ({}, "2027-01-10T09:00:00+01:00", "Samtycket behöver ses över innan uppgifter lämnas till regionen."),
])
def test_a_consent_that_lapses_before_the_plan_says_why(consent: dict[str, Any], at: str, problem: str) -> None:
    basis = sip_consent_basis(form_consent(**consent), NOW)
    assert sip_consent_lapse_problems(basis, at) == [problem]


# --- withdrawal ----------------------------------------------------------------------------------


def test_withdrawal_time_comes_from_the_message_or_the_clock() -> None:
    assert sip_withdrawal_at({"aterkallad_at": "2026-12-01T10:00:00+01:00"}, NOW) == "2026-12-01T10:00:00+01:00"
    assert sip_withdrawal_at({"aterkallad_at": "nyss"}, NOW) == NOW
    assert sip_withdrawal_at({"aterkallad_at": 1}, NOW) == NOW
    assert sip_withdrawal_at({}, NOW) == NOW
    assert sip_withdrawal_at(None, NOW) == NOW


def test_a_withdrawn_consent_keeps_its_first_withdrawal() -> None:
    consent = sip_consent_basis(form_consent(), NOW)
    withdrawn = sip_consent_withdrawn(consent, "2026-12-01T10:00:00+01:00")
    assert withdrawn["aterkallad"] == "2026-12-01T10:00:00+01:00" and consent["aterkallad"] is None
    assert sip_consent_withdrawn(withdrawn, "2026-12-05T10:00:00+01:00")["aterkallad"] == "2026-12-01T10:00:00+01:00"
    assert not disclosure_allowed([withdrawn], "region", "2026-12-02T10:00:00+01:00")


# --- inbox lines ---------------------------------------------------------------------------------


def test_titles() -> None:
    assert sip_variant_label("utskrivning") == "SIP vid utskrivning från sluten vård"
    assert sip_variant_label("okänd") == "SIP"
    assert sip_title("Följ upp planen", "i_sip") == "Följ upp planen – I-SIP (intern SIP)"
    assert sip_consent_task_title("Inhämta samtycke", []) == "Inhämta samtycke"
    assert sip_consent_task_title("Inhämta samtycke", None) == "Inhämta samtycke"
    assert sip_consent_task_title("Inhämta samtycke", ["A.", "B."]) == "Inhämta samtycke – komplettera: A. B."


# --- need to know: the region, hand-overs and messages, as the diagram and forms declare them -----------

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
FORMS = DIAGRAM.parents[1] / "forms" / "sip"
REGION_LANE = "Fast vårdkontakt"
#: The script tasks that record a consent as a disclosure basis (utlamningsgrunder).
RECORDS_CONSENT = {"registrera_samtycke", "registrera_nytt_samtycke"}


def _process() -> Any:
    return etree.parse(str(DIAGRAM)).getroot().find(f"{{{BPMN}}}process")


def _properties(element: Any) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in element.iter(f"{{{SPIFF}}}property")}


def _properties_of(element: Any) -> dict[str, str]:
    """The element's own properties (not those of its event definition)."""
    found = element.find(f"{{{BPMN}}}extensionElements")
    return {} if found is None else _properties(found)


def _schema(name: str) -> dict[str, Any]:
    return json.loads((FORMS / f"{name}.schema.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _lane_of() -> dict[str, str]:
    return {ref.text: lane.get("name") for lane in _process().iter(f"{{{BPMN}}}lane")
            for ref in lane.iter(f"{{{BPMN}}}flowNodeRef")}


def _successors(skip: Callable[[str], bool] = lambda condition: False) -> dict[str, set[str]]:
    """Element → the elements it can lead to: sequence flows (but those whose condition ``skip`` names),
    and a task's boundary events."""
    graph: dict[str, set[str]] = {}
    process = _process()
    for flow in process.iter(f"{{{BPMN}}}sequenceFlow"):
        condition = flow.find(f"{{{BPMN}}}conditionExpression")
        if condition is not None and skip((condition.text or "").strip()):
            continue
        graph.setdefault(flow.get("sourceRef"), set()).add(flow.get("targetRef"))
    for boundary in process.iter(f"{{{BPMN}}}boundaryEvent"):
        graph.setdefault(boundary.get("attachedToRef"), set()).add(boundary.get("id"))
    return graph


def test_no_region_task_before_a_consent_is_recorded() -> None:
    # every path from the start to a task of the region's lane passes a step that records the consent
    lanes, graph = _lane_of(), _successors()
    region_tasks = {el.get("id") for el in _process().iter(f"{{{BPMN}}}userTask") if lanes[el.get("id")] == REGION_LANE}
    # the fast vårdkontakt calls the SIP, and after utskrivning documents and follows it up
    assert region_tasks == {"kalla_till_sip_fast_vardkontakt", "uppratta_plan_fast_vardkontakt",
                            "uppfoljning_fast_vardkontakt"}
    seen, todo = set(), ["sip_behovs"]
    while todo:
        node = todo.pop()
        if node in seen or node in RECORDS_CONSENT:
            continue
        seen.add(node)
        todo.extend(graph.get(node, ()))
    assert seen & region_tasks == set()
    # and an I-SIP never reaches the region: its branch leads to no task of the region's lane (flows
    # taken only for another variant left out)
    i_sip = _successors(skip=lambda condition: condition.startswith("variant == ") and "'i_sip'" not in condition)
    seen, todo = set(), ["kalla_till_i_sip_mote"]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(i_sip.get(node, ()))
    assert seen & region_tasks == set()


def test_region_tasks_name_the_region_the_start_form_names() -> None:
    lanes = _lane_of()
    region_field = _schema("start")["properties"]["region"]
    assert region_field["x-organisation"] == "region" and not region_field.get("x-personal-data")
    for task in _process().iter(f"{{{BPMN}}}userTask"):
        organisation = _properties(task).get("organisation")
        if lanes[task.get("id")] == REGION_LANE:
            assert organisation == "region", task.get("id")
        else:
            assert organisation is None, task.get("id")  # the authority's own lanes


def test_hand_overs_rest_on_a_basis_recorded_before_them_and_carry_no_identity() -> None:
    # a hand-over's basis must already be in the case: no hand-over form records a consent or basis
    hand_overs = {task.get("id"): _properties(task) for task in _process().iter(f"{{{BPMN}}}userTask")
                  if _properties(task).get("disclosureTo")}
    assert set(hand_overs) == {"kalla_till_sip_mote", "planera_hemgang_och_sip", "uppratta_plan", "uppfoljning"}
    assert {p["disclosureTo"] for p in hand_overs.values()} == {"region"}
    identity = {"personnummer", "brukare_namn", "namn_och_personnummer", "behov_beskrivning", "patientens_situation",
                "inskrivningsmeddelande"}
    for name in hand_overs:
        fields = set(_schema(name)["properties"])
        assert not fields & {"utlamningsgrunder", "samtycke", "samtycke_lamnat", "sip_samtycke"}, name
        assert not fields & identity, name
        assert _schema(name)["additionalProperties"] is False, name


MESSAGE_ROLES = {
    "samtycke_aterkallat": {"socialsekreterare", "forste_socialsekreterare", "bistandshandlaggare"},
    "utskrivningsklar": {"fast_vardkontakt", "bistandshandlaggare"},
    "sip_uppfoljning_begard": {"socialsekreterare", "forste_socialsekreterare", "bistandshandlaggare",
                               "fast_vardkontakt"},
}
#: What the flow reads from each message's payload (processes/sip.py), which its form must declare.
MESSAGE_FIELDS = {"samtycke_aterkallat": {"aterkallad_at"}, "utskrivningsklar": {"utskrivningsklar_at"},
                  "sip_uppfoljning_begard": {"anledning"}}


def test_every_catching_element_names_who_may_send_its_message() -> None:
    root = etree.parse(str(DIAGRAM)).getroot()
    names = {m.get("id"): m.get("name") for m in root.iter(f"{{{BPMN}}}message")}
    caught: dict[str, list[set[str]]] = {}
    for element in _process().iter():
        ref = element.get("messageRef")
        if not ref or etree.QName(element).localname not in ("messageEventDefinition", "receiveTask"):
            continue
        catcher = element.getparent() if etree.QName(element).localname == "messageEventDefinition" else element
        roles = {r.strip() for r in _properties_of(catcher).get("messageRoles", "").split(",") if r.strip()}
        caught.setdefault(names[ref], []).append(roles)
    assert set(caught) == set(MESSAGE_ROLES)
    for name, per_element in caught.items():
        assert all(roles == MESSAGE_ROLES[name] for roles in per_element), (name, per_element)
        assert MESSAGE_ROLES[name] <= ROLES
    # the withdrawal can arrive wherever the case waits once consent is recorded: on every user task and
    # receive task but the two that ask for the consent in the first place
    process = _process()
    withdrawable = {b.get("attachedToRef") for b in process.iter(f"{{{BPMN}}}boundaryEvent")
                    if any(d.get("messageRef") == "samtycke_aterkallat"
                           for d in b.iter(f"{{{BPMN}}}messageEventDefinition"))}
    waits = {el.get("id") for kind in ("userTask", "receiveTask") for el in process.iter(f"{{{BPMN}}}{kind}")}
    assert waits - withdrawable == {"inhamta_samtycke", "kontakta_patienten"}
    assert len(caught["samtycke_aterkallat"]) == len(withdrawable)


@pytest.mark.parametrize("name", sorted(MESSAGE_FIELDS))
def test_every_message_has_a_closed_form_declaring_what_the_flow_reads(name: str) -> None:
    schema = _schema(f"message_{name}")
    assert schema["additionalProperties"] is False
    assert MESSAGE_FIELDS[name] <= set(schema["properties"])
