"""Alembic environment: the URL comes from the caller (``service.migrate.upgrade``)."""

from alembic import context

from service.db import make_engine
from service.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
engine = make_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=engine.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
