"""The gateway's PostgreSQL connection pool (sync/gateway/db.py, `make_engine`): a pooled
connection idle longer than `IDLE_PING_S` is pinged before use and replaced when its
server side is gone; one in use a moment ago is used without a round trip, and if the
server cut it, its statement fails once and the pool connects afresh for the next request.
Real PostgreSQL, real server-side disconnects (pg_terminate_backend)."""
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from sync.gateway import db
from tests import deadline
from tests.engines import ENGINES

# connection pooling of a database server: PostgreSQL only (SQLite opens a file)
pytestmark = pytest.mark.parametrize("db_engine", [e for e in ENGINES if e == "postgresql"],
                                     indirect=True)


def _backend(conn) -> int:
    return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def _terminate(url: str, pid: int) -> None:
    """Cut one server connection, as a PostgreSQL restart or a firewall would."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
            deadline.wait_until(lambda: not conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"),
                {"p": pid}).scalar(), what=f"backend {pid} to end")
    finally:
        admin.dispose()


@pytest.fixture
def url(pg_server):
    return pg_server.create_database()


@pytest.fixture
def cut_after_use(url):
    """(engine, backend pid): a one-connection pool whose connection was used, returned,
    then cut on the server side."""
    engine = db.make_engine(url, pool_size=1)
    with engine.connect() as conn:
        first = _backend(conn)
    _terminate(url, first)
    yield engine, first
    engine.dispose()


def test_an_idle_connection_whose_server_side_is_gone_is_replaced_before_use(
        cut_after_use, monkeypatch):
    monkeypatch.setattr(db, "IDLE_PING_S", 0.0)     # every returned connection counts idle
    engine, first = cut_after_use
    with engine.connect() as conn:                   # pinged, found dead, replaced: no error
        assert _backend(conn) != first


def test_a_connection_used_a_moment_ago_is_not_pinged_and_a_cut_one_fails_once(
        cut_after_use, monkeypatch):
    monkeypatch.setattr(db, "IDLE_PING_S", 3600.0)  # every returned connection counts busy
    engine, first = cut_after_use
    with engine.connect() as conn:                   # no ping: the statement meets the cut
        with pytest.raises(OperationalError) as failed:
            _backend(conn)
    assert failed.value.connection_invalidated
    with engine.connect() as conn:                   # the pool connected afresh
        assert _backend(conn) != first
