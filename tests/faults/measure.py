"""Timer lateness after faults, measured: ``python -m tests.faults.measure [--kill 500] [--restart 200]``.

Needs ``SAMVERKAN_TEST_POSTGRES_URL`` (the kill -9 scenario gets its own database there) and the
PostgreSQL server binaries (the restart scenario runs a private cluster it may stop).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..conftest import _create_pg_database, _drop_pg_database
from . import scenarios


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def _line(label: str, values: Sequence[float]) -> str:
    low, high = min(values, default=float("nan")), max(values, default=float("nan"))
    return (f"{label}: n={len(values)} min={low:.2f} s p50={_quantile(values, 0.5):.2f} s "
            f"p99={_quantile(values, 0.99):.2f} s max={high:.2f} s")


def main() -> None:
    from service.migrate import upgrade

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kill", type=int, default=500, help="timers due at once in the kill -9 run")
    parser.add_argument("--restart", type=int, default=200, help="timers due during the database outage")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url, name = _create_pg_database()
        try:
            upgrade(url)
            killed = scenarios.kill_9(url, Path(folder), count=args.kill)
        finally:
            _drop_pg_database(name)
        print(f"kill -9: {killed.timers} timers, fired once {killed.fired_once}, twice {killed.fired_twice}, "
              f"left by the killed node {killed.notes['left_by_killed_node']}")
        print(_line("  lateness past due of the killed node's claims", killed.lateness))
        after_kill = killed.notes["after_kill"]
        assert isinstance(after_kill, list)
        print(_line("  seconds from the kill to firing them", after_kill))
        restarted = scenarios.database_restart(Path(folder), count=args.restart)
        print(f"database restart: {restarted.timers} timers, fired once {restarted.fired_once}, "
              f"twice {restarted.fired_twice}; while down {restarted.notes['while_down']}")
        print(_line("  lateness past due (includes the outage)", restarted.lateness))
        after = restarted.notes["after_restart"]
        assert isinstance(after, list)
        print(_line("  seconds from the database's restart to firing", after))


if __name__ == "__main__":
    main()
