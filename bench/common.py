"""Helpers shared by the benchmarks: percentiles, result rows, a store with a route, a bare
FULL-sync SQLite file for the baselines."""
import math
import sqlite3
from pathlib import Path


def percentile(samples, p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sample list."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def row(name: str, value: float, unit: str, baseline: float | None = None,
        higher_is_better: bool = False, **extra) -> dict:
    """A result row; `ratio` is oriented so that higher is always better."""
    out = {"name": name, "value": value, "unit": unit}
    if baseline is not None:
        out["baseline"] = baseline
        if higher_is_better:
            out["ratio"] = value / baseline if baseline else float("inf")
        else:
            out["ratio"] = baseline / value if value else float("inf")
    out.update(extra)
    return out


def store_with_route(path: Path, accounts: list[dict]):
    """A terminal store at `path` holding one route "R1" with `accounts` (demo tariffs and codes)."""
    from sync.gateway import demo_data as dd
    from terminal import routes
    from terminal.store import Store
    store = Store(path)
    routes.import_route(store, {
        "format": "chaoshou.route/1",
        "route": {"route_id": "R1", "name": "段", "cycle": dd.CYCLE, "read_date": dd.READ_DATE,
                  "server_version": 1},
        "tariffs": dd.TARIFFS, "codes": {"skip": dd.SKIP_CODES, "trouble": dd.TROUBLE_CODES},
        "agents": [], "accounts": accounts})
    return store


def bare_full_sync_db(path: Path, columns: str) -> sqlite3.Connection:
    """The baseline: a one-table SQLite file in WAL mode with synchronous=FULL, autocommit."""
    bare = sqlite3.connect(path, isolation_level=None)
    bare.execute("PRAGMA journal_mode=WAL")
    bare.execute("PRAGMA synchronous=FULL")
    bare.execute(f"CREATE TABLE t (id INTEGER PRIMARY KEY, {columns})")
    return bare
