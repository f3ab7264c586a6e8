"""definition lanes: each deployed version (and a routine's draft) keeps the lane → roles mapping chosen

``process_definition.lanes`` holds the lanes the deploy request (or the editor) mapped, for lanes the
version draws; lanes it does not name take their roles from ``bpmn/lanes.json``. Versions deployed
before this have none (an empty object): every lane follows ``bpmn/lanes.json``, as before.
``process_draft.lanes``: the choice made in the editor, sent with the deploy.

Revision ID: 0024
Revises: 0022
"""
import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0022"
branch_labels = None
depends_on = None


TABLES = ("process_definition", "process_draft")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("lanes", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("lanes")
