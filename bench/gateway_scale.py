"""Benchmark `gateway-scale`: 1,000 simulated handhelds (locust, headless; bench/_locustfile.py)
against the gateway on PostgreSQL with 2 worker processes; baseline in the same run: the
same load on 1 process. Also measured: the same load on SQLite with 1 process.

Each handheld enrols, downloads its own route once (the gateway is seeded with one bench
route of ROUTE_ACCOUNTS accounts per handheld: `--bench-routes`), then uploads batches of 30
ops (about half readings of its meters, half cash payments on its accounts) and pulls its
route's change feed, with 2–8 s of think time (bench/_locustfile.py says why not the
shared demo routes of earlier runs).
The gateway sheds load past `--max-in-flight` with 503 + Retry-After; handhelds wait and
resend (reported apart as "busy"). PostgreSQL is a throw-away cluster on this machine
(sync/gateway/pgcluster.py), so gateway, database and load generator share its cores.

Rows: `gateway_scale.ops_per_s` (ops applied per second over the run, higher is better;
ratio = 2 processes / 1 process), `gateway_scale.p99_ms` (p99 latency of served ops
batches, 2 processes), `gateway_scale.sqlite_ops_per_s`, `gateway_scale.errors`.
Environment: CHAOSHOU_LOAD_USERS (1000), CHAOSHOU_LOAD_SECONDS (60),
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
SECONDS = int(os.environ.get("CHAOSHOU_LOAD_SECONDS", "60"))
SPAWN_RATE = 100
MAX_IN_FLIGHT = int(os.environ.get("CHAOSHOU_LOAD_MAX_IN_FLIGHT", "16"))
ROUTE_ACCOUNTS = 200   # accounts per handheld's route (a day's meter-reading route)
LOAD_ENV = {"CHAOSHOU_LOAD_BATCH": "30", "CHAOSHOU_LOAD_THINK": "2,8",
            "CHAOSHOU_LOAD_ROUTES": str(USERS)}


def load(base_url: str, tmp: Path, label: str) -> dict:
    """Run locust headless for SECONDS; returns the figures of its stats CSV."""
    prefix = tmp / label
    cmd = [sys.executable, "-m", "locust", "-f", str(REPO / "bench" / "_locustfile.py"),
           "--headless", "-u", str(USERS), "-r", str(SPAWN_RATE), "-t", f"{SECONDS}s",
           "--host", base_url, "--csv", str(prefix), "--only-summary", "--stop-timeout", "15",
           "--loglevel", "WARNING"]
    env = {**os.environ, **LOAD_ENV, "PYTHONPATH": str(REPO)}
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
    return {"ops": ops, "ops_per_s": ops / SECONDS,
            "p50_ms": float(served.get("50%") or 0), "p99_ms": float(served.get("99%") or 0),
            "batches": count("ops"), "busy": sum(count(n) for n in stats if n.endswith("busy")),
            "errors": count("Aggregated", "Failure Count"),
            # the machine's 1-minute load average before and after: other work shares it
            "load_avg": [round(load_before, 1), round(os.getloadavg()[0], 1)]}


def measure(url: str, workers: int, tmp: Path, label: str) -> dict:
    gw = GatewayProcess(None, db_url=url, args=[
        "--workers", str(workers), "--bench-routes", str(USERS),
        "--bench-route-accounts", str(ROUTE_ACCOUNTS), "--max-in-flight", str(MAX_IN_FLIGHT),
        "--no-access-log", "--log-level", "warning"])
    gw.start(timeout=300)
    try:
        return load(gw.base_url, tmp, label)
    finally:
        gw.stop()


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with PgCluster() as pg:
            two = measure(pg.create_database(), 2, tmp, "pg2")
            one = measure(pg.create_database(), 1, tmp, "pg1")
        lite = measure("sqlite:///" + str(tmp / "gw.db"), 1, tmp, "sqlite1")
    common = {"users": USERS, "seconds": SECONDS, "batch_ops": 30, "think_s": "2-8",
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
        row("gateway_scale.errors", two["errors"] + one["errors"] + lite["errors"], "requests"),
    ]
