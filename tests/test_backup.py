"""``samverkan backup`` under load and ``samverkan restore``: the service goes on from the backup with
every completion acknowledged before it began, and its timers still due."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.backup import BackupRefused, backup, restore
from service.clock import SYSTEM_CLOCK
from service.migrate import upgrade
from service.models import HumanTask, TaskStatus
from service.operations.timers import fire_due_timers

from .conftest import FIXTURES, Harness, start_harness
from .test_cli import samverkan
from .test_lifecycle import START

UNREVIEWED = 5


def _wait_for(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def _completed(h: Harness) -> int:
    with h.services.db.read() as session:
        return session.scalar(select(func.count()).where(HumanTask.status == TaskStatus.COMPLETED)) or 0


def test_a_backup_taken_under_load_restores_and_the_service_goes_on(sqlite_url: str, tmp_path: Path) -> None:
    h = start_harness(sqlite_url)
    h.deploy_dir(FIXTURES / "bpmn", FIXTURES / "forms")
    sara = h.user("sara", "socialsekreterare")
    # cases nobody reviews: their one-hour timers must still be due after the restore
    waiting = [sara.ok("POST", "/api/v1/instances", 201, json={"process": "core_demo", "data": START})["id"]
               for _ in range(UNREVIEWED)]
    acknowledged: list[str] = []
    stop = threading.Event()

    def case_workers() -> None:  # start a case and complete its review, until told to stop
        while not stop.is_set():
            instance_id = sara.ok("POST", "/api/v1/instances", 201, json={"process": "core_demo", "data": START})["id"]
            [task] = sara.ok("GET", "/api/v1/tasks", params={"instance": instance_id})["items"]
            response = sara.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"beslut": "godkant"}})
            if response.status_code == 200:
                acknowledged.append(instance_id)

    writer = threading.Thread(target=case_workers)
    writer.start()
    backup_file = tmp_path / "backups" / "samverkan-natt.sqlite3"
    try:
        _wait_for(lambda: len(acknowledged) >= 3, "the first completions")
        # the operator's nightly backup, while case workers keep completing tasks
        before = list(acknowledged)
        result = samverkan(sqlite_url, "backup", str(backup_file))
        assert result.returncode == 0, result.stderr
        assert "backup written" in result.stderr and backup_file.is_file()
        _wait_for(lambda: len(acknowledged) >= len(before) + 2, "completions after it")
    finally:
        stop.set()
        writer.join()
    again = samverkan(sqlite_url, "backup", str(backup_file))
    assert again.returncode == 1 and "already exists" in again.stderr

    # restoring over the running service is refused and changes nothing
    completed = _completed(h)
    refused = samverkan(sqlite_url, "restore", str(backup_file), "--force")
    assert refused.returncode == 1 and "in use" in refused.stderr, refused.stderr
    assert _completed(h) == completed
    sara.ok("GET", "/api/v1/tasks")  # still serving
    h.server.stop()
    # stopped, but the database holds data: only with --force
    refused = samverkan(sqlite_url, "restore", str(backup_file))
    assert refused.returncode == 1 and "--force" in refused.stderr, refused.stderr
    result = samverkan(sqlite_url, "restore", str(backup_file), "--force")
    assert result.returncode == 0, result.stderr

    restored = start_harness(sqlite_url)
    try:
        _goes_on_from_the_backup(restored, waiting, before, len(acknowledged))
    finally:
        restored.server.stop()


def _goes_on_from_the_backup(h: Harness, waiting: list[str], before: list[str], acknowledged: int) -> None:
    sara = h.login("sara")  # her account came back with the backup
    # every completion acknowledged before the backup began is there; later ones may or may not be
    assert {i: sara.ok("GET", f"/api/v1/instances/{i}")["state"] for i in before} == dict.fromkeys(before, "waiting")
    # the two or more acknowledged after it had ended are not: this is the backup's database
    assert len(before) <= len(_completed_in(h)) <= acknowledged - 2
    # the unreviewed cases' timers are still due: nobody reviews, and the cases escalate to Mottag
    with h.services.db.read() as session:
        running = set(session.scalars(select(HumanTask.instance_id).where(HumanTask.status == TaskStatus.OPEN)))
    assert set(waiting) <= running
    SYSTEM_CLOCK.advance(hours=2)
    assert fire_due_timers(h.services) == len(running)
    mona = h.user("mona", "mottag")
    escalated = mona.ok("GET", "/api/v1/tasks", params={"per_page": 500})["items"]
    assert {t["instance_id"] for t in escalated} == running
    # and a case completed before the backup goes on to its end
    sara.ok("POST", f"/api/v1/instances/{before[0]}/messages", json={"name": "klart", "data": {}})
    assert sara.ok("GET", f"/api/v1/instances/{before[0]}")["state"] == "completed"


def _completed_in(h: Harness) -> list[str]:
    with h.services.db.read() as session:
        return list(session.scalars(select(HumanTask.instance_id).where(HumanTask.status == TaskStatus.COMPLETED)))


def test_restore_refuses_what_is_not_a_samverkan_backup(sqlite_url: str, tmp_path: Path) -> None:
    target = tmp_path / "ny" / "samverkan.sqlite3"
    url = f"sqlite:///{target}"
    text_file, other_db = tmp_path / "fel.sqlite3", tmp_path / "annan.sqlite3"
    text_file.write_bytes(b"inte en databas")
    with contextlib.closing(sqlite3.connect(other_db)) as conn:
        conn.execute("CREATE TABLE kund (namn TEXT)")
    for bad, message in ((text_file, "not a SQLite database"), (other_db, "not a Samverkan database"),
                         (tmp_path / "saknas.sqlite3", "no backup at")):
        with pytest.raises(BackupRefused, match=message):
            restore(bad, url)
        assert not target.exists()
    # an empty, migrated database is restored into without --force
    backup_file = backup(sqlite_url, tmp_path / "kopia.sqlite3")
    empty = tmp_path / "tom.sqlite3"
    upgrade(f"sqlite:///{empty}")
    assert restore(backup_file, f"sqlite:///{empty}") == empty


def test_postgresql_is_refused_with_how_to_use_pg_dump(tmp_path: Path) -> None:
    url = "postgresql://samverkan@127.0.0.1:5432/samverkan"
    result = samverkan(url, "backup", str(tmp_path / "x.dump"))
    assert result.returncode == 1
    assert "pg_dump --format=custom" in result.stderr and "pg_restore" in result.stderr
    with pytest.raises(BackupRefused, match="pg_restore"):
        restore(tmp_path / "x.dump", url)
    assert not (tmp_path / "x.dump").exists()
