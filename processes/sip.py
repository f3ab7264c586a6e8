"""R5a SIP — samordnad individuell plan: functions the ``sip`` diagram calls.

A SIP is for anyone who needs insatser from both social services and health care; it needs the
individual's explicit consent (oral or written; implied or presumed consent is refused), naming each
outside party that may take part, against which every invited party is checked. The consent is
recorded as a disclosure basis (R5b, ``processes/disclosure.py``) in
the instance's ``utlamningsgrunder``. Variants (start-form field ``variant``): ``sip`` (ordinary
SIP), ``utskrivning`` (utskrivning från sluten vård, Lag 2017:612) and ``i_sip`` (internal SIP
between the administration's own areas; no region involved).

Product choices, configurable by environment variables:

- ``SAMVERKAN_SIP_FOLLOW_UP_DAYS`` (default 90): days from a plan or follow-up to the next follow-up;
- ``SAMVERKAN_SIP_CONSENT_REVIEW_DAYS`` (default 90): days until implied (*konkludent*) or presumed
  (*presumerat*) consent must be re-reviewed, when the case worker does not set a date;
- ``SAMVERKAN_SIP_HEMGANG_DAYS`` (default 3): calendar days after the *utskrivningsklar* message by
  which the municipality should have taken the patient home (Lag 2017:612: the municipality's
  payment responsibility starts after three calendar days unless the region and the municipality
  agree otherwise).

Dates in task data are ISO 8601 strings; ``now`` is the service clock (``now()`` in diagrams).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from processes.disclosure import MISSING_RECIPIENTS, RECIPIENTS, disclosure_basis_problems

__all__ = [
    "sip_follow_up_days",
    "sip_follow_up_due",
    "sip_consent_review_days",
    "sip_hemgang_days",
    "sip_hemgang_deadline",
    "sip_consent_basis",
    "sip_consent_problems",
    "sip_invitation_problems",
    "sip_append_basis",
    "sip_consent_check_at",
    "sip_next_check_at",
    "sip_due_check",
    "sip_consent_withdrawn",
    "sip_consent_lapse_problems",
    "sip_withdrawal_at",
    "sip_variant_label",
    "sip_title",
    "sip_consent_task_title",
]

VARIANTS: dict[str, str] = {
    "sip": "SIP",
    "utskrivning": "SIP vid utskrivning från sluten vård",
    "i_sip": "I-SIP (intern SIP)",
}
#: Variants where health care (the region) takes part, so the consent must cover the region.
REGION_VARIANTS = frozenset({"sip", "utskrivning"})
#: The party an invited official comes from (``sip_deltagare[].organisation``) → the recipient the
#: consent must name for them; the social services themselves are inside the authority (None).
INVITED_PARTIES: dict[str, str | None] = {
    "socialtjansten": None,
    "regionen_primarvard": "region",
    "regionen_specialistvard": "region",
    "regionen_psykiatri": "region",
    "forsakringskassan": "forsakringskassan",
    "arbetsformedlingen": "arbetsformedlingen",
    "skolan": "skolan",
    "kommunal_halso_sjukvard": "kommunal_halso_sjukvard",
}
#: Why a SIP cannot rest on implied or presumed consent (R5a: "måste alltid ge sitt samtycke").
EXPLICIT_CONSENT_REQUIRED = ("En SIP kräver att den enskilde uttryckligen samtycker, muntligt eller skriftligt: ett "
                             "konkludent eller presumerat samtycke räcker inte.")
_BASIS_KEYS = ("samtycke_typ", "samtycke_form", "mottagare", "enheter", "aktiviteter",
               "giltig_fran", "giltig_till", "omprovas_senast", "anteckning")


def _env_days(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    days = int(raw)
    if days < 1:
        raise ValueError(f"{name} must be a positive number of days, got {raw!r}")
    return days


def _zone() -> ZoneInfo:
    return ZoneInfo(os.environ.get("SAMVERKAN_TIMEZONE", "Europe/Stockholm"))


def _moment(value: str) -> datetime:
    """An ISO 8601 date-time (a bare date: the start of that day) as an aware local datetime."""
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), time(0), _zone())
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=_zone())


def _local(value: str) -> datetime:
    """``value`` in the service's time zone, so adding days keeps the wall-clock time across DST."""
    return _moment(value).astimezone(_zone())


def _start_of(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day[:10]), time(0), _zone())


def _end_of(day: str) -> datetime:
    """The first moment after ``day`` (end dates are inclusive)."""
    return _start_of(day) + timedelta(days=1)


def _local_date(value: str) -> date:
    return _local(value).date()


# --- deadlines ---------------------------------------------------------------------------------------


def sip_follow_up_days() -> int:
    """Days between follow-ups of the plan (``SAMVERKAN_SIP_FOLLOW_UP_DAYS``, default 90)."""
    return _env_days("SAMVERKAN_SIP_FOLLOW_UP_DAYS", 90)


def sip_follow_up_due(now: str) -> str:
    """When the plan is next followed up: ``now`` plus :func:`sip_follow_up_days` (timer date)."""
    return (_local(now) + timedelta(days=sip_follow_up_days())).isoformat()


def sip_consent_review_days() -> int:
    """Days until implied/presumed consent is re-reviewed (``SAMVERKAN_SIP_CONSENT_REVIEW_DAYS``, 90)."""
    return _env_days("SAMVERKAN_SIP_CONSENT_REVIEW_DAYS", 90)


def sip_hemgang_days() -> int:
    """Calendar days to take a patient home after *utskrivningsklar* (``SAMVERKAN_SIP_HEMGANG_DAYS``, 3)."""
    return _env_days("SAMVERKAN_SIP_HEMGANG_DAYS", 3)


def sip_hemgang_deadline(utskrivningsklar: Mapping[str, Any] | None, now: str) -> str:
    """By when the municipality should have taken the patient home.

    Counted from ``utskrivningsklar_at`` in the hospital's message (the payload of the
    ``utskrivningsklar`` message), or from ``now`` when the message carries no valid time.
    """
    start = now
    if isinstance(utskrivningsklar, Mapping):
        stated = utskrivningsklar.get("utskrivningsklar_at")
        if isinstance(stated, str):
            try:
                _moment(stated)
                start = stated
            except ValueError:
                start = now
    return (_local(start) + timedelta(days=sip_hemgang_days())).isoformat()


# --- the consent as a disclosure basis ---------------------------------------------------------------


def sip_consent_basis(samtycke: Mapping[str, Any], registered_at: str) -> dict[str, Any]:
    """The consent recorded in the form (``samtycke``) as a disclosure basis (CONTRIBUTING format).

    Adds ``grund = "samtycke"``, ``aterkallad = None`` and ``registrerad`` (when it was recorded,
    which also identifies it). Implied and presumed consent without a re-review date get one
    :func:`sip_consent_review_days` after the day it was recorded.
    """
    basis: dict[str, Any] = {"grund": "samtycke"}
    for key in _BASIS_KEYS:
        if key in samtycke and samtycke[key] not in (None, ""):
            value = samtycke[key]
            basis[key] = list(value) if isinstance(value, list) else value
    basis.setdefault("mottagare", [])
    if basis.get("samtycke_typ") in ("konkludent", "presumerat") and "omprovas_senast" not in basis:
        review = _local_date(registered_at) + timedelta(days=sip_consent_review_days())
        basis["omprovas_senast"] = review.isoformat()
    basis["aterkallad"] = None
    basis["registrerad"] = registered_at
    return basis


def sip_consent_problems(samtycke: Mapping[str, Any], variant: str, at: str) -> list[str]:
    """Why the consent recorded in the form cannot carry this SIP (Swedish; empty when it can).

    The consent must be explicit (*uttryckligt*: implied or presumed consent is not enough for a SIP),
    the basis complete (R5b), valid today, and for ``sip`` and ``utskrivning`` cover the
    region (health care takes part). An I-SIP stays inside the administration (inre sekretess): its
    consent may name no outside recipient but must then name the units (``enheter``) it covers,
    since consent is never general.
    """
    basis = sip_consent_basis(samtycke, at)
    problems = disclosure_basis_problems(basis)
    if basis.get("samtycke_typ") in ("konkludent", "presumerat"):
        problems.insert(0, EXPLICIT_CONSENT_REQUIRED)
    if variant == "i_sip" and not basis["mottagare"]:
        problems = [p for p in problems if p != MISSING_RECIPIENTS]
        if not basis.get("enheter"):
            problems.append("Ange vilka enheter samtycket gäller för informationsutbyte inom förvaltningen.")
    if variant in REGION_VARIANTS and "region" not in basis["mottagare"]:
        problems.append("Samtycket måste omfatta regionen (hälso- och sjukvården) för att en SIP ska kunna "
                        "upprättas.")
    today = _local_date(at)
    start, end = basis.get("giltig_fran"), basis.get("giltig_till")
    try:
        if isinstance(start, str) and date.fromisoformat(start[:10]) > today:
            problems.append("Samtycket måste gälla från i dag för att SIP-arbetet ska kunna börja.")
        if isinstance(end, str) and date.fromisoformat(end[:10]) < today:
            problems.append("Samtyckets giltighetstid har redan löpt ut.")
        review = basis.get("omprovas_senast")
        if isinstance(review, str) and date.fromisoformat(review[:10]) <= today:
            problems.append("Datumet för omprövning måste ligga efter i dag.")
    except ValueError:
        pass  # an unreadable date is already among the basis problems
    return problems


def sip_invitation_problems(deltagare: Iterable[Any] | None, consent: Mapping[str, Any]) -> list[str]:
    """Why the officials called to the SIP meeting (``sip_deltagare``) cannot all be invited (Swedish;
    empty when they can): each one from outside the social services must come from a party the
    recorded consent names (``mottagare``). A party the form calls "annan" cannot be checked
    against the consent, so it is refused too."""
    named = set(consent.get("mottagare") or [])
    missing: list[str] = []
    unknown: list[str] = []
    for person in deltagare or []:
        if not isinstance(person, Mapping):
            continue
        organisation = person.get("organisation")
        who = str(person.get("namn") or "").strip() or "en kallad"
        if organisation not in INVITED_PARTIES:
            unknown.append(who)
            continue
        party = INVITED_PARTIES[organisation]
        if party is not None and party not in named:
            label = RECIPIENTS[party]
            if label not in missing:
                missing.append(label)
    problems = [f"Samtycket omfattar inte {label}, som därför inte kan kallas till SIP-mötet."
                for label in missing]
    if unknown:
        problems.append(f"Ange vilken part {', '.join(unknown)} kommer från, så att det kan prövas mot samtycket.")
    return problems


def sip_append_basis(bases: Iterable[Any] | None, basis: Mapping[str, Any]) -> list[Any]:
    """``bases`` with ``basis`` added — when it names recipients (an I-SIP consent may name none:
    it allows no hand-over across a confidentiality boundary and is kept as ``sip_samtycke`` only)."""
    result = list(bases or [])
    if basis.get("mottagare"):
        result.append(dict(basis))
    return result


def sip_consent_check_at(consent: Mapping[str, Any]) -> str:
    """When the consent next needs attention (a timer date): the start of ``omprovas_senast``
    (implied/presumed consent) or the end of ``giltig_till`` (expiry), whichever comes first."""
    moments = [_end_of(str(consent["giltig_till"]))]
    if consent.get("samtycke_typ") in ("konkludent", "presumerat") and consent.get("omprovas_senast"):
        moments.append(_start_of(str(consent["omprovas_senast"])))
    return min(moments).isoformat()


def sip_next_check_at(next_follow_up: str, consent: Mapping[str, Any]) -> str:
    """When the waiting plan next needs attention (the timer date): the next follow-up or
    :func:`sip_consent_check_at`, whichever comes first."""
    return min(_moment(next_follow_up), _moment(sip_consent_check_at(consent))).isoformat()


def sip_due_check(next_follow_up: str, consent: Mapping[str, Any], at: str) -> str:
    """What is due at ``at`` when the waiting timer fires; the consent goes first, since no
    follow-up can be shared with the region on a consent that no longer holds:

    - ``"samtycke_utganget"``: the consent's validity is over (after ``giltig_till``) → new consent;
    - ``"samtycke_omprovning"``: implied/presumed consent has reached ``omprovas_senast`` → review;
    - ``"uppfoljning"``: otherwise (the follow-up date, or a timer fired early by an operator).
    """
    moment = _moment(at)
    if moment >= _end_of(str(consent["giltig_till"])):
        return "samtycke_utganget"
    if (consent.get("samtycke_typ") in ("konkludent", "presumerat") and consent.get("omprovas_senast")
            and moment >= _start_of(str(consent["omprovas_senast"]))):
        return "samtycke_omprovning"
    return "uppfoljning"


def sip_consent_lapse_problems(consent: Mapping[str, Any], at: str) -> list[str]:
    """Why the registered consent no longer carries the SIP's next hand-over to the region (Swedish).

    Used when :func:`sip_consent_check_at` passes before the plan is in place (the meeting call or the
    plan still open): the case worker gets the consent task back with this line in its title. Ended
    (after ``giltig_till``) goes before a due re-review (implied/presumed consent from the start of
    ``omprovas_senast``), as in :func:`sip_due_check`.
    """
    moment = _moment(at)
    if moment >= _end_of(str(consent["giltig_till"])):
        return [f"Samtycket gällde till och med {str(consent['giltig_till'])[:10]} och har upphört: inhämta ett "
                "nytt samtycke innan uppgifter lämnas till regionen."]
    kind, review = consent.get("samtycke_typ"), consent.get("omprovas_senast")
    if kind in ("konkludent", "presumerat") and review and moment >= _start_of(str(review)):
        return [f"Samtycket ({kind}) ska omprövas senast {str(review)[:10]}: pröva det på nytt innan uppgifter "
                "lämnas till regionen."]
    return ["Samtycket behöver ses över innan uppgifter lämnas till regionen."]


def sip_consent_withdrawn(consent: Mapping[str, Any], at: str) -> dict[str, Any]:
    """The consent marked withdrawn at ``at`` (an earlier withdrawal is kept)."""
    return {**consent, "aterkallad": consent.get("aterkallad") or at}


def sip_withdrawal_at(payload: Mapping[str, Any] | None, now: str) -> str:
    """When consent was withdrawn: ``aterkallad_at`` in the message payload, else ``now``."""
    if isinstance(payload, Mapping):
        stated = payload.get("aterkallad_at")
        if isinstance(stated, str):
            try:
                _moment(stated)
                return stated
            except ValueError:
                pass  # fall back to the moment the message arrived
    return now


# --- titles ------------------------------------------------------------------------------------------


def sip_variant_label(variant: str) -> str:
    """The variant in Swedish (``utskrivning`` → "SIP vid utskrivning från sluten vård")."""
    return VARIANTS.get(variant, "SIP")


def sip_title(heading: str, variant: str) -> str:
    """An inbox line: ``"Upprätta plan – I-SIP (intern SIP)"``."""
    return f"{heading} – {sip_variant_label(variant)}"


def sip_consent_task_title(heading: str, problems: Iterable[str] | None) -> str:
    """The consent task's inbox line; after a rejected attempt it says what to complete."""
    listed = [str(p) for p in problems or []]
    if not listed:
        return heading
    return f"{heading} – komplettera: {' '.join(listed)}"
