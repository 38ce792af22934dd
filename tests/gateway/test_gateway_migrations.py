"""Schema migrations (sync/gateway/migrate.py): the head revision is the models' schema, an
unmigrated database is refused at start-up with the command to run, `migrate` applies the
revisions, and a database at revision 1 holding data (stamped, or made before migrations
existed) is upgraded with its data."""
import subprocess
import sys
import time

import pytest
import requests
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from sync.gateway import access, db, migrate
from sync.gateway.testing import REPO, GatewayProcess, database_url


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
    refused = gateway_cmd("--db-url", url, "--port", "0", "--platform-key", "k")
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


def revision_1_database(url: str, stamped: bool) -> None:
    """A database at revision 1 holding a device, a route, change-feed rows, a purge floor
    and a receipt-number counter (the kv rows revision 0004 turns into counters)."""
    engine = db.make_engine(url)
    migrate.upgrade(engine, migrate.FIRST)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO devices (device_id, name, token_hash, device_key, "
                          "enrolled_at, contiguous_seq, max_seq) VALUES ('DOLD', 'old', :h, "
                          ":k, '2026-01-01', 0, 0)"),
                     {"h": access.token_hash("old-token"), "k": "ab" * 32})
        conn.execute(text("INSERT INTO routes (route_id, name, cycle, read_date, "
                          "hide_previous, download_requested) VALUES ('R1', 'r', '2026-11', "
                          "'2026-11-27', false, false)"))
        for version in (4, 5, 6):
            conn.execute(text("INSERT INTO route_changes (version, route_id, account_no, kind, "
                              "change, created_at) VALUES (:v, 'R1', 'A1', 'hazard', :c, :t)"),
                         {"v": version, "c": f'{{"kind":"hazard","n":{version}}}',
                          "t": int(time.time())})
        conn.execute(text("INSERT INTO kv (key, value) VALUES ('next_receipt_no', '100500'), "
                          "('changes_floor', '3')"))
        if not stamped:                                      # as made by create_all
            conn.execute(text("DROP TABLE alembic_version"))
    engine.dispose()


@pytest.mark.parametrize("stamped", [True, False], ids=["revision-1", "before-migrations"])
def test_revision_1_database_with_data_upgrades(tmp_path, stamped):
    url = database_url(tmp_path / "old.db")
    revision_1_database(url, stamped)
    with pytest.raises(RuntimeError, match="python -m sync.gateway migrate"):
        GatewayProcess(None, db_url=url, migrate=False, seed_demo=False).start()
    done = gateway_cmd("migrate", "--db-url", url)
    assert done.returncode == 0, done.stderr
    assert f"{migrate.FIRST} -> {migrate.head()}" in done.stdout
    gw = GatewayProcess(None, db_url=url, migrate=False, seed_demo=False)
    gw.start()
    try:
        auth = {"Authorization": "Bearer old-token"}
        feed = requests.get(gw.base_url + "/v1/routes/R1/changes", params={"since": 3},
                            headers=auth, timeout=10).json()
        assert feed["version"] == 6 and [c["n"] for c in feed["changes"]] == [4, 5, 6]
        gone = requests.get(gw.base_url + "/v1/routes/R1/changes", params={"since": 2},
                            headers=auth, timeout=10)
        assert gone.status_code == 410                       # below the purge floor
        block = requests.post(gw.base_url + "/v1/receipt-blocks", json={"size": 10},
                              headers=auth, timeout=10).json()
        assert block == {"start": 100500, "end": 100509}
    finally:
        gw.stop()
