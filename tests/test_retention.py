"""Retention (gallring), legal hold and archive export (issue 14, item 3), on the real server.

A closed case past its routine's retention loses every personal value — in every table, audit log
included — and keeps what the monitor counts; a held case, a case inside its period and a running
case are untouched; a dry run changes nothing; only chef and auditor place or lift a hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import MetaData, select, update
from sqlalchemy.exc import DBAPIError

from service import cli
from service.clock import SYSTEM_CLOCK
from service.models import Event
from service.operations.retention import parse_period, retention_rules, run_retention

from .conftest import FIXTURES, Harness, start_harness

RULES = json.dumps({"core_demo": "P30D"})


@pytest.fixture
def h(database_url: str) -> Iterator[Harness]:
    harness = start_harness(database_url, retention=RULES, token_lifetime_hours=24 * 365)
    harness.deploy_dir(FIXTURES / "bpmn", FIXTURES / "forms")
    yield harness
    harness.server.stop()


def _plant(n: int) -> tuple[str, str, str]:
    """A personnummer, a name and a case reference that appear in one case only."""
    return f"19{n:02d}1212-{n:04d}", f"Tolvan Tolvansson{n}", f"DNR-PLANT-{n:04d}"


def _start(h: Harness, n: int) -> str:
    pnr, name, ref = _plant(n)
    data = {"arende": f"{name} {pnr}", "handlaggare": "sara", "stadsomrade": "Nordost"}
    body = h.as_("sara").ok("POST", "/api/v1/instances", 201, json={"process": "core_demo", "data": data,
                                                                     "case_ref": ref})
    return str(body["id"])


def _reject(h: Harness, instance_id: str, n: int) -> None:
    """Close the case: the reviewer rejects it with a comment that names the person."""
    [task] = h.as_("sara").ok("GET", "/api/v1/tasks", params={"instance": instance_id})["items"]
    pnr, name, _ = _plant(n)
    h.as_("sara").ok("POST", f"/api/v1/tasks/{task['id']}/complete",
                     json={"data": {"beslut": "avvisat", "antal": 2, "kommentar": f"Ring {name}, {pnr}"}})


def _everything(h: Harness) -> str:
    """Every value of every row of every table, as text (the planted values must not hide anywhere)."""
    meta = MetaData()
    meta.reflect(h.services.db.engine)
    with h.services.db.engine.connect() as conn:
        return "\n".join(repr(tuple(row)) for table in meta.sorted_tables
                         for row in conn.execute(select(table)))


def _present(text: str, n: int) -> set[str]:
    return {value for value in _plant(n) if value in text}


def _core_stats(h: Harness) -> Any:
    [core] = [p for p in h.as_("kim").ok("GET", "/api/v1/stats")["processes"] if p["process"] == "core_demo"]
    return {"instances": core["instances"], "steps": core["steps"]}


def samverkan(h: Harness, monkeypatch: pytest.MonkeyPatch, *args: str, retention: str = RULES) -> Result:
    """``samverkan retention run ARGS`` in this process, on the harness's database and clock."""
    services = replace(h.services, config=h.services.config.with_(retention=retention))
    monkeypatch.setattr(cli, "_services", lambda: services)
    return CliRunner().invoke(cli.main, ["retention", "run", *args])


def test_gallring_strips_closed_cases_past_retention_and_nothing_else(h: Harness,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    h.user("sara", "socialsekreterare")
    h.user("kim", "chef")
    h.user("gun", "auditor", districts=())
    h.user("olle", "socialsekreterare", districts=("Centrum",))
    stripped, held, inside, running = 1, 2, 3, 4
    ids = {n: _start(h, n) for n in (stripped, held, inside, running)}
    for n in (stripped, held):
        _reject(h, ids[n], n)

    # the archive export before gallring: the case worker gets JSON and a readable page, logged
    export = h.as_("sara").ok("GET", f"/api/v1/instances/{ids[stripped]}/export")
    assert export["case"]["case_ref"] == _plant(stripped)[2] and export["routine"]
    assert any(_plant(stripped)[1] in str(answers) for answers in export["answers"].values())
    page = h.as_("sara").get(f"/api/v1/instances/{ids[stripped]}/export", params={"format": "html"})
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert _plant(stripped)[1] in page.text and "<h1>" in page.text
    reads = h.as_("gun").ok("GET", "/api/v1/audit", params={"instance": ids[stripped]})["items"]
    assert any(e["action"] == "case_read" and e["detail"].get("via") == "export" for e in reads)
    # people without a need to know get 404 and none of the case; a running case is no archive yet
    for who in ("olle", "gun"):
        refused = h.as_(who).get(f"/api/v1/instances/{ids[stripped]}/export")
        assert refused.status_code == 404 and not _present(refused.text, stripped)
    assert h.as_("sara").get(f"/api/v1/instances/{ids[running]}/export").status_code == 409

    # the chef holds one closed case; a case worker may not, a chef of another district does not see it
    hold = h.as_("kim").ok("POST", f"/api/v1/instances/{ids[held]}/legal-hold", json={"reason": "JO-anmälan"})
    assert hold == {"instance_id": ids[held], "held": True}
    # the auditor holds it too: it stays held, with both reasons in the log
    assert h.as_("gun").ok("POST", f"/api/v1/instances/{ids[held]}/legal-hold", json={"reason": "Revision"})["held"]
    assert h.as_("sara").post(f"/api/v1/instances/{ids[stripped]}/legal-hold",
                              json={"reason": "vill"}).status_code == 403
    h.user("kurt", "chef", districts=("Centrum",))
    assert h.as_("kurt").post(f"/api/v1/instances/{ids[stripped]}/legal-hold",
                              json={"reason": "vill"}).status_code == 404
    empty = h.as_("kim").post(f"/api/v1/instances/{ids[stripped]}/legal-hold", json={"reason": "  "})
    assert empty.status_code == 422 and "skäl" in empty.text
    refused_events = h.as_("gun").ok("GET", "/api/v1/audit", params={"instance": ids[stripped]})["items"]
    assert not [e for e in refused_events if e["action"].startswith("legal_hold")]
    # a hold placed and lifted on the first case: the reasons name the person, in the audit log
    name = _plant(stripped)[1]
    h.as_("kim").ok("POST", f"/api/v1/instances/{ids[stripped]}/legal-hold", json={"reason": f"Begäran av {name}"})
    h.as_("kim").ok("DELETE", f"/api/v1/instances/{ids[stripped]}/legal-hold", json={"reason": f"{name} nöjd"})

    # 20 days later a third case closes; 15 days after that the first two are past 30 days, it is not
    SYSTEM_CLOCK.advance(days=20)
    _reject(h, ids[inside], inside)
    SYSTEM_CLOCK.advance(days=15)
    stats_before = _core_stats(h)
    events_before = h.as_("gun").ok("GET", "/api/v1/audit", params={"instance": ids[stripped]})["items"]

    # a dry run reports and changes nothing
    before = _everything(h)
    dry = samverkan(h, monkeypatch, "--dry-run")
    assert dry.exit_code == 0 and dry.output.splitlines()[:2] == [
        "core_demo: would remove personal data from 1 case(s)",
        "core_demo: 1 case(s) past retention kept by a legal hold"]
    assert _everything(h) == before

    # the nightly run (the command does what the scheduler's daily batch does)
    done = samverkan(h, monkeypatch)
    assert done.exit_code == 0 and done.output.startswith("core_demo: removed personal data from 1 case(s)")
    after = _everything(h)
    assert _present(after, stripped) == set(), "a planted value survived gallring"
    for n in (held, inside, running):
        assert _present(after, n) == set(_plant(n)), n

    # the monitor's figures and the audit events remain, without personal values
    assert _core_stats(h) == stats_before
    events = h.as_("gun").ok("GET", "/api/v1/audit", params={"instance": ids[stripped]})["items"]
    assert [e["action"] for e in events][:len(events_before)] == [e["action"] for e in events_before]
    assert events[-1]["action"] == "gallrad"
    assert events[-1]["detail"]["counts"]["case_references"] == 2  # the case's and its task's
    stripped_case = h.as_("sara").ok("GET", f"/api/v1/instances/{ids[stripped]}")
    assert stripped_case["state"] == "completed" and stripped_case["case_ref"] is None
    assert stripped_case["data"] == {"beslut": "avvisat", "antal": 2, "stadsomrade": "Nordost"}
    assert run_retention(h.services).gallrade == {}  # once is enough
    _log_refuses_other_changes(h, ids[stripped], ids[running])

    # the auditor lifts the hold; the next run strips that case too
    lifted = h.as_("gun").request("DELETE", f"/api/v1/instances/{ids[held]}/legal-hold",
                                  json={"reason": "ärendet hos JO är avslutat"})
    assert lifted.status_code == 200 and lifted.json()["held"] is False
    assert dict(run_retention(h.services).gallrade) == {"core_demo": 1}
    after = _everything(h)
    assert _present(after, held) == set() and _present(after, running) == set(_plant(running))


def _log_refuses_other_changes(h: Harness, stripped_id: str, running_id: str) -> None:
    """The database still refuses every change to the log but gallring's one: no value changed, no
    event stripped twice, no other column touched."""
    table = Event.__table__
    with h.services.db.read() as session:
        done = session.scalars(select(Event).where(Event.instance_id == stripped_id,
                                                   Event.action == "legal_hold_placed")).one()
        untouched = session.scalars(select(Event).where(Event.instance_id == running_id)).first()
    assert done.detail == {"gallrad": ["reason"]} and untouched is not None
    for event_id, change in ((done.id, {"detail": {"gallrad": [], "reason": "ny"}}),
                             (untouched.id, {"detail": {**untouched.detail, "process": "annan", "gallrad": []}}),
                             (untouched.id, {"action": "annat"})):
        with pytest.raises(DBAPIError, match="append-only"), h.services.db.engine.begin() as conn:
            conn.execute(update(table).where(table.c.id == event_id).values(**change))


def test_periods(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    assert retention_rules(None)["*"] == "P5Y" and retention_rules('{"sip": "P18M"}')["sip"] == "P18M"
    assert parse_period("P2W").days == 14 and parse_period("P1Y6M").months == 18
    for bad in ("5 år", "P", "PT1H", 5):
        with pytest.raises(ValueError):
            retention_rules(json.dumps({"sip": bad}))
    # a bad setting stops the command with what is wrong and what is right, and changes nothing
    before = _everything(h)
    refused = samverkan(h, monkeypatch, retention='{"sip": "fem år"}')
    assert refused.exit_code == 1 and "P5Y" in refused.output
    assert samverkan(h, monkeypatch).output.strip() == "nothing past retention"
    assert _everything(h) == before
