"""``scripts/bench [NAME ...] [--quick] [--timers N] …``: run benchmarks and print one table.

Names: lifecycle, complete, loop, multi_instance, inbox, timers, isolation (default: all, at sizes that take a
few minutes together). ``--quick`` uses small sizes; any explicit size option wins over both.
Progress goes to stderr; the table and the notes to stdout. A benchmark that crashes prints its
traceback, shows as FAILED in the table, and makes the exit status 1; the others still run.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, fields, replace
from datetime import datetime
from importlib import import_module
from importlib.metadata import version
from pathlib import Path

from .common import PG_URL, Figure, log, table
from .report import Section

BENCHMARKS = ("lifecycle", "complete", "loop", "multi_instance", "inbox", "timers", "isolation")


@dataclass(frozen=True)
class Sizes:
    lifecycles: int = 200  # sequential; the same number again over 4 concurrent clients
    completions: int = 200  # one client; the same number again over 4 concurrent clients
    iterations: int = 200  # loop steps per run
    loop_runs: int = 3
    items: int = 300  # multi-instance items
    inbox_instances: int = 100_000
    inbox_requests: int = 50
    timers: int = 2000
    isolation_rounds: int = 2000  # evaluations of each kind; loop steps are a quarter of it


QUICK = Sizes(lifecycles=30, completions=30, iterations=50, loop_runs=1, items=50, inbox_instances=5000,
              inbox_requests=20, timers=200, isolation_rounds=400)


def parse(argv: list[str]) -> tuple[list[str], Sizes]:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    for item in fields(Sizes):
        parser.add_argument(f"--{item.name.replace('_', '-')}", type=int, dest=item.name, metavar="N",
                            help=f"default {getattr(Sizes(), item.name)}, quick {getattr(QUICK, item.name)}")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    sizes = QUICK if args.quick else Sizes()
    overrides = {item.name: getattr(args, item.name) for item in fields(Sizes) if getattr(args, item.name)}
    names = [n for n in BENCHMARKS if n in args.names] if args.names else list(BENCHMARKS)
    return names, replace(sizes, **overrides)


def environment() -> str:
    import sqlite3

    parts = [datetime.now().strftime("%Y-%m-%d %H:%M"), f"{os.cpu_count()} CPU", f"Python {platform.python_version()}",
             f"SpiffWorkflow {version('SpiffWorkflow')}", f"SQLAlchemy {version('SQLAlchemy')}",
             f"SQLite {sqlite3.sqlite_version}", "PostgreSQL " + ("on" if PG_URL else "off"),
             f"load average {os.getloadavg()[0]:.1f}", f"tree {tree_state()}"]
    return ", ".join(parts)


def tree_state() -> str:
    """The commit measured, and whether the working tree differs from it (read-only git calls, no index lock)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        return subprocess.run(["git", "--no-optional-locks", *args], cwd=root,  # noqa: S603, S607  # read-only git from PATH, fixed args
                              capture_output=True, text=True, check=True).stdout

    try:
        commit = git("rev-parse", "--short", "HEAD").strip()
        changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    return commit + (f" + uncommitted changes in {len(changed)} file(s)" if changed else "")


def main(argv: list[str] | None = None) -> int:
    names, sizes = parse(sys.argv[1:] if argv is None else argv)
    log(f"running {', '.join(names)} with {sizes}")
    header = environment()
    sections: list[Section] = []
    failed = False
    started = time.perf_counter()
    for name in names:
        log(f"== {name}")
        section = Section(name)
        sections.append(section)
        try:
            import_module(f"bench.{name}").run(sizes, section)
        except Exception:  # one broken benchmark must not hide the others' figures
            failed = True
            print(f"\n{name} FAILED:", file=sys.stderr)
            traceback.print_exc()
            section.figures.append(Figure(name, "FAILED (traceback on stderr)", None, "", text="FAILED"))
    figures = [f for s in sections for f in s.figures]
    print()
    print(f"Samverkan benchmarks — {header}; load average at the end {os.getloadavg()[0]:.1f}")
    print(f"sizes: {', '.join(f'{f.name}={getattr(sizes, f.name)}' for f in fields(Sizes))}")
    print()
    print(table(figures))
    print()
    print("ratio = service cost ÷ raw-engine cost for the same work (for rates: raw rate ÷ service rate); raw "
          "engine = SpiffWorkflow in this process, diagram parsed once, its own serializer (spec included).")
    for section in sections:
        for note in section.notes:
            print(f"- {note}")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
