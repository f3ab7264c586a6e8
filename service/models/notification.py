"""The e-mail outbox: one row per message to one recipient, kept after it is sent.

Rows are written after the command that caused them has committed (a task arrived) or by the
overdue sweep, and sent later by ``service.notify`` — so an SMTP server that is down never holds a
command up, and a message survives a restart until it is delivered. Subject and body hold only
what any recipient may read: the routine's name, the task's name as drawn in the diagram and a
link; never form data, case references or personal data.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class Notification(Base):
    """An e-mail waiting to be sent (``sent_at`` null) or sent.

    Sending claims a row by bumping ``attempts`` where it still has the value that was read, so of
    several senders (the notifier thread, the scheduler's sweep, other nodes) one sends it. A
    failure sets ``next_attempt_at`` (backoff) and ``last_error``; a permanent failure (the server
    refuses the address) clears ``next_attempt_at`` and the row is never tried again. A row without
    a ``recipient`` records that a task had nobody with an address to tell (``sent_at`` set), so
    the overdue sweep does not look at it again.
    """

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_pending", "sent_at", "next_attempt_at"),
        Index("ix_notification_task_kind", "task_id", "kind"),
    )

    # SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a bigint.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # "new_task" | "overdue"
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    recipient: Mapped[str | None] = mapped_column(String(200), nullable=True)  # an e-mail address
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
