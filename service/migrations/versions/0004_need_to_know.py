"""need to know: organisations, the organisation a task is offered to, hand-overs, an append-only log

Every existing user joins the authority's default organisation. The audit log refuses UPDATE and
DELETE in the database itself (triggers), not only in the ORM.

Revision ID: 0004
Revises: 0003
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION event_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    organisation = op.create_table(
        'organisation',
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_organisation')),
    )
    op.bulk_insert(organisation, [{"key": "myndighet", "name": "Socialförvaltningen, myndighet",
                                   "kind": "myndighet", "created_at": datetime.now(UTC)}])
    with op.batch_alter_table('user_account') as batch:
        batch.add_column(sa.Column('organisation_key', sa.String(length=100), nullable=False,
                                   server_default='myndighet'))
        batch.create_foreign_key(op.f('fk_user_account_organisation_key_organisation'), 'organisation',
                                 ['organisation_key'], ['key'])
        batch.create_index(op.f('ix_user_account_organisation_key'), ['organisation_key'])
    with op.batch_alter_table('human_task') as batch:
        batch.add_column(sa.Column('organisation', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('step', sa.String(length=300), nullable=True))
        batch.add_column(sa.Column('submitted', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('completed_by_kind', sa.String(length=20), nullable=True))
    op.create_table(
        'disclosure',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('instance_id', sa.String(length=36), nullable=False),
        sa.Column('task_id', sa.String(length=36), nullable=False),
        sa.Column('recipient_kind', sa.String(length=20), nullable=False),
        sa.Column('fields', sa.JSON(), nullable=False),
        sa.Column('basis', sa.JSON(), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'],
                                name=op.f('fk_disclosure_instance_id_process_instance'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosure')),
    )
    op.create_index(op.f('ix_disclosure_instance_id'), 'disclosure', ['instance_id'])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute("CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON event "
                   "FOR EACH ROW EXECUTE FUNCTION event_append_only()")
        op.execute("CREATE TRIGGER event_no_truncate BEFORE TRUNCATE ON event "
                   "FOR EACH STATEMENT EXECUTE FUNCTION event_append_only()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER event_no_{verb.lower()} BEFORE {verb} ON event "
                       "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS event_no_truncate ON event")
        op.execute("DROP TRIGGER IF EXISTS event_append_only ON event")
        op.execute("DROP FUNCTION IF EXISTS event_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS event_no_update")
        op.execute("DROP TRIGGER IF EXISTS event_no_delete")
    op.drop_index(op.f('ix_disclosure_instance_id'), table_name='disclosure')
    op.drop_table('disclosure')
    with op.batch_alter_table('human_task') as batch:
        batch.drop_column('completed_by_kind')
        batch.drop_column('submitted')
        batch.drop_column('step')
        batch.drop_column('organisation')
    with op.batch_alter_table('user_account') as batch:
        batch.drop_index(op.f('ix_user_account_organisation_key'))
        batch.drop_constraint(op.f('fk_user_account_organisation_key_organisation'), type_='foreignkey')
        batch.drop_column('organisation_key')
    op.drop_table('organisation')
