"""Route download benchmark: a 10,000-account route from a gateway process into the terminal
store over loopback — snapshot, pages into staging (cursor committed per page), count +
digest verified, atomic swap, search index built — and searchable when done.

Rows: `route_download.seconds` (the sync client, pages of `PAGE` accounts); baseline in the
same run: the whole route fetched in as few requests as the gateway allows (its page limit
is 5,000) and imported row by row, one commit per account, then verified and swapped.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import row
from sync.client import SyncClient
from sync.gateway.testing import DEMO_ENROL_CODE, run_gateway
from terminal import routes, search
from terminal.store import Store

N_ACCOUNTS = 10_000
ROUTE = "R900"
PAGE = 1000


def _searchable(store: Store) -> int:
    n = store.conn.execute("SELECT COUNT(*) FROM accounts WHERE route_id=?", (ROUTE,)).fetchone()[0]
    assert n == N_ACCOUNTS, n
    hit = store.conn.execute("SELECT account_no, name FROM accounts WHERE route_id=? "
                             "ORDER BY seq LIMIT 1 OFFSET 7777", (ROUTE,)).fetchone()
    found = search.search(store, hit["name"])
    assert any(h["account_no"] == hit["account_no"] for h in found), hit["name"]
    return n


def _naive(client: SyncClient) -> float:
    """One snapshot, fetched whole, imported one account per transaction."""
    store = client.store
    t0 = time.perf_counter()
    snap = client._call("POST", f"/v1/routes/{ROUTE}/snapshots")
    sid = snap["snapshot_id"]
    accounts, cursor, page = [], None, {}
    while True:
        params = {"limit": 5000, **({"after": cursor} if cursor else {})}
        page = client._call("GET", f"/v1/routes/{ROUTE}/snapshots/{sid}", params=params)
        accounts += page["accounts"]
        cursor = page["next"]
        if cursor is None:
            break
    routes.stage_begin(store, snap["header"], sid, snap["count"])
    for i, a in enumerate(accounts):
        routes.stage_page(store, sid, [a], None if i == len(accounts) - 1 else str(i))
    routes.stage_finish(store, sid, snap["count"], page["digest"])
    seconds = time.perf_counter() - t0
    _searchable(store)
    return seconds


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with run_gateway(tmp / "gw.db", args=["--bench-route-accounts", str(N_ACCOUNTS),
                                              "--pin-iterations", "1000"]) as url:
            store = Store(tmp / "paged.db")
            client = SyncClient(store, page_limit=PAGE, timeout=(3.05, 60))
            client.enrol(url, DEMO_ENROL_CODE, "bench")
            client.requests_made = 0
            t0 = time.perf_counter()
            result = client.download_route(ROUTE)
            seconds = time.perf_counter() - t0
            assert result["count"] == N_ACCOUNTS
            _searchable(store)
            requests_made = client.requests_made

            naive_store = Store(tmp / "naive.db")
            naive = SyncClient(naive_store, timeout=(3.05, 120))
            naive.enrol(url, DEMO_ENROL_CODE, "bench-naive")
            baseline = _naive(naive)
    return [row("route_download.seconds", round(seconds, 3), "s", baseline=round(baseline, 2),
                accounts=N_ACCOUNTS, requests=requests_made, page=PAGE,
                baseline_note="whole route fetched (2 requests: the gateway's page limit is "
                              "5,000), imported one account per commit",
                target="<= 1.0 s")]
