"""Retention (gallring), legal hold and archive export of closed cases (issue 14, item 3).

Each routine keeps a closed case's personal data for a period after the case ended
(``ROUTINE_RETENTION``, overridden per routine by ``SAMVERKAN_RETENTION``; the municipality's
dokumenthanteringsplan decides). Past it, :func:`run_retention` removes from the case what names or
describes a person — case data and task data outside what ``deidentified`` keeps, free text, the
case reference, computed titles, reasons, error texts, hand-over bases, the serialized workflow,
and the personal details of its audit events — and keeps what the monitor counts (state, routine,
version, times, outcome, closed choices and dates). It records one ``gallrad`` event per case.

A legal hold (``gallringsstopp``), placed by ``chef`` or ``auditor`` with a reason, keeps one case
untouched until it is lifted. The hold is the latest of the case's ``legal_hold_placed`` /
``legal_hold_lifted`` events, so it needs no table of its own and its history is the audit log.

The audit log stays append-only except for one change the database allows (migration 0021): an
event's ``detail`` may lose keys, once, marked ``gallrad`` with the keys removed.
"""

from __future__ import annotations

import calendar
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, exists, select, update
from sqlalchemy.orm import Session

from service.access import can_see_instance, deidentified, instance_detail, record_reads, shows_identity
from service.access.lanes import offered_lanes
from service.actor import SYSTEM, Actor
from service.audit import record
from service.errors import Conflict, Forbidden, Invalid, NotFound
from service.models import Disclosure, Event, ExternalTask, HumanTask, InstanceState, ProcessInstance, Timer
from service.services import Services

from .persist import ENDED_STATE

logger = logging.getLogger(__name__)

#: The product's defaults, per routine: time kept after the case ended (ISO 8601 years/months/days).
#: SoL 7 kap. 1 § c: a personakt is gallrad five years after its last entry; a municipality's
#: dokumenthanteringsplan may say otherwise, per routine, through ``SAMVERKAN_RETENTION``.
DEFAULT_RETENTION = "P5Y"
ROUTINE_RETENTION: dict[str, str] = {
    "akut_verkstallighet": "P5Y",
    "utokat_stod_14_dagar": "P5Y",
    "sip": "P5Y",
    "klagomal_privat_utforare": "P5Y",
    "skyddsombudsstopp": "P5Y",
    "bmss_lokal_vid_renovering": "P2Y",
    "samverkansmoten": "P2Y",
}

CLOSED = (InstanceState.COMPLETED, InstanceState.TERMINATED)
HOLD_PLACED, HOLD_LIFTED, PURGED = "legal_hold_placed", "legal_hold_lifted", "gallrad"
HOLD_ROLES = ("chef", "auditor")
#: Event details that describe the work, never a person: kept when a case is gallrad.
KEPT_DETAIL = frozenset({"process", "version", "outcome", "task", "lane", "message", "timer_id", "due_at",
                         "late_seconds", "fields", "via", "counts"})
#: R5c's meeting tallies (``service.stats.year_tallies``): a structure's name, a year and two counts.
TALLY, TALLY_KEYS = "sammanstallning", ("struktur", "ar", "genomforda", "kravda")
_EVENTS = cast(Table, Event.__table__)
_PERIOD = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")


@dataclass(frozen=True)
class Period:
    """An ISO 8601 period of whole months and days (``P5Y``, ``P18M``, ``P30D``, ``P2W``)."""

    months: int
    days: int

    def before(self, moment: datetime) -> datetime:
        """``moment`` less the period, by the calendar (31 March less P1M is 28 or 29 February)."""
        total = moment.year * 12 + moment.month - 1 - self.months
        year, month = divmod(total, 12)
        last = calendar.monthrange(year, month + 1)[1]
        return moment.replace(year=year, month=month + 1, day=min(moment.day, last)) - timedelta(days=self.days)


def parse_period(text: str) -> Period:
    match = _PERIOD.match(text.strip()) if isinstance(text, str) else None
    if match is None or text.strip() == "P":
        raise ValueError(f"a retention period is ISO 8601 like P5Y, P18M or P30D, not {text!r}")
    years, months, weeks, days = (int(part or 0) for part in match.groups())
    return Period(months=12 * years + months, days=7 * weeks + days)


def retention_rules(configured: str | None) -> dict[str, str]:
    """The period per routine: the product's table, with ``SAMVERKAN_RETENTION`` (JSON
    ``{"<routine>": "P2Y", "*": "P5Y"}``) on top; ``*`` is the default for routines not named."""
    rules = {**ROUTINE_RETENTION, "*": DEFAULT_RETENTION}
    if configured:
        given = json.loads(configured)
        if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
            raise ValueError('SAMVERKAN_RETENTION must be a JSON object like {"sip": "P5Y"}')
        rules.update(given)
    for period in rules.values():
        parse_period(period)  # refuse a bad period at start, not at the first nightly run
    return rules


def period_for(rules: Mapping[str, str], process_key: str) -> Period:
    return parse_period(rules.get(process_key, rules["*"]))


@dataclass
class RetentionReport:
    """What one run removed (or, dry, would remove): cases per routine, and what it left alone."""

    dry_run: bool
    gallrade: Counter[str] = field(default_factory=Counter)  # routine → cases stripped
    held: Counter[str] = field(default_factory=Counter)  # routine → cases past retention kept by a hold
    removed: Counter[str] = field(default_factory=Counter)  # what was removed, summed over the cases
    more: bool = False  # the run stopped at its limit: other cases are past retention too

    def lines(self) -> list[str]:
        verb = "would remove personal data from" if self.dry_run else "removed personal data from"
        out = [f"{key}: {verb} {count} case(s)" for key, count in sorted(self.gallrade.items())]
        out += [f"{key}: {count} case(s) past retention kept by a legal hold"
                for key, count in sorted(self.held.items())]
        if self.removed:
            out.append("removed: " + ", ".join(f"{k} {v}" for k, v in sorted(self.removed.items())))
        return out or ["nothing past retention"]


def _held_ids(session: Session, instance_ids: Iterable[str]) -> set[str]:
    """Of ``instance_ids``, those whose latest hold event placed a hold."""
    ids = list(instance_ids)
    latest: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(select(Event.instance_id, Event.action).where(
            Event.instance_id.in_(ids[start:start + 500]), Event.action.in_((HOLD_PLACED, HOLD_LIFTED)))
            .order_by(Event.id))
        for instance_id, action in rows:
            latest[str(instance_id)] = action
    return {i for i, action in latest.items() if action == HOLD_PLACED}


def is_held(session: Session, instance_id: str) -> bool:
    return instance_id in _held_ids(session, [instance_id])


def _is_purged(session: Session, instance_id: str) -> bool:
    return session.scalar(select(exists().where(Event.instance_id == instance_id, Event.action == PURGED))) or False


def past_retention(session: Session, rules: Mapping[str, str], now: datetime) -> list[tuple[str, str]]:
    """(instance id, routine) of closed, not yet gallrade cases whose period has run out by ``now``."""
    keys = session.scalars(select(ProcessInstance.process_key).where(ProcessInstance.state.in_(CLOSED)).distinct())
    found: list[tuple[str, str]] = []
    for key in sorted(keys):
        cutoff = period_for(rules, key).before(now)
        rows = session.scalars(select(ProcessInstance.id).where(
            ProcessInstance.process_key == key, ProcessInstance.state.in_(CLOSED),
            ProcessInstance.ended_at.is_not(None), ProcessInstance.ended_at <= cutoff,
            ~exists().where(Event.instance_id == ProcessInstance.id, Event.action == PURGED))
            .order_by(ProcessInstance.ended_at, ProcessInstance.id))
        found.extend((str(i), key) for i in rows)
    return found


def run_retention(services: Services, *, dry_run: bool = False, now: datetime | None = None,
                  actor: Actor = SYSTEM, limit: int | None = None) -> RetentionReport:
    """Strip every closed case past its routine's retention, but those under a legal hold
    (at most ``limit`` cases; ``report.more`` says whether others wait for the next run)."""
    rules = retention_rules(services.config.retention)
    moment = now or services.now()
    report = RetentionReport(dry_run=dry_run)
    with services.db.read() as session:
        due = past_retention(session, rules, moment)
        held = _held_ids(session, [i for i, _ in due])
    for instance_id, key in due:
        if limit is not None and sum(report.gallrade.values()) >= limit:
            report.more = True
            break
        if instance_id in held:
            report.held[key] += 1
            continue
        if dry_run:
            report.gallrade[key] += 1
            continue
        with services.db.command() as session:
            instance = services.db.lock_instance(session, instance_id)
            # a hold placed, or another node's run, since the list was read wins
            if (instance is None or instance.state not in CLOSED or is_held(session, instance_id)
                    or _is_purged(session, instance_id)):
                continue
            counts = _strip(session, instance)
            record(session, actor, PURGED, instance_id=instance_id, process=key, counts=counts)
        report.gallrade[key] += 1
        report.removed.update(counts)
    if report.gallrade and not dry_run:
        logger.info("retention: %s", "; ".join(report.lines()))
    return report


def _strip(session: Session, instance: ProcessInstance) -> dict[str, int]:
    """Remove the case's personal data in place; returns how many of each kind of thing changed."""
    definition = instance.definition
    counts: Counter[str] = Counter()
    kept = deidentified(definition, instance.data or {})
    tally = (instance.data or {}).get(TALLY)
    if isinstance(tally, dict):  # a script's counts, not declared by a form: the monitor's year tallies
        kept[TALLY] = {k: tally[k] for k in TALLY_KEYS if k in tally}
    counts["case_fields"] += len(instance.data or {}) - len(kept)
    instance.data = kept
    counts["case_references"] += int(instance.case_ref is not None)
    instance.case_ref, instance.error, instance.state_reason = None, None, None
    instance.workflow_json, instance.waits_for = ENDED_STATE, []  # a closed case runs no more
    tasks = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id))
    for task in tasks:
        data = deidentified(definition, task.data or {})
        submitted = None if task.submitted is None else deidentified(definition, task.submitted)
        counts["task_fields"] += len(task.data or {}) - len(data) + len(task.submitted or {}) - len(submitted or {})
        counts["case_references"] += int(task.case_ref is not None)
        task.data, task.submitted, task.case_ref, task.assign_reason = data, submitted, None, None
        task.title = task.step or task.name
    for timer in session.scalars(select(Timer).where(Timer.instance_id == instance.id)):
        timer.title, timer.error = timer.task_name, None
    for work in session.scalars(select(ExternalTask).where(ExternalTask.instance_id == instance.id)):
        data = deidentified(definition, work.data or {})
        counts["task_fields"] += len(work.data or {}) - len(data)
        work.data, work.error_message = data, None  # a worker's message may quote the case
    for disclosure in session.scalars(select(Disclosure).where(Disclosure.instance_id == instance.id)):
        disclosure.basis = None
    events = session.execute(select(Event.id, Event.detail).where(Event.instance_id == instance.id))
    for event_id, detail in list(events):
        detail = detail or {}
        removed = sorted(k for k in detail if k not in KEPT_DETAIL)
        if not removed or "gallrad" in detail:
            continue
        redacted = {**{k: v for k, v in detail.items() if k in KEPT_DETAIL}, "gallrad": removed}
        # a Core update: the ORM refuses changes to events; the database allows this one (0021)
        session.execute(update(_EVENTS).where(_EVENTS.c.id == event_id).values(detail=redacted))
        counts["event_details"] += len(removed)
    return {k: v for k, v in sorted(counts.items()) if v}


def _hold_target(session: Session, services: Services, actor: Actor, instance_id: str,
                 reason: str | None) -> tuple[ProcessInstance, str]:
    if not actor.has(*HOLD_ROLES) or actor.is_system or not actor.is_authority:
        raise Forbidden("gallringsstopp beslutas av chef eller granskare (auditor)")
    text = (reason or "").strip() if isinstance(reason, str) else ""
    if not text:
        raise Invalid("ange ett skäl", errors={"reason": ["Ange ett skäl."]})
    if len(text) > 2000:
        raise Invalid("skälet är för långt", errors={"reason": ["Högst 2000 tecken."]})
    instance = services.db.lock_instance(session, instance_id)
    # the auditor reads the log, where every case appears; a chef acts within their districts
    if instance is None or (not actor.has("auditor") and not can_see_instance(
            session, actor, instance, offered_lanes(services, actor.roles))):
        raise NotFound("no such instance")
    if _is_purged(session, instance_id):
        raise Conflict("ärendet är redan gallrat")
    return instance, text


def place_hold(services: Services, actor: Actor, instance_id: str, reason: str | None) -> dict[str, Any]:
    """Keep one case from gallring until the hold is lifted (audited with its reason). A case
    already held stays held, and this reason is recorded too."""
    with services.db.command() as session:
        instance, text = _hold_target(session, services, actor, instance_id, reason)
        record(session, actor, HOLD_PLACED, instance_id=instance.id, reason=text)
    return {"instance_id": instance_id, "held": True}


def lift_hold(services: Services, actor: Actor, instance_id: str, reason: str | None) -> dict[str, Any]:
    with services.db.command() as session:
        instance, text = _hold_target(session, services, actor, instance_id, reason)
        if not is_held(session, instance_id):
            raise Conflict("ärendet har inget gallringsstopp")
        record(session, actor, HOLD_LIFTED, instance_id=instance.id, reason=text)
    return {"instance_id": instance_id, "held": False}


def hold_state(session: Session, instance_id: str) -> dict[str, Any]:
    """Whether the case is held or gallrad, for its page and its export."""
    return {"held": is_held(session, instance_id), "gallrad": _is_purged(session, instance_id)}


@dataclass
class ArchiveExport:
    """A closed case for the archive: the case as its reader sees it, and each task's answers where
    the reader sees them (``answers``: task id → what its completer submitted)."""

    detail: dict[str, Any]
    answers: dict[str, Any]
    name: str
    held: bool
    gallrad: bool
    exported_at: datetime


def export_case(services: Services, actor: Actor, instance_id: str) -> ArchiveExport:
    """A closed case for the archive (e-arkiv) before gallring; recorded as an export read."""
    from service.operations.instances import load_visible

    now = services.now()
    with services.db.read() as session:
        instance = load_visible(session, services, actor, instance_id)
        if instance.state not in CLOSED:
            raise Conflict("bara ett avslutat ärende kan exporteras för arkivet")
        detail = instance_detail(session, actor, instance, now, services.engine.message_roles(instance.definition))
        identity = shows_identity(actor)
        answers = {t.id: t.submitted for t in session.scalars(select(HumanTask).where(
            HumanTask.instance_id == instance_id)) if identity or (t.completed_by and t.completed_by == actor.username)}
        state = hold_state(session, instance_id)
        export = ArchiveExport(detail, answers, instance.definition.name, state["held"], state["gallrad"], now)
    record_reads(services, actor, [instance_id], kind="export")
    return export
