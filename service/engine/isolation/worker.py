"""A worker process: runs diagram code in the sandbox, under limits only the OS can enforce.

Started by the pool (``multiprocessing`` forkserver: the service is multi-threaded and must not be
forked itself). Before it answers anything it caps its own address space (``RLIMIT_AS``: the
baseline after imports plus the configured memory), forbids core files and new processes, and
ignores Ctrl-C (the service shuts it down). For each request it sets ``RLIMIT_CPU`` a little
above the time limit — a last resort should the service fail to kill it — runs the code with the
sandbox's own guards and time check, and answers with the value (expressions) or the whole changed
task data (scripts). A worker that ran out of memory answers and then exits, so the next request
gets a fresh one.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import resource
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from ..sandbox import SANDBOX_FILENAME, SandboxedEnvironment, SandboxError
from .protocol import PROTOCOL, Request, error_answer

_PR_SET_PDEATHSIG = 1
_BASELINE = [0]  # resident bytes once started


def serve(conn: Connection, functions_blob: bytes, memory_limit: int, now_from_parent: bool) -> None:
    """The worker's main loop: one request in, one answer out, until the parent hangs up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    functions: dict[str, Callable[..., Any]] = pickle.loads(functions_blob)  # noqa: S301 - from the trusted parent
    clock = _Now()
    if now_from_parent:
        functions["now"] = clock
    environments: dict[float, SandboxedEnvironment] = {}
    _limit_memory(memory_limit)
    _BASELINE[0] = _resident() or 0
    conn.send_bytes(pickle.dumps(("ready", os.getpid()), PROTOCOL))
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        answer, exit_after = _answer(message, functions, environments, clock, memory_limit)
        try:
            conn.send_bytes(answer)
        except (OSError, ValueError):
            return
        if exit_after:
            return


class _Now:
    """``now()`` in a worker: the service clock's reading, sent with each request."""

    __name__ = "now"
    value = ""

    def __call__(self) -> str:
        return self.value


def _answer(message: bytes, functions: dict[str, Callable[..., Any]],
            environments: dict[float, SandboxedEnvironment], clock: _Now, memory_limit: int) -> tuple[bytes, bool]:
    """The answer to one request, and whether this worker should exit after sending it."""
    try:
        request = Request.loads(message)
        if request.environ is not None:
            _adopt_environ(request.environ)
        _limit_cpu(request.time_limit)
        clock.value = request.now or ""
        environment = environments.get(request.time_limit)
        if environment is None:
            environment = environments[request.time_limit] = SandboxedEnvironment(
                functions, time_limit=request.time_limit)
        context = pickle.loads(request.context)  # noqa: S301 - from the trusted parent
        if request.op == "eval":
            result: Any = environment.evaluate(request.source, context, request.external)
        else:
            environment.execute(request.source, context, request.external)
            result = context
        answer = pickle.dumps(("ok", result), PROTOCOL)
        if len(answer) > request.max_data_bytes:
            what = "The script would make the task data" if request.op == "exec" else "The value would be"
            raise SandboxError(f"{what} {len(answer)} bytes; the limit is {request.max_data_bytes} bytes "
                               "(SAMVERKAN_MAX_INSTANCE_DATA_BYTES).")
        return answer, False
    except MemoryError:
        error = SandboxError("The code ran out of memory (the worker's memory limit).")
        return error_answer(error, None, retire=True), True
    except RecursionError as error:
        return error_answer(SandboxError("The code recursed too deeply."), _line(error.__traceback__)), False
    except Exception as error:
        retire = _bloated(memory_limit)  # e.g. the sandbox caught a MemoryError: start afresh
        return error_answer(error, _line(error.__traceback__), retire=retire), retire


def _line(tb: TracebackType | None) -> int | None:
    """The line of diagram code where an error was raised (its innermost frame), if any."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == SANDBOX_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _bloated(memory_limit: int) -> bool:
    """Whether this worker's resident memory grew past half its limit since it started."""
    resident = _resident()
    return memory_limit > 0 and resident is not None and resident - _BASELINE[0] > memory_limit // 2


def _resident() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _adopt_environ(environ: dict[str, str]) -> None:
    """Take the parent's environment: helpers in ``processes/`` read their settings from it."""
    for name in [name for name in os.environ if name not in environ]:
        del os.environ[name]
    os.environ.update(environ)


def _limit_memory(memory_limit: int) -> None:
    """Cap the address space at what the worker maps now plus ``memory_limit`` bytes."""
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(ValueError, OSError):  # not enforced for root, which is fine: the others hold
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    if memory_limit <= 0:
        return
    try:
        with open("/proc/self/statm", "rb") as statm:
            mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        mapped = 0
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = mapped + memory_limit
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _limit_cpu(time_limit: float) -> None:
    """Let this request use at most about its time limit of CPU (plus a margin) before the OS stops
    it with SIGXCPU, should the parent fail to kill it first."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime) + math.ceil(time_limit) + 2
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)  # the hard limit stays: lowering it could not be undone
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the process that forked it (the forkserver) goes away."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the closed pipe still ends the loop
        pass
