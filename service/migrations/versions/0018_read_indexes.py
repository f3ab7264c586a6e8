"""Indexes for reads that grew with the data (issue 11 item 6): the instance list's order, and the
step durations of ``/stats`` (completed tasks of a process, newest first, read from the index alone).

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_instance_started", "process_instance", [sa.text("started_at DESC"), "id"])
    op.create_index("ix_human_task_durations", "human_task",
                    ["process_key", "status", "completed_at", "name", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_human_task_durations", table_name="human_task")
    op.drop_index("ix_instance_started", table_name="process_instance")
