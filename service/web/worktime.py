"""Due dates told the way each deadline is counted.

A deadline the routine counts in working time (the user task's ``dueCounts="working"``, e.g. R3's
"within 1 working day", set with ``add_working_hours``) is told in working time: a task due Monday
09:00 seen on Friday 16:00 is "due in 2 working hours", not "in 65 hours". Every other deadline
counts clock time (R1's acknowledgement within 2 hours runs over nights and weekends; R4's 14 days
are calendar days) and is told in clock time — as is every deadline of a round-the-clock role.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _

from processes.calendar import BusinessCalendar, default_calendar

MAX_DAYS = 400  # beyond a year, working time is not what anyone reads; count calendar days instead


def working_seconds(start: datetime, end: datetime, calendar: BusinessCalendar | None = None) -> float:
    """Office-hours seconds between two moments (negative when ``end`` is before ``start``)."""
    if end < start:
        return -working_seconds(end, start, calendar)
    calendar = calendar or default_calendar()
    zone = calendar.zone
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    if (local_end.date() - local_start.date()).days > MAX_DAYS:
        return (end - start).total_seconds()
    total = 0.0
    day = local_start.date()
    while day <= local_end.date():
        if calendar.is_working_day(day):
            opens = datetime.combine(day, calendar.opens, zone)
            closes = datetime.combine(day, calendar.closes, zone)
            overlap = min(closes, local_end) - max(opens, local_start)
            total += max(overlap.total_seconds(), 0.0)
        day += timedelta(days=1)
    return total


@dataclass(frozen=True)
class Due:
    text: str
    overdue: bool


#: Roles that work around the clock (Socialjouren is on duty exactly when offices are closed):
#: their deadlines are told in clock time, not working time.
CLOCK_ROLES = frozenset({"socialjouren"})


#: ``HumanTask.due_counts`` of a deadline counted in working time (from the ``dueCounts`` property).
WORKING = "working"


def due_for(due_at: datetime | None, now: datetime, roles: list[str] | None,
            counts: str | None = None) -> Due | None:
    """A task's due text: in working time only for a working-time deadline (``counts``) of an
    office role; in clock time for every other deadline and for round-the-clock roles."""
    if counts == WORKING and not (roles and set(roles) <= CLOCK_ROLES):
        return due_in_working_time(due_at, now)
    return due_in_clock_time(due_at, now)


def due_in_clock_time(due_at: datetime | None, now: datetime) -> Due | None:
    """"Om 2 timmar", "Försenad 15 min", … for a due moment seen at ``now``."""
    if due_at is None:
        return None
    seconds = abs((due_at - now).total_seconds())
    hours = seconds / 3600
    if hours < 1:
        amount = _("%(n)s min", n=max(int(round(seconds / 60)), 0))
    elif hours < 24:
        amount = _("%(n)s timmar", n=int(hours)) if int(hours) != 1 else _("1 timme")
    else:
        amount = _("%(n)s dygn", n=int(round(hours / 24)))
    if due_at < now:
        return Due(_("Försenad %(amount)s", amount=amount), True)
    return Due(_("Om %(amount)s", amount=amount), False)


def due_in_working_time(due_at: datetime | None, now: datetime, calendar: BusinessCalendar | None = None) -> Due | None:
    """"Om 3 arbetstimmar", "Försenad 2 arbetsdagar", … for a due moment seen at ``now``."""
    if due_at is None:
        return None
    calendar = calendar or default_calendar()
    seconds = working_seconds(now, due_at, calendar)
    day_hours = (datetime.combine(now.date(), calendar.closes) - datetime.combine(now.date(), calendar.opens))
    amount = _amount(abs(seconds), day_hours.total_seconds() / 3600)
    if due_at < now:
        return Due(_("Försenad %(amount)s", amount=amount), True)
    return Due(_("Om %(amount)s", amount=amount), False)


def _amount(seconds: float, day_hours: float) -> str:
    hours = seconds / 3600
    if hours < 1:
        return _("%(n)s min arbetstid", n=max(int(round(seconds / 60)), 0))
    if hours < day_hours:
        whole = int(hours)
        return _("%(n)s arbetstimmar", n=whole) if whole != 1 else _("1 arbetstimme")
    days = int(round(hours / day_hours))
    return _("%(n)s arbetsdagar", n=days) if days != 1 else _("1 arbetsdag")
