"""R4 Synpunkter och klagomål på privat utförare (process key ``klagomal_privat_utforare``).

Functions the diagram ``bpmn/klagomal_privat_utforare.bpmn`` calls, and the decision support the
service offers the Enhetschef myndighet at step 3:

- ``r4_klagomalspost`` turns one registered complaint into a de-identified record (provider,
  category, district, dates, source — never anything about the person), stored in the instance as
  ``klagomalspost`` so the service can collect the records of every complaint about a provider;
- ``provider_complaint_summary`` aggregates such records per provider (counts, categories,
  districts, time window, open/closed) and flags providers that cross configurable thresholds, to
  help judge "recurring", "serious" and "systematic" (ROUTINES.md R4, decision support);
- ``r4_ska_kontakta_eku`` is the step 3 rule; ``r4_utforarsvar_frist`` the provider's response
  deadline; ``r4_rubrik`` inbox lines without personal data (EKU sees them too).

Configuration (all optional):

=========================================  =======  ==============================================
``SAMVERKAN_R4_PROVIDER_RESPONSE_DAYS``    14       days the provider has to record its response
``SAMVERKAN_R4_EKU_FOLLOW_UP_MONTHS``      3        months between EKU's regular follow-ups
``SAMVERKAN_R4_WINDOW_DAYS``               365      the summary's time window, back from ``as_of``
``SAMVERKAN_R4_RECURRING_MIN``             3        complaints in one category → "återkommande"
``SAMVERKAN_R4_SERIOUS_TOTAL_MIN``         5        complaints in the window → "sammantaget allvarliga"
``SAMVERKAN_R4_SYSTEMATIC_MIN``            5        complaints in the window → may be "systematiska" …
``SAMVERKAN_R4_SYSTEMATIC_DISTRICTS_MIN``  2        … when they come from at least this many districts
=========================================  =======  ==============================================
"""

from __future__ import annotations

import calendar
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from processes.calendar import next_office_opening

__all__ = [
    "provider_complaint_summary",
    "r4_klagomalspost",
    "r4_ska_kontakta_eku",
    "r4_utforarsvar_frist",
    "r4_nasta_eku_uppfoljning",
    "r4_rubrik",
]

EKU_FOLLOW_UP_MONTHS_ENV = "SAMVERKAN_R4_EKU_FOLLOW_UP_MONTHS"
DEFAULT_EKU_FOLLOW_UP_MONTHS = 3

PROVIDER_RESPONSE_DAYS_ENV = "SAMVERKAN_R4_PROVIDER_RESPONSE_DAYS"
DEFAULT_PROVIDER_RESPONSE_DAYS = 14

#: Category keys (form values) and their Swedish labels.
CATEGORY_LABELS: dict[str, str] = {
    "social_dokumentation": "Social dokumentation",
    "uteblivna_insatser": "Uteblivna insatser",
    "bemotande": "Bemötande",
    "kvalitet_i_insatsen": "Kvalitet i insatsen",
    "bemanning_kontinuitet": "Bemanning och kontinuitet",
    "sakerhet_risker": "Säkerhet och risker",
    "lokaler_miljo": "Lokaler och miljö",
    "information_kommunikation": "Information och kommunikation",
    "missforhallande": "Missförhållande eller risk för missförhållande",
    "annat": "Annat",
}

#: Where a case came from: a complaint, or a provider's lex Sarah report / IVO notification.
SOURCES = ("klagomal", "lex_sarah", "ivo")


@dataclass(frozen=True)
class ComplaintThresholds:
    """When a provider is flagged. Defaults are product choices; each has an environment variable."""

    window_days: int = 365
    recurring_min: int = 3
    serious_total_min: int = 5
    systematic_min: int = 5
    systematic_districts_min: int = 2

    _ENV = {
        "window_days": "SAMVERKAN_R4_WINDOW_DAYS",
        "recurring_min": "SAMVERKAN_R4_RECURRING_MIN",
        "serious_total_min": "SAMVERKAN_R4_SERIOUS_TOTAL_MIN",
        "systematic_min": "SAMVERKAN_R4_SYSTEMATIC_MIN",
        "systematic_districts_min": "SAMVERKAN_R4_SYSTEMATIC_DISTRICTS_MIN",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: int | None) -> ComplaintThresholds:
        """Thresholds from the environment, each overridable by a keyword argument."""
        source = os.environ if env is None else env
        values: dict[str, int] = {}
        for name, variable in cls._ENV.items():
            override = overrides.get(name)
            raw = override if override is not None else source.get(variable)
            if raw is None:
                continue
            value = int(raw)
            if value < 1:
                raise ValueError(f"{variable} must be a positive integer, got {raw!r}")
            values[name] = value
        return cls(**values)


def _as_date(value: Any) -> date | None:
    """A date from an ISO 8601 date or datetime string (or a date/datetime); None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    try:
        return date.fromisoformat(text[:10])
    except ValueError as error:
        raise ValueError(f"not an ISO 8601 date: {text!r}") from error


def _is_open(complaint: Mapping[str, Any], as_of: date) -> bool:
    closed = _as_date(complaint.get("closed"))
    if complaint.get("status") == "closed" and closed is None:
        return False
    return closed is None or closed > as_of


def r4_nasta_eku_uppfoljning(nu: str) -> str:
    """When EKU's next regular follow-up of an open matter is due: ``SAMVERKAN_R4_EKU_FOLLOW_UP_MONTHS``
    (product choice, 3) calendar months after ``nu`` (the last follow-up), at the first office opening
    on or after that day (the 31st of a shorter month is its last day). An ISO 8601 datetime."""
    raw = os.environ.get(EKU_FOLLOW_UP_MONTHS_ENV)
    months = int(raw) if raw else DEFAULT_EKU_FOLLOW_UP_MONTHS
    if months < 1:
        raise ValueError(f"{EKU_FOLLOW_UP_MONTHS_ENV} must be a positive integer, got {raw!r}")
    moment = datetime.fromisoformat(nu)
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return next_office_opening(datetime.combine(date(year, month, day), time(0, 0), moment.tzinfo))


def r4_klagomalspost(
    utforare: str,
    kategori: str,
    stadsomrade: str | None,
    inkommen_datum: str,
    kalla: str,
    verksamhetstyp: str,
) -> dict[str, Any]:
    """The de-identified record of one complaint, as ``provider_complaint_summary`` reads it.

    Holds only provider-level facts — provider, category, district, received date, source
    (``klagomal`` / ``lex_sarah`` / ``ivo``) and kind of activity — so it may reach EKU. ``closed``
    is ``None`` while the complaint is handled; the service sets it (or ``status: "closed"``) when
    the instance ends.
    """
    if kategori not in CATEGORY_LABELS:
        raise ValueError(f"unknown category {kategori!r}")
    if kalla not in SOURCES:
        raise ValueError(f"unknown source {kalla!r}")
    received = _as_date(inkommen_datum)
    return {
        "provider": utforare.strip(),
        "category": kategori,
        "district": stadsomrade,
        "received": received.isoformat() if received else None,
        "source": kalla,
        "activity": verksamhetstyp,
        "closed": None,
    }


def provider_complaint_summary(
    complaints: Iterable[Mapping[str, Any]],
    provider: str,
    as_of: str | None = None,
    *,
    window_days: int | None = None,
    recurring_min: int | None = None,
    serious_total_min: int | None = None,
    systematic_min: int | None = None,
    systematic_districts_min: int | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Aggregate one provider's complaints and flag what may call for contact with EKU.

    ``complaints``: records like ``r4_klagomalspost`` makes — ``provider``, ``category``,
    ``district``, ``received`` (ISO date or datetime), optional ``closed`` (date; missing/None =
    open, or ``status: "closed"``), optional ``source`` and ``serious`` (bool). Records of other
    providers are ignored (provider names compare case-insensitively, trimmed). ``as_of`` (ISO date
    or datetime, e.g. ``now()``) ends the window; without it the latest received date does, so the
    result depends only on the arguments. Thresholds come from the keyword arguments, else the
    environment (see the module docstring), else the defaults.

    Returns counts (``total``, ``open``, ``closed``), ``by_category``, ``by_district``,
    ``by_source``, ``first_received``/``last_received``, ``recurring_categories`` (categories at or
    over the recurring threshold), ``flags`` — ``recurring_unremedied`` (a recurring category with an
    open complaint), ``serious`` (a lex Sarah/IVO report, a complaint marked serious, or many
    complaints together), ``systematic`` (many complaints spread over several districts) —
    ``flagged`` (any flag) and ``reasons`` (Swedish sentences for the case worker). Everything is
    provider-level and de-identified: safe to show to EKU.
    """
    thresholds = ComplaintThresholds.from_env(
        env,
        window_days=window_days,
        recurring_min=recurring_min,
        serious_total_min=serious_total_min,
        systematic_min=systematic_min,
        systematic_districts_min=systematic_districts_min,
    )
    wanted = provider.strip().casefold()
    mine = [c for c in complaints if str(c.get("provider", "")).strip().casefold() == wanted]
    dated = [(c, _as_date(c.get("received"))) for c in mine]
    end = _as_date(as_of) or max((d for _, d in dated if d is not None), default=None)
    start = end - timedelta(days=thresholds.window_days) if end else None
    window = [(c, d) for c, d in dated if d is not None and start is not None and end is not None
              and start < d <= end]
    in_window = [c for c, _ in window]

    cutoff = end or date.min
    open_ones = [c for c in in_window if _is_open(c, cutoff)]
    by_category = Counter(str(c.get("category", "annat")) for c in in_window)
    by_district = Counter(str(c.get("district", "okänt")) for c in in_window)
    by_source = Counter(str(c.get("source", "klagomal")) for c in in_window)
    received = sorted(d for _, d in window)

    recurring = sorted(cat for cat, n in by_category.items() if n >= thresholds.recurring_min)
    open_categories = {str(c.get("category", "annat")) for c in open_ones}
    recurring_unremedied = any(cat in open_categories for cat in recurring)
    reports = by_source.get("lex_sarah", 0) + by_source.get("ivo", 0)
    marked_serious = sum(1 for c in in_window if c.get("serious") is True)
    serious = reports > 0 or marked_serious > 0 or len(in_window) >= thresholds.serious_total_min
    systematic = (len(in_window) >= thresholds.systematic_min
                  and len(by_district) >= thresholds.systematic_districts_min)

    reasons: list[str] = []
    for cat in recurring:
        label = CATEGORY_LABELS.get(cat, cat)
        still_open = " varav minst ett fortfarande öppet" if cat in open_categories else ""
        reasons.append(f"Återkommande: {by_category[cat]} klagomål om {label.lower()}{still_open}.")
    if reports:
        reasons.append(f"Allvarliga: {reports} lex Sarah-rapport(er)/IVO-anmälan(-ningar) i perioden.")
    if marked_serious:
        reasons.append(f"Allvarliga: {marked_serious} klagomål bedömda som allvarliga.")
    if len(in_window) >= thresholds.serious_total_min:
        reasons.append(f"Sammantaget allvarliga: {len(in_window)} klagomål i perioden.")
    if systematic:
        reasons.append(
            f"Omfattande och kan vara systematiska: {len(in_window)} klagomål från "
            f"{len(by_district)} stadsområden."
        )

    return {
        "provider": provider.strip(),
        "as_of": end.isoformat() if end else None,
        "window_days": thresholds.window_days,
        "window_start": start.isoformat() if start else None,
        "total": len(in_window),
        "open": len(open_ones),
        "closed": len(in_window) - len(open_ones),
        "by_category": dict(sorted(by_category.items())),
        "by_district": dict(sorted(by_district.items())),
        "by_source": dict(sorted(by_source.items())),
        "first_received": received[0].isoformat() if received else None,
        "last_received": received[-1].isoformat() if received else None,
        "recurring_categories": recurring,
        "flags": {"recurring_unremedied": recurring_unremedied, "serious": serious, "systematic": systematic},
        "flagged": recurring_unremedied or serious or systematic,
        "reasons": reasons,
    }


def r4_ska_kontakta_eku(
    brister_kvarstar: bool,
    aterkommande_ej_atgardade: bool,
    allvarliga: bool,
    omfattande_systematiska: bool,
) -> bool:
    """Step 3: contact EKU when deficiencies remain and any of the three criteria holds.

    The criteria (ROUTINES.md R4 step 4): complaints recur and are not remedied; they are serious,
    or several together become serious; they are extensive and appear systematic.
    """
    return brister_kvarstar is True and (
        aterkommande_ej_atgardade is True or allvarliga is True or omfattande_systematiska is True
    )


def r4_utforarsvar_frist(env: Mapping[str, str] | None = None) -> str:
    """How long the provider has to record its response, as an ISO 8601 duration (``P14D``).

    A product choice (the source sets no deadline): when it passes, the complaint goes on to the
    socialsekreterare's individual follow-up with the missing response noted.
    ``SAMVERKAN_R4_PROVIDER_RESPONSE_DAYS`` sets the number of days.
    """
    source = os.environ if env is None else env
    raw = source.get(PROVIDER_RESPONSE_DAYS_ENV, str(DEFAULT_PROVIDER_RESPONSE_DAYS))
    days = int(raw)
    if days <= 0:
        raise ValueError(f"{PROVIDER_RESPONSE_DAYS_ENV} must be a positive number of days, got {raw!r}")
    return f"P{days}D"


def r4_rubrik(rubrik: str, utforare: str, kategori: str) -> str:
    """An inbox line with provider-level facts only (EKU sees it): step, provider and category."""
    return f"{rubrik}: {utforare.strip()} – {CATEGORY_LABELS.get(kategori, kategori).lower()}"
