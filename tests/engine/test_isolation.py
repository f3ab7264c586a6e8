"""Diagram code in worker processes: same results as the in-process sandbox, the same escapes
refused, and what the sandbox alone cannot stop — one long C call, a memory bomb, a helper that
runs for seconds — stopped by the OS, costing one worker, which the pool replaces."""

from __future__ import annotations

import gc
import os
import pickle
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from service.engine.isolation import IsolatedEnvironment, IsolatedScriptEngine, IsolationSettings
from service.engine.isolation.cheap import is_cheap
from service.engine.isolation.pool import acquire_pool, release_collected, release_pool
from service.engine.isolation.protocol import safe_loads
from service.engine.sandbox import SandboxedEnvironment, SandboxError, SandboxSyntaxError, SandboxTimeout
from tests.waiting import wait_until

from .test_sandbox import ESCAPES, FUNCTIONS, SCRIPT_ESCAPES, data

TIME_LIMIT = 1.0
CPU_BOMB = "len(max([[0] * 10**6] * 30000)) > 0"  # one C call of many seconds: the kill, not the sandbox, stops it
MEMORY_BOMB = "len(list(map(list, [[0] * 10**6] * 60))) > 0"


def setting() -> str:
    """A helper that reads its setting from the environment, as ``processes/`` helpers do."""
    return os.environ.get("SAMVERKAN_TEST_ISOLATION_SETTING", "default")


def snooze(seconds: float) -> str:
    """A helper that takes its time outside the sandbox's reach."""
    time.sleep(seconds)
    return "awake"


HELPERS = {**FUNCTIONS, "setting": setting, "snooze": snooze}


@pytest.fixture(scope="module")
def env() -> Iterator[IsolatedEnvironment]:
    environment = IsolatedEnvironment(HELPERS, time_limit=TIME_LIMIT)
    yield environment
    environment.close()


# --- The same answers as the sandbox -----------------------------------------------------------------
@pytest.mark.parametrize("expression", [
    "x['a'] > 3", "kategori in ['a', 'b']", "len(items) == 2", "x.get('missing', 'default')", "'Hej ' + namn",
    "[i for i in items if i > limit]", "double(x['a']) + 1", "now()[:10]", "sum(range(10)) * 2 ** 3",
    "f'{namn}: {x[\"a\"]:>3} {limit!r}'", "sorted(x.keys(), reverse=True)", "round(2.567, 2)",
])
def test_expressions_give_what_the_sandbox_gives(env: IsolatedEnvironment, expression: str) -> None:
    expected = SandboxedEnvironment(FUNCTIONS, time_limit=TIME_LIMIT).evaluate(expression, data())
    context = data()
    assert env.evaluate(expression, context) == expected
    assert context == data()


def test_a_script_changes_task_data_in_place(env: IsolatedEnvironment) -> None:
    context = data()
    same = context
    env.execute("y = double(x['a'])\ndel kategori\nitems.append(3)\nx['c'] = now()", context)
    assert context is same  # SpiffWorkflow keeps its own reference to the task's data
    assert context == {"x": {"a": 5, "b": "text", "c": FUNCTIONS["now"]()}, "items": [1, 2, 3], "limit": 1,
                       "namn": "Åsa", "y": 10}


def test_errors_keep_their_type_and_line(env: IsolatedEnvironment) -> None:
    with pytest.raises(ZeroDivisionError) as caught:
        env.execute("a = 1\nb = a / 0", {})
    assert caught.value.sandbox_line == 2  # type: ignore[attr-defined]
    with pytest.raises(NameError, match="'os' is not defined"):
        env.evaluate("os.system('id') or double(1)", {})
    with pytest.raises(KeyError):
        env.evaluate("double(x['saknas'])", data())
    with pytest.raises(SandboxSyntaxError):  # refused here, before any worker sees it
        env.evaluate("x >", {})
    context = data()
    with pytest.raises(SandboxError, match="'r' holds a range"):
        env.execute("y = 1\nr = range(3)", context)
    assert context == data()  # nothing applied when the script fails


@pytest.mark.parametrize("expression", ESCAPES)
def test_the_escape_catalogue_is_refused_in_workers(env: IsolatedEnvironment, expression: str) -> None:
    context = data()
    with pytest.raises(SandboxError):
        env.execute(f"y = {expression}", context)
    assert context == data()


@pytest.mark.parametrize("script", SCRIPT_ESCAPES)
def test_the_script_escape_catalogue_is_refused_in_workers(env: IsolatedEnvironment, script: str) -> None:
    context = data()
    with pytest.raises(SandboxError):
        env.execute(script, context)
    assert context == data()


# --- What only the OS can stop ------------------------------------------------------------------------
def test_one_long_c_call_is_killed_at_the_time_bound_and_the_worker_replaced(env: IsolatedEnvironment) -> None:
    assert env.pool is not None
    env.evaluate("double(1)", {})
    before = set(env.pool.running())
    with pytest.raises(SandboxTimeout, match="ran longer than its limit of 1 s and was stopped"):  # killed
        env.evaluate(CPU_BOMB, {})
    assert env.evaluate("double(2)", {}) == 4  # the next request is served
    assert before - set(env.pool.running()), "the bomb's worker was not replaced"


def test_a_memory_bomb_hits_the_workers_address_space_limit() -> None:
    patient = IsolatedEnvironment(HELPERS, time_limit=30.0, settings=IsolationSettings(workers=1))
    try:
        with pytest.raises(SandboxError, match="out of memory"):
            patient.evaluate(MEMORY_BOMB, {})
        assert patient.evaluate("double(3)", {}) == 6
    finally:
        patient.close()


def test_a_slow_helper_is_stopped(env: IsolatedEnvironment) -> None:
    assert env.evaluate("snooze(0)", {}) == "awake"
    with pytest.raises(SandboxTimeout):
        env.evaluate("snooze(60)", {})


def test_a_bomb_does_not_hold_up_other_evaluations(env: IsolatedEnvironment) -> None:
    outcome: dict[str, Any] = {}

    def bomb() -> None:
        try:
            env.evaluate(CPU_BOMB, {})
        except SandboxTimeout as err:
            outcome["bomb"] = err

    thread = threading.Thread(target=bomb)
    thread.start()
    answers = []
    while thread.is_alive():  # the other worker keeps answering while the bomb's runs
        answers.append(env.evaluate("double(limit)", {"limit": 21}))
        thread.join(timeout=0.01)
    thread.join()
    assert isinstance(outcome["bomb"], SandboxTimeout)
    assert answers and set(answers) == {42}


def test_a_worker_that_died_is_replaced_before_the_next_request(env: IsolatedEnvironment) -> None:
    assert env.pool is not None
    for _ in range(env.pool.size):
        env.evaluate("double(1)", {})
    for pid in env.pool.running():
        os.kill(pid, signal.SIGKILL)
    for pid in list(env.pool.running()):  # a bounded wait for the kill to land
        wait_until(lambda pid=pid: pid not in env.pool.running(), what=f"worker {pid} to die", interval=0.01)
    assert [env.evaluate("double(5)", {}) for _ in range(env.pool.size)] == [10] * env.pool.size


# --- Data, settings and clock -------------------------------------------------------------------------
def test_task_data_is_bounded_in_and_out() -> None:
    small = IsolatedEnvironment(HELPERS, time_limit=TIME_LIMIT, settings=IsolationSettings(max_data_bytes=10_000))
    try:
        with pytest.raises(SandboxError, match="task data is .* bytes; the limit is 10000"):
            small.evaluate("x == 1", {"x": "a" * 20_000})
        context = {"x": 1}
        with pytest.raises(SandboxError, match="would make the task data"):
            small.execute("y = 'a' * 9000\nz = 'b' * 9000", context)
        assert context == {"x": 1}
    finally:
        small.close()


def test_workers_see_the_services_environment_as_it_is_now(env: IsolatedEnvironment,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert env.evaluate("setting()", {}) == "default"
    monkeypatch.setenv("SAMVERKAN_TEST_ISOLATION_SETTING", "changed")
    assert env.evaluate("setting()", {}) == "changed"
    monkeypatch.delenv("SAMVERKAN_TEST_ISOLATION_SETTING")
    assert env.evaluate("setting()", {}) == "default"


def test_now_follows_the_service_clock() -> None:
    moments = iter(["2026-01-01T08:00:00+01:00", "2026-06-01T08:00:00+02:00"])
    clocked = IsolatedEnvironment(HELPERS, time_limit=TIME_LIMIT, now=lambda: next(moments))
    try:
        assert clocked.evaluate("now()[:7] + double(0) * ''", {}) == "2026-01"
        context: dict[str, Any] = {}
        clocked.execute("stamp = now()", context)
        assert context == {"stamp": "2026-06-01T08:00:00+02:00"}
    finally:
        clocked.close()


# --- The cheap, in-process path -----------------------------------------------------------------------
@pytest.mark.parametrize(("expression", "cheap"), [
    ("beslut == 'godkant'", True), ("brukare['stadsomrade']", True), ("'Handlägg ' + arende", True),
    ("len(samtycke_brister) > 0", True), ("not ledig and klar == True", True), ("inbjuden.get('org')", True),
    ("kategori in ['a', 'b']", True), ("x[1:] if x else y", True),
    (CPU_BOMB, False), (MEMORY_BOMB, False), ("'a' * 10", False), ("a + a + a + a + a + a", False),
    ("r2_rubrik('x', a)", False), ("[i for i in items]", False), ("f'{x}'", False),
    ("'Granska post ' + str(post['nr'])", True), ("str(x) + str(x) + str(x) + str(x) + str(x)", False),
    ("sorted(x)", False), ("x.get(*y)", False), ("x % y", False), ("len", True), ("x" * 201, False),
])
def test_only_expressions_bounded_by_what_they_read_stay_in_process(expression: str, cheap: bool) -> None:
    assert is_cheap(expression, frozenset({"r2_rubrik", "now"})) is cheap


def test_a_helper_name_is_never_cheap() -> None:
    assert not is_cheap("len(x)", frozenset({"len"}))
    assert not is_cheap("now", frozenset({"now"}))


# --- The wire ------------------------------------------------------------------------------------------
def test_a_workers_answer_cannot_run_code_in_the_service() -> None:
    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, ("echo pwned",))

    with pytest.raises(pickle.UnpicklingError, match="only plain values"):
        safe_loads(pickle.dumps(("ok", Evil())))
    assert safe_loads(pickle.dumps(("ok", {"a": [1, 2.5, None, {3}]}))) == ("ok", {"a": [1, 2.5, None, {3}]})


def test_functions_must_be_importable_by_workers() -> None:
    with pytest.raises(ValueError, match="module-level functions"):
        IsolatedEnvironment({"f": lambda: 1})


def test_the_last_engine_out_stops_the_workers() -> None:
    engine = IsolatedScriptEngine({"double": FUNCTIONS["double"]}, time_limit=TIME_LIMIT,
                                  settings=IsolationSettings(workers=1))
    pool = engine.environment.pool
    assert pool is not None and pool.running() == []  # started lazily
    engine.environment.evaluate("double(4)", {})
    [pid] = pool.running()
    shared = acquire_pool(pool.functions_blob, [], size=1, memory_limit=pool.memory_limit, now_from_parent=False)
    assert shared is pool
    engine.close()
    assert pool.running() == [pid]  # still in use
    release_pool(shared)
    assert pool.running() == []
    with pytest.raises(OSError):
        os.kill(pid, 0)


def test_an_engine_that_is_collected_lets_its_workers_go() -> None:
    engine = IsolatedScriptEngine({"double": FUNCTIONS["double"]}, time_limit=TIME_LIMIT,
                                  settings=IsolationSettings(workers=1))
    pool = engine.environment.pool
    assert pool is not None
    engine.environment.evaluate("double(4)", {})
    assert len(pool.running()) == 1
    del engine
    gc.collect()  # a Services dropped without close(); its pool goes at the next acquire (or at exit)
    release_collected()
    assert pool.running() == []
