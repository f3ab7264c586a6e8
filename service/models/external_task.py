"""External tasks: service tasks the engine waits on until a worker outside has done the work."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, StrEnumType


class ExternalTaskStatus(StrEnum):
    OPEN = "open"  # offered to workers of its topic (while unlocked, or once a lock has expired)
    FAILED = "failed"  # retries exhausted: the instance is in error until an admin retries it
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # the engine withdrew it (a boundary event, a BPMN error, the instance ended)


class ExternalTask(Base):
    """A service task waiting on a worker (``service.operations.external``). ``id`` is the engine task's id.

    A worker locks it (``worker_id``, ``lock_expires_at``) for a while; only that worker may complete
    it or report a failure while the lock holds, and once the lock expires it is offered again.
    ``data`` is the task's input — what its worker gets as variables, and nothing else of the case.
    """

    __tablename__ = "external_task"
    __table_args__ = (Index("ix_external_task_fetch", "status", "topic", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    process_key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))  # the BPMN id of the service task
    title: Mapped[str] = mapped_column(String(300))
    topic: Mapped[str] = mapped_column(String(100))
    status: Mapped[ExternalTaskStatus] = mapped_column(StrEnumType(ExternalTaskStatus))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    worker_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    locked_by: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the user the worker signed in as
    lock_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    retries: Mapped[int | None] = mapped_column(nullable=True)  # None until a worker first reports a failure
    retry_at: Mapped[datetime | None] = mapped_column(nullable=True)  # not offered before (the failure's timeout)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
