"""R3 Tillfälligt utökat stöd i 14 dagar: functions ``bpmn/utokat_stod_14_dagar.bpmn`` calls.

Under the home care agreement a provider may increase a client's care at once, for up to 14 days,
without a new needs assessment. Day 0 is the day the provider started the increase. A change
judged to last longer than 14 days must be reported to the responsible biståndshandläggare within
a week of being established — at day 0 or whenever it is established within the 14 days. At day 14
the handläggare follows up: a need that persists leads to an application and, on approval, a
decision backdated to day 0. The agreement covers the first 14 days in every outcome; only a granted
decision covers what follows. Both periods are recorded for invoicing.

The 14 days and the week come from the agreement and the routine, not product choices, so they
are constants here. Dates are ISO 8601 strings (``YYYY-MM-DD``); times are Europe/Stockholm
unless ``SAMVERKAN_TIMEZONE`` says otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from processes.calendar import default_calendar, next_office_opening

__all__ = [
    "r3_omfattas_av_rutinen",
    "r3_instruktion_okand_brukare",
    "r3_uppfoljningsdag",
    "r3_avtalsperiod_slut",
    "r3_frist_arbetsdagar",
    "r3_datum",
    "r3_varaktigt_behov_informeras_senast",
    "r3_fakturaunderlag",
    "r3_rubrik",
]

AVTALSPERIOD_DAGAR = 14
INFORMERA_INOM_DAGAR = 7

OMVARDNADSBESLUT = "omvardnadsbeslut_hemtjanst"

ERSATTS = "bifall_bakatdaterat"
ORSAKER_UTAN_ERSATTNING = ("overgaende_behov", "avslag", "ingen_ansokan")

INSTRUKTION_OKAND_BRUKARE = (
    "Brukaren omfattas inte av rutinen för tillfälligt utökat stöd i 14 dagar: den gäller bara "
    "brukare med pågående omvårdnadsbeslut där en hemtjänstutförare är involverad och ett "
    "nytillkommet omvårdnadsbehov. Brukare med endast servicebeslut, trygghetslarm eller uppdrag "
    "via HSL hanteras som okända brukare: hänvisa brukaren (eller företrädaren) att kontakta "
    "Myndighetsenhetens Mottagning för ansökan om stöd."
)


def _zone() -> ZoneInfo:
    return ZoneInfo(os.environ.get("SAMVERKAN_TIMEZONE", "Europe/Stockholm"))


def _date(value: str) -> date:
    """A date from ``YYYY-MM-DD`` or from a datetime string (its local date)."""
    if len(value) == 10:
        return date.fromisoformat(value)
    moment = datetime.fromisoformat(value)
    return (moment.astimezone(_zone()) if moment.tzinfo else moment).date()


def r3_omfattas_av_rutinen(pagaende_beslut: Sequence[str], nytt_omvardnadsbehov: bool) -> bool:
    """Whether the client is within the routine: an ongoing care decision (omvårdnadsbeslut) with
    a home care provider involved, *and* a new care need. Clients with only a service decision,
    only a safety alarm or only HSL assignments are *okända brukare*."""
    return OMVARDNADSBESLUT in pagaende_beslut and nytt_omvardnadsbehov is True


def r3_instruktion_okand_brukare() -> str:
    """The instruction recorded when the client is out of scope (an *okänd brukare*)."""
    return INSTRUKTION_OKAND_BRUKARE


def r3_uppfoljningsdag(dag_0: str) -> str:
    """When "Uppföljning dag 14" starts: 14 days after day 0, at the first office opening on or
    after that day (a day 14 on a weekend or holiday moves to the next working morning).
    An ISO 8601 datetime for the ``timeDate`` timer."""
    day_14 = _date(dag_0) + timedelta(days=AVTALSPERIOD_DAGAR)
    return next_office_opening(datetime.combine(day_14, time(0, 0), _zone()))


def r3_avtalsperiod_slut(dag_0: str) -> str:
    """When the agreement's 14 days are over: midnight starting day 14 (local time). Until then the
    provider may record at any moment that the need will last longer ("Varaktigt behov konstaterat")."""
    return datetime.combine(_date(dag_0) + timedelta(days=AVTALSPERIOD_DAGAR), time(0, 0), _zone()).isoformat()


def r3_frist_arbetsdagar(start: str, arbetsdagar: int) -> str:
    """The deadline ``arbetsdagar`` working days of office time after ``start`` (a step taken on Friday
    afternoon with one working day is due on Monday afternoon), to the minute. An ISO 8601 datetime for
    a task's ``due`` and its escalation timer, which are evaluated a moment apart."""
    calendar = default_calendar()
    office_hours = (datetime.combine(date.min, calendar.closes)
                    - datetime.combine(date.min, calendar.opens)).total_seconds() / 3600
    moment = datetime.fromisoformat(start).replace(second=0, microsecond=0)
    return calendar.add_working_hours(moment, arbetsdagar * office_hours).isoformat()


def r3_datum(moment: str) -> str:
    """The local date (``YYYY-MM-DD``) of an ISO 8601 moment, e.g. ``now()`` when something is recorded."""
    return _date(moment).isoformat()


def r3_varaktigt_behov_informeras_senast(behov_konstaterat: str) -> str:
    """The deadline for telling the handläggare about a change judged to last longer than 14 days:
    the end of the seventh day after the changed need was established (midnight starting the
    eighth day, local time). An ISO 8601 datetime for the task's ``due`` and its boundary timer."""
    deadline = _date(behov_konstaterat) + timedelta(days=INFORMERA_INOM_DAGAR + 1)
    return datetime.combine(deadline, time(0, 0), _zone()).isoformat()


def r3_fakturaunderlag(utfall: str, dag_0: str, period_till: str) -> dict[str, Any]:
    """The record for invoicing the extended support: both periods, and what covers each.

    The agreement covers the first 14 days (day 0 … day 13) in every outcome: the provider acts
    "utan ny biståndsbedömning" for up to 14 days (``avtalsperiod``). What follows, up to
    ``period_till`` (the decision date, the date the extra support ended, or the date the client was
    contacted), is covered only by a granted decision backdated to day 0 (``utfall`` =
    ``bifall_bakatdaterat``); after a transient need, a refusal or no application it is not
    (``efter_avtalsperioden.ersatts`` false). ``efter_avtalsperioden`` is None when the extra support
    ended within the 14 days. An end before day 0 is recorded as day 0 with a remark (``anmarkning``)
    rather than stopping the process.
    """
    if utfall != ERSATTS and utfall not in ORSAKER_UTAN_ERSATTNING:
        raise ValueError(f"unknown outcome {utfall!r}")
    start, given_end = _date(dag_0), _date(period_till)
    end = max(start, given_end)
    last_agreement_day = start + timedelta(days=AVTALSPERIOD_DAGAR - 1)
    beviljat = utfall == ERSATTS

    def period(first: date, last: date, ersatts: bool, grund: str) -> dict[str, Any]:
        return {"fran": first.isoformat(), "till": last.isoformat(), "antal_dagar": (last - first).days + 1,
                "ersatts": ersatts, "grund": grund}

    record: dict[str, Any] = {
        "utfall": utfall,
        "bakatdaterat_fran": start.isoformat() if beviljat else None,
        "avtalsperiod": period(start, min(end, last_agreement_day), True, "avtal (14 dagar utan ny biståndsbedömning)"),
        "efter_avtalsperioden": None if end <= last_agreement_day else period(
            last_agreement_day + timedelta(days=1), end, beviljat,
            "beslut bakåtdaterat till dag 0" if beviljat else "inget beviljat beslut"),
    }
    if given_end < start:
        # A date before day 0 is a recording mistake; keep the record usable and say so for invoicing.
        record["anmarkning"] = f"angivet slutdatum {given_end.isoformat()} före dag 0; perioden satt till dag 0"
    return record


def r3_rubrik(steg: str, dag_0: str) -> str:
    """The inbox line of a task: the step and day 0, never the client's identity."""
    return f"{steg} – utökat stöd från {_date(dag_0).isoformat()}"
