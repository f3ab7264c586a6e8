"""R3 Tillfälligt utökat stöd i 14 dagar: functions ``bpmn/utokat_stod_14_dagar.bpmn`` calls.

Under the home care agreement a provider may increase a client's care at once, for up to 14 days,
without a new needs assessment. Day 0 is the day the provider started the increase. A change
judged to last longer than 14 days must be reported to the responsible biståndshandläggare within
a week of being established. At day 14 the handläggare follows up: a need that persists leads to an
application and, on approval, a decision backdated to day 0 — the provider is compensated for the
period; a transient need gives no compensation. The outcome is recorded for invoicing.

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

from processes.calendar import next_office_opening

__all__ = [
    "r3_omfattas_av_rutinen",
    "r3_instruktion_okand_brukare",
    "r3_uppfoljningsdag",
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


def r3_varaktigt_behov_informeras_senast(behov_konstaterat: str) -> str:
    """The deadline for telling the handläggare about a change judged to last longer than 14 days:
    the end of the seventh day after the changed need was established (midnight starting the
    eighth day, local time). An ISO 8601 datetime for the task's ``due`` and its boundary timer."""
    deadline = _date(behov_konstaterat) + timedelta(days=INFORMERA_INOM_DAGAR + 1)
    return datetime.combine(deadline, time(0, 0), _zone()).isoformat()


def r3_fakturaunderlag(utfall: str, dag_0: str, period_till: str) -> dict[str, Any]:
    """The record for invoicing the extended support.

    ``utfall``: ``bifall_bakatdaterat`` (the need persisted and the application was approved: the
    decision is backdated to day 0 and the provider is compensated for ``dag_0 … period_till``),
    or a reason without compensation: ``overgaende_behov``, ``avslag`` or ``ingen_ansokan``.
    The period runs from day 0 to ``period_till`` (the decision date, the date the extra support
    ended, or the date the client was contacted). An end before day 0 is recorded as day 0 with a
    remark (``anmarkning``) rather than stopping the process.
    """
    if utfall != ERSATTS and utfall not in ORSAKER_UTAN_ERSATTNING:
        raise ValueError(f"unknown outcome {utfall!r}")
    start, end = _date(dag_0), _date(period_till)
    ersatts = utfall == ERSATTS
    record: dict[str, Any] = {
        "ersatts": ersatts,
        "utfall": utfall,
        "period_fran": start.isoformat(),
        "period_till": max(start, end).isoformat(),
        "antal_dagar": max((end - start).days, 0) + 1,
        "bakatdaterat_fran": start.isoformat() if ersatts else None,
    }
    if end < start:
        # A date before day 0 is a recording mistake; keep the record usable and say so for invoicing.
        record["anmarkning"] = f"angivet slutdatum {end.isoformat()} före dag 0; perioden satt till dag 0"
    return record


def r3_rubrik(steg: str, dag_0: str) -> str:
    """The inbox line of a task: the step and day 0, never the client's identity."""
    return f"{steg} – utökat stöd från {_date(dag_0).isoformat()}"
