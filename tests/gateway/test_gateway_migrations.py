"""Schema migrations (sync/gateway/migrate.py): the head revision is the models' schema, an
unmigrated database is refused at start-up with the command to run, `migrate` applies the
revisions, and a database made before migrations existed is adopted as revision 1."""
import subprocess
import sys

import pytest
import requests
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from sync.gateway import db, migrate
from sync.gateway.db import make_engine
from sync.gateway.testing import REPO, GatewayProcess, database_url, enrol_device


def gateway_cmd(*args):
    return subprocess.run([sys.executable, "-m", "sync.gateway", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_head_revision_builds_the_models_schema(tmp_path):
    engine = db.make_engine(database_url(tmp_path / "head.db"))
    before, after = migrate.upgrade(engine)
    assert (before, after) == (None, migrate.head())
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []
    engine.dispose()


def test_start_refuses_an_unmigrated_database_then_migrate_applies(tmp_path):
    url = database_url(tmp_path / "new.db")
    refused = gateway_cmd("--db-url", url, "--port", "0")
    assert refused.returncode == 2
    assert "no gateway schema revision" in refused.stderr
    assert "python -m sync.gateway migrate" in refused.stderr
    done = gateway_cmd("migrate", "--db-url", url)
    assert done.returncode == 0, done.stderr
    assert f"-> {migrate.head()}" in done.stdout
    again = gateway_cmd("migrate", "--db-url", url)        # nothing left to do
    assert f"{migrate.head()} -> {migrate.head()}" in again.stdout
    gw = GatewayProcess(None, seed_demo=False, db_url=url, migrate=False)
    gw.start()
    try:
        ready = requests.get(gw.base_url + "/v1/ready", timeout=10)
        assert ready.status_code == 200 and ready.json()["revision"] == migrate.head()
    finally:
        gw.stop()


def test_database_made_before_migrations_is_adopted_with_its_data(tmp_path):
    gw = GatewayProcess(tmp_path / "old.db")
    gw.start()
    device = enrol_device(gw.base_url)
    gw.stop()
    engine = make_engine(gw.url)
    with engine.connect().execution_options(sqlite_write=True) as conn, conn.begin():
        command.downgrade(migrate.alembic_config(conn), migrate.FIRST)   # revision 1's tables
    engine.dispose()
    gw.query("DROP TABLE alembic_version")                   # as made by create_all
    with pytest.raises(RuntimeError, match="no gateway schema revision"):
        GatewayProcess(tmp_path / "old.db", migrate=False, seed_demo=False).start()
    done = gateway_cmd("migrate", "--db-url", gw.url)
    assert done.returncode == 0 and f"{migrate.FIRST} -> {migrate.head()}" in done.stdout
    assert gw.query("SELECT device_id FROM devices") == [(device["device_id"],)]
    engine = db.make_engine(gw.url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() \
            == migrate.head()
    engine.dispose()
