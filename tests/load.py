"""Keep the machine's cores busy while tests run: ``python -m tests.load [--processes N] [--seconds S]``.

A ``stress``-like load from the test tree itself (issue 11: the suite must pass while another
process keeps both cores busy). Each of N processes (default: one per core) spins on the CPU until
the bound of S seconds (default 1800) runs out or the command is stopped (Ctrl-C, SIGTERM), so a
forgotten load never outlives its bound. Run it beside pytest:

    python -m tests.load --seconds 900 &
    .venv/bin/pytest tests/test_timers.py tests/test_containment.py tests/faults -q
    kill %1

``busy(...)`` does the same inside a Python process, as a context manager.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator

DEFAULT_SECONDS = 1800.0


def spin(seconds: float) -> None:
    """Burn one core until ``seconds`` (monotonic) have passed."""
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        for _ in range(10_000):
            count += 1


@contextlib.contextmanager
def busy(processes: int | None = None, seconds: float = DEFAULT_SECONDS) -> Iterator[list[multiprocessing.Process]]:
    """N processes spinning for at most ``seconds``; stopped when the block ends."""
    spinners = [multiprocessing.Process(target=spin, args=(seconds,), daemon=True)
                for _ in range(processes or os.cpu_count() or 2)]
    for process in spinners:
        process.start()
    try:
        yield spinners
    finally:
        for process in spinners:
            process.terminate()
        for process in spinners:
            process.join(timeout=10)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the spinners as Ctrl-C does


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=None, help="spinning processes (default: one per core)")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="the bound: stop after this long")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    with busy(args.processes, args.seconds) as spinners, contextlib.suppress(KeyboardInterrupt):
        print(f"{len(spinners)} process(es) spinning for at most {args.seconds:.0f} s", flush=True)
        for process in spinners:
            process.join()


if __name__ == "__main__":
    main()
