"""Upload benchmark: 10,000 ops (readings and cash payments) from a terminal store file to a
gateway process over loopback, until every op is acknowledged and durable on both sides
(gateway SQLite synchronous=FULL commit per batch; device results committed per batch).

Rows: `upload.seconds` (the sync client: adaptive gzip batches, one in flight),
`upload.requests`; baseline in the same run: one request per op (the same client forced to
batches of 1), measured on `BASELINE_OPS` ops and extrapolated linearly to 10,000.
"""
from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

from bench.common import row
from sync.client import SyncClient
from sync.gateway.demo_data import fake_accounts
from sync.gateway.testing import DEMO_ENROL_CODE, run_gateway
from terminal import outbox, receipts
from terminal.store import Store

N_OPS = 10_000
PAYMENT_EVERY = 5            # 1 op in 5 is a payment: 8,000 readings + 2,000 payments
BASELINE_OPS = 300


def _reading(a: dict) -> dict:
    m = a["meter"]
    value = ((m["prev_value"] or 0) + 123) % 10 ** m["dials"]
    return {"account_no": a["account_no"], "meter_no": m["meter_no"], "route_id": "R900",
            "cycle": "2026-11", "status": "read", "value": value, "consumption": 123,
            "rollover": False, "kwh_e3": 123000, "skip_code": None, "trouble_code": None,
            "note": None, "warnings": [], "entries": [value], "reentry_ms": None,
            "gps": {"lat": 30.27, "lon": 120.15, "accuracy_m": 8.0},
            "bill_estimate_fen": 6006, "corrects": None}


def capture(store: Store, accounts: list[dict]) -> None:
    """One op per account (readings, every 5th a cash payment with a real receipt)."""
    for start in range(0, len(accounts), 1000):
        with store.transaction() as conn:
            for i, a in enumerate(accounts[start:start + 1000], start):
                if i % PAYMENT_EVERY == PAYMENT_EVERY - 1:
                    op_id = outbox.new_op_id()
                    amount = 5000 + i % 700
                    receipt = receipts.issue(store, conn, kind="collection", op_id=op_id,
                                             amount_fen=amount,
                                             fields={"account_no": a["account_no"],
                                                     "name": a["name"]})
                    payload = {"account_no": a["account_no"], "agent_id": None,
                               "method": "cash", "amount_fen": amount, "tendered_fen": amount,
                               "change_fen": 0, "shift_id": "S-bench", "card": None,
                               "allocations": [{"account_no": a["account_no"],
                                                "amount_fen": amount}],
                               "receipt": receipt}
                    outbox.append(conn, "payment", payload, operator_id="2001", op_id=op_id)
                else:
                    outbox.append(conn, "reading", _reading(a), operator_id="1001")


def device(tmp: Path, url: str, name: str, accounts: list[dict]) -> SyncClient:
    store = Store(tmp / f"{name}.db")
    client = SyncClient(store, timeout=(3.05, 60))
    client.enrol(url, DEMO_ENROL_CODE, name)
    need = sum(1 for i in range(len(accounts)) if i % PAYMENT_EVERY == PAYMENT_EVERY - 1)
    while receipts.numbers_left(store) < need:
        client.ensure_receipt_numbers(low_water=need + 1)
    capture(store, accounts)
    return client


def _held(gw_db: Path, device_id: str) -> int:
    conn = sqlite3.connect(f"file:{gw_db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT COUNT(DISTINCT op_id) FROM sync_ops WHERE device_id=?",
                            (device_id,)).fetchone()[0]
    finally:
        conn.close()


def run() -> list[dict]:
    accounts = fake_accounts(N_OPS)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with run_gateway(tmp / "gw.db", args=["--bench-route-accounts", str(N_OPS),
                                              "--pin-iterations", "1000"]) as url:
            fast = device(tmp, url, "batched", accounts)
            t0 = time.perf_counter()
            report = fast.upload()
            seconds = time.perf_counter() - t0
            assert not outbox.pending_counts(fast.store), "outbox did not drain"
            assert report.done == N_OPS, report
            held = _held(tmp / "gw.db", fast.store.get_meta("device_id"))
            assert held == N_OPS, f"gateway holds {held} ops"

            naive = device(tmp, url, "one-per-op", accounts[:BASELINE_OPS])
            t0 = time.perf_counter()
            requests_made = 0
            while outbox.pending_counts(naive.store):
                naive.batch_size = 1
                requests_made += naive.upload(max_requests=1).requests
            per_op = (time.perf_counter() - t0) / BASELINE_OPS
            assert requests_made == BASELINE_OPS
    baseline = per_op * N_OPS
    note = (f"baseline: one request per op, measured on {BASELINE_OPS} ops "
            f"({per_op * 1000:.2f} ms/op) and extrapolated to {N_OPS}")
    return [
        row("upload.seconds", round(seconds, 3), "s", baseline=round(baseline, 2),
            ops=N_OPS, requests=report.requests, baseline_note=note, target="<= 1.5 s, ratio >= 20"),
        row("upload.requests", report.requests, "requests", baseline=N_OPS,
            ops=N_OPS, baseline_note="one request per op"),
    ]
