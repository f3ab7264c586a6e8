"""The sandbox for the Python in BPMN diagrams (gateway conditions, script tasks, timer, property and
multi-instance expressions). Diagrams are data written by process owners, not code, so they never
reach plain ``eval``/``exec``: RestrictedPython compiles them under a narrower policy; attributes,
items, writes and size-changing operators go through guards; only a few safe builtins and the
functions handed in are callable; a per-thread trace function and a check in every loop body bound
run time (Flask serves requests in threads, where ``signal.alarm`` cannot); operations that are one
uninterruptible C call are refused by size before they run; stored and returned values are plain.
This is the first wall: in the service the code runs inside worker processes (``isolation``),
which the OS stops when one C call (``max()`` over a huge list) outruns every check here.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import logging
import operator
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from types import CodeType, FrameType, TracebackType
from typing import Any, NoReturn

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

logger = logging.getLogger(__name__)

MAX_SOURCE_LENGTH = 20_000  # characters; diagram code is short, and parsing cost grows with size
MAX_SIZE = 1_000_000  # items/characters one operation may make, and text size of a stored value
MAX_RANGE_LENGTH = 1_000_000  # range() is lazy, but sum/list/sorted over it is one C loop
MAX_INT_BITS = 10_000  # bits from * ** <<; such an int still prints (Python refuses >4,300 digits)
MAX_FORMAT_WIDTH = 1_000  # widths/precisions in f-string format specs and % formatting
MAX_DEPTH = 100  # nesting of stored or printed values: repr() and JSON recurse in C
MAX_ROUND_DIGITS = 100  # round(1, -10**9) would compute 10**(10**9)
MAX_MEMORY_GROWTH = 256 * 2**20  # bytes of resident memory one run may add: a last-resort check
MEMORY_CHECK_INTERVAL = 0.005  # seconds between memory checks, so short runs never pay for one
SANDBOX_FILENAME = "<string>"  # SpiffWorkflow looks for frames of this name to report a line

_BINOPS = {ast.Add: "+", ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<", ast.Mod: "%"}  # guarded
_OPERATORS = {"+": operator.add, "*": operator.mul, "**": operator.pow, "<<": operator.lshift, "%": operator.mod}
_INPLACE = {"+=": operator.iadd, "*=": operator.imul, "**=": operator.ipow, "<<=": operator.ilshift,
            "%=": operator.imod, "-=": operator.isub, "/=": operator.itruediv, "//=": operator.ifloordiv,
            ">>=": operator.irshift, "&=": operator.iand, "|=": operator.ior, "^=": operator.ixor}
_FORBIDDEN_NODES = {
    ast.Import: "Importing is", ast.ImportFrom: "Importing is", ast.ClassDef: "A class definition is",
    ast.Global: "'global' is", ast.With: "'with' is", ast.Yield: "'yield' is", ast.YieldFrom: "'yield' is",
}
_FORBIDDEN_CALLS = frozenset({
    "open", "eval", "exec", "compile", "getattr", "setattr", "delattr", "hasattr", "type", "vars",
    "globals", "locals", "dir", "input", "help", "breakpoint", "exit", "quit", "memoryview", "bytearray",
    "object", "super", "classmethod", "staticmethod", "property", "format", "repr", "iter", "next", "id",
    "callable", "issubclass", "license", "credits", "copyright", "attrgetter", "itemgetter", "methodcaller",
})
_DENIED_ATTRIBUTES = INSPECT_ATTRIBUTES | {"format", "format_map", "translate", "maketrans", "mro", "to_bytes"}
_MUTATORS = frozenset({
    "append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse", "update", "setdefault",
    "popitem", "add", "discard", "difference_update", "intersection_update", "symmetric_difference_update",
})
_ATTRIBUTE_TYPES = (str, int, float, list, dict, tuple, set, frozenset, dt.date, dt.time, dt.timedelta)
_SIZED = (str, bytes, list, tuple)
_PLAIN = (type(None), bool, int, float, str)
_CONVERSIONS: dict[int, Callable[[Any], str]] = {115: str, 114: repr, 97: ascii}  # f-string !s !r !a
_DIGITS = re.compile(r"\d+")
_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_MISSING = object()
_MUTABLE = (list, dict, set)
_CURRENT = threading.local()  # the run on this thread, which guards mark when data changes in place


class SandboxError(Exception):
    """Diagram code was refused (at check time) or stopped (at run time); the message says why."""


class SandboxSyntaxError(SandboxError, SyntaxError):
    """The source does not parse. Also a SyntaxError, which SpiffWorkflow's DMN engine expects."""


class SandboxTimeout(SandboxError):
    """Diagram code ran longer than its time limit."""


class _Abort(BaseException):
    """Stops sandboxed code. Not an Exception, and ``except`` in diagram code can only name the
    Exception subclasses offered as builtins, so diagram code cannot catch it."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


def _refuse(message: str) -> NoReturn:
    raise _Abort(message)


def _changed_in_place() -> None:
    """Note that the running code changed a list, dict or set in place (an item written, a mutating
    method fetched, ``+=`` on a list): the script's end then measures all of its data again, since
    such a change can grow a variable it never assigned (``rows[0]['x'] = big``)."""
    run = getattr(_CURRENT, "run", None)
    if run is not None:
        run.changed_in_place = True


# --- Compile time -------------------------------------------------------------------------------
def _call(name: str, args: list[ast.expr], like: ast.AST) -> ast.Call:
    node = ast.Call(func=ast.Name(name, ast.Load()), args=args, keywords=[])
    return ast.fix_missing_locations(ast.copy_location(node, like))


def _problem(node: ast.AST) -> str | None:
    """What diagram code must not do although RestrictedPython allows it ('X is' / 'X are')."""
    if type(node) in _FORBIDDEN_NODES:
        return _FORBIDDEN_NODES[type(node)]
    if isinstance(node, ast.Try) and node.finalbody:  # 'finally: continue' would swallow a timeout
        return "'finally' is"
    if isinstance(node, ast.ExceptHandler):  # a bare 'except:' or 'except f():' could catch _Abort
        names = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
        if not all(isinstance(name, ast.Name) for name in names):
            return "An except clause naming anything but exception classes is"
    if isinstance(node, ast.FunctionDef) and node.decorator_list:
        return "A decorator is"
    if isinstance(node, ast.Name) and node.id in ("print", "printed"):
        return "'print' is"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FORBIDDEN_CALLS:
        return f"Calling '{node.func.id}' is"
    if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
        return "Assigning or deleting attributes is"
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)) and isinstance(getattr(node, "ctx", ast.Load()), ast.Load) \
            and any(isinstance(elt, ast.Starred) for elt in node.elts):  # [*a, *a] doubles in one C call
        return "Unpacking with '*' inside a list, tuple or set is"
    return None


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy, narrowed for diagram code, with every loop body and except handler
    checking the clock and size-changing operators and f-string fields routed to guards."""

    def visit(self, node: ast.AST) -> Any:
        if problem := _problem(node):
            self.error(node, f"{problem} not allowed in diagram code")
            if isinstance(node, (*_FORBIDDEN_NODES, ast.Name)):
                return node
        result = super().visit(node)
        if isinstance(result, (ast.While, ast.For, ast.ExceptHandler)):  # 'while 1: pass' has no line events
            tick = ast.copy_location(ast.Expr(_call("_tick_", [], result.body[0])), result.body[0])
            result.body.insert(0, tick)
        elif isinstance(result, ast.BinOp) and type(result.op) in _BINOPS:
            return _call("_binop_", [ast.Constant(_BINOPS[type(result.op)]), result.left, result.right], result)
        elif isinstance(result, ast.FormattedValue):
            spec = result.format_spec or ast.Constant("")
            result.value = _call("_format_", [result.value, ast.Constant(result.conversion), spec], result)
            result.conversion, result.format_spec = -1, None
        return result


@functools.lru_cache(maxsize=4096)
def _compile(source: str, mode: str) -> tuple[CodeType | None, tuple[str, ...], bool]:
    """Compile once per distinct source: (code or None, problems, whether it failed to parse)."""
    if len(source) > MAX_SOURCE_LENGTH:
        return None, (f"The code is {len(source)} characters long; the limit is {MAX_SOURCE_LENGTH}",), False
    try:
        tree = ast.parse(source, SANDBOX_FILENAME, "eval" if mode == "eval" else "exec")
    except SyntaxError as exc:
        return None, (f"Line {exc.lineno}: syntax error: {exc.msg}",), True
    except (RecursionError, MemoryError, ValueError) as exc:  # deep nesting, NUL bytes
        return None, (f"The code cannot be parsed ({type(exc).__name__})",), True
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    try:
        result = compiler(tree, SANDBOX_FILENAME, policy=_Policy)  # type: ignore[arg-type]
    except (RecursionError, MemoryError) as exc:
        return None, (f"The code is too deeply nested to compile ({type(exc).__name__})",), False
    problems = sorted(result.errors, key=lambda e: int(e.split(":")[0][5:]) if e[5:6].isdigit() else 0)
    return result.code, tuple(problem.rstrip(".") for problem in problems), False


def check_expression(source: str) -> list[str]:
    """Every problem that stops ``source`` from running as a sandboxed expression ([] if none)."""
    return list(_compile(source.strip(), "eval")[1])


def check_script(source: str) -> list[str]:
    """Every problem that stops ``source`` from running as a sandboxed script ([] if none)."""
    return list(_compile(source, "exec")[1])


def require_valid(source: str, *, script: bool) -> None:
    """Raise SandboxError (SandboxSyntaxError if it does not parse) listing every problem of
    ``source``; cached, so checking before handing code to a worker costs a dictionary look-up."""
    _compiled(source, "exec" if script else "eval")


def _compiled(source: str, mode: str) -> CodeType:
    code, problems, syntax = _compile(source.strip() if mode == "eval" else source, mode)
    if code is None:
        raise (SandboxSyntaxError if syntax else SandboxError)("; ".join(problems) + ".")
    return code


# --- Run-time guards ------------------------------------------------------------------------------
def _check_size(size: int, what: str) -> None:
    if size > MAX_SIZE:
        _refuse(f"{what} would make {size} items or characters; the limit is {MAX_SIZE}.")


def _check_operands(op: str, a: Any, b: Any) -> None:
    """Refuse ``a op b`` when its result would be huge: one C call cannot be interrupted."""
    bits = 0
    if op == "+" and isinstance(a, _SIZED) and isinstance(b, _SIZED):
        _check_size(len(a) + len(b), "'+'")
    elif op == "*" and isinstance(a, int) and isinstance(b, int):
        bits = a.bit_length() + b.bit_length()
    elif op == "*" and isinstance(a, int) and isinstance(b, _SIZED):
        _check_size(len(b) * a, "'*'")
    elif op == "*" and isinstance(a, _SIZED) and isinstance(b, int):
        _check_size(len(a) * b, "'*'")
    elif op == "**" and isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        bits = a.bit_length() * b
    elif op == "<<" and isinstance(a, int) and isinstance(b, int) and a:
        bits = a.bit_length() + b
    elif op == "%" and isinstance(a, (str, bytes)):
        if isinstance(a, bytes):
            _refuse("'%' formatting of bytes is not allowed.")
        for width, precision in _PRINTF_SPEC.findall(a):
            if "*" in (width, precision) or max(int(width or 0), int(precision or 0)) > MAX_FORMAT_WIDTH:
                _refuse(f"A '%' format width or precision above {MAX_FORMAT_WIDTH} is not allowed.")
        _measure(b, "'%' formatting")
    if bits > MAX_INT_BITS:
        _refuse(f"'{op}' would make a number of about {bits} bits; the limit is {MAX_INT_BITS}.")


def _binop(op: str, a: Any, b: Any) -> Any:
    _check_operands(op, a, b)
    return _OPERATORS[op](a, b)


def _inplacevar(op: str, a: Any, b: Any) -> Any:
    if op not in _INPLACE:
        _refuse(f"'{op}' is not allowed in diagram code.")
    _check_operands(op[:-1], a, b)
    if isinstance(a, _MUTABLE):
        _changed_in_place()
    return _INPLACE[op](a, b)


def _measure(value: Any, what: str, *, plain: bool = False) -> None:
    """Refuse ``value`` when its text (str(), repr(), JSON) would exceed MAX_SIZE characters, or,
    with ``plain``, when it holds anything but JSON-like values. Shared references count each
    time: ['a' * 10**5] * 10**5 is small in memory but prints as 10**10 characters in one C call."""
    size, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if plain and not isinstance(item, (*_PLAIN, list, tuple, dict)):
            _refuse(f"{what} holds a {type(item).__name__}; only plain values are allowed.")
        if isinstance(item, (str, bytes)):
            size += len(item) + 2
        elif isinstance(item, (dict, list, tuple, set, frozenset, BaseException)):
            if depth >= MAX_DEPTH:
                _refuse(f"{what} is nested more than {MAX_DEPTH} levels deep.")
            parts = item.args if isinstance(item, BaseException) else item
            size += 2 + 4 * len(parts)
            if size <= MAX_SIZE:
                stack.extend((part, depth + 1) for part in parts)
                stack.extend((part, depth + 1) for part in (item.values() if isinstance(item, dict) else ()))
        else:
            size += 24
        _check_size(size, what)


def _format(value: Any, conversion: int, spec: str) -> str:
    """An f-string field ``{value!r:spec}``, with its text size and spec widths checked."""
    if conversion == -1 and not spec and type(value) is str:
        return value
    _measure(value, "Converting this value to text")
    if any(len(digits) > 6 or int(digits) > MAX_FORMAT_WIDTH for digits in _DIGITS.findall(spec)):
        _refuse(f"A format width or precision above {MAX_FORMAT_WIDTH} is not allowed.")
    return format(_CONVERSIONS[conversion](value) if conversion != -1 else value, spec)


_GROWTH: dict[str, Callable[..., int]] = {  # result size of str methods that can outgrow their inputs
    "center": lambda s, width, *_: width, "ljust": lambda s, width, *_: width,
    "rjust": lambda s, width, *_: width, "zfill": lambda s, width: width,
    "expandtabs": lambda s, tabsize=8: len(s) + s.count("\t") * tabsize,
    "replace": lambda s, old, new, count=-1: len(s) + (len(new) - len(old)) * min(
        s.count(old) if old else len(s) + 1, count if count >= 0 else len(s) + 1),
}


def _grown(text: str, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if name == "join" and args:
            items = list(args[0])
            _check_size(sum(len(i) for i in items if isinstance(i, str)) + len(text) * len(items), "join()")
            return method(items, *args[1:], **kwargs)
        try:
            size = _GROWTH[name](text, *args, **kwargs) if name in _GROWTH else 0
        except TypeError:  # wrong arguments: let the method itself say so
            size = 0
        _check_size(size, f"{name}()")
        return method(*args, **kwargs)

    return guarded


def _make_getattr(read_only: bool) -> Callable[..., Any]:
    """``obj.name``: public attributes of plain values only, minus the str.format family and
    (for expressions, which must not change task data) mutating methods."""

    def guarded_getattr(obj: Any, name: str, *default: Any) -> Any:
        if type(name) is not str or name.startswith("_") or name in _DENIED_ATTRIBUTES:
            _refuse(f"The attribute '{name}' is not available in diagram code.")
        if isinstance(obj, BaseException) and name != "args":
            _refuse("Exceptions only offer '.args' in diagram code.")
        if not isinstance(obj, (*_ATTRIBUTE_TYPES, BaseException)):
            _refuse(f"Attributes of {type(obj).__name__} objects are not available in diagram code.")
        if name in _MUTATORS and isinstance(obj, _MUTABLE):
            if read_only:
                _refuse(f"An expression must not change task data ('.{name}').")
            _changed_in_place()
        value = getattr(obj, name, *default)
        if isinstance(obj, str) and (name in _GROWTH or name == "join"):
            return _grown(obj, name, value)
        if name == "extend" and isinstance(obj, list):
            return lambda items: obj.extend(_checked_items(obj, items))
        return value

    return guarded_getattr


def _checked_items(target: list[Any], items: Any) -> Any:
    items = items if isinstance(items, _SIZED) else list(items)
    _check_size(len(target) + len(items), "Adding these items")
    return items


def _getitem(obj: Any, key: Any) -> Any:
    if not isinstance(obj, (dict, list, tuple, str, bytes, range)):
        _refuse(f"Indexing {type(obj).__name__} objects is not allowed in diagram code.")
    return obj[key]


class _ItemWriter:
    """What ``_write_`` gives scripts: item assignment and deletion on dicts and lists only."""

    __slots__ = ("target",)

    def __init__(self, target: dict[Any, Any] | list[Any]) -> None:
        self.target = target

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, slice) and isinstance(self.target, list):
            value = _checked_items(self.target, value)  # l[:0] = l doubles in one C call
        self.target[key] = value

    def __delitem__(self, key: Any) -> None:
        del self.target[key]


def _noting_changes(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as scripts call it: a list, dict or set passed in may come back changed."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        if any(isinstance(value, _MUTABLE) for value in (*args, *kwargs.values())):
            _changed_in_place()
        return function(*args, **kwargs)

    return call


def _write(obj: Any) -> _ItemWriter:
    if not isinstance(obj, (dict, list)):
        _refuse(f"Changing {type(obj).__name__} objects is not allowed in diagram code.")
    _changed_in_place()
    return _ItemWriter(obj)


def _safe_range(*args: int) -> range:
    values = range(*args)
    try:
        length = len(values)
    except OverflowError:
        length = MAX_RANGE_LENGTH + 1
    if length > MAX_RANGE_LENGTH:
        _refuse(f"range() with more than {MAX_RANGE_LENGTH} numbers is not allowed.")
    return values


def _safe_sum(values: Any, start: Any = 0) -> Any:
    if not isinstance(start, (int, float)):  # sum(lists, []) concatenates quadratically in C
        _refuse("sum() only adds numbers in diagram code.")
    return sum(values, start)


def _safe_str(*args: Any) -> str:
    if len(args) == 1:
        _measure(args[0], "Converting this value to text")
    return str(*args)


def _safe_round(number: Any, ndigits: Any = None) -> Any:
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        _refuse(f"round() to more than {MAX_ROUND_DIGITS} digits is not allowed.")
    return round(number, ndigits)


_ISINSTANCE_TYPES: dict[Any, type] = {t: t for t in (int, float, bool, list, dict, set, tuple)} | {_safe_str: str}


def _safe_isinstance(obj: Any, types: Any) -> bool:
    try:
        wanted = tuple(_ISINSTANCE_TYPES[t] for t in (types if isinstance(types, tuple) else (types,)))
    except (KeyError, TypeError):
        _refuse("isinstance() only accepts str, int, float, bool, list, dict, set and tuple.")
    return isinstance(obj, wanted)


_SAFE_BUILTINS: dict[str, Any] = {
    "None": None, "True": True, "False": False, "abs": abs, "all": all, "any": any, "bool": bool,
    "dict": dict, "enumerate": enumerate, "filter": filter, "float": float, "int": int,
    "isinstance": _safe_isinstance, "len": len, "list": list, "map": map, "max": max, "min": min,
    "range": _safe_range, "reversed": reversed, "round": _safe_round, "set": set, "sorted": sorted,
    "str": _safe_str, "sum": _safe_sum, "tuple": tuple, "zip": zip,
    # Exception subclasses only: diagram code must never get hold of BaseException (see _Abort).
    **{e.__name__: e for e in (Exception, ArithmeticError, LookupError, KeyError, IndexError,
                              ValueError, TypeError, ZeroDivisionError)},
}


def _guards(read_only: bool) -> dict[str, Any]:
    """The names RestrictedPython's transformed code calls (all start with '_', so diagram code
    cannot name, rebind or read them), plus the safe builtins."""
    return {
        "_getattr_": _make_getattr(read_only), "_getitem_": _getitem, "_getiter_": iter,
        "_write_": _write, "_inplacevar_": _inplacevar,  # expressions cannot assign items at all
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence, "_unpack_sequence_": guarded_unpack_sequence,
        "_apply_": lambda function, *args, **kwargs: function(*args, **kwargs), "_binop_": _binop,
        "_format_": _format, "__builtins__": _SAFE_BUILTINS,
    }


# --- Time and memory bound ------------------------------------------------------------------------
def _resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class _Run:
    """One run's deadline and memory baseline; its methods are the trace functions, which apply to
    the running thread only."""

    def __init__(self, time_limit: float) -> None:
        self.time_limit = time_limit
        # the bound is CPU time of this thread: a busy machine slows the code, it does not break it
        self.deadline = time.thread_time() + time_limit
        self.next_memory_check = time.monotonic() + MEMORY_CHECK_INTERVAL
        self.memory_base: int | None = None
        self.changed_in_place = False  # set by the guards (``_changed_in_place``)

    def check(self) -> None:
        if time.thread_time() > self.deadline:
            raise _Abort(f"The code ran longer than its limit of {self.time_limit:g} s.", timeout=True)
        now = time.monotonic()
        if now >= self.next_memory_check:
            self.next_memory_check = now + MEMORY_CHECK_INTERVAL
            resident = _resident_bytes()
            if self.memory_base is None:
                self.memory_base = resident
            elif resident is not None and resident - self.memory_base > MAX_MEMORY_GROWTH:
                raise _Abort(f"The code used more than {MAX_MEMORY_GROWTH // 2**20} MB of memory.")

    def local_trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        self.check()
        return self.local_trace

    def global_trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != SANDBOX_FILENAME:
            return None  # guards and exported functions are trusted: no line events there
        self.check()
        return self.local_trace

    def tick(self) -> None:
        """Top of every loop body and except handler. CPython switches tracing off when a trace
        call fails (a RecursionError at the recursion limit can be caught): switch it back on."""
        self.check()
        if sys.gettrace() != self.global_trace:
            sys.settrace(self.global_trace)
            frame: FrameType | None = sys._getframe(1)
            while frame is not None:
                if frame.f_code.co_filename == SANDBOX_FILENAME:
                    frame.f_trace = self.local_trace
                frame = frame.f_back


def _with_line(message: str, tb: TracebackType | None, source: str) -> str:
    line = None
    while tb is not None:
        line = tb.tb_lineno if tb.tb_frame.f_code.co_filename == SANDBOX_FILENAME else line
        tb = tb.tb_next
    return f"{message} (line {line})" if line and "\n" in source.strip() else message


# --- SpiffWorkflow integration --------------------------------------------------------------------
class SandboxedEnvironment(BasePythonScriptEngineEnvironment):
    """Runs SpiffWorkflow's expressions and scripts in the sandbox; ``self.globals`` holds the
    functions diagram code may call."""

    def __init__(self, functions: Mapping[str, Callable[..., Any]], *, time_limit: float = 1.0) -> None:
        for name, function in functions.items():
            if not name.isidentifier() or name.startswith("_") or name in _FORBIDDEN_CALLS or not callable(function):
                raise ValueError(f"{name!r} cannot be offered to diagram code")
        super().__init__(dict(functions))
        self.time_limit = time_limit
        self._eval_guards = _guards(read_only=True)
        self._exec_guards = _guards(read_only=False)
        # What scripts call: the same functions, noting a list, dict or set handed in (they may change it).
        self._exec_functions = {name: _noting_changes(function) for name, function in self.globals.items()}

    def _run(self, code: CodeType, namespace: dict[str, Any], source: str, run: _Run | None = None) -> Any:
        run = run or _Run(self.time_limit)
        namespace["_tick_"] = run.tick
        previous, previous_run = sys.gettrace(), getattr(_CURRENT, "run", None)
        _CURRENT.run = run
        sys.settrace(run.global_trace)
        try:
            return eval(code, namespace)  # noqa: S307 - RestrictedPython code with guarded globals only
        except _Abort as abort:
            error = (SandboxTimeout if abort.timeout else SandboxError)(
                _with_line(str(abort), abort.__traceback__, source))
            logger.warning("Sandbox stopped diagram code: %s", error)
            raise error from None
        except RecursionError as exc:
            raise SandboxError(_with_line("The code recursed too deeply.", exc.__traceback__, source)) from None
        except MemoryError:
            raise SandboxError("The code ran out of memory.") from None
        except Exception as exc:  # ordinary errors pass on, unless their text alone is huge
            self._check(exc, f"The {type(exc).__name__} raised by the code")
            raise
        finally:
            sys.settrace(previous)
            _CURRENT.run = previous_run

    @staticmethod
    def _check(value: Any, what: str, *, plain: bool = False) -> None:
        try:
            _measure(value, what, plain=plain)
        except _Abort as abort:
            raise SandboxError(str(abort)) from None

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Any = None) -> Any:
        """The value of ``expression`` over the task data ``context``, which is not changed."""
        code = _compiled(expression, "eval")
        namespace = {**(external_context or {}), **context, **self.globals, **self._eval_guards}
        result = self._run(code, namespace, expression)
        if not isinstance(result, _PLAIN):
            self._check(result, "The value of the expression", plain=True)
        return result

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        """Run a script task. New, changed and deleted variables reach ``context`` only when the
        script finishes cleanly; functions, guards and builtins never do."""
        code = _compiled(script, "exec")
        if clash := sorted(set(context) & set(self.globals)):
            raise SandboxError(f"Task data has variables named like functions: {', '.join(clash)}; rename them.")
        external = external_context or {}
        namespace = {**external, **context, **self._exec_functions, **self._exec_guards}
        run = _Run(self.time_limit)
        self._run(code, namespace, script, run)
        for name, function in self._exec_functions.items():
            if namespace.get(name) is not function:
                raise SandboxError(f"The script assigns or deletes '{name}', the name of a function.")
        # The size bound is measured on what the script wrote: variables it bound, and — only when it
        # changed a list or dict in place — every list and dict. Data it left alone was measured when
        # it was written (or came in as JSON, bounded by SAMVERKAN_MAX_INSTANCE_DATA_BYTES), so a
        # multi-instance over N items no longer walks all N items after each of its N scripts.
        updates: dict[str, Any] = {}
        for name, value in namespace.items():
            if name.startswith("_") or name in self.globals or (name in external and name not in context):
                continue
            if callable(value):  # a helper the script defined, not data
                continue
            bound = context.get(name, _MISSING) is not value
            if bound or (run.changed_in_place and isinstance(value, (list, dict))):
                self._check(value, f"The variable '{name}'", plain=bound)
            updates[name] = value
        for name in [name for name in context if name not in updates and not name.startswith("_")]:
            del context[name]
        context.update(updates)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:
        raise SandboxError("Service tasks cannot call services from the sandbox.")


class SandboxedScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's script engine with every expression and script run in the sandbox."""

    def __init__(self, functions: Mapping[str, Callable[..., Any]], *, time_limit: float = 1.0) -> None:
        super().__init__(environment=SandboxedEnvironment(functions, time_limit=time_limit))

    def validate(self, expression: str) -> None:
        """Raise SandboxError (SandboxSyntaxError if it does not parse) listing every problem."""
        _compiled(expression, "eval")
