"""Business calendar: office hours and Swedish public holidays.

Routines route work by whether the social offices are open (R1: reachable during office hours →
Mottag, otherwise Socialjouren) and count deadlines in working time (R1: escalate after 2 working
hours). The calendar is configuration, not code: ``SAMVERKAN_OFFICE_HOURS`` (``"08:00-17:00"``),
``SAMVERKAN_OFFICE_DAYS`` (ISO weekdays, ``"1-5"``) and ``SAMVERKAN_TIMEZONE``
(``"Europe/Stockholm"``) set the default calendar; Swedish public holidays (and Midsummer Eve,
Christmas Eve, New Year's Eve, which the offices treat as holidays) are always closed.

All functions accept aware datetimes or ISO 8601 strings and return ISO 8601 strings where a
diagram stores the result, so task data stays JSON.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

__all__ = ["is_office_hours", "add_working_hours", "next_office_opening"]

def _parse_days(spec: str) -> frozenset[int]:
    days: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        days.update(range(int(lo), int(hi or lo) + 1))
    if not days or not days <= set(range(1, 8)):
        raise ValueError(f"office days must be ISO weekdays 1-7, got {spec!r}")
    return frozenset(days)


def _parse_hours(spec: str) -> tuple[time, time]:
    opens, _, closes = spec.partition("-")
    start, end = time.fromisoformat(opens.strip()), time.fromisoformat(closes.strip())
    if start >= end:
        raise ValueError(f"office hours must open before they close, got {spec!r}")
    return start, end


@dataclass(frozen=True)
class BusinessCalendar:
    """Office hours in one time zone, closed on Swedish public holidays."""

    opens: time = time(8, 0)
    closes: time = time(17, 0)
    weekdays: frozenset[int] = field(default_factory=lambda: frozenset(range(1, 6)))
    timezone: str = "Europe/Stockholm"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> BusinessCalendar:
        env = dict(os.environ if env is None else env)
        opens, closes = _parse_hours(env.get("SAMVERKAN_OFFICE_HOURS", "08:00-17:00"))
        return cls(
            opens=opens,
            closes=closes,
            weekdays=_parse_days(env.get("SAMVERKAN_OFFICE_DAYS", "1-5")),
            timezone=env.get("SAMVERKAN_TIMEZONE", "Europe/Stockholm"),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_working_day(self, day: date) -> bool:
        if day.isoweekday() not in self.weekdays:
            return False
        return day not in _swedish_holidays(day.year)

    def is_open(self, at: datetime) -> bool:
        local = _aware(at).astimezone(self.zone)
        return self.is_working_day(local.date()) and self.opens <= local.time() < self.closes

    def next_opening(self, at: datetime) -> datetime:
        """The first moment at or after ``at`` when the offices are open."""
        local = _aware(at).astimezone(self.zone)
        if self.is_open(local):
            return local
        day = local.date()
        if local.time() >= self.opens:
            day += timedelta(days=1)
        for _ in range(370):  # a year of closed days cannot happen; bounded anyway
            if self.is_working_day(day):
                return datetime.combine(day, self.opens, self.zone)
            day += timedelta(days=1)
        raise ValueError("no working day within a year: check SAMVERKAN_OFFICE_DAYS")

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment ``hours`` of office time after ``start`` (time outside office hours not counted)."""
        if hours < 0:
            raise ValueError("hours must not be negative")
        remaining = timedelta(hours=hours)
        current = self.next_opening(start)
        while True:
            closing = datetime.combine(current.date(), self.closes, self.zone)
            if current + remaining <= closing:
                return current + remaining
            remaining -= closing - current
            current = self.next_opening(closing)


@lru_cache(maxsize=32)
def _swedish_holidays(year: int) -> dict[date, str]:
    closed: dict[date, str] = dict(holidays.country_holidays("SE", years=year, language="sv"))
    # The package lists every Sunday as "Söndag"; the office weekdays already decide those.
    closed = {day: name for day, name in closed.items() if name != "Söndag"}
    # Offices also close on the eves the package leaves out.
    midsummer_eve = next(date(year, 6, d) for d in range(19, 26) if date(year, 6, d).isoweekday() == 5)
    closed.update({midsummer_eve: "Midsommarafton", date(year, 12, 24): "Julafton",
                   date(year, 12, 31): "Nyårsafton"})
    return closed


def _aware(at: datetime | str) -> datetime:
    value = datetime.fromisoformat(at) if isinstance(at, str) else at
    if value.tzinfo is None:
        raise ValueError(f"a time zone is required: {value.isoformat()}")
    return value


@lru_cache(maxsize=1)
def default_calendar() -> BusinessCalendar:
    return BusinessCalendar.from_env()


def is_office_hours(at: datetime | str) -> bool:
    """True when the social offices are open at ``at`` (an ISO 8601 time with offset)."""
    return default_calendar().is_open(_aware(at))


def add_working_hours(start: datetime | str, hours: float) -> str:
    """The deadline ``hours`` working hours after ``start``, as ISO 8601 (for timer events)."""
    return default_calendar().add_working_hours(_aware(start), hours).isoformat()


def next_office_opening(at: datetime | str) -> str:
    """The next time the offices open at or after ``at``, as ISO 8601."""
    return default_calendar().next_opening(_aware(at)).isoformat()


# The holiday data (and its Swedish names) load on first use in ~0.5 s: load it when the module is
# imported, so no script pays for it inside its time limit.
_swedish_holidays(date.today().year)
