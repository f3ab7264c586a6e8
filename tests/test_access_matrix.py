"""The access matrix (issue 7 item 9; ``shared/DESIGN.md``, "Access to case data").

One routine of our own (``tests/fixtures/bpmn/access_demo.bpmn``) is walked to six stages: just
started (the authority assesses and records a consent to the region), at the provider's task, after
the hand-over to the region, at EKU's follow-up, waiting for a message, and completed. At each stage
every persona — the case's own handläggare, another handläggare in the district and one in another
district, the provider the case names and a competitor in the same district, the region, another
förvaltning, EKU, the district's chef and another district's chef, admin, the auditor and nobody at
all — calls every route and page that shows a case or acts on one. The table of those routes is
checked against ``app.url_map``: a route without an entry here, or in :data:`SHOWS_NO_CASE`, fails.

Each cell asserts the status (404 for those who must not know the case exists, 403 for a wrong role
on a case one sees), whether a list shows the stage's case or task, and that no planted value — a
personnummer, the client's name, the case reference, free texts, the names of the staff working on
the case — appears in any body (JSON, HTML, CSV, the page a redirect leads to) unless that persona
may see it. Requests that would change the case when allowed are sent to a fresh case at the same
stage, so the shared cases stay where they are.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from service.directory import add_organisation
from service.models import Timer
from service.operations.users import create_user

from .conftest import DEFAULT_PASSWORD, FIXTURES, Api, Harness, start_harness

PROCESS = "access_demo"
ALL_DISTRICTS = ("Centrum", "Hisingen", "Nordost", "Sydväst")
NO_SUCH_TIMER = "00000000-0000-0000-0000-000000000000"

# --- who ------------------------------------------------------------------------------------------

#: (key, kind, name) of the organisations besides the authority (``myndighet``, always there).
ORGANISATIONS = (
    ("omsorg_a", "utforare", "Omsorg Nordost AB"),
    ("omsorg_b", "utforare", "Hemtjänst Konkurrenten AB"),
    ("region_vg", "region", "Vårdcentralen Nordost (regionen)"),
    ("kultur_fritid", "annan_forvaltning", "Kultur- och fritidsförvaltningen"),
    ("eku", "eku", "Enheten för kontrakt och uppföljning"),
)


@dataclass(frozen=True)
class Persona:
    key: str
    username: str | None  # None: no credentials at all
    roles: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    organisation: str = "myndighet"
    display_name: str | None = None


PERSONAS = {p.key: p for p in (
    Persona("anonym", None),
    Persona("handlaggare", "sara.berg", ("socialsekreterare",), ("Nordost",), display_name="Sara Berg"),
    Persona("kollega", "sune.ek", ("socialsekreterare",), ("Nordost",), display_name="Sune Ek"),
    Persona("annat_omrade", "hanna.lo", ("socialsekreterare",), ("Hisingen",), display_name="Hanna Lo"),
    Persona("utforare", "ulla.lind", ("utforare",), ("Nordost",), "omsorg_a", "Ulla Lind"),
    Persona("konkurrent", "ulf.stark", ("utforare",), ("Nordost",), "omsorg_b", "Ulf Stark"),
    Persona("region", "rut.vard", ("fast_vardkontakt",), ("Nordost",), "region_vg", "Rut Vård"),
    # every lane's role in the district, but of another förvaltning: no task names it, so none is offered
    Persona("forvaltning", "anna.fors", ("socialsekreterare", "utforare", "fast_vardkontakt"), ("Nordost",),
            "kultur_fritid", "Anna Fors"),
    Persona("eku", "eva.eku", ("eku",), ALL_DISTRICTS, "eku", "Eva Ek"),
    Persona("chef", "clara.chef", ("chef",), ("Nordost",), display_name="Clara Chef"),
    Persona("chef_annat", "carl.chef", ("chef",), ("Hisingen",), display_name="Carl Chef"),
    Persona("admin", "adam.drift", ("admin",), display_name="Adam Drift"),
    Persona("revisor", "alva.revisor", ("auditor",), display_name="Alva Revisor"),
    # a program doing service tasks (the journal's integration): external tasks only, never a case
    Persona("arbetare", "journal.robot", ("extern_arbetare",), display_name="Journalroboten"),
)}

# --- what is planted ------------------------------------------------------------------------------

PERSONNUMMER = "19121212-1212"
CLIENT = "Tolvan Tolvansson"
CASE_REF = "2026-ACC-"  # every case's reference starts so
ASSESSMENT = "Bedömningen: missbruk i hemmet"
DEVIATION_TEXT = "Kalle Anka föll i hallen"  # the provider's free text names someone
CARE_NEED = "Insulinbehandling morgon och kväll"

#: What must not be shown to whoever may not see it: text → what it is.
SECRETS = {
    PERSONNUMMER[2:]: "personnummer",  # also catches the 10-digit form 121212-1212
    CLIENT: "namn",
    CASE_REF: "arende",
    ASSESSMENT: "bedomning",
    DEVIATION_TEXT: "avvikelse",
    CARE_NEED: "vardbehov",
    "sara.berg": "handlaggare", "Sara Berg": "handlaggare",
    "ulla.lind": "utforare", "Ulla Lind": "utforare",
    "rut.vard": "region", "Rut Vård": "region",
}
EVERYTHING = frozenset(SECRETS.values())
STAFF = frozenset({"handlaggare", "utforare", "region"})
#: What each persona may read about the cases it sees (its own name it always may).
ALLOWED: dict[str, frozenset[str]] = {
    "handlaggare": EVERYTHING,  # the authority's case worker of the case
    "chef": EVERYTHING,  # the authority's chef of the district
    "utforare": frozenset({"avvikelse", "utforare"}),  # its own task's form
    "region": frozenset({"namn", "vardbehov", "region"}),  # its own task's form + the hand-over's fields
}


def allowed(persona: Persona) -> frozenset[str]:
    return ALLOWED.get(persona.key, frozenset())


def _basis(h: Harness) -> dict[str, Any]:
    today = h.services.clock.local_now().date()
    return {"grund": "samtycke", "samtycke_typ": "uttryckligt", "samtycke_form": "skriftligt",
            "mottagare": ["region"], "giltig_fran": (today - timedelta(days=1)).isoformat(),
            "giltig_till": (today + timedelta(days=365)).isoformat()}


START = {"personnummer": PERSONNUMMER, "klient_namn": CLIENT, "stadsomrade": "Nordost", "handlaggare": "sara.berg",
         "utforare": "omsorg_a", "region": "region_vg", "insats": "hemtjanst"}

# --- the stages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """Where a case stands, and who (persona keys) sees it, sees its current task and may act on it."""

    name: str
    sees: frozenset[str]
    task: str  # the BPMN id of the stage's current task (open, or the last one completed)
    task_open: bool
    task_assignee: str | None  # persona key
    task_actors: frozenset[str]  # may complete it
    task_seen: frozenset[str]
    task_mandate: frozenset[str]  # hold a role of its lane in its district and organisation: colleagues
    timer_pending: bool = False
    waiting: bool = False
    completed: bool = False

    @property
    def active(self) -> bool:
        return not self.completed


_AUTHORITY = frozenset({"handlaggare", "chef", "admin"})
STAGES = {s.name: s for s in (
    Stage("startad", _AUTHORITY, "bedom", True, "handlaggare", frozenset({"handlaggare"}),
          frozenset({"handlaggare", "chef"}), frozenset({"handlaggare", "kollega"})),
    Stage("utforare", _AUTHORITY | {"utforare"}, "utfor", True, None, frozenset({"utforare"}),
          frozenset({"utforare", "chef"}), frozenset({"utforare"}), timer_pending=True),
    Stage("region", _AUTHORITY | {"utforare", "region"}, "vardkontakt", True, None, frozenset({"region"}),
          frozenset({"region", "chef"}), frozenset({"region"})),
    Stage("eku", _AUTHORITY | {"utforare", "region", "eku"}, "eku_uppfoljning", True, None, frozenset({"eku"}),
          frozenset({"eku", "chef"}), frozenset({"eku"})),
    Stage("vantar", _AUTHORITY | {"utforare", "region", "eku"}, "eku_uppfoljning", False, None, frozenset(),
          frozenset({"eku", "chef"}), frozenset({"eku"}), waiting=True),
    Stage("avslutad", _AUTHORITY | {"utforare", "region", "eku"}, "eku_uppfoljning", False, None, frozenset(),
          frozenset({"eku", "chef"}), frozenset({"eku"}), completed=True),
)}
ORDER = list(STAGES)


@dataclass
class Case:
    """One case walked to a stage: its ids."""

    stage: str
    instance_id: str
    task_id: str
    timer_id: str
    tasks: dict[str, str] = field(default_factory=dict)  # every task so far: BPMN id -> task id

    def params(self) -> dict[str, str]:
        return {"instance_id": self.instance_id, "task_id": self.task_id, "timer_id": self.timer_id,
                "key": PROCESS, "name": "avslutat", "provider": "omsorg_a", "version": "1"}


@dataclass
class World:
    """The running service, every persona signed in (API token and page session), a case per stage."""

    h: Harness
    apis: dict[str, Api] = field(default_factory=dict)
    pages: dict[str, tuple[requests.Session, str]] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)
    counter: int = 0

    def api(self, key: str) -> Api:
        return self.apis[key]

    def open_task(self, key: str, instance_id: str, name: str) -> str:
        items = self.api(key).ok("GET", "/api/v1/tasks", params={"instance": instance_id})["items"]
        [task] = [t for t in items if t["name"] == name]
        return str(task["id"])

    def complete(self, key: str, task_id: str, data: dict[str, Any]) -> None:
        self.api(key).ok("POST", f"/api/v1/tasks/{task_id}/complete", json={"data": data})

    def walk(self, stage: str) -> Case:
        """A new case, taken through the API by the people whose steps they are, up to ``stage``."""
        self.counter += 1
        upto = ORDER.index(stage)
        started = self.api("handlaggare").ok("POST", "/api/v1/instances", 201, json={
            "process": PROCESS, "data": START, "case_ref": f"{CASE_REF}{self.counter:04d}"})
        iid = str(started["id"])
        tasks = {"bedom": self.open_task("handlaggare", iid, "bedom")}
        task = tasks["bedom"]
        if upto >= ORDER.index("utforare"):  # the assessment records the consent to the region
            self.complete("handlaggare", task, {"bedomning": ASSESSMENT, "kvalitet": "god",
                                                "utlamningsgrunder": [_basis(self.h)]})
            task = tasks["utfor"] = self.open_task("utforare", iid, "utfor")
        if upto >= ORDER.index("region"):  # the provider reports; the authority hands over to the region
            self.claim_and_complete("utforare", task, {"utfort": "ja", "avvikelse": DEVIATION_TEXT})
            tasks["overlamna"] = self.open_task("handlaggare", iid, "overlamna")
            self.complete("handlaggare", tasks["overlamna"], {"vardbehov": CARE_NEED})
            task = tasks["vardkontakt"] = self.open_task("region", iid, "vardkontakt")
        if upto >= ORDER.index("eku"):
            self.claim_and_complete("region", task, {"vardplan": "upprattad"})
            task = tasks["eku_uppfoljning"] = self.open_task("eku", iid, "eku_uppfoljning")
        if upto >= ORDER.index("vantar"):  # EKU's is the stage's task from here on, done
            self.claim_and_complete("eku", task, {"kvalitet": "god", "eku_notering": "Följs upp i december"})
        if upto >= ORDER.index("avslutad"):
            self.api("handlaggare").ok("POST", f"/api/v1/instances/{iid}/messages",
                                       json={"name": "avslutat", "data": {"datum": "2026-12-01"}})
        return Case(stage, iid, task, self._timer(iid), tasks)

    def claim_and_complete(self, key: str, task_id: str, data: dict[str, Any]) -> None:
        self.api(key).ok("POST", f"/api/v1/tasks/{task_id}/claim")
        self.complete(key, task_id, data)

    def close(self, case: Case) -> None:
        """End a fresh case, so that none of its tasks stays offered to anyone (the lists stay the stages')."""
        self.api("admin").request("POST", f"/api/v1/instances/{case.instance_id}/terminate",
                                  json={"reason": "Färdigt prov"})

    def _timer(self, iid: str) -> str:
        with self.h.services.db.read() as session:
            timer = session.scalars(select(Timer).where(Timer.instance_id == iid)).first()
            return timer.id if timer is not None else NO_SUCH_TIMER


# --- the routes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """What one persona gets from one route at one stage."""

    status: int
    fresh: bool = False  # the request changes the case when allowed: send it to a fresh case
    listed: bool | None = None  # for lists: whether the stage's case (or task) is in it


@dataclass(frozen=True)
class Entry:
    method: str
    rule: str  # as ``app.url_map`` writes it
    expect: Callable[[Stage, Persona], Cell]
    body: dict[str, Any] | None = None  # request keyword arguments: json= (API) or data= (pages)
    lists: str | None = None  # "instance", "task" or "timer": what ``Cell.listed`` is about
    reveals: Callable[[Persona], frozenset[str]] | None = None  # more than ``allowed`` (break-glass, audit)

    @property
    def page(self) -> bool:
        return not self.rule.startswith("/api/")

    @property
    def name(self) -> str:
        return f"{self.method} {self.rule}"


def _has(persona: Persona, *roles: str) -> bool:
    return bool(set(persona.roles) & set(roles))


def _signed_out(entry_page: bool, method: str) -> Cell:
    if not entry_page:
        return Cell(401)
    return Cell(400 if method == "POST" else 302)  # a page POST without a session fails its CSRF check first


def _case_read(stage: Stage, p: Persona) -> Cell:
    return Cell(200 if p.key in stage.sees else 404)


def _task_read(stage: Stage, p: Persona) -> Cell:
    return Cell(200 if p.key in stage.task_seen else 404)


def _instance_list(stage: Stage, p: Persona) -> Cell:
    return Cell(200, listed=p.key in stage.sees)


def _api_task_list(stage: Stage, p: Persona) -> Cell:
    # assigned=all: my tasks, those offered to me, and (chef) everything open in my districts
    return Cell(200, listed=stage.task_open and (p.key in stage.task_actors or p.key == "chef"))


def _inbox(stage: Stage, p: Persona) -> Cell:
    # the page: mine and those offered to me
    return Cell(200, listed=stage.task_open and p.key in stage.task_actors)


def _managers(stage: Stage, p: Persona, *, listed: bool | None = None) -> Cell:
    if not _has(p, "chef", "admin"):
        return Cell(403)
    return Cell(200, listed=listed)


def _process_owners(stage: Stage, p: Persona) -> Cell:
    # moving cases to another version (processagare, admin): ids and versions, never what a case says
    return Cell(200 if _has(p, "processagare", "admin") else 403)


def _monitor_cases(stage: Stage, p: Persona) -> Cell:
    return _managers(stage, p, listed=p.key in ("chef", "admin"))


def _monitor_tasks(stage: Stage, p: Persona) -> Cell:
    return _managers(stage, p, listed=stage.task_open and p.key in ("chef", "admin"))


def _timers(stage: Stage, p: Persona) -> Cell:
    return _managers(stage, p, listed=stage.timer_pending and p.key in ("chef", "admin"))


def _auditors(stage: Stage, p: Persona) -> Cell:
    return Cell(200 if _has(p, "auditor", "admin") else 403)


def _external_list(stage: Stage, p: Persona) -> Cell:
    """Open external tasks (none in this routine): workers and admin, with no case data."""
    return Cell(200 if _has(p, "extern_arbetare", "admin") else 403)


def _external_work(stage: Stage, p: Persona) -> Cell:
    """Locking and reporting are the workers' (a human task's id is no external task: 404 for them)."""
    return Cell(404 if _has(p, "extern_arbetare") else 403)


def _external_fetch(stage: Stage, p: Persona) -> Cell:
    return Cell(200 if _has(p, "extern_arbetare") else 403)


def _admin_only(stage: Stage, p: Persona) -> Cell:
    return Cell(200 if _has(p, "admin") else 403)


def _message(stage: Stage, p: Persona, *, page: bool) -> Cell:
    if p.key not in stage.sees:
        return Cell(404)
    if not _has(p, "socialsekreterare"):  # messageRoles of vanta_avslutat
        return Cell(403)
    if stage.waiting:
        return Cell(302 if page else 200, fresh=True)
    return Cell(302 if page else 409)  # not waiting for it (the page says so and goes back)


def _state(action: str, *, page: bool = False) -> Callable[[Stage, Persona], Cell]:
    def expect(stage: Stage, p: Persona) -> Cell:
        if not _has(p, "chef", "admin"):
            return Cell(403)
        if p.key not in stage.sees:
            return Cell(404)
        if page:  # the page's form sends "resume", refused as a conflict with a message
            return Cell(302)
        changes = (action in ("suspend", "terminate")) and stage.active
        return Cell(200, fresh=True) if changes else Cell(409)
    return expect


def _retry(stage: Stage, p: Persona) -> Cell:
    if not _has(p, "admin"):
        return Cell(403)
    return Cell(409)  # no case here is in error


def _fire(stage: Stage, p: Persona, *, page: bool = False) -> Cell:
    if page and p.key not in stage.sees:
        return Cell(404)
    if not _has(p, "admin"):
        return Cell(403)
    if stage.timer_pending:
        return Cell(302 if page else 200, fresh=True)
    return Cell(404)  # no pending timer with that id


def _confirm_fire(stage: Stage, p: Persona) -> Cell:
    """The page that asks before a timer is fired: admin, on a case it sees, for a pending timer."""
    if not _has(p, "admin"):
        return Cell(403)
    return Cell(200 if stage.timer_pending else 404)


def _console(stage: Stage, p: Persona) -> Cell:
    """Admin's console: cases in error and pending timers, de-identified."""
    return Cell(200, listed=stage.timer_pending) if _has(p, "admin") else Cell(403)


def _page_retry(stage: Stage, p: Persona) -> Cell:
    return Cell(302) if _has(p, "admin") else Cell(403)  # no case here is in error: the console says so


def _complete(stage: Stage, p: Persona, *, page: bool = False) -> Cell:
    """Sent with data the form refuses: 422 means the persona got as far as the form."""
    if p.key not in stage.task_seen:
        return Cell(404)
    if not stage.task_open:
        return Cell(302 if page else 409)
    if p.key in stage.task_actors:
        return Cell(422)
    return Cell(403)


def _knows_task(stage: Stage, p: Persona) -> bool:
    """May see the task, or is a colleague in its mandate (who learns no more than that it is taken)."""
    return p.key in stage.task_seen or p.key in stage.task_mandate


def _claim(stage: Stage, p: Persona, *, page: bool = False) -> Cell:
    if not _knows_task(stage, p):
        return Cell(404)
    if not stage.task_open:
        return Cell(302 if page else 409)
    if stage.task_assignee == p.key:
        return Cell(302 if page else 200)  # already theirs: nothing changes
    if stage.task_assignee is not None:
        return Cell(302 if page else 409)  # someone else holds it (who, it does not say)
    if p.key in stage.task_actors:
        return Cell(302 if page else 200, fresh=True)
    return Cell(403)


def _unclaim(stage: Stage, p: Persona) -> Cell:
    if not _knows_task(stage, p):
        return Cell(404)
    if not stage.task_open:
        return Cell(409)
    if stage.task_assignee == p.key or p.key == "chef":
        return Cell(200, fresh=True)
    return Cell(403)


def _assign(stage: Stage, p: Persona, *, page: bool = False) -> Cell:
    """Handed to a user who does not exist: 422 means the persona may hand the task over."""
    if p.key not in stage.task_seen and (page or p.key not in stage.task_mandate):
        return Cell(404)  # the page opens the task first
    if not stage.task_open:
        return Cell(302 if page else 409)
    if stage.task_assignee == p.key or p.key == "chef":
        return Cell(422)
    return Cell(403)


def _export(stage: Stage, p: Persona) -> Cell:
    """The archive export: whoever reads the case, once it has ended."""
    if p.key not in stage.sees:
        return Cell(404)
    return Cell(200 if stage.completed else 409)


def _legal_hold(*, page: bool = False) -> Callable[[Stage, Persona], Cell]:
    """chef (for the cases it sees) and auditor (every case: it reads the log) hold a case from gallring."""
    def expect(stage: Stage, p: Persona) -> Cell:
        if not _has(p, "chef", "auditor"):
            return Cell(403)
        if p.key not in stage.sees and (page or not _has(p, "auditor")):
            return Cell(404)  # the page is the case's: the auditor, who reads the log, holds by the API
        # a hold changes nothing a route shows: the stage's own case is used (POST holds it, DELETE lifts it)
        return Cell(302 if page else 200)
    return expect


def _page(expect: Callable[..., Cell]) -> Callable[[Stage, Persona], Cell]:
    return lambda stage, p: expect(stage, p, page=True)


def _json(body: dict[str, Any]) -> dict[str, Any]:
    return {"json": body}


def _form(body: dict[str, str]) -> dict[str, Any]:
    return {"data": body}


REASON = {"reason": "Brukaren är inlagd på sjukhus"}
BREAK_GLASS = {"reason": "Driftfel: kontroll av ärendets data"}
NOBODY = "ingen.alls"


def _break_glass_reveals(p: Persona) -> frozenset[str]:
    return EVERYTHING if p.key == "admin" else frozenset()


def _audit_reveals(p: Persona) -> frozenset[str]:
    # the log names who did what (usernames), never what the case says
    return frozenset(SECRETS[u] for u in ("sara.berg", "ulla.lind", "rut.vard")) if _has(p, "auditor", "admin") \
        else frozenset()


MATRIX: list[Entry] = [
    # -- the API --
    Entry("GET", "/api/v1/instances", _instance_list, lists="instance"),
    Entry("GET", "/api/v1/instances/<instance_id>", _case_read),
    Entry("POST", "/api/v1/instances/<instance_id>/break-glass", _admin_only, _json(BREAK_GLASS),
          reveals=_break_glass_reveals),
    Entry("POST", "/api/v1/instances/<instance_id>/messages", lambda s, p: _message(s, p, page=False),
          _json({"name": "avslutat", "data": {"datum": "2026-12-01"}})),
    Entry("POST", "/api/v1/instances/<instance_id>/suspend", _state("suspend"), _json(REASON)),
    Entry("POST", "/api/v1/instances/<instance_id>/resume", _state("resume"), _json(REASON)),
    Entry("POST", "/api/v1/instances/<instance_id>/terminate", _state("terminate"), _json(REASON)),
    Entry("POST", "/api/v1/instances/<instance_id>/retry", _retry, _json(REASON)),
    Entry("POST", "/api/v1/instances/<instance_id>/legal-hold", _legal_hold(), _json(REASON)),
    Entry("DELETE", "/api/v1/instances/<instance_id>/legal-hold", _legal_hold(), _json(REASON)),
    Entry("GET", "/api/v1/instances/<instance_id>/export", _export),
    Entry("GET", "/api/v1/tasks", _api_task_list, lists="task"),
    Entry("GET", "/api/v1/tasks/<task_id>", _task_read),
    Entry("POST", "/api/v1/tasks/<task_id>/claim", _claim),
    Entry("POST", "/api/v1/tasks/<task_id>/unclaim", _unclaim),
    Entry("POST", "/api/v1/tasks/<task_id>/assign", _assign, _json({"username": NOBODY, "reason": "Semester"})),
    Entry("POST", "/api/v1/tasks/<task_id>/complete", _complete, _json({"data": {"planterad": "x"}})),
    Entry("GET", "/api/v1/timers", _timers, lists="timer"),
    Entry("POST", "/api/v1/timers/<timer_id>/fire", _fire),
    Entry("GET", "/api/v1/audit", _auditors, reveals=_audit_reveals),
    Entry("GET", "/api/v1/stats", _managers),
    Entry("GET", "/api/v1/external-tasks", _external_list),
    Entry("POST", "/api/v1/external-tasks/fetch-and-lock", _external_fetch,
          _json({"topics": ["journal"], "worker_id": "w1", "lock_ms": 1000})),
    Entry("POST", "/api/v1/external-tasks/<task_id>/complete", _external_work, _json({"worker_id": "w1"})),
    Entry("POST", "/api/v1/external-tasks/<task_id>/failure", _external_work,
          _json({"worker_id": "w1", "message": "nere", "retries": 0})),
    Entry("POST", "/api/v1/external-tasks/<task_id>/bpmn-error", _external_work,
          _json({"worker_id": "w1", "code": "FEL"})),
    Entry("POST", "/api/v1/processes/<key>/migrations", _process_owners,
          {"json": {"to_version": 1, "instances": "all", "dry_run": True}}),
    # -- the staff pages --
    Entry("GET", "/arenden", _instance_list, lists="instance"),
    Entry("GET", "/arenden/<instance_id>", _case_read),
    Entry("POST", "/arenden/<instance_id>/meddelanden/<name>", _page(_message), _form({"datum": "2026-12-01"})),
    Entry("POST", "/arenden/<instance_id>/nodatkomst", _admin_only, _form(BREAK_GLASS), reveals=_break_glass_reveals),
    Entry("POST", "/arenden/<instance_id>/status", _state("resume", page=True),
          _form({"action": "resume", **REASON})),
    Entry("POST", "/arenden/<instance_id>/gallringsstopp", _legal_hold(page=True), _form(REASON)),
    Entry("GET", "/arenden/<instance_id>/timers/<timer_id>", _confirm_fire),
    Entry("POST", "/arenden/<instance_id>/timers/<timer_id>", _page(_fire), _form({"confirm": "ja"})),
    Entry("GET", "/inkorg", _inbox, lists="task"),
    Entry("GET", "/uppgifter/<task_id>", _task_read),
    Entry("POST", "/uppgifter/<task_id>", _page(_complete)),
    Entry("POST", "/uppgifter/<task_id>/overlamna", _page(_assign), _form({"username": NOBODY, "reason": "Semester"})),
    Entry("POST", "/uppgifter/<task_id>/ta", _page(_claim), _form({"action": "claim"})),
    Entry("GET", "/oversikt", _managers),
    Entry("GET", "/oversikt/<key>", _managers),
    Entry("GET", "/oversikt/<key>/arenden.csv", _monitor_cases, lists="instance"),
    Entry("GET", "/oversikt/<key>/uppgifter.csv", _monitor_tasks, lists="task"),
    Entry("GET", "/drift", _console, lists="timer"),
    Entry("POST", "/drift/arenden/<instance_id>/forsok-igen", _page_retry, _form(REASON)),
    Entry("GET", "/oversikt/<key>/flytta", _process_owners),
    Entry("POST", "/oversikt/<key>/flytta", _process_owners, _form({"version": "1"})),  # unconfirmed: a dry run
    Entry("GET", "/logg", _auditors, reveals=_audit_reveals),
]
ENTRIES = {(e.method, e.rule): e for e in MATRIX}

#: Routes that show no case: neither its reference, nor its data, nor that it exists.
SHOWS_NO_CASE = {
    ("GET", "/"), ("GET", "/healthz"), ("GET", "/metrics"), ("GET", "/api/v1/openapi.json"),
    ("GET", "/static/<path:filename>"), ("GET", "/static/samverkan/<path:filename>"),
    ("GET", "/static/vendor/<path:name>"),
    ("POST", "/api/v1/auth/token"), ("GET", "/logga-in"), ("POST", "/logga-in"), ("POST", "/logga-ut"),
    ("GET", "/logga-in/sso"), ("GET", "/logga-in/sso/klar"),  # the identity provider's sign-in (404 when none)
    ("POST", "/sprak"), ("GET", "/api/v1/me"),
    ("GET", "/api/v1/organisations"), ("GET", "/api/v1/users"),  # the directory: organisations and people
    ("GET", "/api/v1/processes"), ("POST", "/api/v1/processes"), ("GET", "/api/v1/processes/<key>"),
    ("GET", "/api/v1/processes/<key>/bpmn"),
    ("GET", "/rutiner"), ("GET", "/rutiner/<key>"), ("GET", "/rutiner/<key>/versioner/<int:version>.zip"),
    ("POST", "/rutiner/forhandsgranska"),
    ("POST", "/rutiner/<key>/utkast"), ("DELETE", "/rutiner/<key>/utkast"),  # a routine's draft: no case
    ("GET", "/starta"), ("GET", "/starta/<key>"), ("POST", "/starta/<key>"),  # starts a new case, shows none
    ("POST", "/api/v1/instances"),  # likewise
    # R4's provider-level decision support: counts and flags, no case reference or data
    ("GET", "/api/v1/providers/<provider>/complaints"),
}
CASE_PARAMETERS = ("<instance_id>", "<task_id>", "<timer_id>")


# --- sending and reading --------------------------------------------------------------------------

RULE_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


def path_of(rule: str, params: dict[str, str]) -> str:
    return RULE_PARAMETER.sub(lambda m: params[m.group(1)], rule)


def readable(response: requests.Response) -> str:
    """Everything a body says, as a reader would see it: raw, with JSON's and HTML's escapes undone."""
    raw = response.content.decode("utf-8", errors="replace")
    texts = [raw, html.unescape(raw)]
    if "json" in response.headers.get("Content-Type", ""):
        with contextlib.suppress(ValueError):
            texts.append(json.dumps(response.json(), ensure_ascii=False))
    return "\n".join(texts)


def found_secrets(text_: str, persona: Persona, may: frozenset[str]) -> set[str]:
    own = {persona.username, persona.display_name}
    return {what for secret, what in SECRETS.items() if secret in text_ and what not in may and secret not in own}


def send(world: World, entry: Entry, persona: Persona, case: Case) -> tuple[requests.Response, str]:
    """The request as the persona makes it (API: bearer token; pages: session cookie and CSRF token);
    returns the response and everything it showed, including the page a redirect led to."""
    path = path_of(entry.rule, case.params())
    kwargs = dict(entry.body or {})
    if entry.page:
        if persona.username is None:
            http, token = requests.Session(), ""
        else:
            http, token = world.pages[persona.key]
        if entry.method == "POST":
            kwargs = {"data": {**kwargs.get("data", {}), "csrf_token": token}}
        response = http.request(entry.method, f"{world.h.url}{path}", allow_redirects=False, timeout=30, **kwargs)
        shown = readable(response)
        if response.status_code in (301, 302, 303) and persona.username is not None:
            landing = http.get(f"{world.h.url}{response.headers['Location']}", allow_redirects=False, timeout=30)
            shown += "\n" + readable(landing)
        return response, shown
    api = world.h.anonymous if persona.username is None else world.api(persona.key)
    response = api.request(entry.method, path, **kwargs)
    return response, readable(response)


def listed_id(entry: Entry, case: Case) -> str:
    return {"instance": case.instance_id, "task": case.task_id, "timer": case.timer_id}[entry.lists or ""]


# --- the module's service -------------------------------------------------------------------------


def signed_in_session(h: Harness, username: str) -> tuple[requests.Session, str]:
    """A browser-like session signed in through the form, with its CSRF token."""
    http = requests.Session()
    page = http.get(f"{h.url}/logga-in", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]  # type: ignore[index]
    answer = http.post(f"{h.url}/logga-in", data={"username": username, "password": DEFAULT_PASSWORD,
                                                  "csrf_token": token}, timeout=30)
    assert answer.status_code == 200 and "/logga-in" not in answer.url, answer.url  # signed in: off to work
    return http, re.search(r'name="csrf-token" content="([^"]+)"', answer.text)[1]  # type: ignore[index]


@pytest.fixture(scope="module")
def world(module_database_url: str) -> Iterator[World]:
    """One service per database kind: the organisations, the personas, a case at every stage."""
    h = start_harness(module_database_url)
    try:
        h.deploy_dir(FIXTURES / "bpmn", FIXTURES / "forms")
        for key, kind, name in ORGANISATIONS:
            add_organisation(h.services, key, kind=kind, name=name)
        w = World(h)
        for p in PERSONAS.values():
            if p.username is None:
                continue
            create_user(h.services, p.username, roles=list(p.roles), districts=list(p.districts),
                        password=DEFAULT_PASSWORD, display_name=p.display_name, organisation=p.organisation)
            w.apis[p.key] = h.login(p.username)
            w.pages[p.key] = signed_in_session(h, p.username)
        for stage in STAGES:
            w.cases[stage] = w.walk(stage)
        yield w
    finally:
        h.server.stop()


# --- the tests ------------------------------------------------------------------------------------


def test_every_route_is_in_the_matrix_or_shows_no_case(world: World) -> None:
    rules = {(method, rule.rule) for rule in world.h.server.app.url_map.iter_rules()
             for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})}
    missing = sorted(rules - set(ENTRIES) - SHOWS_NO_CASE)
    assert not missing, f"routes without an entry in the access matrix (or in SHOWS_NO_CASE): {missing}"
    stale = sorted((set(ENTRIES) | SHOWS_NO_CASE) - rules)
    assert not stale, f"entries for routes that do not exist: {stale}"
    wrongly_exempt = sorted(r for r in SHOWS_NO_CASE if any(p in r[1] for p in CASE_PARAMETERS))
    assert not wrongly_exempt, f"a route that names a case, task or timer needs a matrix entry: {wrongly_exempt}"


# nobody signed in gets the same at every stage: asked once
CELLS = [(stage, persona) for stage in STAGES for persona in PERSONAS if persona != "anonym" or stage == ORDER[0]]


@pytest.mark.parametrize(("stage", "persona"), CELLS, ids=[f"{s}-{p}" for s, p in CELLS])
def test_access_matrix(world: World, stage: str, persona: str) -> None:
    """Every route as one persona, on the case at one stage: status, listing, and no planted value."""
    s, p = STAGES[stage], PERSONAS[persona]
    problems = []
    for entry in MATRIX:
        cell = _signed_out(entry.page, entry.method) if p.username is None else entry.expect(s, p)
        may = allowed(p) | (entry.reveals(p) if entry.reveals else frozenset())
        status, listed = cell.status, cell.listed
        case = world.walk(stage) if cell.fresh else world.cases[stage]
        response, shown = send(world, entry, p, case)
        if response.status_code != status:
            problems.append(f"{entry.name}: {response.status_code}, expected {status}: {response.text[:200]!r}")
        leaked = found_secrets(shown, p, may)
        if leaked:
            problems.append(f"{entry.name} ({response.status_code}) shows {sorted(leaked)}")
        if case is not world.cases[stage]:
            world.close(case)
        if listed is not None and response.status_code == 200:
            shows_it = listed_id(entry, case) in response.text
            if shows_it != listed:
                problems.append(f"{entry.name}: the stage's {entry.lists} is {'' if shows_it else 'not '}listed")
    assert not problems, f"{stage}, as {persona} ({p.username}):\n  " + "\n  ".join(problems)


def _data(world: World, persona: str, stage: str) -> dict[str, Any]:
    case = world.cases[stage]
    return world.api(persona).ok("GET", f"/api/v1/instances/{case.instance_id}")["data"]  # type: ignore[no-any-return]


def test_each_organisation_sees_only_its_projection(world: World) -> None:
    """What of the completed case each reader gets: the authority all of it, a provider its own form, the
    region its own form and what the hand-over disclosed, EKU only what the authority wrote into its form."""
    whole = _data(world, "handlaggare", "avslutad")
    assert whole["personnummer"] == PERSONNUMMER and whole["avvikelse"] == DEVIATION_TEXT
    assert _data(world, "chef", "avslutad") == whole
    assert _data(world, "utforare", "avslutad") == {"utfort": "ja", "avvikelse": DEVIATION_TEXT}
    # the hand-over's form (vardbehov, klient_namn) and the region's own form (vardplan) — no personnummer
    assert _data(world, "region", "avslutad") == {"klient_namn": CLIENT, "vardbehov": CARE_NEED,
                                                  "vardplan": "upprattad"}
    # EKU's form declares kvalitet (written by the authority in "bedom") and avvikelse, which only the
    # provider wrote: a value planted by an earlier completer never reaches EKU
    assert _data(world, "eku", "avslutad") == {"kvalitet": "god"}
    eku_task = world.api("eku").ok("GET", f"/api/v1/tasks/{world.cases['avslutad'].task_id}")
    assert eku_task["data"] == {"kvalitet": "god"} and eku_task["case_ref"] is None
    # admin: de-identified, closed values only; break-glass gives the whole case, and says so on it
    operator = _data(world, "admin", "avslutad")
    assert not {"personnummer", "klient_namn", "bedomning", "avvikelse", "vardbehov", "handlaggare"} & set(operator)
    assert operator["insats"] == "hemtjanst" and operator["utforare"] == "omsorg_a"
    case = world.cases["avslutad"]
    glass = world.api("admin").ok("POST", f"/api/v1/instances/{case.instance_id}/break-glass", json=BREAK_GLASS)
    assert glass["data"] == whole and glass["case_ref"].startswith(CASE_REF)
    history = world.api("handlaggare").ok("GET", f"/api/v1/instances/{case.instance_id}")["history"]
    assert any(e["action"] == "break_glass" and e["actor"] == "adam.drift" for e in history)


@pytest.mark.parametrize(("persona", "task", "fields"), [
    ("utforare", "utfor", {"utfort", "avvikelse"}),  # its own form
    ("region", "vardkontakt", {"vardplan", "vardkontakt_notering", "vardbehov", "klient_namn"}),  # + hand-over's
    ("eku", "eku_uppfoljning", {"kvalitet"}),  # only what the authority wrote through a form declaring it
])
def test_a_task_done_earlier_reads_as_projected(world: World, persona: str, task: str, fields: set[str]) -> None:
    """Outside the authority, the task one completed earlier, after the case closed: its data is projected
    (own form, what was disclosed to one's kind), and neither API nor page shows another planted value."""
    p, case = PERSONAS[persona], world.cases["avslutad"]
    task_id = case.tasks[task]
    body = world.api(persona).ok("GET", f"/api/v1/tasks/{task_id}")
    assert set(body["data"]) <= fields and body["case_ref"] is None
    http, _token = world.pages[persona]
    page = http.get(f"{world.h.url}/uppgifter/{task_id}", allow_redirects=False, timeout=30)
    assert page.status_code == 200
    for response in (page, world.api(persona).get(f"/api/v1/tasks/{task_id}")):
        leaked = found_secrets(readable(response), p, allowed(p))
        assert not leaked, (response.url, leaked)


def test_the_region_sees_the_case_only_after_the_hand_over(world: World) -> None:
    """Consent to the region is recorded in the first step; still the region sees nothing until the
    hand-over task (disclosureTo: region) has been completed and its task is offered to the region."""
    region = world.api("region")
    for stage in ("startad", "utforare"):
        case = world.cases[stage]
        assert region.get(f"/api/v1/instances/{case.instance_id}").status_code == 404
        assert case.instance_id not in region.get("/api/v1/instances").text
    after = world.cases["region"]
    assert region.ok("GET", f"/api/v1/instances/{after.instance_id}")["data"] == {
        "klient_namn": CLIENT, "vardbehov": CARE_NEED}


def test_a_message_from_a_role_the_catching_event_does_not_name_is_refused(world: World) -> None:
    case = world.walk("vantar")
    send_ = {"name": "avslutat", "data": {"datum": "2026-12-01"}}
    for who in ("chef", "admin", "utforare", "region", "eku"):  # they all see the case
        refused = world.api(who).post(f"/api/v1/instances/{case.instance_id}/messages", json=send_)
        assert refused.status_code == 403, (who, refused.text)
    for who in ("kollega", "konkurrent", "forvaltning"):  # they do not
        assert world.api(who).post(f"/api/v1/instances/{case.instance_id}/messages", json=send_).status_code == 404
    sara = world.api("handlaggare")
    planted = sara.post(f"/api/v1/instances/{case.instance_id}/messages",
                        json={"name": "avslutat", "data": {"datum": "2026-12-01", "namn": CLIENT}})
    assert planted.status_code == 422 and "namn" in planted.json()["errors"]
    assert sara.ok("GET", f"/api/v1/instances/{case.instance_id}")["state"] == "waiting"
    sara.ok("POST", f"/api/v1/instances/{case.instance_id}/messages", json=send_)
    assert sara.ok("GET", f"/api/v1/instances/{case.instance_id}")["state"] == "completed"


def test_the_event_log_refuses_update_and_delete_in_the_database(world: World) -> None:
    """Append-only in the database itself (migration 0004's triggers), not only in the API."""
    engine = world.h.services.db.engine
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*), min(actor) FROM event")).one()
    assert before[0] > 0
    for statement in ("UPDATE event SET actor = 'x'", "DELETE FROM event", "UPDATE event SET detail = NULL"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        after = conn.execute(text("SELECT count(*), min(actor) FROM event")).one()
    assert after[0] >= before[0] and after[1] == before[1]


def test_every_read_is_in_the_audit_log(world: World) -> None:
    """Single reads, lists, the inbox, exports, pages and API alike, and admin's reads: each a case_read
    (or break_glass) event that the auditor sees."""
    case = world.walk("region")
    iid, tid = case.instance_id, case.task_id
    api_reads = [("handlaggare", f"/api/v1/instances/{iid}"), ("region", f"/api/v1/tasks/{tid}"),
                 ("utforare", "/api/v1/instances"), ("region", "/api/v1/tasks"), ("admin", f"/api/v1/instances/{iid}")]
    for who, path in api_reads:
        world.api(who).ok("GET", path)
    page_reads = [("chef", f"/arenden/{iid}"), ("region", f"/uppgifter/{tid}"), ("kollega", "/arenden"),
                  ("region", "/inkorg"), ("chef", f"/oversikt/{PROCESS}/arenden.csv"), ("admin", "/arenden")]
    for who, path in page_reads:
        http, _token = world.pages[who]
        assert http.get(f"{world.h.url}{path}", allow_redirects=False, timeout=30).status_code == 200, (who, path)
    world.api("admin").ok("POST", f"/api/v1/instances/{iid}/break-glass", json=BREAK_GLASS)

    log = world.api("revisor").ok("GET", "/api/v1/audit", params={"instance": iid, "per_page": 500})["items"]
    reads = {(e["actor"], e["detail"].get("via")) for e in log if e["action"] == "case_read"}
    wanted = {("sara.berg", "instance"), ("rut.vard", "task"), ("ulla.lind", "list"), ("rut.vard", "inbox"),
              ("adam.drift", "instance"), ("clara.chef", "instance"), ("clara.chef", "export"),
              ("adam.drift", "list")}
    assert wanted <= reads, sorted(wanted - reads)
    assert ("sune.ek", "list") not in reads  # the list did not show him this case: nothing read
    [glass] = [e for e in log if e["action"] == "break_glass"]
    assert glass["actor"] == "adam.drift" and glass["detail"]["reason"] == BREAK_GLASS["reason"]
    # the auditor reads the log, not the case
    assert world.api("revisor").get(f"/api/v1/instances/{iid}").status_code == 404
