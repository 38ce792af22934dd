"""Gateway schema migrations with Alembic (sync/gateway/migrations), on SQLite and PostgreSQL.

    python -m sync.gateway migrate --db-url postgresql+psycopg://…   # apply what is pending

The gateway refuses to start on a database whose schema is not at the head revision
(`SchemaNotCurrent`, with the command to run); `serve --migrate` (implied by
`--seed-demo`) applies pending revisions first. A database made before migrations existed
(tables but no `alembic_version`) is adopted as revision 1 and upgraded from there.
Concurrent `migrate` runs on PostgreSQL take turns on an advisory lock.
"""
from __future__ import annotations

import functools

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

FIRST = "0001"
_PG_LOCK = 0x4348_5348   # pg_advisory_xact_lock key of migrations ("CHSH")


class SchemaNotCurrent(RuntimeError):
    """The database is not at the revision this gateway's code needs."""


def alembic_config(connection=None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "sync.gateway:migrations")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.lru_cache(maxsize=1)
def head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current(connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Apply migrations up to `revision`; returns (revision before, revision after)."""
    with engine.connect().execution_options(sqlite_write=True) as conn:
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
            before = current(conn)
            if before is None and inspect(conn).has_table("sync_ops"):
                command.stamp(alembic_config(conn), FIRST)   # made before migrations
                before = FIRST
            command.upgrade(alembic_config(conn), revision)
            return before, current(conn)


def check(engine: Engine) -> None:
    """Raise `SchemaNotCurrent` unless the database is at the head revision."""
    with engine.connect() as conn:
        found = current(conn)
    want = head()
    if found == want:
        return
    url = engine.url.render_as_string(hide_password=True)
    if found is None:
        problem = "has no gateway schema revision (new or made before migrations)"
    elif found not in {s.revision for s in
                       ScriptDirectory.from_config(alembic_config()).walk_revisions()}:
        raise SchemaNotCurrent(f"database {url} is at revision {found}, unknown to this "
                               f"gateway (newer software?); it needs {want}")
    else:
        problem = f"is at revision {found}"
    raise SchemaNotCurrent(f"database {url} {problem}; this gateway needs revision {want}. "
                           f"Run: python -m sync.gateway migrate --db-url {url}")
