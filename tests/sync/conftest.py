"""Fixtures of the sync tests: a real gateway process on loopback (shared per module)."""
import types

import pytest

from sync.gateway.testing import run_gateway


@pytest.fixture(scope="module", autouse=True)
def engine(db_engine):
    """Every test here runs on SQLite and on PostgreSQL (tests/engines.py)."""
    return db_engine


@pytest.fixture(scope="module")
def gw(tmp_path_factory, engine):
    """`db` names the gateway's database for sync_kit.gateway_db (a path mapped to its URL)."""
    path = tmp_path_factory.mktemp("gateway") / "gateway.db"
    with run_gateway(path, seed_demo=True) as url:
        yield types.SimpleNamespace(url=url, db=path)
