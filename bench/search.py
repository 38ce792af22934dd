"""search: p99 latency of `terminal.search.search` on 100,000 accounts.

Data: 100,000 accounts from `sync.gateway.demo_data.fake_accounts` (realistic Chinese
names, rare and non-BMP characters included, Hangzhou-style addresses) in 10 routes of
10,000, imported with `terminal.routes.import_route`. Query set (fixed seed, ~360
queries): account-number prefixes (4–10 digits), meter-number prefixes, 1-, 2- and
3-character name fragments, 2–6 character address fragments (some with full-width digits),
and misses; limit 50. Every query runs once to warm the cache, then is timed in PASSES
passes; a query's latency is its median over the passes (the machine is shared, and a
single pass mostly measures the scheduler); p99 is over the queries.

Baseline (same run, same store, same result semantics, same timing rule): full-scan
`LIKE` queries — `account_no LIKE 'q%'`, `meter_no LIKE 'q%'`, `name LIKE '%q%'`,
`address LIKE '%q%'`, each with the same LIMIT (SQLite cannot use an index for these).
`hit_agreement`: share of queries where both find something or both find nothing.
"""
import statistics
import random
import tempfile
import time
from pathlib import Path

from bench.common import percentile, row
from sync.gateway import demo_data as dd
from terminal import routes, search
from terminal.store import Store

N = 100_000
PASSES = 3
FULL = str.maketrans("0123456789", "０１２３４５６７８９")


def build(path) -> tuple[Store, list[dict]]:
    accounts = dd.fake_accounts(N)
    store = Store(path)
    for i in range(10):
        part = accounts[i * 10_000:(i + 1) * 10_000]
        routes.import_route(store, {
            "format": "chaoshou.route/1",
            "route": {"route_id": f"R{i:03d}", "name": f"段{i}", "cycle": dd.CYCLE, "server_version": 1},
            "tariffs": dd.TARIFFS, "codes": {}, "agents": [], "accounts": part})
    return store, accounts


def queries(accounts, seed=7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(60):
        a = rng.choice(accounts)
        out.append(("account", a["account_no"][:rng.randint(4, 10)]))
        out.append(("meter", a["meter"]["meter_no"][:rng.randint(3, 9)]))
    for _ in range(50):
        name = rng.choice(accounts)["name"]
        out.append(("name1", rng.choice(name)))
        i = rng.randrange(max(1, len(name) - 1))
        out.append(("name2", name[i:i + 2]))
        if len(name) >= 3:
            out.append(("name3", name[:3]))
    for _ in range(100):
        addr = rng.choice(accounts)["address"]
        k = rng.randint(2, 6)
        i = rng.randrange(len(addr) - k)
        frag = addr[i:i + k]
        out.append(("address", frag.translate(FULL) if rng.random() < 0.1 else frag))
    out += [("miss", q) for q in ("3999999", "M99999999", "龘", "赵钱孙李", "火星路")]
    return out


def like_search(conn, q: str, limit: int = 50) -> list[str]:
    base = ("SELECT a.account_no FROM accounts a LEFT JOIN meters m ON m.account_no = a.account_no WHERE ")
    found: list[str] = []
    for where, pattern in (("a.account_no LIKE ?", q + "%"), ("m.meter_no LIKE ?", q + "%"),
                           ("a.name LIKE ?", f"%{q}%"), ("a.address LIKE ?", f"%{q}%")):
        if len(found) >= limit:
            break
        for (no,) in conn.execute(base + where + " LIMIT ?", (pattern, limit)):
            if no not in found and len(found) < limit:
                found.append(no)
    return found


def _timed(fn, qs) -> tuple[list[float], list]:
    samples = [[] for _ in qs]
    results = [None] * len(qs)
    for _ in range(PASSES):
        for i, q in enumerate(qs):
            t0 = time.perf_counter()
            results[i] = fn(q)
            samples[i].append((time.perf_counter() - t0) * 1000)
    return [statistics.median(s) for s in samples], results


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        store, accounts = build(Path(tmp) / "search.db")
        kinds_qs = queries(accounts)
        qs = [q for _, q in kinds_qs]
        for q in qs:  # warm-up
            search.search(store, q)
        ours, hits = _timed(lambda q: search.search(store, q), qs)
        base, base_hits = _timed(lambda q: like_search(store.conn, search.normalise_query(q)), qs)
        store.close()
    agree = sum(bool(a) == bool(b) for a, b in zip(hits, base_hits))
    by_kind = {}
    for (kind, _), ms in zip(kinds_qs, ours):
        by_kind.setdefault(kind, []).append(ms)
    p99, b99 = percentile(ours, 99), percentile(base, 99)
    rows = [row("search.p99_ms", round(p99, 3), "ms", baseline=round(b99, 3), accounts=N, queries=len(qs),
                passes=PASSES, median_ms=round(percentile(ours, 50), 3), max_ms=round(max(ours), 3),
                hit_agreement=round(agree / len(qs), 3))]
    for kind, samples in sorted(by_kind.items()):
        rows.append(row(f"search.{kind}.p99_ms", round(percentile(samples, 99), 3), "ms", queries=len(samples)))
    return rows
