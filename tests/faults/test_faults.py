"""Faults against real processes (issue 11): kill -9 of a node while it holds timer claims, and a
PostgreSQL stop and start under a running node. Each timer fires, none twice; while the database
is down the service answers 503 with Retry-After. Speed is ``python -m tests.faults.measure``'s."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import scenarios
from .cluster import pg_bin


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_killed_nodes_claims_fire_on_the_survivor_once_each(database_url: str, tmp_path: Path) -> None:
    outcome = scenarios.kill_9(database_url, tmp_path, count=60)
    assert outcome.fired_once == outcome.timers and outcome.fired_twice == 0
    assert outcome.completed == outcome.timers


@pytest.mark.skipif(pg_bin() is None, reason="no PostgreSQL server binaries for a private cluster")
def test_a_database_restart_gives_503_then_every_timer_fires_once(tmp_path: Path) -> None:
    outcome = scenarios.database_restart(tmp_path, count=20)
    while_down = outcome.notes["while_down"]
    assert while_down == {"start": 503, "retry_after": "30", "type": "application/problem+json",
                          "healthz": 503}, while_down
    assert outcome.fired_once == outcome.timers and outcome.fired_twice == 0
    assert outcome.completed == outcome.timers
