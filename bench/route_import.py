"""route-import: a 10,000-account route document into the store, searchable when done.

Value: seconds for `terminal.routes.import_route` of a 10,000-account `chaoshou.route/1`
document (accounts from `sync.gateway.demo_data.fake_accounts`) into a fresh store file
(WAL, synchronous=FULL): one transaction writing accounts, meters, agent memberships and the
character search index — a search finds the accounts right after. Median of 3 runs, each
on a fresh file; a re-import over the existing route is reported too.

Baseline (naive, same run, same schema and pragmas): one row at a time in autocommit mode —
for each account an INSERT into accounts, an INSERT into meters and an INSERT into the
search index, each statement its own transaction (a commit and fsync per row), the way a
loop of single `INSERT`s with no explicit transaction behaves. Its cost is the same for
every row (one commit each), so to keep the run short it is timed on the first
BASELINE_SAMPLE accounts and scaled to 10,000 (`baseline_measured` gives the raw figure).
"""
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import row
from sync.gateway import demo_data as dd
from terminal import routes, search
from terminal.store import Store

N = 10_000
BASELINE_SAMPLE = 2_000


def document(n: int = N) -> dict:
    return {"format": "chaoshou.route/1",
            "route": {"route_id": "RBIG", "name": "大抄表段", "cycle": dd.CYCLE, "read_date": dd.READ_DATE,
                      "hide_previous": False, "server_version": 1},
            "tariffs": dd.TARIFFS, "codes": {"skip": dd.SKIP_CODES, "trouble": dd.TROUBLE_CODES},
            "agents": [], "accounts": dd.fake_accounts(n)}


def naive_import(store: Store, doc: dict, n: int) -> None:
    conn = store.conn
    for a in doc["accounts"][:n]:
        conn.execute(routes._INSERT_ACCOUNT, routes._account_row("RBIG", a))
        conn.execute(routes._INSERT_METER, routes._meter_row(a))
        rowid = conn.execute("SELECT rowid FROM accounts WHERE account_no=?", (a["account_no"],)).fetchone()[0]
        search.add_rows(conn, [(rowid, a["name"], a["address"])])


def run() -> list[dict]:
    doc = document()
    probe = doc["accounts"][N // 2]
    with tempfile.TemporaryDirectory() as tmp:
        times = []
        for i in range(3):
            store = Store(Path(tmp) / f"r{i}.db")
            t0 = time.perf_counter()
            routes.import_route(store, doc)
            times.append(time.perf_counter() - t0)
            assert search.search(store, probe["name"])[0]["name"] == probe["name"]
            if i == 0:
                t0 = time.perf_counter()
                routes.import_route(store, doc)
                reimport = time.perf_counter() - t0
            store.close()
        naive = Store(Path(tmp) / "naive.db")
        t0 = time.perf_counter()
        naive_import(naive, doc, BASELINE_SAMPLE)
        measured = time.perf_counter() - t0
        baseline = measured * N / BASELINE_SAMPLE
        first = doc["accounts"][0]
        assert search.search(naive, first["name"])[0]["name"] == first["name"]
        naive.close()
    value = statistics.median(times)
    return [row("route_import.seconds", round(value, 4), "s", baseline=round(baseline, 3),
                accounts=N, runs=[round(t, 4) for t in times],
                baseline_measured={"accounts": BASELINE_SAMPLE, "seconds": round(measured, 3)}),
            row("route_import.reimport_seconds", round(reimport, 4), "s", accounts=N)]
