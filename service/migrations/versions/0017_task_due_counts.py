"""task due counts: whether a task's deadline runs in working time or by the clock

Revision ID: 0017
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('human_task', sa.Column('due_counts', sa.String(length=20), nullable=True))


def downgrade() -> None:
    op.drop_column('human_task', 'due_counts')
