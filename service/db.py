"""Engines, sessions and the transaction rule for commands.

Reads use ordinary sessions. Commands use ``Database.command()``: one transaction that takes the
write lock up front — ``BEGIN IMMEDIATE`` on SQLite (one writer at a time; others wait up to the
busy timeout) and ``SELECT … FOR UPDATE`` on the instance row on PostgreSQL (see
``lock_instance``). The same code serves both.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from .models import HumanTask, ProcessInstance
from .models.core_writes import write_changes
from .models.definition import VERSIONS, DeployedVersions

SQLITE_BUSY_TIMEOUT_MS = 30_000
PROBE_WAIT_MS = 250  # how long the health check's write waits for a lock another command holds


def _busy(err: OperationalError) -> bool:
    """The write lock is held by another command (SQLite ``locked``, PostgreSQL ``lock_timeout``)."""
    text = str(err.orig)
    return "database is locked" in text or "lock timeout" in text


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                                  "check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, decide when transactions begin (so commands can BEGIN IMMEDIATE).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        immediate = conn.get_execution_options().get("samverkan_write", False)
        # on the driver's connection: this runs for every transaction, and a statement through
        # SQLAlchemy costs several times what SQLite takes to begin one
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")


_INSTANCE_OF_TASK = select(ProcessInstance).where(ProcessInstance.id == select(HumanTask.instance_id).where(
    HumanTask.id == bindparam("task_id")).scalar_subquery())  # built once (see lock_instance_of_task)
_INSTANCE_OF_TASK_FOR_UPDATE = _INSTANCE_OF_TASK.with_for_update(of=ProcessInstance)


class WriterQueue:
    """The lock this process's writers take in turn: short appends first, then commands, each kind in
    the order it asked.

    A read's audit row (``Database.append``) takes a fraction of a millisecond under the lock; a
    command runs the engine under it. Queued behind every waiting command, an inbox request under
    four completing clients waited ~30 ms (p50) for its row; let ahead of them, it waits only for the
    command that holds the lock, and the commands wait one short append longer. At most
    ``APPENDS_AHEAD`` appends in a row pass a waiting command, so a flood of reads never stalls the
    writes. Python's own locks grant in no order at all. Reentrant, as a command may run inside
    another on the same thread.
    """

    APPENDS_AHEAD = 8

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._appends: deque[tuple[int, threading.Lock]] = deque()
        self._commands: deque[tuple[int, threading.Lock]] = deque()
        self._ahead = 0  # appends granted in a row while a command waited

    def acquire(self, timeout: float, *, append: bool = False) -> bool:
        """Wait for this thread's turn, at most ``timeout`` seconds; False if it did not come."""
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me or (self._owner is None and not self._appends and not self._commands):
                self._owner = me
                self._depth += 1
                return True
            turn = (me, threading.Lock())
            turn[1].acquire()
            queue = self._appends if append else self._commands
            queue.append(turn)
        if turn[1].acquire(timeout=timeout):
            return True  # ``release`` made this thread the owner before waking it
        with self._mutex:
            if turn in queue:
                queue.remove(turn)
                return False
            return True  # handed over between the timeout and here

    def release(self) -> None:
        with self._mutex:
            self._depth -= 1
            if self._depth:
                return
            turn = self._next()
            if turn is None:
                self._owner = None
                return
            self._owner, gate = turn
            self._depth = 1
            gate.release()

    def _next(self) -> tuple[int, threading.Lock] | None:
        """Whose turn it is: an append, unless ``APPENDS_AHEAD`` have passed the waiting command."""
        if self._appends and (not self._commands or self._ahead < self.APPENDS_AHEAD):
            self._ahead = self._ahead + 1 if self._commands else 0
            return self._appends.popleft()
        self._ahead = 0
        return self._commands.popleft() if self._commands else None


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.versions = DeployedVersions(self.engine)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._reads = sessionmaker(self.engine, expire_on_commit=False, info={VERSIONS: self.versions})
        self._write_engine = self.engine.execution_options(samverkan_write=True)
        self._writes = sessionmaker(self._write_engine, expire_on_commit=False, info={VERSIONS: self.versions})
        self._writer = WriterQueue()  # this process's writers, in turn (SQLite; see ``command``)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reads() as session:
            yield session

    @contextmanager
    def command(self) -> Iterator[Session]:
        """One transaction holding the write lock; commits on success, rolls back on any error.

        On SQLite the threads of this process also queue for the lock here, in Python: SQLite's own
        busy handler polls with sleeps of up to 100 ms, so a writer that waits on it wakes long after
        the lock is free; a thread waiting here starts the moment the one before it commits. Other
        processes (``serve --workers N``) still meet at SQLite's lock. A wait here is bounded by the
        busy timeout; past it the command goes on to meet SQLite's lock (and its error) as before.
        """
        with self._turn(), self._writes() as session, session.begin():
            yield session
            write_changes(session)  # new and changed rows as plain INSERTs and UPDATEs (models/core_writes.py)

    @contextmanager
    def append(self) -> Iterator[Connection]:
        """A Core transaction under the same write lock as ``command``, for rows that need no ORM
        (the read log: one ``INSERT``, no session, no unit of work); commits on success."""
        with self._turn(append=True), self._write_engine.begin() as conn:
            yield conn

    @contextmanager
    def _turn(self, *, append: bool = False) -> Iterator[None]:
        """This process's writers, one at a time on SQLite (see ``command``); nothing on PostgreSQL."""
        if not self.is_sqlite:
            yield
            return
        queued = self._writer.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, append=append)
        try:
            yield
        finally:
            if queued:
                self._writer.release()

    def lock_instance(self, session: Session, instance_id: str) -> ProcessInstance | None:
        """Load an instance for a command; on PostgreSQL the row stays locked until commit."""
        query = select(ProcessInstance).where(ProcessInstance.id == instance_id)
        if not self.is_sqlite:
            query = query.with_for_update(of=ProcessInstance)
        return session.scalars(query).unique().one_or_none()

    def lock_instance_of_task(self, session: Session, task_id: str) -> ProcessInstance | None:
        """The instance a task belongs to, loaded and locked as ``lock_instance`` does, in one statement."""
        query = _INSTANCE_OF_TASK if self.is_sqlite else _INSTANCE_OF_TASK_FOR_UPDATE
        return session.scalars(query, {"task_id": task_id}).unique().one_or_none()

    def now(self) -> datetime:
        """The database's clock (UTC): the one clock every node shares, for deciding what is due.

        On PostgreSQL the server's ``clock_timestamp()``; on SQLite (one host) the host's clock,
        read by SQLite itself, so a service clock offset never moves it.
        """
        with self.engine.connect() as conn:
            if self.is_sqlite:
                value = conn.exec_driver_sql("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')").scalar()
                return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
            moment = conn.exec_driver_sql("SELECT clock_timestamp()").scalar()
            assert isinstance(moment, datetime)  # psycopg gives an aware datetime
            return moment.astimezone(UTC)

    def check_write(self) -> bool:
        """Commit a write that changes nothing (``alembic_version`` set to itself) through the whole
        write path — lock, WAL, commit — so a full disk or a read-only database raises here.

        Returns False without waiting when another command holds the write lock (the write path is
        in use, which is no failure); the health check must answer at once even then.
        """
        engine = self.engine.execution_options(samverkan_write=True)
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None  # a checked-out connection has its driver connection
            if self.is_sqlite:
                raw.execute(f"PRAGMA busy_timeout={PROBE_WAIT_MS}")
            try:
                with conn.begin():
                    if not self.is_sqlite:
                        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{PROBE_WAIT_MS}ms'")
                    conn.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
                return True
            except OperationalError as err:
                if _busy(err):
                    return False
                raise
            finally:
                if self.is_sqlite:
                    raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")

    def dispose(self) -> None:
        self.engine.dispose()
