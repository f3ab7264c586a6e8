"""What the parent and a worker say to each other, and how the parent reads a worker's answer.

A request is one pickled tuple (the parent is trusted, so the worker unpickles it plainly). An
answer is read with ``safe_loads``, which builds plain values only and never imports or calls
anything: should diagram code ever escape the sandbox inside a worker, its answer still cannot
run code in the service. Errors cross as (type name, arguments, line) and become exceptions of
the same builtin type again here, or a SandboxError when the type is not one of ours or Python's.
"""

from __future__ import annotations

import builtins
import io
import pickle
from dataclasses import dataclass
from typing import Any

from ..sandbox import SandboxError, SandboxSyntaxError, SandboxTimeout

PROTOCOL = 5
MAX_ERROR_TEXT = 2_000  # characters of an error argument that cross back

# Only what task data may hold besides JSON values: dates and times (and their zone), and sets.
_SAFE_GLOBALS = {
    ("datetime", "date"), ("datetime", "datetime"), ("datetime", "time"), ("datetime", "timedelta"),
    ("datetime", "timezone"), ("builtins", "set"), ("builtins", "frozenset"),
}
_SANDBOX_ERRORS: dict[str, type[SandboxError]] = {
    cls.__name__: cls for cls in (SandboxError, SandboxSyntaxError, SandboxTimeout)}
# Python's errors diagram code can raise; anything else arrives as a SandboxError naming its type.
_PYTHON_ERRORS = frozenset({
    "Exception", "ArithmeticError", "AssertionError", "AttributeError", "IndexError", "KeyError",
    "LookupError", "NameError", "NotImplementedError", "OverflowError", "RecursionError", "RuntimeError",
    "StopIteration", "TypeError", "UnboundLocalError", "ValueError", "ZeroDivisionError",
})


@dataclass(frozen=True)
class Request:
    """One evaluation (``op`` "eval") or script run ("exec")."""

    op: str
    source: str
    context: bytes  # the task data, pickled once by the parent (its length is the data's size)
    external: dict[str, Any]
    now: str | None  # what ``now()`` returns, from the service clock
    time_limit: float
    max_data_bytes: int
    environ: dict[str, str] | None  # the parent's environment when it changed since the last request

    def dumps(self) -> bytes:
        return pickle.dumps((self.op, self.source, self.context, self.external, self.now, self.time_limit,
                             self.max_data_bytes, self.environ), PROTOCOL)

    @classmethod
    def loads(cls, data: bytes) -> Request:
        return cls(*pickle.loads(data))  # noqa: S301 - from the parent, which is trusted


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a worker answered with a {module}.{name}; only plain values may cross")


def safe_loads(data: bytes) -> Any:
    """Unpickle a worker's answer, refusing every class but plain values, dates and sets."""
    return _PlainUnpickler(io.BytesIO(data)).load()


def plain_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """An exception's arguments as values that cross safely and stay short."""
    plain: list[Any] = []
    for arg in args[:4]:
        if isinstance(arg, str):
            plain.append(arg[:MAX_ERROR_TEXT])
        elif isinstance(arg, (int, float, bool, type(None))):
            plain.append(arg)
        else:
            plain.append(str(arg)[:MAX_ERROR_TEXT])
    return tuple(plain)


def error_answer(error: BaseException, line: int | None, *, retire: bool = False) -> bytes:
    """A worker's answer for an error; ``retire``: the worker exits after sending it."""
    return pickle.dumps(("error", type(error).__name__, plain_args(error.args), line, retire), PROTOCOL)


def rebuild_error(name: str, args: tuple[Any, ...], line: int | None) -> Exception:
    """The exception a worker reported, as the parent raises it; ``sandbox_line`` keeps its line."""
    error: Exception
    if name in _SANDBOX_ERRORS:
        error = _SANDBOX_ERRORS[name](*args[:1])
    elif name in _PYTHON_ERRORS:
        try:
            error = getattr(builtins, name)(*args)
        except Exception:  # an argument list the type does not take: keep the text
            error = SandboxError(f"{name}: {', '.join(map(str, args))}")
    else:
        error = SandboxError(f"{name}: {', '.join(map(str, args))}")
    error.sandbox_line = line  # type: ignore[attr-defined]  # read by IsolatedScriptEngine for Spiff's report
    return error
