"""The timer loop: wake exactly when the next timer is due, on the monotonic clock.

One daemon thread per service process runs rounds (``step``): read the database's clock, fire
every timer due by it (``service.operations.timers``), then wait until the next timer is due —
at most ``RESYNC_SECONDS``, so timers written by *other* nodes are picked up within that, and a
command that writes an earlier timer cuts the wait short (``wake_at``, after commit). On start
the claims an earlier life of this node left are released and every overdue timer fires
(catch-up after downtime). Overdue-task e-mail is checked every ``OVERDUE_SECONDS``. Retention
(gallring, ``service.operations.retention``) runs once a day, the first time soon after start, in
batches of ``RETENTION_BATCH`` cases per round so a backlog never holds timers up.

Clocks: waiting uses ``time.monotonic`` (a wall-clock step back or forward neither stalls nor
hurries the loop); what is *due* is decided by the database's clock, which every node shares, so a
node whose own clock runs ahead fires nothing early. It logs a warning instead (``due_clock``).
APScheduler is not used for this loop: its triggers compare against the wall clock, so a clock
stepped back an hour stalled every wake-up for that hour (issue 11).

A round that fails (database down, disk full) is logged once per outage and retried after
``RESYNC_SECONDS``; ``wake_at`` never touches the database, so a command's commit hook cannot fail.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from service.operations.timers import due_clock, fire_due_timers, next_due, release_orphaned_claims
from service.services import Services

logger = logging.getLogger(__name__)

RESYNC_SECONDS = 1.0
IDLE_SECONDS = 0.1  # the shortest wait after a round that fired nothing (bounds any residual spin)
OVERDUE_SECONDS = 60.0
RETENTION_SECONDS = 24 * 3600.0
RETENTION_BATCH = 20


class TimerScheduler:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.rounds = 0  # rounds run, for tests and metrics (counted, never timed)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._deadline = 0.0  # monotonic moment the loop is next due to run a round
        self._failing = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.services.hooks.timers_changed.append(self.wake_at)
        self._thread = threading.Thread(target=self._run, name="samverkan-timers", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def wake_at(self, due: datetime) -> None:
        """Make sure the loop runs a round no later than ``due`` (service-clock time)."""
        delay = (due - self.services.now()).total_seconds()
        with self._lock:
            if time.monotonic() + delay >= self._deadline:
                return
        self._wake.set()

    def catch_up(self) -> int:
        """Start-up: take back this node's orphaned claims, then fire everything overdue."""
        release_orphaned_claims(self.services)
        return fire_due_timers(self.services, due_clock(self.services))

    def step(self) -> float:
        """One round: fire what is due by the database clock; returns seconds to wait before the next."""
        self.rounds += 1
        now = due_clock(self.services)
        following = next_due(self.services, now)
        fired = 0
        if following is not None and following <= now:
            fired = fire_due_timers(self.services, now)
            if fired:
                logger.info("fired %d timer(s)", fired)
            now = self.services.db.now()
            following = next_due(self.services, now)
        if following is None:
            return RESYNC_SECONDS
        wait = min(RESYNC_SECONDS, (following - now).total_seconds())
        return max(wait, 0.0 if fired else IDLE_SECONDS)

    def mail_overdue(self) -> int:
        from service.notify import notify_overdue

        return notify_overdue(self.services, self.services.now())

    def gallra(self) -> bool:
        """One batch of the daily retention run; True when more cases wait for the next round."""
        from service.operations.retention import run_retention

        return run_retention(self.services, limit=RETENTION_BATCH).more

    def _run(self) -> None:
        started = False
        mail_at = time.monotonic() + OVERDUE_SECONDS
        retention_at = time.monotonic() + OVERDUE_SECONDS
        while not self._stopping.is_set():
            wait = RESYNC_SECONDS
            try:
                if not started:
                    self.catch_up()
                    started = True
                wait = self.step()
                if self.services.config.smtp_host and time.monotonic() >= mail_at:
                    mail_at = time.monotonic() + OVERDUE_SECONDS
                    self.mail_overdue()
                if self.services.config.retention_daily and time.monotonic() >= retention_at:
                    retention_at = time.monotonic() + OVERDUE_SECONDS  # after a failure, try again later
                    more = self.gallra()
                    retention_at = time.monotonic() + (0.0 if more else RETENTION_SECONDS)
                if self._failing:
                    logger.warning("timer rounds work again")
                    self._failing = False
            except Exception:  # database down, disk full: keep the loop alive, try again shortly
                if not self._failing:
                    logger.exception("a timer round failed; retrying every %.0f s", RESYNC_SECONDS)
                    self._failing = True
            with self._lock:
                self._deadline = time.monotonic() + wait
            self._wake.wait(wait)
            self._wake.clear()
