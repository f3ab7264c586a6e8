"""Waiting in tests: on a condition, with a bound, never a bare sleep (issue 11).

A bound is how long a test may wait before it calls the behaviour broken; it is generous, so a
loaded 2-core machine never trips it, and it is never an assertion about speed.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import requests

BOUND = 60.0  # seconds: the default patience of a waiting test


def wait_until(condition: Callable[[], object], *, what: str, timeout: float = BOUND, interval: float = 0.05) -> None:
    """Return once ``condition()`` is true; fail the test naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout:.0f} s for {what}")
        time.sleep(interval)


def serving(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def wait_until_serving(process: subprocess.Popen[bytes], port: int, *, timeout: float = 2 * BOUND) -> None:
    """Wait until the service ``process`` answers its health check on ``port`` (fail if it exits).

    Twice the usual patience: a service starting on a machine whose cores others keep busy is slow."""
    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the service exited with {process.returncode} before it served")
        return serving(port)

    wait_until(ready, what=f"the service on port {port}", timeout=timeout, interval=0.1)
