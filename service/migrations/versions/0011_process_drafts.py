"""process drafts: a routine's diagrams and forms saved in the editor without deploying

Revision ID: 0011
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'process_draft',
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('base_version', sa.Integer(), nullable=False),
        sa.Column('bpmn_files', sa.JSON(), nullable=False),
        sa.Column('forms', sa.JSON(), nullable=False),
        sa.Column('comment', sa.String(length=500), nullable=True),
        sa.Column('saved_by', sa.String(length=100), nullable=False),
        sa.Column('saved_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_process_draft')),
    )


def downgrade() -> None:
    op.drop_table('process_draft')
