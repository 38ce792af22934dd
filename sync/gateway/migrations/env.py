"""Alembic environment of the gateway schema (run through sync/gateway/migrate.py).

The caller hands over an open connection (`config.attributes["connection"]`); with only a
URL (`sqlalchemy.url`, e.g. from the `alembic` command line) one is made here. SQLite
needs batch mode for ALTER TABLE.
"""
from alembic import context
from sqlalchemy import create_engine

from sync.gateway import db

config = context.config


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=db.metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
