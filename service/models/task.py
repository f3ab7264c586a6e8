"""The human-task index: the inbox reads this table, never the workflow."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, StrEnumType


class TaskStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # the engine withdrew it (a boundary timer fired, the instance ended)


class HumanTask(Base):
    """A user task as people see it. ``id`` is the engine task's id, so a completion names it."""

    __tablename__ = "human_task"
    __table_args__ = (
        # The inbox (``access.inbox``), read from the index alone: each part's filter, then what it
        # orders by and the id (migration 0025; they replace three shorter indexes, their prefixes).
        Index("ix_human_task_inbox_offered", "status", "lane", "district", "assignee", "organisation", "due_at",
              "created_at", "id"),
        Index("ix_human_task_inbox_assigned", "status", "assignee", "due_at", "created_at", "id"),
        # /stats' step durations read from the index alone (completed tasks of a process, newest first)
        Index("ix_human_task_durations", "process_key", "status", "completed_at", "name", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    process_key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))  # the BPMN id of the user task
    title: Mapped[str] = mapped_column(String(300))  # may be computed from case data (the ``title`` property)
    step: Mapped[str | None] = mapped_column(String(300), nullable=True)  # the name drawn in the diagram
    lane: Mapped[str | None] = mapped_column(String(100), nullable=True)
    roles: Mapped[list[str]] = mapped_column(JSON)
    district: Mapped[str | None] = mapped_column(String(50), nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[TaskStatus] = mapped_column(StrEnumType(TaskStatus))
    case_ref: Mapped[str | None] = mapped_column(String(100), nullable=True)
    form_file: Mapped[str | None] = mapped_column(String(200), nullable=True)
    ui_form_file: Mapped[str | None] = mapped_column(String(200), nullable=True)
    disclosure_to: Mapped[str | None] = mapped_column(String(50), nullable=True)
    # For a task whose lane lies outside the authority: the organisation (key) it is offered to.
    organisation: Mapped[str | None] = mapped_column(String(100), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)  # the task's input data when it arrived
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    # How the deadline counts (the user task's ``dueCounts``): "working" for office hours, else clock time.
    due_counts: Mapped[str | None] = mapped_column(String(20), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    assign_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # What the completer submitted through the task's form, and the kind of their organisation:
    # the provenance EKU's projection checks (only what the authority wrote reaches EKU).
    submitted: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    completed_by_kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
