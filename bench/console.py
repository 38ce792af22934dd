"""console: page load times of the office console (/console) with 100,000 accounts and
1,000 devices of data.

Data: the demo utility plus 100,000 accounts (`fake_accounts`, 10 routes of 10,000), 1,000
enrolled devices (half seen within the day), 20,000 readings (with GPS), 10,000 payments
(cash, card, agents), 2,000 platform payments, 1,000 shifts (open, most closed with a
variance), 300 voids and 500 exceptions — bulk-inserted into a gateway SQLite file.
A real gateway process (`python -m sync.gateway`) serves it on loopback; the supervisor
signs in and every page is fetched REPEAT times after one warm-up: Today, Routes, a route
of 10,000 accounts, an account search for one Chinese character, an account, Exceptions,
Voids, Devices, Shifts, Reports and the daily CSV. `console.p95_ms` is the nearest-rank p95
over all those loads (the target is ≤ 300 ms per page); one row per page follows.

Baseline (same run, same data, same template): the Devices page built the naive way, two
queries per device (its last closeout, its missing ops) instead of one grouped join,
rendered in-process like the console's own `device_rows`, both timed REPEAT times (median).
"""
import json
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

import requests
from sqlalchemy import func, select

from bench.common import percentile, row
from sync.gateway import db, demo_data as dd, seed
from sync.gateway.app import create_app
from sync.gateway.console import pages, web
from sync.gateway.console.today import day_start
from sync.gateway.context import now_iso
from sync.gateway.testing import GatewayProcess

N_ACCOUNTS, N_DEVICES, REPEAT = 100_000, 1_000, 10


def build(path: Path):
    app = create_app(f"sqlite:///{path}", seed_demo=True)
    ctx = app.state.ctx
    accounts = dd.fake_accounts(N_ACCOUNTS)
    for i in range(10):
        seed.add_route(ctx, f"R{100 + i}", f"压测段{i}", accounts[i * 10_000:(i + 1) * 10_000],
                       operator_id="1001")
    rng = random.Random(13)
    today, now = day_start(), now_iso()
    with ctx.write() as conn:
        conn.execute(db.devices.insert(), [
            {"device_id": f"D{i:04d}", "name": f"手持机{i}", "token_hash": f"h{i}",
             "device_key": "00" * 16, "enrolled_at": "2026-10-01T00:00:00+00:00",
             "last_seen": now if i % 2 else "2026-10-02T00:00:00+00:00",
             "contiguous_seq": 100, "max_seq": 100 + i % 3} for i in range(N_DEVICES)])
        readings, payments, ops, shifts = [], [], [], []
        for i in range(20_000):
            a = accounts[rng.randrange(N_ACCOUNTS)]
            route_id = f"R{100 + int(a['account_no'][1:]) // 10_001}"
            payload = {"gps": {"lat": 30.2 + rng.random() / 50, "lon": 120.1 + rng.random() / 50},
                       "entries": [1], "warnings": ["high"] if i % 17 == 0 else []}
            readings.append({"op_id": f"r{i}", "device_id": f"D{i % N_DEVICES:04d}",
                             "operator_id": rng.choice(("1001", "1002", "3001")),
                             "account_no": a["account_no"], "route_id": route_id,
                             "cycle": dd.CYCLE, "status": "read" if i % 9 else "skipped",
                             "value": 1000 + i, "consumption": rng.randint(50, 400),
                             "skip_code": None if i % 9 else "S01", "state": "current",
                             "payload": json.dumps(payload), "received_at": today + "T08:00:00"})
        for i in range(10_000):
            a = accounts[rng.randrange(N_ACCOUNTS)]
            payments.append({"op_id": f"p{i}", "device_id": f"D{i % N_DEVICES:04d}",
                             "operator_id": "2001", "account_no": a["account_no"],
                             "agent_id": "A01" if i % 50 == 0 else None,
                             "method": "card" if i % 3 == 0 else "cash",
                             "amount_fen": rng.randint(100, 50_000), "shift_id": f"S{i % 1000}",
                             "receipt_no": str(100000 + i), "suspense": False,
                             "voided_by": f"v{i}" if i % 33 == 0 else None, "applied": "{}",
                             "payload": "{}", "received_at": today + "T09:00:00"})
        for i in range(N_DEVICES):
            for kind, body in (("shift_open", {"shift_id": f"S{i}", "float_fen": 10000}),
                               ("shift_close", {"shift_id": f"S{i}", "counted_fen": 50000,
                                                "expected_fen": 50000 + i % 7 * 100,
                                                "variance_fen": -(i % 7) * 100, "z_no": i})):
                if kind == "shift_close" and i % 10 == 0:
                    continue
                op_id = f"{kind}-{i}"
                shifts.append({"op_id": op_id, "device_id": f"D{i:04d}", "shift_id": f"S{i}",
                               "type": kind, "payload": json.dumps(body)})
                ops.append({"device_id": f"D{i:04d}", "op_id": op_id, "seq": 1, "type": kind,
                            "operator_id": "2001", "payload": "{}", "payload_sha256": "x",
                            "status": "accepted", "received_at": now})
        conn.execute(db.readings.insert(), readings)
        conn.execute(db.payments.insert(), payments)
        conn.execute(db.shift_events.insert(), shifts)
        conn.execute(db.sync_ops.insert(), ops)
        conn.execute(db.thirdparty.insert(), [
            {"platform": ("alipay", "wechat")[i % 2], "txn_id": f"t{i}",
             "account_no": accounts[i * 7]["account_no"], "amount_fen": 1000 + i,
             "paid_at": now, "body_sha256": "x", "suspense": False, "received_at": now}
            for i in range(2_000)])
        conn.execute(db.voids.insert(), [
            {"op_id": f"v{i * 33}", "device_id": f"D{i % N_DEVICES:04d}",
             "payment_op_id": f"p{i * 33}", "amount_fen": 100, "reason": "收错户",
             "approved_by": "9001", "payload": "{}", "received_at": now} for i in range(300)])
        conn.execute(db.exceptions.insert(), [
            {"kind": ("suspense", "double_collection", "closeout", "rejected")[i % 4],
             "code": "x", "account_no": accounts[i]["account_no"], "amount_fen": 100 * i,
             "message": "压测异常", "created_at": now} for i in range(500)])
    ctx.engine.dispose()
    return accounts


def naive_device_rows(ctx) -> list[dict]:
    d, c = db.devices, db.closeouts
    out = []
    with ctx.read() as conn:
        for r in conn.execute(select(d.c.device_id, d.c.name, d.c.enrolled_at, d.c.revoked_at,
                                     d.c.last_seen).order_by(d.c.device_id)).mappings().all():
            last = conn.execute(select(func.max(c.c.at)).where(
                c.c.device_id == r["device_id"])).scalar()
            missing = conn.execute(select(d.c.max_seq - d.c.contiguous_seq).where(
                d.c.device_id == r["device_id"])).scalar()
            out.append({**r, "missing": missing, "last_closeout": last})
    return out


def render_devices(rows) -> float:
    t0 = time.perf_counter()
    web.env.get_template("devices.html").render(
        t=lambda k: k, lang="zh", user={"name": "x", "role": "supervisor", "csrf": "x"},
        nav=web.NAV, path="/console/devices", csrf="x", may=lambda a: True, rows=rows,
        code=None, qr=None, page="devices")
    return time.perf_counter() - t0


def run():
    tmp = Path(tempfile.mkdtemp(prefix="bench-console-"))
    accounts = build(tmp / "gw.db")
    gw = GatewayProcess(tmp / "gw.db", seed_demo=False, migrate=False)
    gw.start(timeout=120)
    try:
        s = requests.Session()
        login = s.get(gw.base_url + "/console/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
        s.post(gw.base_url + "/console/login", data={"csrf": csrf, "username": "zhuguan",
                                                      "password": "demo-supervisor"})
        urls = {"today": "/console/", "routes": "/console/routes",
                "route": "/console/routes/R105", "search": "/console/accounts?q=王",
                "account": f"/console/accounts/{accounts[4242]['account_no']}",
                "exceptions": "/console/exceptions", "voids": "/console/voids",
                "devices": "/console/devices", "shifts": "/console/shifts",
                "reports": "/console/reports", "csv": "/console/reports/daily.csv"}
        times: dict[str, list[float]] = {}
        for name, url in urls.items():
            r = s.get(gw.base_url + url)                      # warm-up, and a check
            assert r.status_code == 200 and "login" not in r.url, (name, r.status_code)
            for _ in range(REPEAT):
                t0 = time.perf_counter()
                s.get(gw.base_url + url).raise_for_status()
                times.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
    finally:
        gw.stop()
    ctx = create_app(f"sqlite:///{tmp / 'gw.db'}").state.ctx
    fast, naive = [], []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        rows = pages.device_rows(ctx)
        fast.append((time.perf_counter() - t0 + render_devices(rows)) * 1000)
        t0 = time.perf_counter()
        rows = naive_device_rows(ctx)
        naive.append((time.perf_counter() - t0 + render_devices(rows)) * 1000)
    every = [t for ts in times.values() for t in ts]
    out = [row("console.p95_ms", percentile(every, 95), "ms", target_ms=300,
               pages=len(urls), loads=len(every), accounts=N_ACCOUNTS + 1200,
               devices=N_DEVICES)]
    out += [row(f"console.{name}.p95_ms", percentile(ts, 95), "ms") for name, ts in times.items()]
    out.append(row("console.devices_page_build_ms", statistics.median(fast), "ms",
                   baseline=statistics.median(naive), baseline_kind="two queries per device"))
    return out
