"""A small pool of worker processes that run diagram code, and the kill at the time bound.

Locking rule: a worker serves one request at a time — a thread takes it from the idle queue, sends
the request, waits for the answer at most the time limit plus a grace, and puts it back. A worker
that does not answer in time is killed (SIGKILL: C-level work cannot be interrupted any other
way) and put back empty; the next thread to take it starts a new process. Workers start lazily,
on first use, so a service or a test that never runs diagram code never starts one.

Pools are shared per process by what their workers load (the function set and the memory limit)
and counted: ``release`` by the last engine using a pool stops it, and ``atexit`` stops the rest.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import pickle
import queue
import threading
import time
from collections.abc import Iterable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from ..sandbox import SandboxError, SandboxTimeout
from . import worker
from .protocol import Request, rebuild_error, safe_loads

logger = logging.getLogger(__name__)

KILL_GRACE = 0.25  # CPU seconds past the time limit before a silent worker is killed
WALL_FACTOR, WALL_SLACK = 10, 5.0  # wall-clock stop for code that waits instead of computing
POLL_SECONDS = 0.05
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
START_TIMEOUT = 60.0  # seconds a new worker may take to start (a loaded CI machine imports slowly)
ACQUIRE_TIMEOUT = 30.0  # seconds a request waits for a free worker before it fails
ANSWER_MARGIN = 1 << 20  # bytes an answer may exceed the data bound by (the value or error around it)


class WorkerCrashed(SandboxError):
    """A worker died or broke the protocol while running diagram code."""


def _environ_snapshot() -> dict[Any, Any]:
    """The process environment, cheaply comparable (CPython keeps it as a dict of bytes)."""
    data = getattr(os.environ, "_data", None)
    return dict(data) if isinstance(data, dict) else dict(os.environ)


class _Worker:
    """One slot of the pool: a worker process, or none yet (started on first use)."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None
        self.environ_seen: dict[Any, Any] | None = None

    def start(self) -> None:
        context = _context(self.pool.modules)
        parent_end, child_end = context.Pipe(duplex=True)
        process = context.Process(  # type: ignore[attr-defined]
            target=worker.serve, name="samverkan-diagram-code", daemon=True,
            args=(child_end, self.pool.functions_blob, self.pool.memory_limit, self.pool.now_from_parent))
        process.start()
        child_end.close()
        self.process, self.conn, self.environ_seen = process, parent_end, None
        if not parent_end.poll(START_TIMEOUT):
            self.stop(kill=True)
            raise WorkerCrashed(f"A worker for diagram code did not start within {START_TIMEOUT:g} s.")
        try:
            ready = safe_loads(parent_end.recv_bytes(1024))
        except (EOFError, OSError, pickle.UnpicklingError) as err:
            self.stop(kill=True)
            raise WorkerCrashed(f"A worker for diagram code failed to start (exit code {process.exitcode}).") from err
        logger.info("started diagram-code worker %s", ready[1])

    def call(self, request: Request, time_limit: float) -> Any:
        conn = self._send(request)
        try:
            if not self._answered(conn, time_limit):
                self.stop(kill=True)
                raise SandboxTimeout(f"The code ran longer than its limit of {time_limit:g} s and was stopped.")
            answer = safe_loads(conn.recv_bytes(request.max_data_bytes + ANSWER_MARGIN))
        except (EOFError, OSError, pickle.UnpicklingError) as err:
            process = self.process
            self.stop(kill=True)
            raise WorkerCrashed(_crash_message(process.exitcode if process is not None else None)) from err
        if answer[0] == "ok":
            return answer[1]
        if answer[0] == "error":
            if answer[4]:  # the worker retires after this answer (it ran out of memory)
                self.stop(kill=False)
            raise rebuild_error(answer[1], tuple(answer[2]), answer[3])
        self.stop(kill=True)
        raise WorkerCrashed("A worker for diagram code answered out of turn; it was stopped.")

    def _answered(self, conn: Connection, time_limit: float) -> bool:
        """Wait for the answer while the worker's *CPU time* for this request stays within the limit
        (a loaded machine slows it, and that is no reason to stop it); code that waits without
        computing is stopped at ``WALL_FACTOR`` times the limit plus ``WALL_SLACK``. Where the CPU
        time cannot be read (no /proc), wall time stands in for it."""
        pid = self.process.pid if self.process is not None else None
        cpu_start = _cpu_seconds(pid)
        started = time.monotonic()
        wall_limit = time_limit * WALL_FACTOR + WALL_SLACK
        while not conn.poll(POLL_SECONDS):
            elapsed = time.monotonic() - started
            cpu_now = _cpu_seconds(pid)
            used = elapsed if cpu_start is None or cpu_now is None else cpu_now - cpu_start
            if used > time_limit + KILL_GRACE or elapsed > wall_limit:
                return False
        return True

    def _send(self, request: Request) -> Connection:
        """Send ``request`` to a live worker; one that died since its last answer (nothing of this
        request ran) is replaced once."""
        for attempt in (1, 2):
            if self.process is None or self.conn is None or not self.process.is_alive():
                self.stop(kill=True)
                self.start()
            assert self.conn is not None  # noqa: S101 - set by start()
            environ = _environ_snapshot()
            message = (request if environ == self.environ_seen else _with_environ(request)).dumps()
            try:
                self.conn.send_bytes(message)
            except OSError:
                self.stop(kill=True)
                if attempt == 2:
                    raise WorkerCrashed("The worker process for diagram code could not be reached.") from None
                continue
            self.environ_seen = environ
            return self.conn
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self, *, kill: bool) -> None:
        process, conn = self.process, self.conn
        self.process, self.conn, self.environ_seen = None, None, None
        if conn is not None:
            conn.close()  # a waiting worker reads EOF and exits
        if process is None:
            return
        if kill and process.is_alive():
            process.kill()
        process.join(timeout=5.0)
        if process.is_alive():
            process.kill()
            process.join(timeout=5.0)


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds process ``pid`` has used (Linux /proc), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return None


def _with_environ(request: Request) -> Request:
    return Request(request.op, request.source, request.context, request.external, request.now,
                   request.time_limit, request.max_data_bytes, dict(os.environ))


def _crash_message(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"The code stopped its worker process (signal {-exitcode}); it was replaced."
    return "The worker process running the code failed; it was replaced."


class WorkerPool:
    """``size`` workers that import the same functions; thread-safe."""

    def __init__(self, functions_blob: bytes, modules: Iterable[str], *, size: int, memory_limit: int,
                 now_from_parent: bool) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.functions_blob = functions_blob
        self.modules = tuple(sorted(set(modules)))
        self.memory_limit = memory_limit
        self.now_from_parent = now_from_parent
        self.pid = os.getpid()
        self._slots = [_Worker(self) for _ in range(size)]
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        for slot in self._slots:
            self._idle.put(slot)
        self._closed = False

    @property
    def size(self) -> int:
        return len(self._slots)

    def call(self, request: Request, time_limit: float) -> Any:
        """Run ``request`` in a free worker: its value (or changed task data); raises what the code raised."""
        if self._closed:
            raise SandboxError("The diagram-code workers are shut down.")
        try:
            slot = self._idle.get(timeout=ACQUIRE_TIMEOUT)
        except queue.Empty:
            raise SandboxError(f"No worker for diagram code became free within {ACQUIRE_TIMEOUT:g} s.") from None
        try:
            return slot.call(request, time_limit)
        finally:
            if self._closed:
                slot.stop(kill=True)
            self._idle.put(slot)

    def running(self) -> list[int]:
        """The process ids of the live workers (for tests and monitoring)."""
        return [slot.process.pid for slot in self._slots
                if slot.process is not None and slot.process.pid is not None and slot.process.is_alive()]

    def close(self) -> None:
        """Stop every idle worker now; a busy one stops when its request ends."""
        self._closed = True
        if os.getpid() != self.pid:
            return  # a forked copy of the service does not own these workers
        deadline = time.monotonic() + 2.0
        while True:
            try:
                slot = self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            slot.stop(kill=False)
            if all(s.process is None for s in self._slots):
                break


# --- The processes' start method, and the per-process registry of pools -----------------------
_LOCK = threading.Lock()
_CONTEXT: Any = None
_POOLS: dict[tuple[Any, ...], tuple[WorkerPool, int]] = {}


def _context(modules: Iterable[str]) -> Any:
    """The forkserver context, with the worker's imports preloaded once (forks start in milliseconds).

    ``__main__`` is preloaded too: each child would otherwise import the main script itself.
    """
    global _CONTEXT
    with _LOCK:
        if _CONTEXT is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["__main__", worker.__name__, *modules])
            _CONTEXT = context
        return _CONTEXT


_COLLECTED: queue.SimpleQueue[WorkerPool] = queue.SimpleQueue()  # released by engines garbage-collected


def release_when_collected(pool: WorkerPool) -> None:
    """Release ``pool`` for an engine being garbage-collected. Safe in a finalizer (which may run
    while this thread holds the registry's lock): the release itself happens at the next acquire."""
    _COLLECTED.put(pool)


def release_collected() -> None:
    """Release the pools of engines that were garbage-collected without being closed."""
    while True:
        try:
            pool = _COLLECTED.get_nowait()
        except queue.Empty:
            return
        release_pool(pool)


def acquire_pool(functions_blob: bytes, modules: Iterable[str], *, size: int, memory_limit: int,
                 now_from_parent: bool) -> WorkerPool:
    """The pool for this function set and these limits, shared within the process."""
    release_collected()
    key = (functions_blob, size, memory_limit, now_from_parent, os.getpid())
    with _LOCK:
        pool, users = _POOLS.get(key, (None, 0))
        if pool is None:
            pool = WorkerPool(functions_blob, modules, size=size, memory_limit=memory_limit,
                              now_from_parent=now_from_parent)
        _POOLS[key] = (pool, users + 1)
        return pool


def release_pool(pool: WorkerPool) -> None:
    """One engine stopped using ``pool``; the last one out stops its workers."""
    with _LOCK:
        for key, (known, users) in list(_POOLS.items()):
            if known is pool:
                if users > 1:
                    _POOLS[key] = (known, users - 1)
                    return
                del _POOLS[key]
                break
        else:
            return
    pool.close()


def shutdown_pools() -> None:
    """Stop every pool of this process (at exit; tests may call it too)."""
    with _LOCK:
        pools = [pool for pool, _ in _POOLS.values()]
        _POOLS.clear()
    for pool in pools:
        pool.close()


atexit.register(shutdown_pools)
