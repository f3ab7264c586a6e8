"""definition lanes: each deployed version keeps the lane → roles mapping its deployer chose

``process_definition.lanes`` holds the lanes the deploy request (or the editor) mapped, for lanes the
version draws; lanes it does not name take their roles from ``bpmn/lanes.json``. Versions deployed
before this have none (an empty object): every lane follows ``bpmn/lanes.json``, as before.

Revision ID: 0024
Revises: 0021
"""
import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_definition") as batch:
        batch.add_column(sa.Column("lanes", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table("process_definition") as batch:
        batch.drop_column("lanes")
