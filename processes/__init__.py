"""Python that diagrams may call.

Each module here (one per routine, named by its process key, plus shared ones such as
``calendar``) lists the functions a diagram may call in ``__all__``. Script tasks, gateway
conditions, timer expressions and task properties see exactly these names — nothing else from
Python (see ``service/engine/sandbox.py``). Names are global across modules, so they must be unique;
``script_functions()`` refuses duplicates.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from functools import cache
from typing import Any


@cache
def script_functions() -> dict[str, Callable[..., Any]]:
    """Every exported function of every module in this package, by name."""
    functions: dict[str, Callable[..., Any]] = {}
    owners: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name in getattr(module, "__all__", ()):
            if name in functions:
                raise RuntimeError(f"script function {name!r} exported by both {owners[name]} and {info.name}")
            functions[name] = getattr(module, name)
            owners[name] = info.name
    return functions
