"""One access test over every route of API.md × kind of caller (STYLE.md item 8, after Indico's access_test).

Each row of ``ROUTES`` is a route of API.md with the status every kind of caller gets: anonymous
(401), a case worker of the starting lane, a lane member of the task's lane, the same role in another
district, staff of a role without a lane in the routine, EKU, a chef in and outside the district,
the auditor, the admin and the process owner. The routine is the core test diagram
(tests/fixtures/bpmn/core_demo.bpmn); requests carry valid bodies, so a status says who may, not
what was wrong with the request. Routes that change something get a fresh instance of their own.

Need to know (``shared/DESIGN.md``, "Access to case data"): a lane role is no reason to see a case.
The case is seen by its starter, whoever holds, held or is offered one of its tasks, the district's
chef and (de-identified) admin; a task by whoever may act on it, its district's chef and whoever
completed it; everyone else gets 404. The per-organisation, per-stage matrix over every route and
page, with planted personal values, is ``tests/test_access_matrix.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import (
    DEFAULT_PASSWORD,
    FIXTURES,
    Api,
    Harness,
    start_harness,
)
from .test_lifecycle import START
from .test_openapi import api_md_routes, shape

# kind of caller -> (username, roles, districts); None: no credentials at all
KINDS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]] | None] = {
    "anonymous": None,
    "starter": ("sara", ("socialsekreterare",), ("Nordost",)),  # starts the instances; granska is hers
    "lane_member": ("mona", ("mottag",), ("Nordost",)),  # the Mottag lane, where the escalated task waits
    "other_district": ("mats", ("mottag",), ("Hisingen",)),  # the same lane, another stadsområde
    "wrong_role": ("bo", ("bistandshandlaggare",), ("Nordost",)),  # case worker without a lane in the routine
    "eku": ("eva", ("eku",), ()),
    "chef": ("clara", ("chef",), ("Nordost",)),
    "chef_other_district": ("carl", ("chef",), ("Hisingen",)),
    "auditor": ("alva", ("auditor",), ()),
    "admin": ("adam", ("admin",), ()),
    "processagare": ("paula", ("processagare",), ()),
}
SUBSTITUTE = ("moa", ("mottag",), ("Nordost",))  # whom tasks are handed to
CORE_BPMN = (FIXTURES / "bpmn" / "core_demo.bpmn").read_bytes()


def expect(default: int, *, anonymous: int = 401, **kinds: int) -> dict[str, int]:
    """The status per kind of caller: ``default`` unless named."""
    statuses = {kind: default for kind in KINDS} | {"anonymous": anonymous}
    unknown = set(kinds) - set(KINDS)
    assert not unknown, unknown
    return statuses | kinds


OPEN = expect(200, anonymous=200)
SIGNED_IN = expect(200)
# the starter, the district's chef, admin (de-identified); the Mottag lane has no task in these cases
VISIBLE_INSTANCE = expect(404, starter=200, chef=200, admin=200)
MANAGERS = expect(403, chef=200, admin=200, chef_other_district=404)
# the task "eskalera" waits in Mottag Nordost: offered to the lane member, managed by the chef
ESCALATED_TASK = expect(404, lane_member=200, chef=403)
CLAIMED_TASK = expect(404, lane_member=200, chef=200)  # the holder and the chef release or hand it over


@dataclass
class World:
    """The running service, a user per kind, and instances in the states the routes need."""

    harness: Harness
    instance_id: str = ""
    task_id: str = ""

    def as_(self, kind: str) -> Api:
        user = KINDS[kind]
        return self.harness.anonymous if user is None else self.harness.as_(user[0])

    # -- instances in the states the routes act on (each call makes a fresh one) --
    def running(self) -> str:
        body = {"process": "core_demo", "data": START, "case_ref": "2026-SOC-0042"}
        return str(self.as_("starter").ok("POST", "/api/v1/instances", 201, json=body)["id"])

    def timer(self, instance_id: str) -> str:
        [timer] = self.as_("admin").ok("GET", "/api/v1/timers", params={"instance": instance_id})["items"]
        return str(timer["id"])

    def escalated(self) -> str:
        """A running instance whose hour has passed: the task ``eskalera`` waits, unclaimed, in Mottag Nordost."""
        instance_id = self.running()
        self.as_("admin").ok("POST", f"/api/v1/timers/{self.timer(instance_id)}/fire")
        [task] = self.as_("lane_member").ok("GET", "/api/v1/tasks", params={"instance": instance_id})["items"]
        assert task["name"] == "eskalera" and task["assignee"] is None
        return str(task["id"])

    def claimed(self) -> str:
        task_id = self.escalated()
        self.as_("lane_member").ok("POST", f"/api/v1/tasks/{task_id}/claim")
        return task_id

    def waiting(self) -> str:
        """An approved instance waiting for the message ``klart``."""
        instance_id = self.running()
        [task] = self.as_("starter").ok("GET", "/api/v1/tasks", params={"instance": instance_id})["items"]
        self.as_("starter").ok("POST", f"/api/v1/tasks/{task['id']}/complete", json={"data": {"beslut": "godkant"}})
        return instance_id

    def suspended(self) -> str:
        instance_id = self.running()
        self.as_("chef").ok("POST", f"/api/v1/instances/{instance_id}/suspend", json={"reason": "Utreds"})
        return instance_id

    def params(self, target: str) -> dict[str, str]:
        """Path parameters for a route: shared read targets, or a fresh instance/task/timer."""
        makers: dict[str, Callable[[], dict[str, str]]] = {
            "none": dict,
            "key": lambda: {"key": "core_demo"},
            "instance": lambda: {"id": self.instance_id},
            "task": lambda: {"id": self.task_id},
            "running": lambda: {"id": self.running()},
            "waiting": lambda: {"id": self.waiting()},
            "suspended": lambda: {"id": self.suspended()},
            "escalated": lambda: {"id": self.escalated()},
            "claimed": lambda: {"id": self.claimed()},
            "timer": lambda: {"id": self.timer(self.running())},
        }
        return makers[target]()


def _token_body(kind: str) -> dict[str, Any]:
    user = KINDS[kind] or KINDS["starter"]
    assert user is not None
    return {"json": {"username": user[0], "password": DEFAULT_PASSWORD}}


def _json(body: dict[str, Any]) -> Callable[[str], dict[str, Any]]:
    return lambda _kind: {"json": body}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as API.md writes it
    target: str  # what the path parameters point at (World.params)
    expected: dict[str, int]
    body: Callable[[str], dict[str, Any]] | None = None


REASON = _json({"reason": "Brukaren är inlagd på sjukhus"})
ROUTES = [
    Route("POST", "/api/v1/auth/token", "none", OPEN, _token_body),
    Route("GET", "/api/v1/me", "none", SIGNED_IN),
    Route("GET", "/api/v1/organisations", "none", SIGNED_IN),
    Route("GET", "/api/v1/users", "none", SIGNED_IN),
    Route("GET", "/api/v1/processes", "none", SIGNED_IN),
    Route("GET", "/api/v1/processes/{key}", "key", SIGNED_IN),
    Route("GET", "/api/v1/processes/{key}/bpmn", "key", SIGNED_IN),
    Route("POST", "/api/v1/processes", "none", expect(403, processagare=201, admin=201),
          lambda _kind: {"files": [("files", ("core_demo.bpmn", CORE_BPMN))]}),
    Route("POST", "/api/v1/instances", "none", expect(403, starter=201, admin=201),
          _json({"process": "core_demo", "data": START, "case_ref": "2026-SOC-0042"})),
    Route("GET", "/api/v1/instances", "none", SIGNED_IN),
    Route("GET", "/api/v1/instances/{id}", "instance", VISIBLE_INSTANCE),
    Route("POST", "/api/v1/instances/{id}/break-glass", "instance", expect(403, admin=200),
          _json({"reason": "Felanmälan: kontroll av ärendets data"})),
    # messageRoles of "vanta_klart": socialsekreterare, chef; admin sees the case but may not send
    Route("POST", "/api/v1/instances/{id}/messages", "waiting", expect(404, starter=200, chef=200, admin=403),
          _json({"name": "klart", "data": {"datum": "2026-12-01"}})),
    Route("POST", "/api/v1/instances/{id}/suspend", "running", MANAGERS, REASON),
    Route("POST", "/api/v1/instances/{id}/resume", "suspended", MANAGERS, REASON),
    Route("POST", "/api/v1/instances/{id}/terminate", "running", MANAGERS, REASON),
    Route("GET", "/api/v1/tasks", "none", SIGNED_IN),
    Route("GET", "/api/v1/tasks/{id}", "task", expect(404, lane_member=200, chef=200)),
    Route("POST", "/api/v1/tasks/{id}/claim", "escalated", ESCALATED_TASK),
    Route("POST", "/api/v1/tasks/{id}/unclaim", "claimed", CLAIMED_TASK),
    Route("POST", "/api/v1/tasks/{id}/assign", "claimed", CLAIMED_TASK,
          _json({"username": SUBSTITUTE[0], "reason": "Semester"})),
    Route("POST", "/api/v1/tasks/{id}/complete", "escalated", ESCALATED_TASK,
          _json({"data": {"atgard": "Ringt brukaren"}})),
    Route("GET", "/api/v1/timers", "none", expect(403, chef=200, chef_other_district=200, admin=200)),
    Route("POST", "/api/v1/timers/{id}/fire", "timer", expect(403, admin=200)),
    Route("GET", "/api/v1/audit", "none", expect(403, auditor=200, admin=200)),
    Route("GET", "/api/v1/stats", "none", expect(403, chef=200, chef_other_district=200, admin=200)),
    Route("GET", "/api/v1/openapi.json", "none", OPEN),
    Route("GET", "/healthz", "none", OPEN),
    # no scrape token configured here: nobody reads the metrics (tests/test_metrics.py has the token cases)
    Route("GET", "/metrics", "none", expect(404, anonymous=404)),
]
#: Routes of the table that API.md does not list yet.
NOT_IN_API_MD = {("POST", "/api/v1/instances/{}/break-glass")}
CASES = [(route, kind) for route in ROUTES for kind in KINDS]


@pytest.fixture(scope="module")
def world(module_database_url: str) -> Iterator[World]:
    """One service per database kind for the whole table: users, the routine, one instance to read."""
    url = module_database_url
    h = start_harness(url)
    try:
        h.deploy_dir(FIXTURES / "bpmn", FIXTURES / "forms")
        for user in [*filter(None, KINDS.values()), SUBSTITUTE]:
            username, roles, districts = user
            h.user(username, *roles, districts=districts)
        w = World(h)
        w.instance_id = w.running()
        w.task_id = w.escalated()
        yield w
    finally:
        h.server.stop()


def test_the_table_covers_every_route_of_api_md() -> None:
    documented = {(method, shape(path)) for method, path, _, _ in api_md_routes()}
    table = {(route.method, shape(route.path)) for route in ROUTES}
    assert documented <= table, f"routes of API.md without a row: {sorted(documented - table)}"
    assert table - documented <= NOT_IN_API_MD, f"rows for routes API.md lacks: {sorted(table - documented)}"


@pytest.mark.parametrize(("route", "kind"), CASES, ids=[f"{r.method} {r.path} as {k}" for r, k in CASES])
def test_access(world: World, route: Route, kind: str) -> None:
    path = route.path.format(**world.params(route.target))
    response = world.as_(kind).request(route.method, path, **(route.body(kind) if route.body else {}))
    expected = route.expected[kind]
    who = KINDS[kind][0] if KINDS[kind] else "nobody"  # type: ignore[index]
    assert response.status_code == expected, (
        f"{route.method} {route.path} as {kind} ({who}): {response.status_code}, expected {expected}: "
        f"{response.text[:300]}")
    if expected >= 400:
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == expected
