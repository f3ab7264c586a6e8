"""The command path as the hot-path work left it (issue 12): what a start and a completion write, in
how many statements, and that what is written together is kept or dropped together.

Speed itself belongs in ``scripts/bench``; these tests pin the behaviour the fewer statements rest on:
the audit rows of a command go out in one batch with it (and roll back with it), a new instance is
inserted before the rows that refer to it, access rows granted twice in a command are written once,
and a form without choice fields reads no people.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text, update
from sqlalchemy.orm.exc import StaleDataError

from service.actor import SYSTEM, Actor
from service.audit import record
from service.auth import actor_for
from service.db import WriterQueue
from service.directory import with_choices
from service.models import (
    Disclosure,
    Event,
    HumanTask,
    InstanceAccess,
    ProcessDefinition,
    ProcessInstance,
    TaskStatus,
    User,
)
from service.models.base import new_id
from service.models.definition import deployed_version
from service.operations.instances import start_instance
from service.operations.tasks import complete_task

from .conftest import FIXTURES, Harness, migrated_sqlite, start_harness
from .test_lifecycle import START, open_tasks, start
from .waiting import BOUND, wait_until

BENCH = Path(__file__).parents[1] / "bench"  # other diagrams, deployed to give the same ids other routines


class Statements:
    """The SQL statements the service's engine runs while counting (as ``bench/common.py`` counts them)."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.seen = engine, []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.seen.append(statement)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def _actor(h: Harness, username: str) -> Actor:
    with h.services.db.read() as session:
        return actor_for(session.scalars(select(User).where(User.username == username)).one())


def _actions(h: Harness, instance_id: str) -> list[str]:
    with h.services.db.read() as session:
        return list(session.scalars(select(Event.action).where(Event.instance_id == instance_id).order_by(Event.id)))


def test_a_start_and_a_completion_write_their_rows_in_few_statements(harness: Harness) -> None:
    h = harness
    sara = h.user("sara", "socialsekreterare")
    actor = _actor(h, "sara")
    start_instance(h.services, actor, "core_demo", START)  # a version's files are read once per process
    counter = Statements(h.services.db.engine)
    try:
        instance, changes = start_instance(h.services, actor, "core_demo", START)
        started = len(counter.seen)
        counter.seen.clear()
        complete_task(h.services, actor, changes.created_tasks[0].id, {"beslut": "godkant", "antal": 3})
        completed = len(counter.seen)
    finally:
        counter.close()
    # before issue 12: 19 and 16 (with this diagram's boundary timer, 21 and 17)
    assert started <= 9 and completed <= 9, (started, completed)

    # every row is there: the instance as it stood after its first step, its task, timer, access, audit
    with h.services.db.read() as session:
        row = session.get(ProcessInstance, instance.id)
        assert row is not None and row.state.value == "waiting" and row.workflow_json and row.version >= 2
        assert sorted(session.execute(select(InstanceAccess.kind, InstanceAccess.value).where(
            InstanceAccess.instance_id == instance.id)).all()) == [("district", "Nordost"), ("user", "sara")]
    assert _actions(h, instance.id) == ["instance_started", "task_created", "task_completed"]
    assert sara.ok("GET", f"/api/v1/instances/{instance.id}")["waits_for"] == ["klart"]


def test_the_audit_rows_of_a_command_commit_and_roll_back_with_it(harness: Harness) -> None:
    h = harness
    h.user("sara", "socialsekreterare")
    instance = start(h)
    with h.services.db.command() as session:  # a query in the command sees what it recorded
        record(session, SYSTEM, "note_one", instance_id=instance["id"])
        record(session, SYSTEM, "note_two", instance_id=instance["id"])
        seen = list(session.scalars(select(Event.action).where(Event.instance_id == instance["id"])
                                    .order_by(Event.id)))
        assert seen[-2:] == ["note_one", "note_two"]
    with pytest.raises(RuntimeError), h.services.db.command() as session:
        record(session, SYSTEM, "note_lost", instance_id=instance["id"])
        raise RuntimeError("the command fails")
    actions = _actions(h, instance["id"])
    assert actions[-2:] == ["note_one", "note_two"] and "note_lost" not in actions

    # a completion refused after the engine ran (409: the task was completed meanwhile) keeps nothing
    [task] = open_tasks(h, "sara", assigned="me")
    before = _actions(h, instance["id"])
    ok = h.as_("sara").ok("POST", f"/api/v1/tasks/{task['id']}/complete", json={"data": {"beslut": "godkant"}})
    assert ok["instance"]["state"] == "waiting"
    again = h.as_("sara").post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"beslut": "godkant"}})
    assert again.status_code == 409
    assert _actions(h, instance["id"])[len(before):].count("task_completed") == 1


def test_concurrent_completions_through_the_writer_queue_each_win_once(sqlite_harness: Harness) -> None:
    """Four clients completing at once on SQLite (the writers of one process queue in Python): every
    completion lands once, every instance reaches its wait, no request fails on the lock."""
    h = sqlite_harness
    names = ["sara", "sam", "siv", "sune"]
    for name in names:
        h.user(name, "socialsekreterare")
    tasks: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        for _ in range(3):
            start(h, name, {**START, "handlaggare": name})
        tasks[name] = [t["id"] for t in open_tasks(h, name, assigned="me")]
    errors: list[str] = []

    def work(name: str) -> None:
        for task_id in tasks[name]:
            response = h.as_(name).post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"beslut": "godkant"}})
            if response.status_code != 200:
                errors.append(f"{name}: {response.status_code} {response.text}")

    threads = [threading.Thread(target=work, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads) and errors == []
    with h.services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.status == "completed")) == 12
        assert session.scalar(select(func.count()).select_from(Event).where(Event.action == "task_completed")) == 12


def test_a_commands_changed_rows_go_out_as_plain_updates_under_the_orms_rules(harness: Harness) -> None:
    """``write_updates``: one UPDATE per changed row, of the columns that really changed, its version
    stepped once; a row another writer changed since it was read fails the command, which keeps nothing."""
    h = harness
    h.user("sara", "socialsekreterare")
    instance = start(h)
    with h.services.db.read() as session:
        before = session.get(ProcessInstance, instance["id"])
        assert before is not None
    counter = Statements(h.services.db.engine)
    try:
        with h.services.db.command() as session:
            row = session.get(ProcessInstance, instance["id"])
            [task] = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance["id"]))
            assert row is not None
            row.state_reason, row.error, row.case_ref = "granskas", row.error, row.case_ref  # two set to what they were
            task.title = "Granska ärendet"
    finally:
        counter.close()
    updates = [s for s in counter.seen if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 2, updates
    [instance_update] = [s for s in updates if "process_instance" in s]
    assert "state_reason" in instance_update and "version" in instance_update
    assert "error" not in instance_update and "case_ref" not in instance_update
    with h.services.db.read() as session:
        after = session.get(ProcessInstance, instance["id"])
        assert after is not None and after.state_reason == "granskas" and after.version == before.version + 1
        assert session.scalar(select(HumanTask.title).where(HumanTask.instance_id == after.id)) == "Granska ärendet"

    with pytest.raises(StaleDataError), h.services.db.command() as session:
        row = session.get(ProcessInstance, instance["id"])
        assert row is not None
        session.execute(update(ProcessInstance.__table__).where(  # another writer, since this one read it
            ProcessInstance.id == row.id).values(version=ProcessInstance.version + 1, state_reason="annan"))
        row.state_reason = "förlorad"
    with h.services.db.read() as session:
        kept = session.get(ProcessInstance, instance["id"])
        assert kept is not None and kept.state_reason == "granskas" and kept.version == after.version

    # a mapper event still sees its rows: the audit log's guard refuses a changed event, as it did under the ORM
    with pytest.raises(RuntimeError, match="append-only"), h.services.db.command() as session:
        event_row = session.scalars(select(Event).where(Event.instance_id == instance["id"])).first()
        assert event_row is not None
        event_row.actor = "någon annan"


def test_new_rows_left_to_the_orm_are_written_as_the_orm_writes_them(harness: Harness) -> None:
    """A command with one new row the ORM must insert (a key the database generates) leaves every new row
    to it, untouched: a JSON column a new task leaves unset stays SQL NULL, not the JSON text null."""
    h = harness
    h.user("sara", "socialsekreterare")
    instance = start(h)
    with h.services.db.command() as session:
        task = HumanTask(id=new_id(), instance_id=instance["id"], process_key="core_demo", name="extra",
                         title="Extra", roles=["socialsekreterare"], status=TaskStatus.OPEN, data={},
                         created_at=h.services.now())
        session.add(task)
        session.add(Disclosure(instance_id=instance["id"], task_id=task.id, recipient_kind="region", fields=[],
                               basis=None, at=h.services.now()))
    with h.services.db.engine.connect() as conn:
        assert conn.execute(text("SELECT submitted IS NULL FROM human_task WHERE id = :id"), {"id": task.id}).scalar()
        assert conn.execute(text("SELECT count(*) FROM disclosure WHERE task_id = :id"), {"id": task.id}).scalar() == 1
    assert task.submitted is None


def test_a_form_without_choice_fields_is_not_closed_over_people(harness: Harness) -> None:
    h = harness
    h.user("sara", "socialsekreterare")
    actor = _actor(h, "sara")
    personal = {"type": "object", "properties": {"namn": {"type": "string", "x-personal-data": True}}}
    person = {"type": "object", "properties": {"vem": {"type": "string", "x-person": {"roles": ["socialsekreterare"]}}}}
    counter = Statements(h.services.db.engine)
    try:
        with h.services.db.read() as session:
            assert with_choices(session, actor, personal) is personal  # x-personal-data names nobody
            assert counter.seen == []
            closed = with_choices(session, actor, person)
    finally:
        counter.close()
    assert "sara" in closed["properties"]["vem"]["enum"]


def test_two_databases_in_one_process_each_run_their_own_versions(tmp_path: Path) -> None:
    """Deployed versions are read once per process (``deployed_version``); where one process serves two databases
    (a restore, the tests), the same id names a different version in each, and each must get its own."""
    first = start_harness(migrated_sqlite(tmp_path / "first.sqlite3"))
    second = start_harness(migrated_sqlite(tmp_path / "second.sqlite3"))
    try:
        first.deploy_dir(FIXTURES / "bpmn", FIXTURES / "forms")
        second.deploy_dir(BENCH / "bpmn", BENCH / "forms")  # the same ids name other routines here
        second.deploy_dir(FIXTURES / "bpmn", FIXTURES / "forms")
        for h in (first, second):
            with h.services.db.read() as session:
                stored = {i: key for i, key in session.execute(select(ProcessDefinition.id, ProcessDefinition.key))}
                assert {i: deployed_version(session, i).key for i in stored} == stored
            h.user("sara", "socialsekreterare")
            started, _ = start_instance(h.services, _actor(h, "sara"), "core_demo", START)
            with h.services.db.read() as session:
                instance = session.get(ProcessInstance, started.id)
                assert instance is not None and instance.definition.key == "core_demo"
            assert instance.definition.id == instance.definition_id  # and once its session has closed
    finally:
        first.server.stop()
        second.server.stop()


def test_the_writer_queue_lets_read_log_rows_ahead_and_keeps_each_kind_in_order() -> None:
    """A read's audit row (``Database.append``) waits only for the command that holds the lock, not for
    every command queued behind it; appends, and commands, are granted in the order they asked. A
    wait that times out leaves the queue, and the owner may take the lock again (reentrant)."""
    queue = WriterQueue()
    assert queue.acquire(timeout=BOUND) and queue.acquire(timeout=BOUND)  # a command, and one inside it
    granted: list[str] = []

    def take(name: str, append: bool) -> None:
        assert queue.acquire(timeout=BOUND, append=append)
        granted.append(name)
        queue.release()

    def queued() -> int:
        return len(queue._appends) + len(queue._commands)  # the queue's own state: what the test is about

    gave_up: list[bool] = []
    impatient = threading.Thread(target=lambda: gave_up.append(queue.acquire(timeout=0.01)))
    impatient.start()
    impatient.join(timeout=BOUND)
    assert gave_up == [False] and queued() == 0
    threads = []
    for name, append in (("command 1", False), ("append 1", True), ("command 2", False), ("append 2", True)):
        threads.append(threading.Thread(target=take, args=(name, append)))
        threads[-1].start()
        wait_until(lambda: queued() == len(threads), what=f"{name} in the queue")
    queue.release()
    assert granted == []  # still held: the outer command has not ended
    queue.release()
    for thread in threads:
        thread.join(timeout=BOUND)
    assert granted == ["append 1", "append 2", "command 1", "command 2"]


def test_a_flood_of_read_log_rows_never_stalls_a_waiting_command() -> None:
    """Appends go first, but at most ``APPENDS_AHEAD`` in a row while a command waits: reads arriving
    without pause must not keep the writes waiting (one caller must not stall the service)."""
    queue = WriterQueue()
    assert queue.acquire(timeout=BOUND)
    granted: list[str] = []

    def take(name: str, append: bool) -> None:
        assert queue.acquire(timeout=BOUND, append=append)
        granted.append(name)
        queue.release()

    waiting = [("command", False)] + [(f"append {n}", True) for n in range(1, WriterQueue.APPENDS_AHEAD + 3)]
    threads = []
    for name, append in waiting:
        threads.append(threading.Thread(target=take, args=(name, append)))
        threads[-1].start()
        wait_until(lambda: len(queue._appends) + len(queue._commands) == len(threads), what=f"{name} in the queue")
    queue.release()
    for thread in threads:
        thread.join(timeout=BOUND)
    ahead = WriterQueue.APPENDS_AHEAD
    assert granted == [f"append {n}" for n in range(1, ahead + 1)] + ["command"] + [
        f"append {n}" for n in range(ahead + 1, ahead + 3)]
