"""The gateway's database engines under test: every gateway and sync test runs on SQLite
and on PostgreSQL (README, Tests).

`pg_server` (session) is a throw-away PostgreSQL cluster (sync/gateway/pgcluster.py) on a
loopback port; `db_engine` (module, parametrized `sqlite` / `postgresql`) points every
gateway started by `sync.gateway.testing` at it through CHAOSHOU_TEST_PG, one fresh
database per gateway. tests/gateway and tests/sync use it for all their tests.

`CHAOSHOU_TEST_ENGINES=sqlite` (or `postgresql`) runs one engine only. Without PostgreSQL
binaries the `postgresql` tests are skipped, except under CI (CI=true), where they fail.
"""
from __future__ import annotations

import os

import pytest

from sync.gateway.pgcluster import PgCluster, PgUnavailable

ENGINES = [e for e in os.environ.get("CHAOSHOU_TEST_ENGINES", "sqlite,postgresql").split(",")
           if e]


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL cluster for this test session; yields its server URL (no database)."""
    try:
        cluster = PgCluster().start()
    except PgUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module", params=ENGINES)
def db_engine(request):
    """'sqlite' or 'postgresql': the engine of the gateways this module starts."""
    before = os.environ.pop("CHAOSHOU_TEST_PG", None)
    if request.param == "postgresql":
        os.environ["CHAOSHOU_TEST_PG"] = request.getfixturevalue("pg_server").url
    yield request.param
    os.environ.pop("CHAOSHOU_TEST_PG", None)
    if before is not None:
        os.environ["CHAOSHOU_TEST_PG"] = before
