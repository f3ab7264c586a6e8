"""Which expressions may run in the service's own process instead of a worker.

A round trip to a worker costs about 0.1 ms; most conditions and task properties are a name, an
item, a comparison (``beslut == 'godkant'``, ``brukare['stadsomrade']``, ``'Handlägg ' + arende``).
Such an expression can only read task data, and reading is bounded by what it reads: with no
calls (but ``len``, ``.get`` and ``str``), no repetition (``*``, ``**``, ``<<``, ``%``, comprehensions,
f-strings) and a short source, every C-level operation it makes — a comparison, a concatenation,
a slice, a substring search — costs at most a few passes over the task data, which is bounded in
size (SAMVERKAN_MAX_INSTANCE_DATA_BYTES). Anything else, every script and every call of a helper
from ``processes/`` runs in a worker. The sandbox still compiles and guards the in-process ones.
"""

from __future__ import annotations

import ast
import functools

MAX_SOURCE = 200  # characters
MAX_CONCATENATIONS = 4  # '+' and '-' in one expression: a result is at most 5 × the data it reads
MAX_ELEMENTS = 20  # items of a list or tuple literal

_SIMPLE = (ast.Expression, ast.Load, ast.Name, ast.BoolOp, ast.And, ast.Or, ast.IfExp, ast.Subscript,
           ast.Slice, ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
           ast.Is, ast.IsNot, ast.Not, ast.USub, ast.UAdd, ast.Add, ast.Sub)
_CONSTANTS = (str, int, float, bool, type(None))


@functools.lru_cache(maxsize=4096)
def is_cheap(source: str, function_names: frozenset[str]) -> bool:
    """Whether ``source`` is an expression whose cost is bounded by the task data it reads."""
    if len(source) > MAX_SOURCE:
        return False
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    budget = [MAX_CONCATENATIONS]
    return _cheap(tree, function_names, budget)


def _cheap(node: ast.AST, functions: frozenset[str], budget: list[int]) -> bool:
    if isinstance(node, ast.Call):
        return _cheap_call(node, functions, budget)
    if isinstance(node, ast.Constant):
        return isinstance(node.value, _CONSTANTS)
    if isinstance(node, ast.Name):
        return node.id not in functions
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
            return False
    elif isinstance(node, ast.BinOp):
        if not isinstance(node.op, (ast.Add, ast.Sub)):
            return False
        budget[0] -= 1
        if budget[0] < 0:
            return False
    elif isinstance(node, (ast.List, ast.Tuple)):
        if len(node.elts) > MAX_ELEMENTS or any(isinstance(e, ast.Starred) for e in node.elts):
            return False
    elif not isinstance(node, _SIMPLE):
        return False
    return all(_cheap(child, functions, budget) for child in ast.iter_child_nodes(node))


def _cheap_call(node: ast.Call, functions: frozenset[str], budget: list[int]) -> bool:
    """``len(x)`` and ``x.get(key[, default])`` (constant time) and ``str(x)`` (linear in what it
    converts, so it spends from the same budget as ``+``)."""
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        return False
    func = node.func
    if isinstance(func, ast.Name) and func.id in ("len", "str") and func.id not in functions and len(node.args) == 1:
        if func.id == "str":
            budget[0] -= 1
            if budget[0] < 0:
                return False
        return _cheap(node.args[0], functions, budget)
    if isinstance(func, ast.Attribute) and func.attr == "get" and 1 <= len(node.args) <= 2:
        return all(_cheap(part, functions, budget) for part in (func.value, *node.args))
    return False
