"""Fixtures: a real database (SQLite file, and PostgreSQL when configured), a real HTTP server.

``SAMVERKAN_TEST_POSTGRES_URL`` (e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``) turns the
PostgreSQL variants on; each test module gets a database of its own. In CI (``CI=true``) a missing
URL is an error, not a skip: the PostgreSQL tests must run there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from service.app import create_app
from service.clock import SYSTEM_CLOCK
from service.config import ROOT, Config
from service.migrate import upgrade
from service.services import Services

from .smtp import mailbox, smtp_port  # noqa: F401  (fixtures: a real SMTP server for any test that asks)

FIXTURES = Path(__file__).parent / "fixtures"
PG_URL = os.environ.get("SAMVERKAN_TEST_POSTGRES_URL")
DEFAULT_PASSWORD = "test-password-1"
#: How often a test server's loop looks for a stop request. socketserver's default (0.5 s) made every
#: stop wait half a second on average, for every test that starts a server: most of the suite.
SERVER_POLL_S = 0.02


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI") == "true" and not PG_URL:
        raise pytest.UsageError("CI=true but SAMVERKAN_TEST_POSTGRES_URL is not set: PostgreSQL tests must run")


def _create_pg_database(template: str | None = None) -> tuple[str, str]:
    """A new, empty PostgreSQL database (or a copy of ``template``): its URL and name."""
    import psycopg
    from sqlalchemy.engine import make_url

    assert PG_URL is not None
    name = f"samverkan_test_{uuid.uuid4().hex[:10]}"
    base = make_url(PG_URL)
    with psycopg.connect(base.set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return base.set(database=name).render_as_string(hide_password=False), name


def _drop_pg_database(name: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    assert PG_URL is not None
    base = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _Templates:
    """One database of each kind migrated to head per test process (per xdist worker), which every
    fresh database is copied from: a file copy (SQLite) or ``CREATE DATABASE … TEMPLATE`` (PostgreSQL)
    gives the same schema and rows as running every migration again, in a fraction of the time.
    ``tests/test_migration.py`` still runs the migrations themselves, step by step."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.pg_name: str | None = None

    def sqlite(self) -> Path:
        if self.folder is None:
            folder = Path(tempfile.mkdtemp(prefix="samverkan-template-"))
            upgrade(f"sqlite:///{folder / 'template.sqlite3'}")  # the engine is disposed: WAL checkpointed
            self.folder = folder
        return self.folder / "template.sqlite3"

    def postgresql(self) -> str:
        if self.pg_name is None:
            url, name = _create_pg_database()
            try:
                upgrade(url)  # its connections are closed after: a template must have none
            except BaseException:
                _drop_pg_database(name)
                raise
            self.pg_name = name
        return self.pg_name

    def drop(self) -> None:
        if self.pg_name is not None:
            _drop_pg_database(self.pg_name)
            self.pg_name = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


TEMPLATES = _Templates()


def pytest_sessionfinish(session: pytest.Session) -> None:
    TEMPLATES.drop()


def migrated_sqlite(path: Path) -> str:
    """The URL of a new SQLite database at ``path``, migrated to head (a copy of the template)."""
    shutil.copyfile(TEMPLATES.sqlite(), path)
    return f"sqlite:///{path}"


@contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[str]:
    """A new, migrated database of ``kind`` (sqlite: a file in ``folder``), dropped afterwards."""
    if kind == "sqlite":
        yield migrated_sqlite(folder / "samverkan.sqlite3")
        return
    if not PG_URL:
        pytest.skip("SAMVERKAN_TEST_POSTGRES_URL not set")
    url, name = _create_pg_database(template=TEMPLATES.postgresql())
    try:
        yield url
    finally:
        _drop_pg_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of each kind for one test."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated database of each kind shared by one test module (for costly set-ups)."""
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return migrated_sqlite(tmp_path / "samverkan.sqlite3")


def make_config(url: str, **overrides: Any) -> Config:
    values: dict[str, Any] = {"database_url": url, "bpmn_dir": FIXTURES / "bpmn", "forms_dir": FIXTURES / "forms",
                              "lanes_file": ROOT / "bpmn" / "lanes.json", "testing": True,
                              "secret_key": "test-secret",
                              # real hashing, cheap parameters: the suite creates hundreds of users
                              "password_hash_method": "pbkdf2:sha256:1000"}
    values.update(overrides)
    return Config(**values)


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    SYSTEM_CLOCK.reset()
    yield
    SYSTEM_CLOCK.reset()


class LiveServer:
    """The real app on a real socket, in a thread of the test process (so tests can move the clock)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.app = create_app(services.config, services)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": SERVER_POLL_S},
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.services.close()


class Api:
    """A thin HTTP client speaking the API as one user."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, f"{self.base}{path}", timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=json, **kwargs)

    def ok(self, method: str, path: str, expected: int = 200, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        assert response.status_code == expected, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()


class Harness:
    """A running service plus helpers to create users and act as them."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.services = server.services
        self.url = server.url
        self.anonymous = Api(self.url)
        self._apis: dict[str, Api] = {}

    def user(self, username: str, *roles: str, districts: tuple[str, ...] = ("Nordost",),
             password: str = DEFAULT_PASSWORD, organisation: str = "myndighet", display_name: str | None = None) -> Api:
        from service.operations.users import create_user

        create_user(self.services, username, roles=list(roles), districts=list(districts), password=password,
                    organisation=organisation, display_name=display_name)
        return self.login(username, password)

    def login(self, username: str, password: str = DEFAULT_PASSWORD) -> Api:
        body = self.anonymous.ok("POST", "/api/v1/auth/token", json={"username": username, "password": password})
        api = Api(self.url, body["token"])
        self._apis[username] = api
        return api

    def as_(self, username: str) -> Api:
        return self._apis[username]

    def deploy_dir(self, bpmn_dir: Path, forms_dir: Path) -> list[Any]:
        from service.actor import SYSTEM
        from service.operations.deploy import deploy_tree

        return deploy_tree(self.services, SYSTEM, bpmn_dir, forms_dir)


def start_harness(url: str, **config: Any) -> Harness:
    services = Services.create(make_config(url, **config))
    return Harness(LiveServer(services))


@pytest.fixture
def harness(database_url: str) -> Iterator[Harness]:
    """The service on SQLite and on PostgreSQL, with the core test diagram deployed."""
    h = start_harness(database_url)
    h.deploy_dir(FIXTURES / "bpmn", FIXTURES / "forms")
    yield h
    h.server.stop()


@pytest.fixture
def sqlite_harness(sqlite_url: str) -> Iterator[Harness]:
    h = start_harness(sqlite_url)
    h.deploy_dir(FIXTURES / "bpmn", FIXTURES / "forms")
    yield h
    h.server.stop()
