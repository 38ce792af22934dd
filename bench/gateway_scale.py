"""Benchmark `gateway-scale`: 1,000 simulated handhelds (locust, headless; bench/_locustfile.py)
against the gateway on PostgreSQL with 2 worker processes; baseline in the same run: the
same load on 1 process. Also measured: the same load on SQLite with 1 process, and an
overload run (item "Overload" of docs/deploy.md, Capacity).

Each handheld enrols, downloads its own route once (the gateway is seeded with one bench
route of ROUTE_ACCOUNTS accounts per handheld: `--bench-routes`), then uploads batches of 30
ops (about half readings of its meters, half cash payments on its accounts) and pulls its
route's change feed, with THINK seconds of think time between (bench/_locustfile.py says
why not the shared demo routes of earlier runs).
The gateway sheds load past `--max-in-flight` with 503 + Retry-After; handhelds wait and
resend (reported apart as "busy"). PostgreSQL is a throw-away cluster on this machine
(sync/gateway/pgcluster.py), so gateway, database and load generator share its cores.

Two loads:
- capacity (think 4–12 s: some 3,600 ops/s offered, a little above what the 2 processes
  apply here): the ops/s is counted at steady state, from the second every handheld has
  its route (1,000 route downloads are start-up work, not the service's throughput) to
  the end of the run; the whole run's figure is given beside it;
- overload (think 2–8 s: some 6,000 ops/s offered, twice the capacity): the in-flight
  bound sheds the excess; what is served keeps its latency, and the busy answers and the
  retries they cause cost both sides CPU, so fewer ops are applied than at capacity.

Rows: `gateway_scale.ops_per_s` (ops applied per second at steady state, capacity load,
higher is better; ratio = 2 processes / 1 process), `gateway_scale.p99_ms` (p99 latency of
served ops batches, 2 processes), `gateway_scale.sqlite_ops_per_s`,
`gateway_scale.overload_ops_per_s` (2 processes, twice the capacity offered, with its p99
and busy answers), `gateway_scale.errors` (failed requests of all runs).
Environment: CHAOSHOU_LOAD_USERS (1000), CHAOSHOU_LOAD_SECONDS (120),
CHAOSHOU_LOAD_MAX_IN_FLIGHT (16: each gateway process works on at most this many requests
at once and sheds the rest; by Little's law a served request waits about in-flight ÷ the
process's request rate, so with some 50 requests/s per process on this machine the
default 64 queues over a second, 16 a third of one — docs/deploy.md, Capacity).
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import row
from sync.gateway.pgcluster import PgCluster
from sync.gateway.testing import REPO, GatewayProcess

USERS = int(os.environ.get("CHAOSHOU_LOAD_USERS", "1000"))
SECONDS = int(os.environ.get("CHAOSHOU_LOAD_SECONDS", "120"))
SPAWN_RATE = 100
MAX_IN_FLIGHT = int(os.environ.get("CHAOSHOU_LOAD_MAX_IN_FLIGHT", "16"))
ROUTE_ACCOUNTS = 200   # accounts per handheld's route (a day's meter-reading route)
THINK, OVERLOAD_THINK = "4,12", "2,8"
LOAD_ENV = {"CHAOSHOU_LOAD_BATCH": "30", "CHAOSHOU_LOAD_ROUTES": str(USERS)}


def steady(history_csv: str) -> dict:
    """Ops applied per second from the second every handheld had downloaded its route to
    the end of the run, read off locust's per-second history (cumulative counts)."""
    by_name: dict[str, list[tuple[int, float]]] = {}
    with open(history_csv, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            total = int(r["Total Request Count"])
            if r["Name"] == "ops applied":   # each "request" carries its op count as size
                total = total * float(r["Total Average Content Size"])
            by_name.setdefault(r["Name"], []).append((int(r["Timestamp"]), total))
    applied = by_name.get("ops applied", [])
    if not applied:
        return {"ops_per_s": None, "routes_ready_s": None, "window_s": 0}
    first, end = applied[0][0], applied[0][0] + SECONDS
    ready = next((t for t, n in by_name.get("snapshot page", []) if n >= USERS), None)
    if ready is None or ready >= end - 10:   # not enough steady time: the whole run's
        return {"ops_per_s": None, "routes_ready_s": ready and ready - first, "window_s": 0}
    (t0, a0), (t1, a1) = next((t, a) for t, a in applied if t >= ready), \
        max(((t, a) for t, a in applied if t <= end), key=lambda x: x[0])
    return {"ops_per_s": (a1 - a0) / (t1 - t0) if t1 > t0 else 0.0,
            "routes_ready_s": ready - first, "window_s": t1 - t0}


def load(base_url: str, tmp: Path, label: str, think: str) -> dict:
    """Run locust headless for SECONDS; returns the figures of its stats CSVs."""
    prefix = tmp / label
    cmd = [sys.executable, "-m", "locust", "-f", str(REPO / "bench" / "_locustfile.py"),
           "--headless", "-u", str(USERS), "-r", str(SPAWN_RATE), "-t", f"{SECONDS}s",
           "--host", base_url, "--csv", str(prefix), "--csv-full-history", "--only-summary",
           "--stop-timeout", "15",
           "--loglevel", "WARNING"]
    env = {**os.environ, **LOAD_ENV, "CHAOSHOU_LOAD_THINK": think, "PYTHONPATH": str(REPO)}
    load_before = os.getloadavg()[0]
    subprocess.run(cmd, cwd=REPO, env=env, check=False, timeout=SECONDS + 300,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(f"{prefix}_stats.csv", newline="", encoding="utf-8") as f:
        stats = {r["Name"]: r for r in csv.DictReader(f)}

    def count(name, col="Request Count"):
        return int(float(stats[name][col])) if name in stats else 0

    applied = stats.get("ops applied")
    ops = round(float(applied["Average Content Size"]) * int(applied["Request Count"])) \
        if applied else 0
    served = stats.get("ops", {})
    at, whole = steady(f"{prefix}_stats_history.csv"), ops / SECONDS
    steady_found = at["ops_per_s"] is not None
    return {"ops": ops, "whole_run_ops_per_s": round(whole, 1),
            # steady state when there was one, else (flagged) the whole run's figure
            "ops_per_s": round(at["ops_per_s"] if steady_found else whole, 1),
            "steady": steady_found, "routes_ready_s": at["routes_ready_s"],
            "steady_window_s": at["window_s"], "think_s": think,
            "p50_ms": float(served.get("50%") or 0), "p99_ms": float(served.get("99%") or 0),
            "batches": count("ops"), "busy": sum(count(n) for n in stats if n.endswith("busy")),
            "errors": count("Aggregated", "Failure Count"),
            # the machine's 1-minute load average before and after: other work shares it
            "load_avg": [round(load_before, 1), round(os.getloadavg()[0], 1)]}


def measure(url: str, workers: int, tmp: Path, label: str, think: str = THINK) -> dict:
    gw = GatewayProcess(None, db_url=url, args=[
        "--workers", str(workers), "--bench-routes", str(USERS),
        "--bench-route-accounts", str(ROUTE_ACCOUNTS), "--max-in-flight", str(MAX_IN_FLIGHT),
        "--no-access-log", "--log-level", "warning"])
    gw.start(timeout=300)
    try:
        return load(gw.base_url, tmp, label, think)
    finally:
        gw.stop()


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with PgCluster() as pg:
            two = measure(pg.create_database(), 2, tmp, "pg2")
            one = measure(pg.create_database(), 1, tmp, "pg1")
            over = measure(pg.create_database(), 2, tmp, "pg2over", OVERLOAD_THINK)
        lite = measure("sqlite:///" + str(tmp / "gw.db"), 1, tmp, "sqlite1")
    common = {"users": USERS, "seconds": SECONDS, "batch_ops": 30, "think_s": THINK,
              "route_accounts": ROUTE_ACCOUNTS, "max_in_flight": MAX_IN_FLIGHT,
              "machine": "2 cores shared with PostgreSQL, the load generator and other work"}
    return [
        row("gateway_scale.ops_per_s", round(two["ops_per_s"], 1), "ops/s",
            baseline=round(one["ops_per_s"], 1), higher_is_better=True, **common,
            pg_2_workers=two, pg_1_worker=one),
        row("gateway_scale.p99_ms", two["p99_ms"], "ms", p50_ms=two["p50_ms"],
            one_worker_p99_ms=one["p99_ms"], busy_answers=two["busy"]),
        row("gateway_scale.sqlite_ops_per_s", round(lite["ops_per_s"], 1), "ops/s",
            higher_is_better=True, sqlite_1_worker=lite),
        row("gateway_scale.overload_ops_per_s", round(over["ops_per_s"], 1), "ops/s",
            higher_is_better=True, p99_ms=over["p99_ms"], busy_answers=over["busy"],
            pg_2_workers_overload=over),
        row("gateway_scale.errors", sum(r["errors"] for r in (two, one, over, lite)),
            "requests"),
    ]
