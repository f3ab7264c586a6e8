"""SpiffWorkflow's script engine with diagram code isolated in worker processes.

Every expression and script is first compiled by the sandbox here (refused code never leaves the
service). Short read-only expressions (``cheap.is_cheap``) then run in this process under the
sandbox; everything else — scripts, calls of the helpers in ``processes/``, anything that loops
or repeats — runs in a worker, which the pool kills at the time bound. Task data crosses to the
worker pickled; its size is the instance's data size, refused above ``max_data_bytes``.
"""

from __future__ import annotations

import pickle
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

from .. import sandbox
from ..sandbox import SandboxedEnvironment, SandboxError
from .cheap import is_cheap
from .pool import WorkerPool, acquire_pool, release_pool, release_when_collected
from .protocol import PROTOCOL, Request

MB = 1024 * 1024


@dataclass(frozen=True)
class IsolationSettings:
    """How diagram code is isolated (SAMVERKAN_SCRIPT_WORKERS, SAMVERKAN_SCRIPT_MEMORY_MB,
    SAMVERKAN_MAX_INSTANCE_DATA_BYTES)."""

    workers: int = 2
    memory_limit: int = 256 * MB  # address space a worker may add to what it maps after start-up
    max_data_bytes: int = 1 * MB  # task data an evaluation or script may see or leave (pickled size)


class IsolatedEnvironment(BasePythonScriptEngineEnvironment):
    """Runs SpiffWorkflow's expressions and scripts in worker processes (or, when provably cheap,
    in the in-process sandbox); ``self.globals`` holds the functions diagram code may call.

    ``functions`` must be module-level functions: workers import them by name. ``now``, if given,
    is called here and its reading sent along, so ``now()`` follows the service clock.
    """

    def __init__(self, functions: Mapping[str, Callable[..., Any]], *, time_limit: float = 1.0,
                 settings: IsolationSettings | None = None, now: Callable[[], str] | None = None) -> None:
        self.settings = settings or IsolationSettings()
        self.time_limit = time_limit
        self.now = now
        self.local = SandboxedEnvironment({**functions, **({"now": now} if now else {})}, time_limit=time_limit)
        super().__init__(self.local.globals)
        self._names = frozenset(self.local.globals)
        try:
            blob = pickle.dumps(dict(functions), PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError) as err:
            raise ValueError(f"functions offered to diagram code must be module-level functions, "
                             f"which the worker processes import by name: {err}") from err
        modules = {getattr(f, "__module__", None) for f in functions.values()} - {None, "__main__"}
        self.pool: WorkerPool | None = acquire_pool(
            blob, [m for m in modules if m], size=self.settings.workers, memory_limit=self.settings.memory_limit,
            now_from_parent=now is not None)
        # An engine that is never closed still lets its pool go once it is collected (or at exit).
        self._collected = weakref.finalize(self, release_when_collected, self.pool)

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Any = None) -> Any:
        """The value of ``expression`` over the task data ``context``, which is not changed."""
        sandbox.require_valid(expression, script=False)
        data = self._data(context)
        if is_cheap(expression, self._names):
            return self.local.evaluate(expression, context, external_context)
        return self._call("eval", expression, data, external_context)

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        """Run a script task in a worker; the changed task data replaces ``context`` when it ends cleanly."""
        sandbox.require_valid(script, script=True)
        changed = self._call("exec", script, self._data(context), external_context)
        context.clear()
        context.update(changed)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:
        raise SandboxError("Service tasks cannot call services from the sandbox.")

    def close(self) -> None:
        """Stop using the worker pool (the last user stops its processes)."""
        pool, self.pool = self.pool, None
        if pool is not None and self._collected.detach() is not None:
            release_pool(pool)

    def _data(self, context: Mapping[str, Any]) -> bytes:
        try:
            data = pickle.dumps(context, PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError) as err:
            raise SandboxError(f"The task data holds a value diagram code cannot be given: {err}") from None
        if len(data) > self.settings.max_data_bytes:
            raise SandboxError(f"The task data is {len(data)} bytes; the limit is {self.settings.max_data_bytes} "
                               "bytes (SAMVERKAN_MAX_INSTANCE_DATA_BYTES).")
        return data

    def _call(self, op: str, source: str, data: bytes, external_context: Any) -> Any:
        if self.pool is None:
            raise SandboxError("The diagram-code workers of this engine are shut down.")
        now = self.now() if self.now is not None and "now" in source else None
        request = Request(op, source, data, dict(external_context or {}), now, self.time_limit,
                          self.settings.max_data_bytes, None)
        return self.pool.call(request, self.time_limit)


class IsolatedScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's script engine with diagram code isolated (see ``IsolatedEnvironment``)."""

    environment: IsolatedEnvironment

    def __init__(self, functions: Mapping[str, Callable[..., Any]], *, time_limit: float = 1.0,
                 settings: IsolationSettings | None = None, now: Callable[[], str] | None = None) -> None:
        super().__init__(environment=IsolatedEnvironment(functions, time_limit=time_limit, settings=settings,
                                                         now=now))

    def validate(self, expression: str) -> None:
        """Raise SandboxError (SandboxSyntaxError if it does not parse) listing every problem."""
        sandbox.require_valid(expression, script=False)

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> Any:
        """As SpiffWorkflow's, but the error names its cause (a timeout, a refused call) too."""
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except SpiffWorkflowException as err:
            err.add_note(f"Error evaluating expression '{_short(expression)}'")
            raise
        except Exception as err:
            raise WorkflowTaskException(f"Error evaluating expression '{_short(expression)}': {_cause(err)}",
                                        task=task, exception=err) from err

    def create_task_exec_exception(self, task: Any, script: str, err: Exception) -> Exception:
        """As SpiffWorkflow's, worded for a person: "ZeroDivisionError: division by zero (line 3)";
        the sandbox's own refusals without their type name."""
        if isinstance(err, SpiffWorkflowException):
            return super().create_task_exec_exception(task, script, err)  # type: ignore[no-any-return]
        line, error_line = self.get_error_line_number_and_content(script, err)
        message = _cause(err)
        if line and f"(line {line})" not in message and "\n" in script.strip():
            message += f" (line {line})"
        return WorkflowTaskException(message, task=task, exception=err, line_number=line, error_line=error_line)

    def get_error_line_number_and_content(self, script: str, err: Exception) -> tuple[int, str]:
        """The script line an error came from: workers report it, tracebacks do not cross processes."""
        line = getattr(err, "sandbox_line", None)
        if isinstance(line, int) and line > 0:
            lines = script.splitlines()
            return line, lines[line - 1] if line <= len(lines) else ""
        number, text = super().get_error_line_number_and_content(script, err)
        return int(number or 0), str(text or "")

    def close(self) -> None:
        self.environment.close()


def _cause(err: Exception) -> str:
    """What went wrong, without a final period (SpiffWorkflow's messages add one)."""
    text = str(err).rstrip(". ")
    return text if isinstance(err, SandboxError) else f"{type(err).__name__}: {text}"


def _short(source: str, limit: int = 200) -> str:
    source = " ".join(source.split())
    return source if len(source) <= limit else source[: limit - 1] + "…"
