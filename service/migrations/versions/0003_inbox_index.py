"""An index for the inbox's claimable part: open tasks by lane and district.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_human_task_open_lane_district", "human_task", ["status", "lane", "district", "assignee"])


def downgrade() -> None:
    op.drop_index("ix_human_task_open_lane_district", table_name="human_task")
