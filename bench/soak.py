"""A day offline on a handheld, accelerated: `python -m bench soak --json`.

A real gateway process with a 1,000-account route (R900), an enrolled device store and sync
client, the ZVT card terminal simulator on a pty driven by the real driver, the simulated
camera. The day is walked in 8 "hours" (the clock is the loop, not the wall): each hour
captures an eighth of 800 readings (50 of them skips with a photo), 100 cash and 20 card
payments, then syncs (ops, then photos). Hours 2 to 7 (six hours) the network is absent:
the client points at a closed port and every sync fails; in hour 8 it is back and everything
drains. Afterwards every capture must be at the gateway exactly once (by op_id) and every
photo verified there by hash; the process's RSS after each hour is compared with the first
hour's. Reported: RSS growth, database and photo folder sizes, ops and photos sent.

This is the core, sync and device path in one process; the Kivy app is not driven here
(the UI budget is `python -m bench ui`).
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
import time
from pathlib import Path

import psutil

from bench.common import row

ACCOUNTS, HOURS, OFFLINE = 1000, 8, range(1, 7)       # hours 2..7 (0-based 1..6) offline
READINGS, PHOTOS, CASH, CARD = 800, 50, 100, 20
ROUTE = "R900"


def _jpeg(digits: str) -> bytes:
    from devices.sim.camera import meter_face
    out = io.BytesIO()
    meter_face(digits, seed=len(digits)).save(out, "JPEG", quality=92)
    return out.getvalue()


def _share(total: int, hour: int) -> range:
    return range(total * hour // HOURS, total * (hour + 1) // HOURS)


def run() -> list[dict]:
    from devices.sim.zvt import ZvtSimulator
    from devices.zvt.driver import ZvtTerminal
    from sync import blobs
    from sync.client import SyncClient, TransientError
    from sync.gateway.testing import GatewayProcess, assign_route
    from terminal import payments, photos, readings, shifts
    from terminal.store import Store

    proc = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="chaoshou-soak-") as tmp:
        tmp = Path(tmp)
        gw = GatewayProcess(tmp / "gw.db", args=["--bench-route-accounts", str(ACCOUNTS)])
        gw.start(timeout=180)
        sim = ZvtSimulator()
        try:
            store = Store(tmp / "device" / "chaoshou.db")
            client = SyncClient(store, gw.base_url)
            client.enrol(gw.base_url, "DEMO-ENROL", "soak")
            client.refresh_reference()
            assign_route(gw.base_url, ROUTE, store.get_meta("device_id"), "3001", reason="soak")
            client.download_route(ROUTE)
            nos = [r[0] for r in store.conn.execute(
                "SELECT account_no FROM accounts WHERE route_id=? ORDER BY seq", (ROUTE,))]
            shifts.open_shift(store, "3001", 50000)
            terminal = ZvtTerminal(sim.serve_pty())
            online_url, rss, failed_syncs, photo_shas = gw.base_url, [], 0, []
            started = time.perf_counter()
            for hour in range(HOURS):
                for i in _share(READINGS, hour):
                    if i < PHOTOS:
                        sha = photos.store_photo(store, _jpeg(f"{i:06d}"))
                        photo_shas.append(sha)
                        readings.capture_reading(store, account_no=nos[i], operator_id="3001",
                                                 status="skipped", skip_code="S04",
                                                 note="表盘破裂", photo=sha)
                    else:
                        readings.capture_reading(store, account_no=nos[i], operator_id="3001",
                                                 status="skipped", skip_code="S01")
                for i in _share(CASH, hour):
                    payments.cash_payment(store, nos[READINGS + i], 1000, "3001", advance=True)
                for i in _share(CARD, hour):
                    r = payments.card_payment(store, terminal, nos[READINGS + CASH + i], 2000,
                                              "3001", advance=True)
                    assert r.state == "approved", r.state
                client.base_url = "http://127.0.0.1:9" if hour in OFFLINE else online_url
                try:
                    client.upload()
                    blobs.upload_photos(client)
                except TransientError:
                    failed_syncs += 1
                rss.append(proc.memory_info().rss)
            client.base_url = online_url
            client.upload()
            blobs.upload_photos(client)
            walked = time.perf_counter() - started
            local_ops = {r[0] for r in store.conn.execute("SELECT op_id FROM outbox")}
            held = gw.query("SELECT op_id FROM sync_ops WHERE device_id=:d",
                            d=store.get_meta("device_id"))
            server_ops = [r[0] for r in held]
            assert len(server_ops) == len(set(server_ops)) == len(local_ops), \
                (len(server_ops), len(local_ops))
            assert set(server_ops) == local_ops
            blob_dir = Path(str(tmp / "gw.db") + ".blobs")
            for sha in photo_shas:
                assert hashlib.sha256((blob_dir / sha).read_bytes()).hexdigest() == sha
            assert photos.pending_uploads(store) == []
            db_bytes = sum(os.path.getsize(p) for p in (tmp / "device").glob("chaoshou.db*"))
            photo_bytes = photos.folder_bytes(store)
            terminal.close()
            client.close()
            store.close()
        finally:
            sim.close()
            gw.stop()
    growth = (max(rss[1:]) - rss[0]) / rss[0] * 100
    return [row("soak.captures_at_gateway_once", len(local_ops), "ops"),
            row("soak.photos_verified", len(photo_shas), "photos"),
            row("soak.offline_syncs_failed", failed_syncs, "syncs"),
            row("soak.rss_first_hour_mb", rss[0] / 2**20, "MB"),
            row("soak.rss_growth_pct", growth, "%"),
            row("soak.db_mb", db_bytes / 2**20, "MB"),
            row("soak.photo_folder_mb", photo_bytes / 2**20, "MB"),
            row("soak.day_walked_s", walked, "s")]
