"""The ``samverkan`` command (API.md, CLI table), run as a real subprocess against a SQLite file:
exit codes, what goes to stdout (for scripts) and stderr (for people), and that what it writes is
what the service then reads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, inspect, select

from service.clock import SYSTEM_CLOCK
from service.config import ROOT
from service.demo import DEMO_MEMBERSHIP, DEMO_ORGANISATIONS, DEMO_USERS, PROVIDER_ROUTINES
from service.models import User
from service.operations.users import create_user
from service.roles import ROLES
from service.services import Services

from .conftest import FIXTURES, Harness, make_config, start_harness
from .test_lifecycle import START

MAIN_KEYS = sorted(p.stem for p in (ROOT / "bpmn").glob("*.bpmn") if "__" not in p.stem)
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,}$")


def samverkan(url: str, *args: str, stdin: str | None = None,
              cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``samverkan ARGS`` as a new process with only the database configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMVERKAN_")}
    env.update(SAMVERKAN_DATABASE_URL=url, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                                                  env.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "service.cli", *args], input=stdin, capture_output=True,
                          text=True, env=env, cwd=cwd or ROOT, timeout=180, check=False)


def _services(url: str) -> Services:
    return Services.create(make_config(url))


def _usernames(url: str) -> list[str]:
    services = _services(url)
    try:
        with services.db.read() as session:
            return sorted(session.scalars(select(User.username)))
    finally:
        services.close()


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ny.sqlite3'}"
    # the operator creates the database on a new machine
    result = samverkan(url, "db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stderr and result.stdout == ""
    tables = set(inspect(create_engine(url)).get_table_names())
    assert {"process_definition", "process_instance", "human_task", "timer", "event", "user_account"} <= tables
    # and running it again is harmless
    assert samverkan(url, "db", "upgrade", cwd=tmp_path).returncode == 0


def test_users_add_reads_the_password_from_stdin(sqlite_url: str) -> None:
    password = "hemligt-lösen-1"
    result = samverkan(sqlite_url, "users", "add", "nisse", "--role", "socialsekreterare", "--district", "Nordost",
                       "--password-stdin", stdin=password + "\n")
    assert result.returncode == 0, result.stderr
    assert password not in result.stdout + result.stderr
    # the new user signs in to the service with that password and has the role and district given
    h = start_harness(sqlite_url)
    try:
        me = h.login("nisse", password).ok("GET", "/api/v1/me")
        assert me["roles"] == ["socialsekreterare"] and me["districts"] == ["Nordost"]
        wrong = h.anonymous.post("/api/v1/auth/token", json={"username": "nisse", "password": password + "x"})
        assert wrong.status_code == 401
    finally:
        h.server.stop()


def test_users_add_refuses_an_unknown_role(sqlite_url: str) -> None:
    result = samverkan(sqlite_url, "users", "add", "rut", "--role", "rektor", "--password-stdin",
                       stdin="hemligt-lösen-1\n")
    assert result.returncode == 1
    assert "unknown role(s): rektor" in result.stderr and result.stdout == ""
    assert "Traceback" not in result.stderr
    assert _usernames(sqlite_url) == []


def test_token_create_prints_only_the_token(sqlite_url: str) -> None:
    services = _services(sqlite_url)
    create_user(services, "skript", roles=["chef"], districts=["Nordost"])
    services.close()
    # a script takes the token from stdout as it is
    result = samverkan(sqlite_url, "token", "create", "skript")
    assert result.returncode == 0, result.stderr
    token = result.stdout.removesuffix("\n")
    assert TOKEN.match(token), repr(result.stdout)
    h = start_harness(sqlite_url)
    try:
        response = h.anonymous.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200 and response.json()["username"] == "skript"
    finally:
        h.server.stop()
    # a token for nobody: an error, and nothing on stdout a script could mistake for a token
    missing = samverkan(sqlite_url, "token", "create", "ingen")
    assert missing.returncode == 1 and missing.stdout == "" and "no such user" in missing.stderr


def test_deploy_prints_each_routine_and_version(sqlite_url: str) -> None:
    result = samverkan(sqlite_url, "deploy")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{key} version 1" for key in MAIN_KEYS]
    assert {"skyddsombudsstopp", "akut_verkstallighet", "utokat_stod_14_dagar", "klagomal_privat_utforare",
            "sip"} <= set(MAIN_KEYS)


def test_deploy_of_a_broken_file_lists_the_problems(sqlite_url: str, tmp_path: Path) -> None:
    broken = (FIXTURES / "bpmn" / "core_demo.bpmn").read_text(encoding="utf-8").replace(
        '<bpmn:lane id="lane_mottag" name="Mottag">', '<bpmn:lane id="lane_mottag" name="Okänd lane">')
    (tmp_path / "trasig.bpmn").write_text(broken, encoding="utf-8")
    result = samverkan(sqlite_url, "deploy", str(tmp_path / "trasig.bpmn"))
    assert result.returncode == 1
    assert result.stdout == ""  # nothing was deployed
    assert "trasig.bpmn [eskalera]: lane 'Okänd lane' maps to no role" in result.stderr
    assert "form file 'granska.schema.json' is missing" in result.stderr  # every problem, not just the first
    assert "Traceback" not in result.stderr


def test_timers_run_due_fires_what_is_due_and_prints_the_count(sqlite_url: str) -> None:
    h = start_harness(sqlite_url)
    try:
        h.deploy_dir(FIXTURES / "bpmn", FIXTURES / "forms")
        h.user("sara", "socialsekreterare")
        mona = h.user("mona", "mottag")
        # the case was started two hours ago: its one-hour timer is overdue
        SYSTEM_CLOCK.set(datetime.now(UTC) - timedelta(hours=2))
        h.as_("sara").ok("POST", "/api/v1/instances", 201, json={"process": "core_demo", "data": START})
        SYSTEM_CLOCK.reset()
        assert mona.ok("GET", "/api/v1/tasks")["items"] == []
        # cron runs the command: the timer fires once, and the escalation reaches Mottag
        first = samverkan(sqlite_url, "timers", "run-due")
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == "fired 1 timer(s)"
        assert [t["name"] for t in mona.ok("GET", "/api/v1/tasks")["items"]] == ["eskalera"]
        again = samverkan(sqlite_url, "timers", "run-due")
        assert again.returncode == 0 and again.stdout.strip() == "fired 0 timer(s)"
    finally:
        h.server.stop()


def _demo_organisations_work_apart(h: Harness) -> None:
    """The demo's organisations (issue 7): the authority, two or more provider companies for every routine
    with a provider's side, the region, another förvaltning and EKU — each with people, who see their own."""
    kinds = {o["key"]: o["kind"] for o in h.login("sara.socsek", "samverkan").ok(
        "GET", "/api/v1/organisations", params={"per_page": 500})["items"]}
    assert kinds == {"myndighet": "myndighet", **{k: kind for k, (kind, _, _) in DEMO_ORGANISATIONS.items()}}
    assert {"region", "annan_forvaltning", "eku"} <= set(kinds.values())
    for routine in PROVIDER_ROUTINES:
        companies = {k for k, (kind, _, works_in) in DEMO_ORGANISATIONS.items()
                     if kind == "utforare" and routine in works_in}
        staffed = companies & set(DEMO_MEMBERSHIP.values())
        assert len(staffed) >= 2, f"{routine}: fewer than two provider companies with people"
    assert set(DEMO_MEMBERSHIP.values()) >= set(DEMO_ORGANISATIONS), "an organisation without people"
    me = h.login("anna.enhetschef", "samverkan").ok("GET", "/api/v1/me")
    assert (me["display_name"], me["organisation"]) == ("Anna Lind", "nordost_omsorg")
    assert h.login("sara.socsek", "samverkan").ok("GET", "/api/v1/me")["organisation"] == "myndighet"
    # two competing companies in the same district each see their own cases, never the other's
    anna = {i["id"] for i in h.as_("anna.enhetschef").ok("GET", "/api/v1/instances")["items"]}
    lars = {i["id"] for i in h.login("lars.enhetschef", "samverkan").ok("GET", "/api/v1/instances")["items"]}
    assert anna and lars and not anna & lars
    ulf = {i["id"] for i in h.login("ulf.utforare", "samverkan").ok("GET", "/api/v1/instances")["items"]}
    tina = {i["id"] for i in h.login("tina.utforare", "samverkan").ok("GET", "/api/v1/instances")["items"]}
    assert not ulf & tina and not ulf & lars and not tina & anna


def _user_lines(stdout: str) -> dict[str, set[str]]:
    """The demo's user list: username -> roles (lines ``  user  roles  [districts]  (organisation)``)."""
    users = {}
    for line in stdout.splitlines():
        match = re.match(r"^  ([a-z0-9._-]+)\s+([a-z_, ]+?)(?:  \[[^\]]*\])?(?:  \(.+\))?$", line)
        if match:
            users[match.group(1)] = {r.strip() for r in match.group(2).split(",")}
    return users


def test_demo_makes_one_user_per_role_and_can_run_twice(sqlite_url: str) -> None:
    first = samverkan(sqlite_url, "demo")
    assert first.returncode == 0, first.stderr
    users = _user_lines(first.stdout)
    assert set(users) == set(DEMO_USERS)
    assert set().union(*users.values()) == ROLES, "a role without a demo user"
    assert "password: samverkan" in first.stdout
    for key in MAIN_KEYS:
        assert f"Deployed {key} version 1" in first.stdout
        assert re.search(rf"^Started [1-9][0-9]* demo instance\(s\) of {key}$", first.stdout, re.M), key
    assert "not deployed" not in first.stdout and "failed" not in first.stdout
    # the demo users sign in with the printed password
    h = start_harness(sqlite_url)
    try:
        assert h.login("paula.processagare", "samverkan").ok("GET", "/api/v1/me")["roles"] == ["processagare"]
        instances_before = h.login("adam.admin", "samverkan").ok("GET", "/api/v1/instances")["total"]
        _demo_organisations_work_apart(h)
    finally:
        h.server.stop()
    # again on the same database: nothing new, nothing broken
    second = samverkan(sqlite_url, "demo")
    assert second.returncode == 0, second.stderr
    assert _user_lines(second.stdout) == users
    assert _usernames(sqlite_url) == sorted(DEMO_USERS)
    h = start_harness(sqlite_url)
    try:
        assert h.login("adam.admin", "samverkan").ok("GET", "/api/v1/instances")["total"] == instances_before
    finally:
        h.server.stop()
