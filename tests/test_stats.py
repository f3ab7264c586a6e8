"""Statistics have one scope (``service.stats``): a chef counts the cases of their districts and the
cases without a district, the admin counts all, and ``GET /api/v1/stats`` and the monitor pages
(``/oversikt``) show the same numbers. Everything here goes through the real HTTP API and pages.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
import requests

from service.clock import SYSTEM_CLOCK

from .conftest import Harness
from .web.test_pages_http import signed_in_session

CORE = {"arende": "Stopp i hemtjänst", "handlaggare": "sara", "stadsomrade": "Centrum"}
STATES = ("running", "waiting", "suspended", "error", "completed", "terminated")


def minutes(n: float) -> Any:
    """``n`` minutes in seconds, give or take the real time the requests took (the clock moves on)."""
    return pytest.approx(n * 60, abs=30)


def _start(h: Harness, who: str, process: str, data: dict[str, Any]) -> str:
    body = {"process": process, "data": data, "case_ref": "2026-SOC-0001"}
    return str(h.as_(who).ok("POST", "/api/v1/instances", 201, json=body)["id"])


def _approve(h: Harness, who: str, instance_id: str) -> None:
    [task] = h.as_(who).ok("GET", "/api/v1/tasks", params={"instance": instance_id})["items"]
    assert task["name"] == "granska"
    h.as_(who).ok("POST", f"/api/v1/tasks/{task['id']}/complete", json={"data": {"beslut": "godkant"}})


def _world(h: Harness) -> dict[str, str]:
    """Two Centrum cases (one approved after 30 min), two Hisingen cases (one approved after 45 min),
    one case without a district; at 61 minutes the two unapproved reviews are overdue."""
    h.user("sara", "socialsekreterare", districts=("Centrum",))
    h.user("hugo", "socialsekreterare", districts=("Hisingen",))
    h.user("clara", "chef", districts=("Centrum",))
    h.user("carl", "chef", districts=("Hisingen",))
    h.user("adam", "admin", districts=())
    ids = {"centrum_a": _start(h, "sara", "core_demo", CORE),
           "centrum_b": _start(h, "sara", "core_demo", CORE),
           "hisingen_a": _start(h, "hugo", "core_demo", {**CORE, "handlaggare": "hugo", "stadsomrade": "Hisingen"}),
           "hisingen_b": _start(h, "hugo", "core_demo", {**CORE, "handlaggare": "hugo", "stadsomrade": "Hisingen"}),
           "no_district": _start(h, "sara", "loop_demo", {"varv": 0})}
    SYSTEM_CLOCK.advance(minutes=30)
    _approve(h, "sara", ids["centrum_a"])
    SYSTEM_CLOCK.advance(minutes=15)
    _approve(h, "hugo", ids["hisingen_a"])
    SYSTEM_CLOCK.advance(minutes=16)  # no scheduler runs in tests: the boundary timers stay pending
    return ids


def _by_process(h: Harness, who: str) -> dict[str, dict[str, Any]]:
    return {p["process"]: p for p in h.as_(who).ok("GET", "/api/v1/stats")["processes"]}


def _cells(page: str, attribute: str) -> dict[str, int]:
    return {name: int(value) for name, value in re.findall(rf'<td {attribute}="(\w+)"[^>]*>(\d+)</td>', page)}


def _overview_rows(http: requests.Session, h: Harness) -> dict[str, dict[str, int]]:
    page = http.get(f"{h.url}/oversikt")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-routine="(\w+)">(.*?)</tr>', page.text, re.S)
    return {key: {**_cells(row, "data-state"), **_cells(row, "data-count")} for key, row in rows}


def _table(page: str, testid: str) -> list[list[str]]:
    [body] = re.findall(rf'data-testid="{testid}">.*?<tbody>(.*?)</tbody>', page, re.S)
    return [[html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_a_chef_counts_their_districts_and_cases_without_one_the_admin_all(harness: Harness) -> None:
    h = harness
    _world(h)
    clara, carl, admin = _by_process(h, "clara"), _by_process(h, "carl"), _by_process(h, "adam")
    # the Centrum chef: not the Hisingen cases, in no number
    assert {**clara["core_demo"], "steps": None} == {
        "process": "core_demo", "instances": {"running": 1, "waiting": 1}, "open_tasks": 1, "overdue_tasks": 1,
        "open_tasks_by_lane": {"Socialsekreterare": 1}, "steps": None}
    assert clara["core_demo"]["steps"] == [{"task": "granska", "count": 1, "median_seconds": minutes(30),
                                            "p90_seconds": minutes(30)}]
    # a case without a district counts for every chef, as for the admin
    for stats in (clara, carl, admin):
        assert stats["loop_demo"]["instances"] == {"running": 1}
        assert (stats["loop_demo"]["open_tasks"], stats["loop_demo"]["overdue_tasks"]) == (1, 0)
    assert carl["core_demo"]["instances"] == {"running": 1, "waiting": 1}
    assert carl["core_demo"]["steps"] == [{"task": "granska", "count": 1, "median_seconds": minutes(45),
                                           "p90_seconds": minutes(45)}]
    # the admin (operations) counts every case
    assert admin["core_demo"]["instances"] == {"running": 2, "waiting": 2}
    assert (admin["core_demo"]["open_tasks"], admin["core_demo"]["overdue_tasks"]) == (2, 2)
    [granska] = admin["core_demo"]["steps"]
    assert (granska["count"], granska["median_seconds"], granska["p90_seconds"]) == (2, minutes(37.5), minutes(45))


def test_the_monitor_shows_the_numbers_of_the_api(harness: Harness) -> None:
    h = harness
    ids = _world(h)
    for who, districts in (("clara", 1), ("adam", 2)):
        api = _by_process(h, who)
        http, _ = signed_in_session(h, who)
        rows = _overview_rows(http, h)
        assert set(api) <= set(rows)
        for key, row in rows.items():
            stats = api.get(key, {"instances": {}, "open_tasks": 0, "overdue_tasks": 0})
            assert {s: row[s] for s in STATES} == {s: stats["instances"].get(s, 0) for s in STATES}, (who, key)
            assert (row["open"], row["overdue"]) == (stats["open_tasks"], stats["overdue_tasks"]), (who, key)
        assert rows["core_demo"]["running"] == rows["core_demo"]["waiting"] == districts

        page = http.get(f"{h.url}/oversikt/core_demo").text
        core = api["core_demo"]
        states = {name: int(count) for name, count in _cells(page, "data-state").items()}
        assert states == {s: core["instances"].get(s, 0) for s in STATES}
        assert _table(page, "lane-table") == [[lane, str(n), str(core["overdue_tasks"])]
                                              for lane, n in core["open_tasks_by_lane"].items()]
        [step] = core["steps"]
        with h.server.app.test_request_context():  # durations as the page words them ("30 min")
            from service.web.layout import duration

            words = [duration(step["median_seconds"] / 3600), duration(step["p90_seconds"] / 3600)]
        assert _table(page, "steps-table") == [["Granska ärendet", str(step["count"]), *words]]
        assert _table(page, "waiting-table")[0][:3] == ["Granska ärendet", str(core["open_tasks"]),
                                                      str(core["overdue_tasks"])]
        # the heat overlay on the diagram carries the same count
        assert f"{core['open_tasks']} väntar" in html.unescape(page)

        # the CSV exports list the cases and tasks behind the numbers
        cases = http.get(f"{h.url}/oversikt/core_demo/arenden.csv").content.decode("utf-8-sig").splitlines()[1:]
        assert len(cases) == sum(core["instances"].values())
        assert any(ids["hisingen_a"] in line for line in cases) == (who == "adam")
        tasks = http.get(f"{h.url}/oversikt/core_demo/uppgifter.csv").content.decode("utf-8-sig").splitlines()[1:]
        assert len(tasks) == core["open_tasks"]
        assert any(ids["hisingen_b"] in line for line in tasks) == (who == "adam")


def test_who_may_see_statistics_is_what_the_document_says(harness: Harness) -> None:
    h = harness
    h.user("sara", "socialsekreterare", districts=("Centrum",))
    h.user("clara", "chef", districts=("Centrum",))
    h.user("adam", "admin", districts=())
    document = h.anonymous.ok("GET", "/api/v1/openapi.json")
    assert document["paths"]["/api/v1/stats"]["get"]["description"] == "Roles: chef, admin."
    for who in ("clara", "adam"):
        assert h.as_(who).get("/api/v1/stats").status_code == 200
    assert h.as_("sara").get("/api/v1/stats").status_code == 403
    http, _ = signed_in_session(h, "sara")
    assert http.get(f"{h.url}/oversikt").status_code == 403
