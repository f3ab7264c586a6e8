"""``samverkan backup`` and ``samverkan restore``: a consistent copy of the database, and back.

SQLite: the backup is SQLite's online backup API in one step, which copies one snapshot (one read
transaction) while the service keeps writing in WAL mode. Every command acknowledged before the
backup began is in it, and a command is all there or absent, as commands are transactions. The copy
is written beside the target under a temporary name, checked (``PRAGMA integrity_check``) and
renamed into place, so a PATH never holds half a backup.

Restore refuses a database the service has open — any other connection keeps SQLite from leaving WAL
mode, which is the test — and a database holding data unless told to overwrite it (``force``).

PostgreSQL: use the server's own tools (``pg_dump``/``pg_restore``, see ``POSTGRES_HOWTO``); these
commands refuse and say so rather than half-do it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

# Tables whose rows mean a database is in use: people, deployed routines, cases.
DATA_TABLES = ("user_account", "process_definition", "process_instance")
POSTGRES_HOWTO = """\
PostgreSQL is backed up with its own tools, which take a consistent snapshot while the service runs:
  pg_dump --format=custom --file=samverkan.dump "$SAMVERKAN_DATABASE_URL"
and restored, with every Samverkan node stopped, into an empty database:
  pg_restore --no-owner --exit-on-error --dbname="$SAMVERKAN_DATABASE_URL" samverkan.dump
  samverkan db upgrade
(For point-in-time recovery use the server's WAL archiving; see the README, "Backups".)"""


class BackupRefused(Exception):
    """A backup or restore that would not be safe or cannot be done here; nothing was changed."""


def sqlite_file(database_url: str) -> Path:
    """The file of a SQLite URL; refuses PostgreSQL (with how to do it) and in-memory databases."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        raise BackupRefused("this is a PostgreSQL database; samverkan backup/restore handle SQLite only.\n"
                            + POSTGRES_HOWTO)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise BackupRefused(f"cannot back up or restore {url.render_as_string(hide_password=True)}")
    return Path(url.database)


def backup(database_url: str, target: Path) -> Path:
    """Copy the database to ``target`` (which must not exist yet) while the service runs."""
    source_file = sqlite_file(database_url)
    if not source_file.is_file():
        raise BackupRefused(f"there is no database at {source_file}")
    if target.exists():
        raise BackupRefused(f"{target} already exists; give a new file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        with contextlib.closing(sqlite3.connect(f"{source_file.as_uri()}?mode=ro", uri=True, timeout=30)) as src, \
                contextlib.closing(sqlite3.connect(partial)) as copy:
            src.backup(copy)  # all pages in one step: one snapshot of the database
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            _check(copy, partial)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def restore(source: Path, database_url: str, *, force: bool = False) -> Path:
    """Replace the database with the backup ``source``; the service must be stopped."""
    target_file = sqlite_file(database_url)
    if not source.is_file():
        raise BackupRefused(f"there is no backup at {source}")
    with contextlib.closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)) as backup_db:
        _check(backup_db, source)
        target_file.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(target_file, timeout=0)) as target:
            target.isolation_level = None
            _refuse_open(target, target_file)
            if not force and _holds_data(target):
                raise BackupRefused(f"{target_file} holds data; to replace it with the backup, "
                                    "stop the service and run restore with --force")
            backup_db.backup(target)
            target.execute("PRAGMA journal_mode=WAL")
            _check(target, target_file)
    return target_file


def _check(conn: sqlite3.Connection, name: Path) -> None:
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as err:
        raise BackupRefused(f"{name} is not a SQLite database: {err}") from err
    if not result or result[0] != "ok":
        raise BackupRefused(f"{name} is damaged: {result[0] if result else 'no answer'}")
    if "alembic_version" not in tables or not set(DATA_TABLES) <= tables:
        raise BackupRefused(f"{name} is not a Samverkan database")


def _refuse_open(target: sqlite3.Connection, name: Path) -> None:
    """SQLite leaves WAL mode only when no other connection has the database open."""
    try:
        mode = target.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
    except sqlite3.OperationalError as err:
        raise BackupRefused(f"{name} is in use (is the service running?): {err}; stop every process "
                            "using it first") from err
    if str(mode).lower() != "delete":
        raise BackupRefused(f"{name} is in use (is the service running?); stop every process using it first")


def _holds_data(target: sqlite3.Connection) -> bool:
    tables = {row[0] for row in target.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return any(target.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone()  # noqa: S608  (our table names)
               for table in DATA_TABLES if table in tables)
