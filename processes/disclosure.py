"""R5b — disclosure across a confidentiality boundary (utlämning över en sekretessgräns).

Case data about an individual may cross a confidentiality boundary (to another committee, an
independent branch such as familjerådgivningen, or an outside party: other providers, EKU, the
region, the police) only on a recorded basis (*utlämningsgrund*). The service calls these functions
before it completes a user task that carries the ``disclosureTo`` property, and diagrams may call
them too. A basis is a JSON object in the instance's ``utlamningsgrunder`` list (see
CONTRIBUTING.md, "Disclosure across a confidentiality boundary"):

- **samtycke** (consent) — ``samtycke_typ`` *uttryckligt*, *konkludent* or *presumerat*,
  ``samtycke_form`` *muntligt* or *skriftligt*. Consent is never general: it names its recipients
  (``mottagare``) and a validity period (``giltig_fran``–``giltig_till``). Implied (*konkludent*)
  and presumed (*presumerat*) consent must be re-reviewed (``omprovas_senast``); once that date has
  passed without a review the consent no longer carries a hand-over. A withdrawn (``aterkallad``)
  or expired consent stops every further hand-over.
- **sekretessbrytande_regel** — a secrecy-breaking rule (``regel``): nödsituation,
  uppgiftsskyldighet (a duty to disclose *to another authority*), nödvändig för verksamheten, the
  listed care situations (vårdsituation), or a report of suspected crimes against children
  (brott_mot_barn, *to the police or prosecutor only*).
- **menprovning** — a harm test; only the outcome *inget_men* (no harm to the individual or a
  relative) allows the hand-over.

Every basis names whom it covers (``mottagare``, recipient categories below). Dates are ISO 8601
dates (``2026-11-24``, a whole day in the service's time zone, end dates inclusive) or date-times
with an offset. Moments (``at``) are ISO 8601 date-times with an offset (naive ones are read in
``SAMVERKAN_TIMEZONE``, default Europe/Stockholm). Messages are Swedish: they reach the case worker
as the reason a task cannot be completed.

Within the same committee and branch only *inre sekretess* applies: that is not a recipient here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "disclosure_basis_problems",
    "disclosure_basis_valid",
    "disclosure_allowed",
    "disclosure_refusal_reason",
    "disclosure_covering_basis",
    "disclosure_consent_review_due",
    "disclosure_consent_review_overdue",
    "disclosure_withdraw_consents",
]

#: Recipient categories of the ``disclosureTo`` property, with the Swedish phrase for messages.
RECIPIENTS: dict[str, str] = {
    "andra_utforare": "andra utförare",
    "eku": "EKU (enheten för kontrakt och uppföljning)",
    "region": "regionen (hälso- och sjukvården)",
    "polis": "polis eller åklagare",
    "annan_namnd": "en annan nämnd eller förvaltning",
    "annan_forvaltning": "en annan förvaltning (en annan nämnd)",
    "fristaende_verksamhet": "en självständig verksamhetsgren (t.ex. familjerådgivningen)",
    "forsakringskassan": "Försäkringskassan",
    "arbetsformedlingen": "Arbetsförmedlingen",
    "skolan": "skolan",
    "kommunal_halso_sjukvard": "kommunal hälso- och sjukvård (under annan sekretess)",
}
GROUNDS = ("samtycke", "sekretessbrytande_regel", "menprovning")
CONSENT_TYPES = ("uttryckligt", "konkludent", "presumerat")
CONSENT_FORMS = ("muntligt", "skriftligt")
REVIEWED_CONSENT_TYPES = ("konkludent", "presumerat")
RULES = (
    "nodsituation", "uppgiftsskyldighet", "nodvandig_for_verksamheten", "vardsituation", "brott_mot_barn",
)
HARM_OUTCOMES = ("inget_men", "men")
#: Rules that only reach some recipients: a duty to disclose runs to another authority; a report
#: of suspected crimes against children goes to the police or prosecutor.
RULE_RECIPIENTS: dict[str, frozenset[str]] = {
    "uppgiftsskyldighet": frozenset({"region", "polis", "annan_namnd", "annan_forvaltning", "forsakringskassan",
                                     "arbetsformedlingen"}),
    "brott_mot_barn": frozenset({"polis"}),
}
#: The problem :func:`disclosure_basis_problems` reports for a basis that names no recipient.
MISSING_RECIPIENTS = "Utlämningsgrunden måste ange vilka mottagare den omfattar (mottagare)."
_CONSENT_TYPE_LABELS = {"uttryckligt": "uttryckligt", "konkludent": "konkludent", "presumerat": "presumerat"}


# --- parsing ---------------------------------------------------------------------------------------


def _zone() -> ZoneInfo:
    return ZoneInfo(os.environ.get("SAMVERKAN_TIMEZONE", "Europe/Stockholm"))


def _moment(at: datetime | date | str) -> datetime:
    """``at`` as an aware datetime (a bare date is the start of that day)."""
    if isinstance(at, str):
        at = date.fromisoformat(at) if len(at) == 10 else datetime.fromisoformat(at)
    if not isinstance(at, datetime):
        return datetime.combine(at, time(0), _zone())
    return at if at.tzinfo is not None else at.replace(tzinfo=_zone())


def _bound(value: Any, *, end: bool) -> datetime | None:
    """A basis date as a moment: the start of the day, or (``end``) the start of the next day.

    Returns None when the value is not an ISO 8601 date or date-time.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1 if end else 0), time(0), _zone())
        return _moment(datetime.fromisoformat(value))
    except ValueError:
        return None


def _day(value: str) -> str:
    """A basis date for a message: the date part, as written."""
    return value[:10] if len(value) > 10 else value


# --- validation ------------------------------------------------------------------------------------


def _recipient_problems(basis: Mapping[str, Any]) -> list[str]:
    recipients = basis.get("mottagare")
    if not isinstance(recipients, list) or not recipients:
        return [MISSING_RECIPIENTS]
    unknown = [r for r in recipients if r not in RECIPIENTS]
    if unknown:
        return [f"Okänd mottagarkategori: {', '.join(map(str, unknown))}."]
    return []


def _period_problems(basis: Mapping[str, Any], *, required: bool) -> list[str]:
    problems: list[str] = []
    start, end = basis.get("giltig_fran"), basis.get("giltig_till")
    for key, value, label in (("giltig_fran", start, "Giltig från"), ("giltig_till", end, "Giltig till")):
        if value in (None, ""):
            if required:
                problems.append(f"Samtycket måste ha en giltighetstid: {label} ({key}) saknas.")
        elif _bound(value, end=False) is None:
            problems.append(f"{label} ({key}) är inget giltigt datum: {value!r}.")
    start_at, end_at = _bound(start, end=False), _bound(end, end=True)
    if start_at is not None and end_at is not None and end_at <= start_at:
        problems.append("Giltighetstiden slutar innan den börjar (giltig_till före giltig_fran).")
    return problems


def _consent_problems(basis: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    kind = basis.get("samtycke_typ")
    if kind not in CONSENT_TYPES:
        problems.append("Samtyckets typ (samtycke_typ) ska vara uttryckligt, konkludent eller presumerat.")
    if basis.get("samtycke_form") not in CONSENT_FORMS:
        problems.append("Samtyckets form (samtycke_form) ska vara muntligt eller skriftligt.")
    problems += _period_problems(basis, required=True)
    review = basis.get("omprovas_senast")
    if kind in REVIEWED_CONSENT_TYPES and review in (None, ""):
        problems.append(f"Ett {kind} samtycke måste ha ett datum då det omprövas senast (omprovas_senast).")
    elif review not in (None, "") and _bound(review, end=True) is None:
        problems.append(f"Omprövas senast (omprovas_senast) är inget giltigt datum: {review!r}.")
    return problems


def _rule_problems(basis: Mapping[str, Any]) -> list[str]:
    rule = basis.get("regel")
    if rule not in RULES:
        return ["Den sekretessbrytande regeln (regel) saknas eller är okänd."]
    allowed = RULE_RECIPIENTS.get(rule)
    recipients = basis.get("mottagare")
    if allowed is not None and isinstance(recipients, list):
        outside = [r for r in recipients if r in RECIPIENTS and r not in allowed]
        if outside:
            labels = ", ".join(RECIPIENTS[r] for r in outside)
            return [f"Regeln {rule} medger inte utlämning till {labels}."]
    return []


def disclosure_basis_problems(basis: Any) -> list[str]:
    """Every reason, in Swedish, why ``basis`` is not a complete disclosure basis (empty when it is).

    Checks the recorded format only, not whether the basis holds at some moment: for that see
    :func:`disclosure_refusal_reason`. Consent needs recipients, a type, a form and a validity
    period, and implied/presumed consent a re-review date; a secrecy-breaking rule needs a known
    ``regel`` whose reach covers the named recipients; a harm test needs ``menprovning_utfall``.
    """
    if not isinstance(basis, Mapping):
        return ["Utlämningsgrunden måste vara ett objekt."]
    ground = basis.get("grund")
    if ground not in GROUNDS:
        return ["Grunden (grund) ska vara samtycke, sekretessbrytande_regel eller menprovning."]
    problems = _recipient_problems(basis)
    if ground == "samtycke":
        problems += _consent_problems(basis)
    else:
        problems += _period_problems(basis, required=False)
        if ground == "sekretessbrytande_regel":
            problems += _rule_problems(basis)
        elif basis.get("menprovning_utfall") not in HARM_OUTCOMES:
            problems.append("Menprövningens utfall (menprovning_utfall) ska vara inget_men eller men.")
    withdrawn = basis.get("aterkallad")
    if withdrawn not in (None, "") and _bound(withdrawn, end=False) is None:
        problems.append(f"Återkallad (aterkallad) är ingen giltig tidpunkt: {withdrawn!r}.")
    for key in ("enheter", "aktiviteter"):
        value = basis.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            problems.append(f"{key} ska vara en lista med text.")
    return problems


def disclosure_basis_valid(basis: Any) -> bool:
    """True when ``basis`` is a complete disclosure basis (see :func:`disclosure_basis_problems`)."""
    return not disclosure_basis_problems(basis)


# --- does a basis hold at a moment? ----------------------------------------------------------------


def _what(basis: Mapping[str, Any]) -> str:
    """The basis named for a message: "samtycket (konkludent)", "menprövningen", …"""
    ground = basis.get("grund")
    if ground == "samtycke":
        kind = _CONSENT_TYPE_LABELS.get(str(basis.get("samtycke_typ")), "")
        return f"samtycket ({kind})" if kind else "samtycket"
    if ground == "sekretessbrytande_regel":
        return f"den sekretessbrytande regeln ({basis.get('regel')})"
    return "menprövningen"


def _covers(basis: Any, recipient: str) -> bool:
    if not isinstance(basis, Mapping):
        return False
    recipients = basis.get("mottagare")
    return isinstance(recipients, list) and recipient in recipients


def _basis_refusal(basis: Mapping[str, Any], moment: datetime) -> str | None:
    """Why a complete basis that names the recipient does not hold at ``moment`` (None: it holds)."""
    what = _what(basis)
    withdrawn = basis.get("aterkallad")
    if withdrawn not in (None, "") and moment >= (_bound(withdrawn, end=False) or moment):
        return f"{what} återkallades {_day(str(withdrawn))}"
    start, end = basis.get("giltig_fran"), basis.get("giltig_till")
    start_at, end_at = _bound(start, end=False), _bound(end, end=True)
    if start_at is not None and moment < start_at:
        return f"{what} gäller först från {_day(str(start))}"
    if end_at is not None and moment >= end_at:
        return f"{what} gällde till och med {_day(str(end))} och har upphört"
    if disclosure_consent_review_overdue(basis, moment):
        return (f"{what} skulle ha omprövats senast {_day(str(basis.get('omprovas_senast')))} "
                "och har inte omprövats")
    if basis.get("grund") == "menprovning" and basis.get("menprovning_utfall") != "inget_men":
        return "menprövningen fann att den enskilde eller en närstående kan lida men av utlämningen"
    return None


def _refusals(bases: Iterable[Any] | None, recipient: str, moment: datetime) -> tuple[bool, list[str]]:
    """(a basis holds, the reasons the bases naming the recipient do not hold)."""
    reasons: list[str] = []
    for basis in bases or ():
        if not _covers(basis, recipient):
            continue
        problems = disclosure_basis_problems(basis)
        reason: str | None
        if problems:
            reason = f"{_what(basis)}: ofullständigt registrerad utlämningsgrund ({' '.join(problems)})"
        else:
            reason = _basis_refusal(basis, moment)
        if reason is None:
            return True, []
        if reason not in reasons:
            reasons.append(reason)
    return False, reasons


def disclosure_refusal_reason(
    bases: Iterable[Any] | None, recipient: str, at: datetime | date | str
) -> str | None:
    """None when a basis in ``bases`` allows handing case data to ``recipient`` at ``at``; else why not.

    The reason is a Swedish sentence for the case worker (the service returns it with a 422): an
    unknown recipient category, no basis at all, no basis covering this recipient, or — for each
    basis that names the recipient — that it is incomplete, withdrawn, not yet or no longer valid,
    overdue for re-review (implied/presumed consent), or a harm test that found harm.
    """
    if recipient not in RECIPIENTS:
        return f"Okänd mottagarkategori {recipient!r}: utlämning kan inte prövas."
    label = RECIPIENTS[recipient]
    entries = list(bases or ())
    if not entries:
        return (f"Uppgifter får inte lämnas till {label}: det finns ingen registrerad utlämningsgrund "
                "(samtycke, sekretessbrytande regel eller menprövning).")
    allowed, reasons = _refusals(entries, recipient, _moment(at))
    if allowed:
        return None
    if not reasons:
        return (f"Uppgifter får inte lämnas till {label}: ingen registrerad utlämningsgrund omfattar "
                "den mottagaren. Samtycke gäller aldrig generellt.")
    return f"Uppgifter får inte lämnas till {label}: " + "; ".join(reasons) + "."


def disclosure_allowed(bases: Iterable[Any] | None, recipient: str, at: datetime | date | str) -> bool:
    """True when some basis in ``bases`` allows handing case data to ``recipient`` at ``at``."""
    return disclosure_refusal_reason(bases, recipient, at) is None


def disclosure_covering_basis(
    bases: Iterable[Any] | None, recipient: str, at: datetime | date | str
) -> dict[str, Any] | None:
    """The first basis that allows the hand-over (for the audit log: "on which basis"), or None."""
    if recipient not in RECIPIENTS:
        return None
    moment = _moment(at)
    for basis in bases or ():
        if not (_covers(basis, recipient) and disclosure_basis_valid(basis)):
            continue
        if _basis_refusal(basis, moment) is None:
            return dict(basis)
    return None


# --- consent re-review and withdrawal --------------------------------------------------------------


def _review_applies(basis: Any) -> bool:
    return (isinstance(basis, Mapping) and basis.get("grund") == "samtycke"
            and basis.get("samtycke_typ") in REVIEWED_CONSENT_TYPES)


def disclosure_consent_review_due(basis: Any, at: datetime | date | str, notice_days: int = 0) -> bool:
    """True when an implied/presumed consent must be re-reviewed now (within ``notice_days``).

    Due from the start of ``omprovas_senast`` minus ``notice_days``; a consent without a re-review
    date is due at once (it is incomplete). Explicit consent and other grounds are never due.
    """
    if not _review_applies(basis):
        return False
    review_at = _bound(basis.get("omprovas_senast"), end=False)
    if review_at is None:
        return True
    return _moment(at) >= review_at - timedelta(days=notice_days)


def disclosure_consent_review_overdue(basis: Any, at: datetime | date | str) -> bool:
    """True when an implied/presumed consent was not re-reviewed by the end of ``omprovas_senast``."""
    if not _review_applies(basis):
        return False
    limit = _bound(basis.get("omprovas_senast"), end=True)
    return limit is None or _moment(at) >= limit


def disclosure_withdraw_consents(bases: Iterable[Any] | None, at: str) -> list[Any]:
    """A copy of ``bases`` with every consent not already withdrawn marked ``aterkallad = at``.

    Used when the individual withdraws consent: no further hand-over may rest on it. Other grounds
    (a secrecy-breaking rule, a harm test) are not the individual's to withdraw and stay as they are.
    """
    result: list[Any] = []
    for basis in bases or ():
        if isinstance(basis, Mapping) and basis.get("grund") == "samtycke" and not basis.get("aterkallad"):
            basis = {**basis, "aterkallad": at}
        result.append(basis)
    return result
