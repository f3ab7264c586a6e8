"""R5c Recurring collaboration meetings (``samverkansmoten``): the functions its diagram calls.

The guideline's standing structures are obligations with numbers in them (ROUTINES.md R5c). One
instance carries one structure's meetings for one year: its dates are laid out when it starts, and
each occurrence is invited, held and its minutes adjusted and published in turn, on timers. Dates
follow the business calendar (``processes/calendar.py``): a meeting never falls on a weekend or a
Swedish public holiday (or the eves the offices close), but moves to the next working day.

Structures (``struktur``) and their product choices:

- ``apt`` — arbetsplatsträff, at least 9 a year: the first Tuesday of every month but July (11);
- ``fsg`` — förvaltningens samverkansgrupp: the third Wednesday of February, May, September and
  November (4, **product choice**); the invitation must go out at least one week before;
- ``forvaltningsledning`` — every other week: Monday of each even ISO week (26 or 27);
- ``uppdragsdialog`` — at least once a year: the second Tuesday of September (1).

The invitation task opens ``INVITE_OPENS_DAYS`` before the meeting and is due ``INVITE_DUE_DAYS``
before it (FSG: 7 days, the rule's minimum).
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from processes.calendar import default_calendar

__all__ = [
    "moten_datum",
    "moten_kravda",
    "moten_kalla_fran",
    "moten_kalla_senast",
    "moten_borjar",
    "moten_sammanstallning",
    "moten_titel",
    "moten_logg",
]

STRUCTURES: dict[str, str] = {
    "apt": "Arbetsplatsträff (APT)",
    "fsg": "Förvaltningens samverkansgrupp (FSG)",
    "forvaltningsledning": "Förvaltningsledning",
    "uppdragsdialog": "Uppdragsdialog",
}
#: At least this many meetings a year (ROUTINES.md R5c; FSG's number is a product choice).
REQUIRED: dict[str, int] = {"apt": 9, "fsg": 4, "forvaltningsledning": 26, "uppdragsdialog": 1}
STARTS: dict[str, time] = {"apt": time(9, 0), "fsg": time(13, 0), "forvaltningsledning": time(13, 0),
                           "uppdragsdialog": time(9, 0)}
INVITE_OPENS_DAYS: dict[str, int] = {"apt": 14, "fsg": 14, "forvaltningsledning": 7, "uppdragsdialog": 21}
INVITE_DUE_DAYS: dict[str, int] = {"apt": 7, "fsg": 7, "forvaltningsledning": 2, "uppdragsdialog": 14}


def _zone() -> ZoneInfo:
    return ZoneInfo(os.environ.get("SAMVERKAN_TIMEZONE", "Europe/Stockholm"))


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The ``n``th ``weekday`` (ISO, Monday = 1) of the month."""
    first = date(year, month, 1)
    offset = (weekday - first.isoweekday()) % 7
    return first + timedelta(days=offset + 7 * (n - 1))


def _working_day_from(day: date) -> date:
    """``day``, or the first working day after it (never a weekend or a holiday)."""
    calendar = default_calendar()
    for _ in range(30):
        if calendar.is_working_day(day):
            return day
        day += timedelta(days=1)
    raise ValueError(f"no working day within 30 days of {day}")


def _planned(struktur: str, year: int) -> list[date]:
    if struktur == "apt":
        return [_nth_weekday(year, m, 2, 1) for m in range(1, 13) if m != 7]
    if struktur == "fsg":
        return [_nth_weekday(year, m, 3, 3) for m in (2, 5, 9, 11)]
    if struktur == "forvaltningsledning":
        mondays = [_nth_weekday(year, 1, 1, 1) + timedelta(weeks=w) for w in range(53)]
        return [d for d in mondays if d.year == year and d.isocalendar().week % 2 == 0]
    if struktur == "uppdragsdialog":
        return [_nth_weekday(year, 9, 2, 2)]
    raise ValueError(f"unknown structure {struktur!r}")


def moten_datum(struktur: str, ar: int) -> list[str]:
    """The year's meeting days (ISO dates), each moved to a working day when it falls on a holiday;
    never two on one day, never outside the year."""
    days: list[str] = []
    for planned in _planned(struktur, int(ar)):
        day = _working_day_from(planned)
        if day.year == int(ar) and day.isoformat() not in days:
            days.append(day.isoformat())
    return days


def moten_kravda(struktur: str) -> int:
    """How many meetings of ``struktur`` a year must have at least."""
    return REQUIRED[struktur]


def moten_borjar(struktur: str, dag: str) -> str:
    """When the meeting on ``dag`` starts (a timer date, ISO 8601 with offset)."""
    return datetime.combine(date.fromisoformat(dag), STARTS[struktur], _zone()).isoformat()


def moten_kalla_fran(struktur: str, dag: str, now: str) -> str:
    """When the invitation task opens: ``INVITE_OPENS_DAYS`` before the meeting (at once if that passed)."""
    opens = datetime.combine(date.fromisoformat(dag) - timedelta(days=INVITE_OPENS_DAYS[struktur]), time(8, 0),
                             _zone())
    return max(opens, datetime.fromisoformat(now)).isoformat()


def moten_kalla_senast(struktur: str, dag: str) -> str:
    """By when the invitation must have gone out (the task's due time): FSG at least one week before."""
    return (datetime.combine(date.fromisoformat(dag), STARTS[struktur], _zone())
            - timedelta(days=INVITE_DUE_DAYS[struktur])).isoformat()


def moten_sammanstallning(struktur: str, ar: int, genomforda: int) -> dict[str, Any]:
    """Held against required for the year, for the case page and the monitor."""
    return {"struktur": STRUCTURES[struktur], "ar": int(ar), "genomforda": int(genomforda),
            "kravda": REQUIRED[struktur], "uppfyllt": int(genomforda) >= REQUIRED[struktur]}


def moten_titel(heading: str, struktur: str, dag: str) -> str:
    """An inbox line: ``"Kalla till mötet – Arbetsplatsträff (APT) 2031-01-07"``."""
    return f"{heading} – {STRUCTURES[struktur]} {dag}"


def moten_logg(moten: list[Any] | None, dag: str, hallet: bool) -> list[Any]:
    """The year's record with the meeting on ``dag`` added (held or cancelled)."""
    return [*(moten or []), {"datum": dag, "hallet": bool(hallet)}]
