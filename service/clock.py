"""The service clock: the one edge of the world tests may move.

Everything that asks "what time is it" — due dates, timers, office hours, audit stamps — asks a
``Clock``. In production it is the system clock; tests advance it (``clock.advance(days=14)``)
instead of waiting.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")


class Clock:
    """System time plus an offset that tests may set; thread-safe."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The current moment, timezone-aware, in UTC."""
        return datetime.now(UTC) + self._offset

    def local_now(self) -> datetime:
        return self.now().astimezone(STOCKHOLM)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        with self._lock:
            self._offset += delta if delta is not None else timedelta(**kwargs)
        return self.now()

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (aware); later readings move on from there at real speed."""
        with self._lock:
            self._offset = moment - datetime.now(UTC)

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta(0)


SYSTEM_CLOCK = Clock()
_current: ContextVar[Clock] = ContextVar("samverkan_clock", default=SYSTEM_CLOCK)


def current_clock() -> Clock:
    """The clock of the command being run (the engine's timer definitions read it)."""
    return _current.get()


def use_clock(clock: Clock):  # type: ignore[no-untyped-def]  # returns a contextvars Token
    return _current.set(clock)


def reset_clock(token) -> None:  # type: ignore[no-untyped-def]
    _current.reset(token)


def utcnow() -> datetime:
    return current_clock().now()
