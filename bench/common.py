"""What every benchmark shares: figures and their table, databases, users, and server processes."""

from __future__ import annotations

import math
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from service.actor import SYSTEM, Actor
from service.auth import actor_for
from service.config import ROOT, Config
from service.migrate import upgrade
from service.services import Services

BENCH_DIR = Path(__file__).resolve().parent
BPMN_DIR = BENCH_DIR / "bpmn"
FORMS_DIR = BENCH_DIR / "forms"
SECRET = "bench-secret-" + uuid.uuid4().hex
PG_URL = os.environ.get("SAMVERKAN_TEST_POSTGRES_URL")
_STARTED = time.perf_counter()


def log(message: str) -> None:
    """Progress on stderr, so the table on stdout stays clean."""
    print(f"[{time.perf_counter() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


# --- figures ---------------------------------------------------------------------------------------
@dataclass
class Figure:
    """One measured figure; ``raw`` is the raw engine's figure for the same work, ``ratio`` value/raw."""

    bench: str
    name: str
    value: float | None
    unit: str
    raw: float | None = None
    ratio: float | None = None
    target: str = ""
    text: str | None = None  # shown instead of the value (e.g. "0 of 2000", "timeout")


def sig3(value: float | None) -> str:
    """Three significant digits, without exponent notation (12345 → 12300, 0.001234 → 0.00123)."""
    if value is None:
        return "—"
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    digits = 3 - int(math.floor(math.log10(abs(value)))) - 1
    rounded = round(value, digits)
    if digits <= 0:
        return str(int(rounded))
    text = f"{rounded:.{digits}f}"
    return text


def ratio(value: float | None, raw: float | None) -> float | None:
    if value is None or raw is None or raw == 0:
        return None
    return value / raw


def table(figures: Sequence[Figure]) -> str:
    """The compact table printed at the end."""
    header = ("bench", "figure", "value", "unit", "raw engine", "ratio", "target")
    rows = [header]
    for f in figures:
        value = f.text if f.text is not None else sig3(f.value)
        raw = "—" if f.raw is None else f"{sig3(f.raw)} {f.unit}"
        rows.append((f.bench, f.name, value, f.unit, raw, "—" if f.ratio is None else f"{sig3(f.ratio)}×",
                     f.target))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    right = {2, 4, 5}
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0–100), linear between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * p / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ms(seconds: float) -> float:
    return seconds * 1000.0


# --- databases -------------------------------------------------------------------------------------
@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"samverkan-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'samverkan.sqlite3'}"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database on the server of ``SAMVERKAN_TEST_POSTGRES_URL``, dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    assert PG_URL is not None
    name = f"samverkan_bench_{uuid.uuid4().hex[:10]}"
    base = make_url(PG_URL)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stored_bytes(url: str) -> dict[str, int]:
    """Bytes each table and index of a SQLite file takes once packed (checkpoint + VACUUM): what is stored."""
    from contextlib import closing

    from sqlalchemy.engine import make_url

    with closing(sqlite3.connect(str(make_url(url).database))) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
        return {str(name): int(size) for name, size in rows}


def growth(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Bytes each table or index grew by, largest first."""
    grown = {name: after[name] - before.get(name, 0) for name in after}
    return dict(sorted(((n, b) for n, b in grown.items() if b), key=lambda item: -item[1]))


class StatementCounter:
    """Counts the SQL statements an engine executes (a SQLAlchemy event listener), for the hot path."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.count = 0
        self.engine = engine
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1

    def close(self) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._seen)


def rss_mb(pid: int) -> float | None:
    """A process's resident memory in MB (Linux), or None."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user + system) a process has used, in seconds (Linux), or None.

    Beside wall-clock rates: on a shared machine the wall clock carries other guests' load, while
    what the service itself spends per request stays put."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()  # after the command name, which may hold spaces
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def bench_config(url: str, **overrides: Any) -> Config:
    values: dict[str, Any] = {"database_url": url, "secret_key": SECRET, "bpmn_dir": BPMN_DIR,
                              "forms_dir": FORMS_DIR, "lanes_file": ROOT / "bpmn" / "lanes.json"}
    values.update(overrides)
    return Config(**values)


def prepare(url: str) -> Services:
    """Migrate the database, deploy the benchmark diagrams, and return in-process services on it."""
    from service.operations.deploy import deploy_tree

    upgrade(url)
    services = Services.create(bench_config(url))
    deploy_tree(services, SYSTEM, BPMN_DIR, FORMS_DIR)
    return services


def member(services: Services, username: str, roles: Sequence[str] = ("socialsekreterare",),
           districts: Sequence[str] = ("Nordost",)) -> tuple[Actor, str]:
    """A user created through the service's user operations, with an API token: (actor, token)."""
    from service.operations.users import create_token, create_user

    create_user(services, username, roles=list(roles), districts=list(districts))
    with services.db.read() as session:  # the actor reads the user's organisation: load it in a session
        from sqlalchemy import select

        from service.models import User

        actor = actor_for(session.scalars(select(User).where(User.username == username)).one())
    return actor, create_token(services, username)


# --- the service as a separate process ---------------------------------------------------------------
def in_threads(work: Sequence[Callable[[], None]]) -> float:
    """Run each callable in its own thread at once; the wall time, or the first error raised in one."""
    errors: list[BaseException] = []

    def guarded(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as err:  # reported after the threads join
            errors.append(err)

    threads = [threading.Thread(target=guarded, args=(job,)) for job in work]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    return wall


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _samverkan_command() -> list[str]:
    script = Path(sys.executable).parent / "samverkan"
    return [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]


class Server:
    """``samverkan serve`` on a free port, as a subprocess of the benchmark (its log in ``log_path``)."""

    def __init__(self, url: str, log_path: Path, *, scheduler: bool, node: str, threads: int | None = None,
                 workers: int = 1) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.node = node
        command = [*_samverkan_command(), "serve", "--port", str(self.port)]
        if threads is not None:
            command += ["--threads", str(threads)]
        if workers > 1:
            command += ["--workers", str(workers)]
        if not scheduler:
            command.append("--no-scheduler")
        env = {**os.environ, "SAMVERKAN_DATABASE_URL": url, "SAMVERKAN_SECRET_KEY": SECRET,
               "SAMVERKAN_BPMN_DIR": str(BPMN_DIR), "SAMVERKAN_FORMS_DIR": str(FORMS_DIR),
               "SAMVERKAN_NODE_NAME": node, "PYTHONUNBUFFERED": "1"}
        self._log = open(log_path, "wb")  # noqa: SIM115  # stays open for the server's lifetime
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env,  # noqa: S603  # our own CLI, fixed arguments
                                        cwd=ROOT)

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Block until ``/healthz`` answers; returns the seconds it took."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return time.perf_counter() - started
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the server did not answer /healthz within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()

    def __enter__(self) -> Server:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Client:
    """One HTTP client (its own ``requests.Session``) speaking the API with a bearer token."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, expected: int = 200, **kwargs: Any) -> Any:
        response = self.http.request(method, f"{self.base}{path}", timeout=120, **kwargs)
        if response.status_code != expected:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code} {response.text[:500]}")
        return response.json()

    def close(self) -> None:
        self.http.close()
