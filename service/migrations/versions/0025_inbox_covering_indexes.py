"""Covering indexes for the inbox (issue 12): each part of the inbox's query (tasks assigned to me;
unassigned tasks of my lanes, districts and organisation) is counted and ordered from its index
alone, without reading a task row. They replace three indexes that were their prefixes.

Revision ID: 0025
Revises: 0024
"""
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_human_task_inbox_offered", "human_task",
                    ["status", "lane", "district", "assignee", "organisation", "due_at", "created_at", "id"])
    op.create_index("ix_human_task_inbox_assigned", "human_task", ["status", "assignee", "due_at", "created_at", "id"])
    op.drop_index("ix_human_task_open_lane_district", table_name="human_task")
    op.drop_index("ix_human_task_open_assignee", table_name="human_task")
    op.drop_index("ix_human_task_open_lane", table_name="human_task")


def downgrade() -> None:
    op.create_index("ix_human_task_open_lane", "human_task", ["status", "lane"])
    op.create_index("ix_human_task_open_assignee", "human_task", ["status", "assignee"])
    op.create_index("ix_human_task_open_lane_district", "human_task", ["status", "lane", "district", "assignee"])
    op.drop_index("ix_human_task_inbox_assigned", table_name="human_task")
    op.drop_index("ix_human_task_inbox_offered", table_name="human_task")
