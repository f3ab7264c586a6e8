"""R1 Skyddsombudsstopp: functions the diagram ``bpmn/skyddsombudsstopp.bpmn`` calls.

A safety representative has stopped work at a provider unit. For every affected client the
process finds someone at the authority who acknowledges the contact (the responsible
socialsekreterare, the district's Mottag, or Socialjouren), escalates when nobody acknowledges in
time, and records how the client's needs are met until the stop is lifted.

Configuration (product choices in ``ROUTINES.md``):

- ``SAMVERKAN_R1_ACK_HOURS`` — clock hours (not working hours: a stop halts daily insatser over
  weekends too) before an unacknowledged contact escalates to whoever is on duty then (default ``2``);
- ``SAMVERKAN_R1_JOUR_ACK_HOURS`` — clock hours before Socialjouren's unacknowledged task escalates
  to Myndighet, the on-call chef (default ``2``);
- ``SAMVERKAN_R1_FOLLOWUP_CYCLE`` — how often the client's needs are confirmed while the stop lasts,
  an ISO 8601 repeating interval (default ``R/P1D``): by the socialsekreterare on working days, by
  Socialjouren on closed days (:func:`r1_uppfoljning_hos`).

Informing other providers is a hand-over across a confidentiality boundary (R5b): its basis is
recorded by Myndighet's decision before the hand-over, never with the hand-over itself. The
decision comes back when no recorded basis carries the hand-over (:func:`r1_bedom_rubrik`), and
the hand-over is withdrawn when its basis lapses before it is done (:func:`r1_utlamningsgrund_upphor`).

Everything returns JSON values (strings for dates) so task data stays serializable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from processes.calendar import default_calendar, is_office_hours
from processes.disclosure import disclosure_allowed

__all__ = [
    "r1_kvittens_deadline",
    "r1_jour_kvittens_deadline",
    "r1_uppfoljningscykel",
    "r1_uppfoljning_hos",
    "r1_kontaktvag",
    "r1_nasta_i_tur",
    "r1_lagkrav",
    "r1_uppgiftstitel",
    "r1_bedom_rubrik",
    "r1_utlamningsgrund_upphor",
    "r1_alternativ_insats_tillaten",
    "r1_brukarutfall",
    "r1_avslut_stammer",
    "r1_avslut_post",
    "r1_sammanfattning",
]

SOCIALSEKRETERARE = "socialsekreterare"
MOTTAG = "mottag"
SOCIALJOUREN = "socialjouren"
MYNDIGHET = "myndighet"

BEVILJAD = "beviljad_alternativ_insats"
EJ_BEHOV = "ej_behov"
AVBOJER = "den_enskilde_avbojer"
UTFALL = (BEVILJAD, EJ_BEHOV, AVBOJER)

LAGKRAV = {
    "SoL": "SoL – skälig levnadsnivå",
    "LSS": "LSS – goda levnadsvillkor",
}

#: The recipient category of the hand-over "Informera andra utförare" (``disclosureTo``).
ANDRA_UTFORARE = "andra_utforare"
#: When a basis without an end date stops carrying the hand-over: never (a timer date far ahead).
UTAN_SLUT = "9999-12-31T00:00:00+01:00"

_CYCLE = re.compile(r"^R\d*/(\S+/)?P(?=\d|T\d)\S+$")


def _hours_from_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    hours = float(raw.replace(",", "."))
    if hours <= 0:
        raise ValueError(f"{name} must be a positive number of hours, got {raw!r}")
    return hours


def _plus_hours(start: str, hours: float) -> str:
    moment = datetime.fromisoformat(start)
    if moment.tzinfo is None:
        raise ValueError(f"a time zone is required: {start}")
    return (moment + timedelta(hours=hours)).isoformat()


def r1_kvittens_deadline(start: str) -> str:
    """When a contact created at ``start`` escalates if nobody has acknowledged it.

    ``start`` plus ``SAMVERKAN_R1_ACK_HOURS`` (default 2) hours *by the clock*: a contact at 16:30 on
    a Friday escalates at 18:30 that evening, to whoever is on duty then (:func:`r1_nasta_i_tur`).
    Used as the interrupting boundary timer (``timeDate``) and the ``due`` of the Socialsekreterare
    and Mottag acknowledgement tasks.
    """
    return _plus_hours(start, _hours_from_env("SAMVERKAN_R1_ACK_HOURS", 2))


def r1_jour_kvittens_deadline(start: str) -> str:
    """When Socialjouren's unacknowledged task escalates to Myndighet (the on-call chef): ``start``
    plus ``SAMVERKAN_R1_JOUR_ACK_HOURS`` (default 2) clock hours."""
    return _plus_hours(start, _hours_from_env("SAMVERKAN_R1_JOUR_ACK_HOURS", 2))


def r1_uppfoljningscykel() -> str:
    """The repeating interval of the follow-up "Bekräfta att behoven tillgodoses" while the stop
    lasts: ``SAMVERKAN_R1_FOLLOWUP_CYCLE`` (an ISO 8601 repeating interval), default ``R/P1D``."""
    cycle = os.environ.get("SAMVERKAN_R1_FOLLOWUP_CYCLE", "").strip() or "R/P1D"
    if not _CYCLE.match(cycle):
        raise ValueError(f"SAMVERKAN_R1_FOLLOWUP_CYCLE must be like R/P1D, got {cycle!r}")
    return cycle


def r1_uppfoljning_hos(at: str) -> str:
    """Who confirms the client's needs at the daily follow-up at ``at``: the client's
    socialsekreterare on a working day of the business calendar, Socialjouren on a closed day
    (weekends, Swedish holidays)."""
    calendar = default_calendar()
    moment = datetime.fromisoformat(at)
    if moment.tzinfo is None:
        raise ValueError(f"a time zone is required: {at}")
    return SOCIALSEKRETERARE if calendar.is_working_day(moment.astimezone(calendar.zone).date()) else SOCIALJOUREN


def r1_kontaktvag(brukare: Mapping[str, Any], at: str) -> str:
    """Who takes the unit manager's contact about one affected client at ``at``.

    - the responsible socialsekreterare was reached (``socialsekreterare_nadd``) →
      ``"socialsekreterare"`` (the task goes to that person);
    - not reached while the social offices are open → ``"mottag"`` (the client's district);
    - not reached outside office hours (evenings, weekends, Swedish holidays) → ``"socialjouren"``.
    """
    if brukare.get("socialsekreterare_nadd") is True:
        return SOCIALSEKRETERARE
    return MOTTAG if is_office_hours(at) else SOCIALJOUREN


def r1_nasta_i_tur(fran: str, at: str) -> str:
    """The next in line when ``fran`` has not acknowledged the contact in time.

    Whoever is on duty when the deadline passes: after the socialsekreterare comes the district's
    Mottag — or Socialjouren when the offices are closed at ``at``. After Mottag, while the offices
    are open, Mottag itself is the one on duty and Socialjouren is not: the contact goes up to
    Myndighet (the chef), as it does after Socialjouren; when they are closed, to Socialjouren.
    """
    if fran == SOCIALSEKRETERARE:
        return MOTTAG if is_office_hours(at) else SOCIALJOUREN
    if fran == MOTTAG:
        return MYNDIGHET if is_office_hours(at) else SOCIALJOUREN
    if fran == SOCIALJOUREN:
        return MYNDIGHET
    raise ValueError(f"unknown step in the contact chain: {fran!r}")


def r1_lagkrav(lagrum: str) -> str:
    """The level of living the client's law requires, shown on every task about the client:
    SoL → skälig levnadsnivå, LSS → goda levnadsvillkor."""
    try:
        return LAGKRAV[lagrum]
    except KeyError:
        raise ValueError(f"lagrum must be SoL or LSS, got {lagrum!r}") from None


def r1_uppgiftstitel(rubrik: str, brukare: Mapping[str, Any]) -> str:
    """The inbox line of a task about one client: the step, the law's requirement and the
    client's district (none in a municipality without districts) — never the client's identity
    (titles appear in lists)."""
    district = brukare.get("stadsomrade")
    requirement = r1_lagkrav(brukare["lagrum"])
    return f"{rubrik} ({requirement}, {district})" if district else f"{rubrik} ({requirement})"


def r1_bedom_rubrik(utlamningsgrunder: Iterable[Any] | None, at: str) -> str:
    """The heading of Myndighet's decision "Informera andra utförare?".

    The first time (no basis recorded) it asks the question; when the decision comes back because
    the recorded bases do not carry a hand-over to other providers at ``at`` (a rule that does not
    reach them, a consent that has lapsed), it says so.
    """
    if not list(utlamningsgrunder or ()) or disclosure_allowed(utlamningsgrunder, ANDRA_UTFORARE, at):
        return "Skyddsombudsstopp: ska andra utförare informeras?"
    return "Skyddsombudsstopp: utlämningsgrunden bär inte – ska andra utförare informeras?"


def _zone() -> ZoneInfo:
    return ZoneInfo(os.environ.get("SAMVERKAN_TIMEZONE", "Europe/Stockholm"))


def _slut(value: Any) -> datetime | None:
    """A basis end (a date: to the end of that day; a date-time as given), or None without one."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value) + timedelta(days=1), time(0), _zone())
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=_zone())


def _grund_slut(grund: Mapping[str, Any]) -> datetime | None:
    """When one basis stops carrying a hand-over: the end of ``giltig_till`` or, for implied and
    presumed consent, the end of ``omprovas_senast`` if that comes first; None when it has no end."""
    slut = [_slut(grund.get("giltig_till"))]
    if grund.get("grund") == "samtycke" and grund.get("samtycke_typ") in ("konkludent", "presumerat"):
        slut.append(_slut(grund.get("omprovas_senast")))
    kvar = [s for s in slut if s is not None]
    return min(kvar) if kvar else None


def r1_utlamningsgrund_upphor(utlamningsgrunder: Iterable[Any] | None, at: str) -> str:
    """When the hand-over "Informera andra utförare" loses its basis (its interrupting timer).

    Of the recorded bases that carry a hand-over to other providers at ``at``, the one that lasts
    longest decides: the hand-over may be made until the last of them ends. A basis without an end
    date (a rule, a harm test) never lapses: the timer is set to :data:`UTAN_SLUT`. No carrying basis
    at all: ``at`` (the decision must be made again at once).
    """
    slut: list[datetime] = []
    for grund in utlamningsgrunder or ():
        if not isinstance(grund, Mapping) or not disclosure_allowed([grund], ANDRA_UTFORARE, at):
            continue
        moment = _grund_slut(grund)
        if moment is None:
            return UTAN_SLUT
        slut.append(moment)
    if not slut:
        return datetime.fromisoformat(at).isoformat()
    return max(slut).isoformat()


def r1_alternativ_insats_tillaten(utfall_ansokan: str, utredning_visar_behov: bool,
                                  samtycke_fran_den_enskilde: bool) -> bool:
    """Whether the recorded outcome of "Informera den enskilde och hantera ansökan" may stand.

    An alternative insats may only be granted when an investigation shows the need *and* the
    client agrees; the other outcomes (``ej_behov``, ``den_enskilde_avbojer``) always stand.
    """
    if utfall_ansokan not in UTFALL:
        raise ValueError(f"unknown outcome {utfall_ansokan!r}")
    if utfall_ansokan != BEVILJAD:
        return True
    return utredning_visar_behov is True and samtycke_fran_den_enskilde is True


def r1_brukarutfall(brukare: Mapping[str, Any], handlaggare: str, utfall_ansokan: str,
                    alternativ_insats: str | None, alternativ_insats_fran: str | None,
                    informerade_utforare: Sequence[Mapping[str, Any]] | None,
                    andra_utforare_ska_informeras: bool | None = None,
                    utlamningsgrunder: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """One client's result of the contact branch, collected for "Avslut" and the summary.

    Each client's answers are kept in the client's own element of the collection
    (``outputDataItem``), never in a case-wide variable a sibling branch writes over: Myndighet's
    decision on informing other providers and the grounds it rests on are among them."""
    beviljad = utfall_ansokan == BEVILJAD
    return {
        "arendereferens": brukare["arendereferens"],
        "lagrum": brukare["lagrum"],
        "stadsomrade": brukare.get("stadsomrade"),
        "socialsekreterare": brukare["socialsekreterare"],
        "handlaggare": handlaggare,
        "utfall_ansokan": utfall_ansokan,
        "alternativ_insats": alternativ_insats if beviljad else None,
        "alternativ_insats_fran": alternativ_insats_fran if beviljad else None,
        "informerade_utforare": [str(u.get("utforare", "")) for u in (informerade_utforare or [])],
        "andra_utforare_ska_informeras": andra_utforare_ska_informeras,
        "utlamningsgrunder": [str(g.get("grund", "")) for g in (utlamningsgrunder or [])
                              if isinstance(g, Mapping)] if andra_utforare_ska_informeras else [],
    }


def r1_avslut_stammer(utfall_for_brukare: Mapping[str, Any], alternativ_insats_avslut: str) -> bool:
    """Whether "Avslut" matches the client's outcome: a granted alternative insats must be
    recorded as ended (``avslutad``); a client without one must be recorded as
    ``ingen_alternativ_insats``."""
    beviljad = utfall_for_brukare.get("utfall_ansokan") == BEVILJAD
    return alternativ_insats_avslut == ("avslutad" if beviljad else "ingen_alternativ_insats")


def r1_avslut_post(utfall_for_brukare: Mapping[str, Any], ordinarie_insats_aterupptagen: str,
                   alternativ_insats_avslutad_datum: str | None,
                   avslut_sammanfattning: str) -> dict[str, Any]:
    """One client's closing record: the contact branch's result plus when ordinary delivery
    resumed and when any alternative insats ended."""
    return {
        **dict(utfall_for_brukare),
        "ordinarie_insats_aterupptagen": ordinarie_insats_aterupptagen,
        "alternativ_insats_avslutad_datum": alternativ_insats_avslutad_datum,
        "avslut_sammanfattning": avslut_sammanfattning,
    }


def r1_sammanfattning(galler_fran: str, stopp_havt: Mapping[str, Any],
                      avslut: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The summary kept for the case when the stop is over: when it began and was lifted, and per
    client the outcome, any alternative insats, who was informed and when delivery resumed."""
    utfall = [post.get("utfall_ansokan") for post in avslut]
    return {
        "stopp_fran": galler_fran,
        "stopp_havt": stopp_havt.get("datum"),
        "antal_brukare": len(avslut),
        "antal_beviljad_alternativ_insats": utfall.count(BEVILJAD),
        "antal_ej_behov": utfall.count(EJ_BEHOV),
        "antal_avbojt": utfall.count(AVBOJER),
        "brukare": [dict(post) for post in avslut],
    }
