"""The service's parts, built once per process and handed to every operation."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from processes import script_functions

from .clock import SYSTEM_CLOCK, Clock
from .config import Config
from .db import Database
from .engine.adapter import BpmnEngine
from .engine.isolation import IsolationSettings
from .engine.specs import LaneRoles


@dataclass
class Hooks:
    """Called after a command commits: wake the timer scheduler, notify people, count for metrics."""

    timers_changed: list[Callable[[datetime], None]] = field(default_factory=list)
    tasks_created: list[Callable[[list[dict[str, Any]]], None]] = field(default_factory=list)
    timer_fired: list[Callable[[float], None]] = field(default_factory=list)  # seconds late
    external_tasks_created: list[Callable[[set[str]], None]] = field(default_factory=list)  # their topics
    mail_queued: list[Callable[[], None]] = field(default_factory=list)  # outbox rows written outside a task


@dataclass
class Services:
    config: Config
    db: Database
    engine: BpmnEngine
    lanes: LaneRoles
    clock: Clock
    hooks: Hooks = field(default_factory=Hooks)
    _local: threading.local = field(default_factory=threading.local)

    @classmethod
    def create(cls, config: Config, clock: Clock = SYSTEM_CLOCK) -> Services:
        lanes = LaneRoles.load(config.lanes_file)
        isolation = IsolationSettings(workers=config.script_workers, memory_limit=config.script_memory_mb * 2**20,
                                      max_data_bytes=config.max_instance_data_bytes)
        engine = BpmnEngine(lanes, script_functions(), clock, script_time_limit=config.script_time_limit,
                            compact_threshold=config.compact_threshold, isolation=isolation)
        services = cls(config=config, db=Database(config.database_url), engine=engine, lanes=lanes, clock=clock)
        from .complaints import wake_eku_follow_ups  # R4: a complaint at step 3 wakes EKU's open matters

        services.hooks.tasks_created.append(lambda summaries: wake_eku_follow_ups(services, summaries))
        return services

    def now(self) -> datetime:
        return self.clock.now()

    def close(self) -> None:
        self.engine.close()  # stops the workers that run diagram code
        self.db.dispose()
