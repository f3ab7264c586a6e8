"""Diagram code isolated in worker processes the operating system can stop.

The sandbox (``service/engine/sandbox.py``) is the first wall: RestrictedPython compiles diagram
code under a narrow policy and guards what it touches. It cannot stop one long C call —
``max()`` over a huge list, ``list(map(...))`` of millions, a helper that loops for seconds — in a
multi-threaded service. So expressions, scripts and the helpers they call run in a small pool of
worker processes (``pool``) with an address-space and a CPU limit (``worker``); a worker that
overruns the time bound is killed and replaced, the command fails with a clear message, and every
other request goes on being served. Short read-only expressions whose cost is bounded by the data
they read stay in-process (``cheap``): a round trip would cost more than they do.
"""

from .engine import IsolatedEnvironment, IsolatedScriptEngine, IsolationSettings
from .pool import WorkerCrashed, WorkerPool, shutdown_pools

__all__ = ["IsolatedEnvironment", "IsolatedScriptEngine", "IsolationSettings", "WorkerCrashed", "WorkerPool",
           "shutdown_pools"]
