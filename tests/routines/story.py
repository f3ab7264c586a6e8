"""What the routine stories share: a cast of people with real tokens, and the steps they take through the API.

The scenario tests in ``tests/routines/`` tell each routine as its users live it: every lane acts as its
own user against the running service (the ``harness`` of ``tests/conftest.py``), through the HTTP API as
API.md describes it, and only the clock is moved by hand. This module is the vocabulary those stories
have in common:

- :class:`Cast` creates the people as ``samverkan users add`` does and signs them in with API tokens as
  ``samverkan token create`` issues them, renewing a token when the story's clock has jumped past it;
- the step functions act as one user (an :class:`~tests.conftest.Api`): start an instance, look at the
  inbox, claim and complete a task, see a completion refused, read the instance, its history and timers,
  fire a timer, send a message.

What belongs to one routine — its process key, who starts it, the data its forms want, which admin fires
its timers — stays in that routine's test module, built on these pieces.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import requests

from service.clock import SYSTEM_CLOCK
from service.config import ROOT
from service.directory import add_organisation
from service.errors import Invalid
from service.operations.users import create_token, create_user
from tests.conftest import Api, Harness

#: Every district of the city: the people who work city-wide (conveners, EKU, Socialjouren) hold them all.
ALL_DISTRICTS = ("Centrum", "Hisingen", "Nordost", "Sydväst")

#: Tokens live 12 hours (``token_lifetime_hours``); a person gets a new one an hour before the old one ends.
TOKEN_RENEWAL = timedelta(hours=11)

#: A routine's people: username → (roles, districts).
People = Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]

#: An instance as the API returned it (``{"id": …, …}``), or just its id.
Instance = Mapping[str, Any] | str

Task = Mapping[str, Any]


class Cast:
    """The people of a routine on a running service, each signed in with a real API token.

    People are created without a password and get their tokens issued directly, as ``samverkan token
    create`` does: hashing a password for each of a routine's many users would dominate the test time.
    A token lives 12 hours; when the story's clock has moved on by more than :data:`TOKEN_RENEWAL` since
    a token was issued (or back before it), :meth:`as_` gives the person a fresh one.

    A routine's cast subclasses this and sets :attr:`districts` to where its story happens; ``people``
    creates a whole table of people at once.
    """

    #: Where a person works unless :meth:`user` says otherwise.
    districts: tuple[str, ...] = ()

    def __init__(self, h: Harness, people: People | None = None) -> None:
        self.h = h
        self._apis: dict[str, tuple[Api, datetime]] = {}
        for username, (roles, districts) in (people or {}).items():
            self.user(username, *roles, districts=districts)

    def user(self, username: str, *roles: str, districts: tuple[str, ...] | None = None,
             organisation: str = "myndighet", display_name: str | None = None) -> Api:
        """Create ``username`` holding ``roles`` in ``districts`` (default: the cast's), of ``organisation``
        (default: the authority), and sign them in."""
        create_user(self.h.services, username, roles=list(roles),
                    districts=list(self.districts if districts is None else districts),
                    organisation=organisation, display_name=display_name)
        self.sign_in(username)
        return self._apis[username][0]

    def organisation(self, key: str, kind: str, name: str | None = None) -> str:
        """Register an organisation (a provider company, the region, another förvaltning); returns its key."""
        add_organisation(self.h.services, key, kind=kind, name=name or key)
        return key

    def sign_in(self, *usernames: str) -> None:
        """Issue new tokens to ``usernames``, now (as the story's clock says)."""
        for username in usernames:
            self._apis[username] = (Api(self.h.url, create_token(self.h.services, username)), SYSTEM_CLOCK.now())

    def as_(self, username: str) -> Api:
        """``username``'s API client, with a token that is valid at the story's present moment."""
        api, issued_at = self._apis[username]
        if not timedelta(0) <= SYSTEM_CLOCK.now() - issued_at < TOKEN_RENEWAL:
            self.sign_in(username)
            api, _ = self._apis[username]
        return api

    def __getitem__(self, username: str) -> Api:
        """``cast["sara.soc"]`` is ``cast.as_("sara.soc")``."""
        return self.as_(username)


def deploy_routines(h: Harness, key: str) -> None:
    """Deploy the real routines of the tree (``bpmn/``, ``forms/``); the routine ``key`` must be among them.

    Another routine of the tree may be broken — that is its own tests' business — so a story that needs
    only its own routine accepts a deployment that stopped at someone else's diagram.
    """
    try:
        keys = {d.key for d in h.deploy_dir(ROOT / "bpmn", ROOT / "forms")}
    except Invalid as err:
        keys = {entry.split(":")[0] for entry in err.extra.get("deployed", [])}
    assert key in keys


def _id(instance: Instance) -> str:
    return instance if isinstance(instance, str) else str(instance["id"])


# --- starting and reading an instance ----------------------------------------------------------------

def start_instance(api: Api, process: str, data: Mapping[str, Any], case_ref: str | None = None) -> dict[str, Any]:
    """Start ``process`` with the start form ``data`` (201); returns the new instance."""
    body: dict[str, Any] = api.ok("POST", "/api/v1/instances", 201,
                                  json={"process": process, "data": data, "case_ref": case_ref})
    return body


def read(api: Api, instance: Instance) -> dict[str, Any]:
    """The instance as the caller may see it: state, outcome, data, tasks, timers and history."""
    body: dict[str, Any] = api.ok("GET", f"/api/v1/instances/{_id(instance)}")
    return body


def history(api: Api, instance: Instance, action: str) -> list[dict[str, Any]]:
    """The events ``action`` (``task_assigned``, ``task_delegated``, …) in the instance history, in order."""
    return [e for e in read(api, instance)["history"] if e["action"] == action]


def message(api: Api, instance: Instance, name: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Send the message ``name`` with ``data`` to the instance; returns the instance after it."""
    body: dict[str, Any] = api.ok("POST", f"/api/v1/instances/{_id(instance)}/messages",
                                  json={"name": name, "data": data})
    return body


# --- the inbox ---------------------------------------------------------------------------------------

def inbox(api: Api, name: str | None = None, **params: str) -> list[dict[str, Any]]:
    """The caller's open tasks (``GET /api/v1/tasks`` with ``params`` as its filters), only those named
    ``name`` when it is given."""
    items: list[dict[str, Any]] = api.ok("GET", "/api/v1/tasks", params=params)["items"]
    return [t for t in items if name is None or t["name"] == name]


def tasks(api: Api, instance: Instance) -> list[dict[str, Any]]:
    """The caller's open tasks of this instance (their inbox, narrowed to the case)."""
    return inbox(api, instance=_id(instance))


def names(api: Api, instance: Instance) -> list[str]:
    """The names of the caller's open tasks of this instance, sorted."""
    return sorted(t["name"] for t in tasks(api, instance))


def only(api: Api, name: str, **params: str) -> dict[str, Any]:
    """The one open task ``name`` in the caller's inbox (filtered by ``params``); fails unless exactly one."""
    found = inbox(api, name, **params)
    assert len(found) == 1, f"expected one {name}, inbox has {[t['name'] for t in inbox(api, **params)]}"
    return found[0]


def the_task(api: Api, instance: Instance, name: str) -> dict[str, Any]:
    """The caller's one open task ``name`` of this instance."""
    return only(api, name, instance=_id(instance))


def task_detail(api: Api, task: Task) -> dict[str, Any]:
    """The task with its form and the case data it shows (a read of the case)."""
    body: dict[str, Any] = api.ok("GET", f"/api/v1/tasks/{task['id']}")
    return body


# --- acting on a task --------------------------------------------------------------------------------

def submit(api: Api, task: Task, data: Mapping[str, Any]) -> dict[str, Any]:
    """Complete the task with the form ``data`` as it stands (no claim first); returns the completion
    (``instance``, ``next_tasks``)."""
    body: dict[str, Any] = api.ok("POST", f"/api/v1/tasks/{task['id']}/complete", json={"data": data})
    return body


def complete(api: Api, task: Task, data: Mapping[str, Any]) -> dict[str, Any]:
    """Claim the task when it is the lane's (unassigned), then complete it with the form."""
    if task["assignee"] is None:
        api.ok("POST", f"/api/v1/tasks/{task['id']}/claim")
    return submit(api, task, data)


def do(api: Api, instance: Instance, name: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The caller completes their one open task ``name`` of this instance (claiming it when unassigned)."""
    return complete(api, the_task(api, instance, name), data)


def refused(api: Api, task: Task, data: Mapping[str, Any], **params: str) -> requests.Response:
    """Completing the task with ``data`` is refused with 422 and the task stays open.

    The task must still be in the caller's inbox filtered by ``params`` (as the routine's own inbox is);
    returns the response, whose body is the problem with its ``errors`` per field.
    """
    response = api.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": data})
    assert response.status_code == 422, response.text
    assert task["id"] in {t["id"] for t in inbox(api, task["name"], **params)}
    return response


# --- timers ------------------------------------------------------------------------------------------

def timers(api: Api, instance: Instance, name: str | None = None) -> list[dict[str, Any]]:
    """The instance's pending timers (an admin's view), only those of the BPMN element ``name`` if given."""
    items: list[dict[str, Any]] = api.ok("GET", "/api/v1/timers", params={"instance": _id(instance)})["items"]
    return [t for t in items if name is None or t["task"] == name]


def fire(api: Api, timer: Mapping[str, Any]) -> dict[str, Any]:
    """The monitoring console (an admin) fires the timer now; it must fire."""
    fired: dict[str, Any] = api.ok("POST", f"/api/v1/timers/{timer['id']}/fire")
    assert fired["fired"] is True, fired
    return fired
