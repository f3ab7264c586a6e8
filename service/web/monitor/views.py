"""The managers' monitor: per routine, what runs, what waits and where, and CSV exports."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from service.access import person, record_reads, shows_identity
from service.errors import Invalid, NotFound
from service.models import HumanTask, ProcessInstance, TaskStatus
from service.operations.instances import latest_definition, versions_of
from service.operations.migration import MIGRATION_ROLES, migrate
from service.stats import STATS_ROLES, in_scope, one_process, process_stats, year_tallies

from .. import assets
from ..layout import actor_required, duration, page_blueprint, services, signed_in, state_label
from ..routines import latest_definitions
from .charts import count_chart, duration_chart
from .stats import csv_safe, element_names, routine_view

bp = page_blueprint("monitor", __name__)

MONITOR_ROLES = STATS_ROLES  # the numbers are service.stats's, for whom it counts
CSV_LIMIT = 100_000
STATES = ("running", "waiting", "suspended", "error", "completed", "terminated")


@bp.get("/oversikt")
@signed_in(*MONITOR_ROLES)
def overview() -> Any:
    actor = actor_required()
    svc = services()
    with svc.db.read() as db:
        found = {p.process: p for p in process_stats(db, actor, svc.now())}
        rows = [routine_view(d, found.get(d.key), names={}) for d in latest_definitions(db)]
    return render_template("monitor/overview.html", rows=rows)


@bp.get("/oversikt/<key>")
@signed_in(*MONITOR_ROLES)
def routine(key: str) -> Any:
    actor = actor_required()
    svc = services()
    with svc.db.read() as db:
        definition = latest_definition(db, key)
        if definition is None:
            raise NotFound("no such routine")
        stats = routine_view(definition, one_process(db, actor, svc.now(), key))
        tallies = year_tallies(db, actor, key)
    heat = {w.task: {"level": w.level, "label": _("%(n)s väntar", n=w.open),
                     "title": _("%(n)s väntar, i snitt %(time)s", n=w.open, time=duration(w.mean_wait_hours))}
            for w in stats.waiting}
    diagram = {"xmlUrl": url_for("api.get_bpmn", key=key, version=definition.version), "heat": heat}
    return render_template(
        "monitor/routine.html", stats=stats, definition=definition, tallies=tallies, diagram=diagram,
        has_viewer=assets.available(),
        state_chart=count_chart(_("Ärenden per status"), _("Antal ärenden"),
                                [(state_label(s), stats.instances.get(s, 0), f"bar-{s}") for s in STATES]),
        median_chart=duration_chart(_("Median per steg"),
                                    [(s.name, s.median_hours, "bar-median") for s in stats.steps]),
        p90_chart=duration_chart(_("90:e percentilen per steg"),
                                 [(s.name, s.p90_hours, "bar-p90") for s in stats.steps]))


def _csv(filename: str, header: list[str], rows: list[list[Any]]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")  # Swedish spreadsheets expect semicolons
    writer.writerow(header)
    writer.writerows([[csv_safe(v) for v in row] for row in rows])
    return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/oversikt/<key>/arenden.csv")
@signed_in(*MONITOR_ROLES)
def instances_csv(key: str) -> Response:
    """The routine's instances behind the page's counts (``service.stats`` scope), one row each."""
    actor = actor_required()
    with services().db.read() as db:
        query = select(ProcessInstance).where(ProcessInstance.process_key == key, in_scope(actor)).order_by(
            ProcessInstance.started_at.desc()).limit(CSV_LIMIT)
        identity = shows_identity(actor)
        rows = [[i.id, i.case_ref if identity else "", i.state.value, i.definition.version,
                 i.started_at, person(actor, i.started_by) or "", i.ended_at, i.outcome or "", ",".join(i.districts)]
                for i in db.scalars(query).unique()]
    record_reads(services(), actor, [r[0] for r in rows], kind="export")
    header = ["id", "arende", "status", "version", "startat", "startat_av", "avslutat", "utfall", "stadsomrade"]
    return _csv(f"{key}-arenden.csv", header, rows)


@bp.get("/oversikt/<key>/uppgifter.csv")
@signed_in(*MONITOR_ROLES)
def tasks_csv(key: str) -> Response:
    """The routine's open tasks behind the page's counts (``service.stats`` scope), with how long each waited."""
    actor = actor_required()
    svc = services()
    now = svc.now()
    with svc.db.read() as db:
        definition = latest_definition(db, key)
        names = element_names(definition) if definition else {}
        tasks = db.scalars(select(HumanTask).where(
            HumanTask.process_key == key, HumanTask.status == TaskStatus.OPEN, in_scope(actor, HumanTask.instance_id),
        ).order_by(HumanTask.created_at).limit(CSV_LIMIT))
        rows = [[t.id, t.instance_id, t.name, names.get(t.name, t.name), t.lane or "", t.district or "",
                 person(actor, t.assignee) or "", t.created_at, t.due_at,
                 "ja" if t.due_at and t.due_at < now else "nej",
                 f"{(now - t.created_at).total_seconds() / 3600:.1f}"] for t in tasks]
    record_reads(svc, actor, {r[1] for r in rows}, kind="export")
    header = ["id", "arende_id", "steg_id", "steg", "roll", "stadsomrade", "tilldelad", "skapad", "forfaller",
              "forsenad", "vantat_timmar"]
    return _csv(f"{key}-uppgifter.csv", header, rows)


MIGRATION_PAGE_ROLES = MIGRATION_ROLES


def _mapping_from(text: str) -> tuple[dict[str, str], list[str]]:
    """``gammalt_id = nytt_id``, one a line, as the process owner types it; the lines it cannot read."""
    mapping: dict[str, str] = {}
    bad: list[str] = []
    for line in text.splitlines()[:200]:
        if not line.strip():
            continue
        old, sep, new = line.partition("=")
        if not sep or not old.strip() or not new.strip():
            bad.append(line.strip()[:100])
        else:
            mapping[old.strip()[:200]] = new.strip()[:200]
    return mapping, bad


@bp.route("/oversikt/<key>/flytta", methods=["GET", "POST"])
@signed_in(*MIGRATION_PAGE_ROLES)
def migration(key: str) -> Any:
    """Move the routine's running cases to another version: pick it, see the dry run, confirm, move."""
    actor = actor_required()
    svc = services()
    with svc.db.read() as db:
        versions = versions_of(db, key)
    if not versions:
        raise NotFound("no such routine")
    form = request.form if request.method == "POST" else request.args
    chosen = form.get("version", type=int)
    mapping_text = (form.get("koppling") or "")[:20_000]
    mapping, bad_lines = _mapping_from(mapping_text)
    result, done, problem = None, None, None
    if bad_lines:
        problem = _("Kopplingen går inte att läsa på raderna: %(lines)s. Skriv gammalt_id = nytt_id, en per rad.",
                    lines=", ".join(bad_lines))
    elif chosen is not None:
        try:
            if request.method == "POST":
                if form.get("bekrafta") != "ja":
                    problem = _("Bekräfta att ärendena ska flyttas genom att kryssa i rutan.")
                else:
                    done = migrate(svc, actor, key, chosen, "all", mapping, dry_run=False)
            result = migrate(svc, actor, key, chosen, "all", mapping, dry_run=True)
        except Invalid as err:
            problem = " ".join(m for ms in (err.errors or {}).values() for m in ms) or str(err)
    return render_template("monitor/migration.html", key=key, name=versions[0].name, versions=versions,
                           chosen=chosen, mapping_text=mapping_text, result=result, done=done, problem=problem)
