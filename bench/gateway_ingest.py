"""Benchmark `gateway-ingest`: 20 concurrent simulated devices each upload 1,000 ops
(readings and payments with signed, chained receipts) in batches of 200 to one gateway
process on a SQLite file (WAL, synchronous=FULL). Baseline in the same run: the same
devices sending one op per request (100 ops each, to keep the run short).

Row: `gateway_ingest.ops_per_s` (higher is better), ratio = batched / one-op-per-request.
"""
from __future__ import annotations

import random
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.common import row
from sync.gateway.testing import GatewayProcess, OpFactory, enrol_device

DEVICES = 20
OPS_PER_DEVICE = 1000
BASELINE_OPS_PER_DEVICE = 100
BATCH = 200
# every device reads its own accounts: batched run first, then the baseline run
ROUTE_ACCOUNTS = DEVICES * (OPS_PER_DEVICE + BASELINE_OPS_PER_DEVICE)


def make_ops(device: dict, index: int, n: int, first_account: int) -> list[dict]:
    """Realistic mix: ~75 % readings, ~25 % cash/card payments on the device's accounts."""
    rng = random.Random(index)
    f = OpFactory(device, operator_id="3001")
    ops = []
    for i in range(n):
        account_no = f"3{first_account + i + 1:09d}"
        if rng.random() < 0.75:
            value = rng.randrange(1000, 90000)
            ops.append(f.reading(account_no, value, route_id="R900",
                                 consumption=rng.randrange(50, 900), kwh_e3=value * 10,
                                 warnings=[], entries=[value],
                                 gps={"lat": 30.27 + rng.random() / 100,
                                      "lon": 120.15 + rng.random() / 100, "accuracy_m": 8.0},
                                 bill_estimate_fen=rng.randrange(2000, 40000)))
        else:
            ops.append(f.payment(account_no, rng.randrange(1000, 60000),
                                 method=rng.choice(("cash", "cash", "card")),
                                 shift_id=f"SH-{index}"))
    return ops


def upload(base_url: str, devices: list[dict], ops_by_device: list[list[dict]],
           batch: int) -> float:
    """Run all devices concurrently; returns seconds until every op is acknowledged."""
    errors: list[str] = []
    barrier = threading.Barrier(len(devices) + 1)

    def worker(dev, ops):
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {dev['token']}"
        barrier.wait()
        for i in range(0, len(ops), batch):
            chunk = ops[i:i + batch]
            r = s.post(base_url + "/v1/ops", json={"ops": chunk}, timeout=120)
            done = r.status_code == 200 and all(
                x["status"] in ("accepted", "duplicate") for x in r.json()["results"])
            if not done:
                errors.append(r.text[:200])
                return

    threads = [threading.Thread(target=worker, args=(d, o)) for d, o in
               zip(devices, ops_by_device)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"upload failed: {errors[0]}")
    return elapsed


def run(extra_args=()) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        gw = GatewayProcess(Path(tmp) / "ingest.db",
                            args=["--bench-route-accounts", str(ROUTE_ACCOUNTS), *extra_args])
        gw.start(timeout=120)
        try:
            devices = [enrol_device(gw.base_url, name=f"bench-{i}") for i in range(DEVICES)]
            batched = [make_ops(d, i, OPS_PER_DEVICE, i * OPS_PER_DEVICE)
                       for i, d in enumerate(devices)]
            seconds = upload(gw.base_url, devices, batched, BATCH)
            rate = DEVICES * OPS_PER_DEVICE / seconds
            others = [enrol_device(gw.base_url, name=f"base-{i}") for i in range(DEVICES)]
            first = DEVICES * OPS_PER_DEVICE
            single = [make_ops(d, i, BASELINE_OPS_PER_DEVICE, first + i * BASELINE_OPS_PER_DEVICE)
                      for i, d in enumerate(others)]
            base_seconds = upload(gw.base_url, others, single, 1)
            base_rate = DEVICES * BASELINE_OPS_PER_DEVICE / base_seconds
        finally:
            gw.stop()
    return [row("gateway_ingest.ops_per_s", round(rate, 1), "ops/s", baseline=round(base_rate, 1),
                higher_is_better=True, devices=DEVICES, ops=DEVICES * OPS_PER_DEVICE,
                batch=BATCH, seconds=round(seconds, 3),
                baseline_ops=DEVICES * BASELINE_OPS_PER_DEVICE)]
