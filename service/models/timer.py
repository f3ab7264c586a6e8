"""Durable timers: one row per pending timer event, indexed by due time."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, StrEnumType, new_id


class TimerState(StrEnum):
    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"  # the engine no longer waits for it (its task finished or was cancelled)
    FAILED = "failed"  # firing raised; the instance is in error


class Timer(Base):
    """A timer event the engine waits on. Written in the same transaction as its instance.

    Firing claims the row with a conditional update (``pending`` → ``fired`` where still pending),
    so of several service processes exactly one fires it.
    """

    __tablename__ = "timer"
    __table_args__ = (Index("ix_timer_state_due", "state", "due_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))  # the engine task waiting on the timer
    task_name: Mapped[str] = mapped_column(String(100))  # its BPMN id
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))  # duration / date / cycle
    due_at: Mapped[datetime]
    state: Mapped[TimerState] = mapped_column(StrEnumType(TimerState))
    created_at: Mapped[datetime]
    fired_at: Mapped[datetime | None] = mapped_column(nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
