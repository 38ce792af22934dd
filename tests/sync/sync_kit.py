"""Helpers of the sync tests: devices, captures, supervisor calls and the gateway's own rows."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from pathlib import Path

import requests
from sqlalchemy import create_engine

from sync.client import SyncClient, TransientError
from sync.gateway.testing import database_url
from terminal import outbox, photos
from terminal.store import Store
from tests.deadline import Deadline

DEMO_CODE = "DEMO-ENROL"
SUPERVISOR = ("9001", "99999999")
READER = "1001"


def device(tmp_path: Path, url: str, name: str = "dev", **client_kw) -> tuple[Store, SyncClient]:
    """A fresh terminal store enrolled at the gateway."""
    store = Store(tmp_path / f"{name}.db")
    client = SyncClient(store, **client_kw)
    client.enrol(url, DEMO_CODE, f"test {name}")
    return store, client


def collector_on_route(tmp_path: Path, url: str, name: str, route_id: str,
                       float_fen: int = 0) -> tuple[Store, SyncClient, list[dict]]:
    """An enrolled device with its reference data and receipt numbers, `route_id` assigned
    and downloaded, and a collector's shift open: (store, client, the route's accounts)."""
    from terminal import shifts
    store, client = device(tmp_path, url, name)
    client.refresh_reference()
    client.ensure_receipt_numbers()
    assign(url, route_id, store.get_meta("device_id"))
    client.download_route(route_id)
    shifts.open_shift(store, READER, float_fen)
    return store, client, local_accounts(store, route_id)


def supervisor(url: str) -> requests.Session:
    s = requests.Session()
    r = s.post(url + "/v1/supervisor/login",
               json={"operator_id": SUPERVISOR[0], "pin": SUPERVISOR[1]}, timeout=10)
    r.raise_for_status()
    s.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return s


def assign(url: str, route_id: str, device_id: str, operator_id: str = READER) -> None:
    r = supervisor(url).post(f"{url}/v1/supervisor/routes/{route_id}/assign",
                             json={"operator_id": operator_id, "device_id": device_id,
                                   "reason": "test"}, timeout=10)
    r.raise_for_status()


def reading_payload(account: dict, route_id: str, cycle: str = "2026-11", bump: int = 37) -> dict:
    meter = account["meter"]
    top = 10 ** meter["dials"]
    prev = meter.get("prev_value") or 0
    value = (prev + bump) % top
    return {"account_no": account["account_no"], "meter_no": meter["meter_no"],
            "route_id": route_id, "cycle": cycle, "status": "read", "value": value,
            "consumption": bump, "rollover": value < prev, "kwh_e3": None, "skip_code": None,
            "trouble_code": None, "note": None, "warnings": [], "entries": [value],
            "reentry_ms": None, "gps": None, "bill_estimate_fen": None, "corrects": None}


def capture_real(store: Store, accounts: list[dict]) -> list[outbox.Op]:
    """Readings through the terminal's own capture API (reading row + op, one commit each)."""
    from terminal import readings
    ops = []
    for a in accounts:
        m = a["meter"]
        value = ((m.get("prev_value") or 0) + 37) % 10 ** m["dials"]
        ops.append(readings.capture_reading(store, account_no=a["account_no"], operator_id=READER,
                                            status="read", value=value, consumption=37,
                                            entries=[value], estimate=False))
    return ops


def capture_readings(store: Store, accounts: list[dict], route_id: str,
                     one_transaction: bool = True) -> list[outbox.Op]:
    """Reading ops straight into the outbox (committed; one transaction for all by default).

    Bulk set-up for the sync tests: it may read a meter twice in a cycle (the gateway
    answers `conflict`), which the capture API rightly refuses.
    """
    ops = []
    if one_transaction:
        with store.transaction() as conn:
            for a in accounts:
                ops.append(outbox.append(conn, "reading", reading_payload(a, route_id),
                                         operator_id=READER))
    else:
        for a in accounts:
            with store.transaction() as conn:
                ops.append(outbox.append(conn, "reading", reading_payload(a, route_id),
                                         operator_id=READER))
    return ops


def local_accounts(store: Store, route_id: str, limit: int = 100000) -> list[dict]:
    rows = store.conn.execute(
        "SELECT a.account_no, m.meter_no, m.dials, m.prev_value FROM accounts a "
        "JOIN meters m ON m.account_no = a.account_no WHERE a.route_id=? ORDER BY a.seq LIMIT ?",
        (route_id, limit)).fetchall()
    return [{"account_no": r["account_no"],
             "meter": {"meter_no": r["meter_no"], "dials": r["dials"],
                       "prev_value": r["prev_value"]}} for r in rows]


def drain(client: SyncClient, *, sleep: float = 0.001, deadline: float = 120.0) -> int:
    """Upload until the outbox is empty, retrying transient failures (a short pause between
    tries); returns failures seen. `deadline` is a base scaled by tests/deadline.py."""
    failures = 0
    limit = Deadline(deadline, "the outbox to drain")
    while outbox.pending_counts(client.store):
        limit.check(f"pending {outbox.pending_counts(client.store)}")
        try:
            client.upload()
        except TransientError:
            failures += 1
            time.sleep(sleep)
    return failures


class _Row(tuple):
    """A result row readable by position and by column name."""

    def __new__(cls, values, names):
        row = super().__new__(cls, values)
        row.names = names
        return row

    def __getitem__(self, key):
        return super().__getitem__(self.names.index(key) if isinstance(key, str) else key)


class _Rows(list):
    def fetchone(self):
        return self[0] if self else None

    def fetchall(self):
        return list(self)


class _Conn:
    """`execute(sql with ? placeholders, params)` on any engine, like sqlite3's."""

    def __init__(self, conn):
        self.conn = conn
        self.ph = "?" if conn.dialect.paramstyle == "qmark" else "%s"

    def execute(self, sql: str, params=()) -> _Rows:
        result = self.conn.exec_driver_sql(sql.replace("?", self.ph), tuple(params))
        names = list(result.keys())
        return _Rows(_Row(r, names) for r in result)


@contextlib.contextmanager
def gateway_engine(gw):
    """A SQLAlchemy engine on the gateway's database (its URL when the fixture names one,
    else the database named by its SQLite path: testing.database_url)."""
    engine = create_engine(getattr(gw, "db_url", None) or database_url(gw.db))
    try:
        yield engine
    finally:
        engine.dispose()


@contextlib.contextmanager
def gateway_db(path):
    """The gateway's database (named by its SQLite path, see testing.database_url), read
    through SQLAlchemy: the same on SQLite and PostgreSQL."""
    engine = create_engine(database_url(path))
    try:
        with engine.connect() as conn:
            yield _Conn(conn)
    finally:
        engine.dispose()


def server_ops(path, device_id: str) -> list:
    with gateway_db(path) as conn:
        return conn.execute("SELECT op_id, seq, type, status, code, payload_sha256 FROM sync_ops "
                            "WHERE device_id=? ORDER BY seq", (device_id,)).fetchall()


def assert_exactly_once(gw_path, store: Store) -> None:
    """Every local op is on the server exactly once, with its payload, and the outbox drained."""
    device_id = store.get_meta("device_id")
    local = store.conn.execute("SELECT seq, op_id, payload_sha256, state FROM outbox "
                               "ORDER BY seq").fetchall()
    assert local, "no ops to check"
    assert not outbox.pending_counts(store), outbox.pending_counts(store)
    held = server_ops(gw_path, device_id)
    by_id = {}
    for row in held:
        assert row["op_id"] not in by_id, f"op {row['op_id']} held twice"
        by_id[row["op_id"]] = row
    assert len(held) == len(local), (len(held), len(local))
    for row in local:
        srv = by_id[row["op_id"]]
        assert srv["seq"] == row["seq"]
        assert srv["payload_sha256"] == row["payload_sha256"]
        assert row["state"] in ("accepted", "duplicate", "conflict"), dict(row)
    with gateway_db(gw_path) as conn:
        ids = [r["op_id"] for r in local]
        n_read = conn.execute(f"SELECT COUNT(*), COUNT(DISTINCT op_id) FROM readings WHERE op_id IN "
                              f"({','.join('?' * len(ids))})", ids).fetchone()
        n_pay = conn.execute(f"SELECT COUNT(*), COUNT(DISTINCT op_id) FROM payments WHERE op_id IN "
                             f"({','.join('?' * len(ids))})", ids).fetchone()
    types = [r["type"] for r in held]
    assert n_read[0] == n_read[1] == types.count("reading")
    assert n_pay[0] == n_pay[1] == types.count("payment")


def age_photo_upload(store: Store, sha: str, when: dt.datetime) -> None:
    """Date a photo's upload back to `when` (its age for the disk budget)."""
    photos.mark_uploaded(store, sha, now=when)


def age_photo_file(store: Store, sha: str, when: dt.datetime) -> None:
    """Date a kept photo's file (mtime) and its taking back to `when`."""
    os.utime(photos.photo_path(store, sha), (when.timestamp(), when.timestamp()))
    with store.transaction() as conn:
        conn.execute("UPDATE photos SET taken_at=? WHERE sha256=?",
                     (when.isoformat(timespec="seconds"), sha))
