"""retention: the audit log lets gallring remove an event's personal details, and nothing else

The log stays append-only (no DELETE, no TRUNCATE) and refuses every UPDATE but one: the event's
``detail`` loses keys — each key it keeps has its old value — and gains the marker ``gallrad``
(the keys removed), once; every other column stays as it was (service.operations.retention). A
condition that is unknown (a NULL detail) refuses, as before.

Revision ID: 0021
Revises: 0018
"""
from alembic import op

revision = "0021"
down_revision = "0018"
branch_labels = None
depends_on = None

_PG_GUARD = """
CREATE OR REPLACE FUNCTION event_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.actor = OLD.actor AND NEW.action = OLD.action
       AND NEW.instance_id IS NOT DISTINCT FROM OLD.instance_id AND NEW.task_id IS NOT DISTINCT FROM OLD.task_id
       AND NOT (OLD.detail::jsonb ? 'gallrad') AND jsonb_typeof(NEW.detail::jsonb -> 'gallrad') = 'array'
       AND NOT EXISTS (SELECT 1 FROM jsonb_each(NEW.detail::jsonb - 'gallrad') AS n
                       WHERE (OLD.detail::jsonb -> n.key) IS DISTINCT FROM n.value) THEN
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql
"""

_PG_STRICT = """
CREATE OR REPLACE FUNCTION event_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql
"""

_SQLITE_GUARD = """
CREATE TRIGGER event_no_update BEFORE UPDATE ON event
WHEN NOT coalesce((
  NEW.id IS OLD.id AND NEW.at IS OLD.at AND NEW.actor IS OLD.actor AND NEW.action IS OLD.action
  AND NEW.instance_id IS OLD.instance_id AND NEW.task_id IS OLD.task_id
  AND json_type(OLD.detail, '$.gallrad') IS NULL AND json_type(NEW.detail, '$.gallrad') = 'array'
  AND NOT EXISTS (SELECT 1 FROM json_each(NEW.detail) AS n WHERE n.key <> 'gallrad' AND NOT EXISTS (
        SELECT 1 FROM json_each(OLD.detail) AS o WHERE o.key = n.key AND o.type = n.type AND o.value IS n.value))
), 0)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_GUARD)
    else:
        op.execute("DROP TRIGGER IF EXISTS event_no_update")
        op.execute(_SQLITE_GUARD)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_STRICT)
    else:
        op.execute("DROP TRIGGER IF EXISTS event_no_update")
        op.execute("CREATE TRIGGER event_no_update BEFORE UPDATE ON event "
                   "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END")
