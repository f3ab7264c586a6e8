"""R2 Verkställighet vid akuta behov (process key ``akut_verkstallighet``).

Functions the diagram ``bpmn/akut_verkstallighet.bpmn`` calls: the applicability check on the
socialsekreterare's checklist ("are all enforcement possibilities exhausted?"), the bookkeeping of
meeting invitations (substitutes and further invitees named by an invitee get an invitation of
their own; a call that invites someone from another förvaltning goes through a hand-over first),
the reminder of an invitee who has neither answered nor sent a substitute one working day before
the meeting and the absence recorded when the meeting starts without their answer, the rule that
decides whether enforcement in an akutlokal needs a decision on korttidsboende/korttidsvistelse,
task titles, and the configurable evaluation deadline.

Configuration: ``SAMVERKAN_R2_EVALUATION_DAYS`` (default 30) — the evaluation after a completed
enforcement is due this many days after the evaluation task is created (product choice in
ROUTINES.md, R2 step 7).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from processes.calendar import default_calendar

__all__ = [
    "r2_kvarvarande_mojligheter",
    "r2_mojligheter_uttomda",
    "r2_nya_inbjudna",
    "r2_kallelsesvar_med_inbjuden",
    "r2_paminnelsetid",
    "r2_franvaro",
    "r2_paminnelse_registrerad",
    "r2_kalla_fler",
    "r2_kallar_annan_forvaltning",
    "r2_kraver_korttidsbeslut",
    "r2_korttidsinsats",
    "r2_rubrik",
    "r2_utvardering_frist",
    "r2_utvarderingsdeltagare",
    "r2_utvarderingar",
]

EVALUATION_DAYS_ENV = "SAMVERKAN_R2_EVALUATION_DAYS"
DEFAULT_EVALUATION_DAYS = 30

#: Checklist answers (form values) that mean "this possibility is exhausted or does not apply".
_EXHAUSTED_ANSWERS: dict[str, frozenset[str]] = {
    # Beviljad BmSS: har utvecklingsledare förmedling BmSS kontaktats?
    "utvecklingsledare_formedling": frozenset({"ja_ingen_ledig", "ej_aktuellt"}),
    # Har matchningsärende skickats i PRIIS för korttidsboende/korttidsvistelse?
    "priis_matchning": frozenset({"ja_ingen_plats", "ej_aktuellt"}),
    # Pågående insatser: har utföraren tillfrågats om insatsen kan utökas?
    "utokning_hos_utforare": frozenset({"ja_kan_ej_utokas", "ej_aktuellt"}),
}

_AGE_GROUP_LABELS = {"vuxen": "vuxen", "barn": "barn"}


def r2_kvarvarande_mojligheter(
    utvecklingsledare_formedling: str,
    priis_matchning: str,
    utokning_hos_utforare: str,
    ovriga_mojligheter_uttomda: bool,
) -> list[str]:
    """The checklist items that still leave an enforcement possibility open (empty: all exhausted).

    The routine applies only "when all enforcement possibilities in existing operations, internal
    or external (including directly procured places), are exhausted" (R2, applicability). Each
    argument is the socialsekreterare's answer to one checklist question; the result names the
    questions whose answer shows a possibility not yet used (e.g. the provider *can* extend the
    insats, PRIIS found a place, utvecklingsledare not contacted), in checklist order, with
    ``ovriga_mojligheter`` when the overall confirmation is missing.
    """
    answers = {
        "utvecklingsledare_formedling": utvecklingsledare_formedling,
        "priis_matchning": priis_matchning,
        "utokning_hos_utforare": utokning_hos_utforare,
    }
    remaining = [item for item, answer in answers.items() if answer not in _EXHAUSTED_ANSWERS[item]]
    if ovriga_mojligheter_uttomda is not True:
        remaining.append("ovriga_mojligheter")
    return remaining


def r2_mojligheter_uttomda(
    utvecklingsledare_formedling: str,
    priis_matchning: str,
    utokning_hos_utforare: str,
    ovriga_mojligheter_uttomda: bool,
) -> bool:
    """True when every checklist item shows the possibility exhausted (or not applicable).

    The gateway "Alla möjligheter uttömda?" ends the process as *ej tillämplig* otherwise.
    """
    return not r2_kvarvarande_mojligheter(
        utvecklingsledare_formedling, priis_matchning, utokning_hos_utforare, ovriga_mojligheter_uttomda
    )


def _answer_for(svar: Mapping[Any, Any] | Sequence[Any] | None, index: int) -> Mapping[str, Any]:
    """The answer of invitee number ``index``: the multi-instance output is keyed by index.

    SpiffWorkflow writes the answers into a dict keyed by the invitee's position (an ``int``; after
    a JSON round trip a ``str``); a list in the same order is accepted too.
    """
    if svar is None:
        return {}
    if isinstance(svar, Mapping):
        found = svar.get(index, svar.get(str(index)))
        return found if isinstance(found, Mapping) else {}
    if 0 <= index < len(svar) and isinstance(svar[index], Mapping):
        return svar[index]
    return {}


def _username(person: Mapping[str, Any]) -> str:
    return str(person.get("anvandarnamn", "")).strip()


def _organisation(person: Mapping[str, Any]) -> str:
    """The key of the other förvaltning an invitee belongs to (empty: the authority's own units)."""
    value = person.get("organisation")
    return value.strip() if isinstance(value, str) else ""


def r2_kallar_annan_forvaltning(motesdeltagare: Sequence[Mapping[str, Any]] | None) -> bool:
    """True when a meeting call invites someone from another förvaltning (an ``organisation`` is named).

    R2 step 4: invitees outside the authority (the verksamhetschef hälso- och sjukvård belongs to
    äldre samt vård- och omsorgsförvaltningen, another committee) see only what the convener
    discloses to them on a recorded basis (R5b) — so such a call goes through a hand-over first.
    """
    return any(isinstance(person, Mapping) and _organisation(person) for person in motesdeltagare or ())


def r2_nya_inbjudna(
    inbjudna: Sequence[Mapping[str, Any]],
    kallelsesvar: Mapping[Any, Any] | Sequence[Any] | None,
    redan_inbjudna: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The persons to invite next: substitutes and further persons the invitees named.

    R2 step 4: an invitee who cannot attend sends a colleague *with the same mandate*; any invitee
    may invite further persons concerned by the case. Each of them gets an invitation task of their
    own in the next round. Persons already invited (by username) are not invited twice; the result
    keeps the order of the answers and records who named each person (``inbjuden_av``). A substitute
    for an invitee from another förvaltning belongs to it too (the same mandate): the substitute's
    invitation names the same ``organisation``, so it is offered only there.
    """
    seen = {_username(person) for person in redan_inbjudna}
    new: list[dict[str, Any]] = []

    def add(person: Mapping[str, Any], named_by: str, reason: str) -> None:
        username = _username(person)
        if not username or username in seen:
            return
        seen.add(username)
        entry = {"roll": person.get("roll"), "anvandarnamn": username, "inbjuden_av": named_by,
                 "skal": reason}
        if person.get("namn"):
            entry["namn"] = person["namn"]
        if _organisation(person):
            entry["organisation"] = _organisation(person)
        new.append(entry)

    for index, invitee in enumerate(inbjudna):
        answer = _answer_for(kallelsesvar, index)
        named_by = _username(invitee)
        if answer.get("deltagande") == "skickar_ersattare":
            substitute = {
                "roll": answer.get("ersattare_roll", invitee.get("roll")),
                "anvandarnamn": answer.get("ersattare_anvandarnamn", ""),
                "namn": answer.get("ersattare_namn"),
                "organisation": invitee.get("organisation"),
            }
            add(substitute, named_by, "ersättare med samma mandat")
        for further in answer.get("ytterligare_inbjudna") or []:
            if isinstance(further, Mapping):
                add(further, named_by, str(further.get("skal") or "berörs av ärendet"))
    return new


def r2_kallelsesvar_med_inbjuden(
    inbjudna: Sequence[Mapping[str, Any]],
    kallelsesvar: Mapping[Any, Any] | Sequence[Any] | None,
) -> list[dict[str, Any]]:
    """One record per invitee of a round: who was invited (role, username) and what they answered.

    An invitation that was not answered before the meeting started has ``deltagande`` = ``"ej_svar"``.
    """
    records: list[dict[str, Any]] = []
    for index, invitee in enumerate(inbjudna):
        answer = dict(_answer_for(kallelsesvar, index))
        record = {"roll": invitee.get("roll"), "anvandarnamn": _username(invitee)}
        record.update(answer)
        record.setdefault("deltagande", "ej_svar")
        records.append(record)
    return records


def r2_paminnelsetid(motestid: str, nu: str) -> str:
    """When an invitee who has neither answered nor sent a substitute is reminded (and their chef told).

    R2 step 4 (product choice): one working day before the meeting — the same time of day on the
    working day before the meeting's day (business calendar: weekends and Swedish holidays skipped),
    so a meeting on Monday 10:00 reminds on Friday 10:00. An invitation sent later than that (a
    meeting called at short notice, a substitute invited the day before) is reminded halfway between
    its sending and the meeting: still before the meeting, as the routine asks, with time left to
    answer. Only an invitation sent once the meeting has begun is not reminded: the moment returned
    then lies after the meeting's start, whose timer closes the invitation first.
    Both arguments and the result are ISO 8601 times with an offset (the boundary timer's ``timeDate``).
    """
    calendar = default_calendar()
    meeting = _aware(motestid).astimezone(calendar.zone)
    day = meeting.date() - timedelta(days=1)
    for _ in range(370):  # bounded: a year without a working day is a configuration error
        if calendar.is_working_day(day):
            break
        day -= timedelta(days=1)
    else:
        raise ValueError("no working day within a year before the meeting: check SAMVERKAN_OFFICE_DAYS")
    reminder = datetime.combine(day, meeting.timetz().replace(tzinfo=None), calendar.zone)
    sent = _aware(nu).astimezone(calendar.zone)
    if reminder > sent:
        return reminder.isoformat()
    if meeting > sent:  # sent at short notice: halfway to the meeting
        return (sent + (meeting - sent) / 2).replace(microsecond=0).isoformat()
    return (meeting + timedelta(days=1)).isoformat()


def r2_franvaro(paminnad: bool) -> dict[str, Any]:
    """The answer recorded for an invitee when the meeting starts without an answer or a substitute.

    R2 step 4: absence is recorded, not silently dropped — ``deltagande`` ``"ej_svar"``, ``franvarande``
    true, and whether the invitee had been reminded (their chef told) before.
    """
    return {"deltagande": "ej_svar", "franvarande": True, "paminnad": paminnad is True}


def r2_paminnelse_registrerad(kallelsesvar: Mapping[str, Any] | None) -> dict[str, Any]:
    """An invitee's answer (or recorded absence) marked as given after a reminder to them and their chef."""
    return {**(kallelsesvar or {"deltagande": "ej_svar", "franvarande": True}), "paminnad": True}


def r2_kalla_fler(att_bjuda_in: Sequence[Any] | None, motestid: str, nu: str) -> bool:
    """True when substitutes or further persons named in a round still get invitations of their own.

    Not once the meeting has started: an invitation to a meeting already under way could only be
    recorded as an absence. Those named stay in the round's answers (who named whom).
    """
    return bool(att_bjuda_in) and _aware(nu) < _aware(motestid)


def _aware(moment: str | datetime) -> datetime:
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if value.tzinfo is None:
        raise ValueError(f"a time zone is required: {value.isoformat()}")
    return value


def r2_utvarderingsdeltagare(
    alla_kallelsesvar: Sequence[Mapping[str, Any]] | None,
    alla_inbjudna: Sequence[Mapping[str, Any]] | None,
    ansvarig_socialsekreterare: str,
    sammankallande: str,
) -> list[dict[str, Any]]:
    """Who gets an evaluation task after the enforcement (R2 step 7: "each participant").

    The responsible socialsekreterare first, then everyone who said they would attend a meeting
    (``deltagande`` = ``kan_delta``), each once, in the order they answered; the convener, who
    compiles the findings, is not among them. A participant from another förvaltning keeps their
    ``organisation``, so their task is offered only there.
    """
    organisations = {_username(p): _organisation(p) for p in alla_inbjudna or () if isinstance(p, Mapping)}
    found: list[dict[str, Any]] = []
    seen = {str(sammankallande).strip()}

    def add(username: str, role: Any) -> None:
        if not username or username in seen:
            return
        seen.add(username)
        entry: dict[str, Any] = {"anvandarnamn": username, "roll": role}
        if organisations.get(username):
            entry["organisation"] = organisations[username]
        found.append(entry)

    add(str(ansvarig_socialsekreterare).strip(), "socialsekreterare")
    for record in alla_kallelsesvar or ():
        if isinstance(record, Mapping) and record.get("deltagande") == "kan_delta":
            add(_username(record), record.get("roll"))
    return found


def r2_utvarderingar(
    deltagare: Sequence[Mapping[str, Any]],
    synpunkter: Mapping[Any, Any] | Sequence[Any] | None,
) -> list[dict[str, Any]]:
    """One record per participant for the convener to compile: who (username, role) and what they said."""
    return [{"anvandarnamn": _username(person), "roll": person.get("roll"), **_answer_for(synpunkter, index)}
            for index, person in enumerate(deltagare)]


def r2_kraver_korttidsbeslut(verkstallighet_form: str, bmss_evakueringsundantag: bool) -> bool:
    """True when the enforcement needs a decision on korttidsboende (adult) / korttidsvistelse (child).

    R2 step 6: enforcement in an *akutlokal* is a short-term place, so a decision must be made —
    *except* a short evacuation from a BmSS to an akutlokal or other non-BmSS premises when BmSS
    staff deliver the support and the implementation plan is unchanged
    (``bmss_evakueringsundantag``: all three of those hold).
    """
    return verkstallighet_form == "akutlokal" and bmss_evakueringsundantag is not True


def r2_korttidsinsats(aldersgrupp: str) -> str:
    """The short-term insats to decide: ``korttidsboende`` (adult) or ``korttidsvistelse`` (child)."""
    if aldersgrupp == "barn":
        return "korttidsvistelse"
    if aldersgrupp == "vuxen":
        return "korttidsboende"
    raise ValueError(f"aldersgrupp must be 'vuxen' or 'barn', got {aldersgrupp!r}")


def r2_rubrik(rubrik: str, aldersgrupp: str, stadsomrade: str) -> str:
    """An inbox line without personal data: the step, the age group and the district.

    ``r2_rubrik("Fatta beslut om {insats}", "barn", "Nordost")`` gives
    ``"Fatta beslut om korttidsvistelse – akut verkställighet (barn, Nordost)"``.
    """
    text = rubrik.replace("{insats}", r2_korttidsinsats(aldersgrupp))
    return f"{text} – akut verkställighet ({_AGE_GROUP_LABELS.get(aldersgrupp, aldersgrupp)}, {stadsomrade})"


def r2_utvardering_frist(env: Mapping[str, str] | None = None) -> str:
    """The evaluation deadline as an ISO 8601 duration (``P30D`` unless configured).

    Used both as the evaluation task's ``due`` and as its non-interrupting reminder timer.
    ``SAMVERKAN_R2_EVALUATION_DAYS`` sets the number of days (a positive integer).
    """
    source = os.environ if env is None else env
    raw = source.get(EVALUATION_DAYS_ENV, str(DEFAULT_EVALUATION_DAYS))
    days = int(raw)
    if days <= 0:
        raise ValueError(f"{EVALUATION_DAYS_ENV} must be a positive number of days, got {raw!r}")
    return f"P{days}D"
