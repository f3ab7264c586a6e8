"""APScheduler wiring: wake exactly when the next timer is due, plus a safety sweep.

The jobs are plain functions from ``service.operations.timers`` (and ``service.notify``); this
module only decides when to call them. On start every overdue timer fires (catch-up after
downtime). A command that writes an earlier timer calls ``wake_at`` after commit, so the wake-up
moves forward at once. The resync (every ``RESYNC_SECONDS``) reads the earliest pending due time
from the timer index — one indexed row, never a workflow — so timers written by *other* nodes are
scheduled for their exact due time too. Overdue-task e-mail is checked every ``OVERDUE_SECONDS``.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from service.operations.timers import fire_due_timers, next_due
from service.services import Services

logger = logging.getLogger(__name__)

WAKE_JOB = "samverkan-timers-wake"
RESYNC_JOB = "samverkan-timers-resync"
OVERDUE_JOB = "samverkan-overdue-mail"
RESYNC_SECONDS = 1.0
OVERDUE_SECONDS = 60


class TimerScheduler:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True,
                                                                           "max_instances": 1,
                                                                           "misfire_grace_time": None})
        self._lock = threading.Lock()
        self._next: datetime | None = None

    def start(self) -> None:
        self.services.hooks.timers_changed.append(self.wake_at)
        self.scheduler.add_job(self.resync, "interval", seconds=RESYNC_SECONDS, id=RESYNC_JOB,
                               replace_existing=True)
        if self.services.config.smtp_host:
            self.scheduler.add_job(self.mail_overdue, "interval", seconds=OVERDUE_SECONDS, id=OVERDUE_JOB,
                                   replace_existing=True)
        self.scheduler.start()
        self.wake_at(self.services.now())  # catch up on everything overdue

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def wake_at(self, due: datetime) -> None:
        """Make sure the scheduler wakes no later than ``due`` (service-clock time)."""
        with self._lock:
            if self._next is not None and self._next <= due and self.scheduler.get_job(WAKE_JOB):
                return
            self._next = due
            # The service clock may be offset (tests); APScheduler runs on the system clock.
            offset = self.services.now() - datetime.now(due.tzinfo)
            run_at = max(due - offset, datetime.now(due.tzinfo)) + timedelta(milliseconds=5)
            self.scheduler.add_job(self.run_due, "date", run_date=run_at, id=WAKE_JOB, replace_existing=True)

    def resync(self) -> None:
        """Schedule the wake-up for the earliest pending timer, whichever node wrote it."""
        try:
            following = next_due(self.services)
        except Exception:  # the database may be briefly unreachable; the next resync tries again
            logger.exception("reading the next due timer failed")
            return
        if following is not None:
            self.wake_at(following)

    def mail_overdue(self) -> int:
        from service.notify import notify_overdue

        try:
            return notify_overdue(self.services, self.services.now())
        except Exception:
            logger.exception("overdue notifications failed")
            return 0

    def run_due(self) -> int:
        with self._lock:
            self._next = None
        try:
            fired = fire_due_timers(self.services)
        except Exception:  # keep the scheduler alive; the resync retries
            logger.exception("firing due timers failed")
            fired = 0
        following = next_due(self.services)
        if following is not None:
            self.wake_at(following)
        if fired:
            logger.info("fired %d timer(s)", fired)
        return fired
