"""Exactly-once under a hostile network and a gateway that goes away mid-sync."""
import time

from sync.client import Backoff, SyncClient
from sync.faultproxy import FaultProxy
from sync.gateway.testing import run_gateway
from sync.worker import SyncWorker
from sync_kit import (READER, assert_exactly_once, capture_readings, device, drain,
                      local_accounts, server_ops)
from terminal import outbox, payments, shifts
from terminal.store import Store

CHAOS = {"drop_request": 0.04, "drop_response": 0.06, "duplicate": 0.05, "delay": 0.05,
         "truncate_request": 0.03, "truncate_response": 0.04, "error_500": 0.03,
         "error_503": 0.03, "error_413": 0.04, "error_429": 0.03, "error_after_forward": 0.03}


def test_fault_proxy_over_2000_ops_exactly_once(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "chaos")
    client.ensure_receipt_numbers()
    client.download_route("R001")
    accounts = local_accounts(store, "R001")
    shifts.open_shift(store, READER, 0)
    for i in range(60):
        payments.cash_payment(store, accounts[i]["account_no"], 100 + i, READER)
    while store.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] < 2100:
        capture_readings(store, accounts[:500], "R001")
    total = store.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    with FaultProxy(gw.url, seed=2026, rates=CHAOS, retry_after=0,
                    delay_range=(0.0, 0.1), paths=("/v1/ops",)) as proxy:
        # small batches: many requests, so that every kind of fault happens many times
        chaotic = SyncClient(store, proxy.url, timeout=(1, 5), max_batch=16)
        failures = drain(chaotic)
    assert total >= 2000 and failures > 0
    for kind in CHAOS:
        assert proxy.stats[kind] >= 1, (kind, dict(proxy.stats))
    assert_exactly_once(gw.db, store)
    states = dict(store.conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())
    assert states.get("duplicate", 0) > 0       # lost answers were resolved as duplicates


def test_gateway_stopped_and_restarted_mid_sync(tmp_path):
    gw_path = tmp_path / "gw.db"
    with run_gateway(gw_path, seed_demo=True) as url:
        store, client = device(tmp_path, url, "restart")
        client.download_route("R001")
        accounts = local_accounts(store, "R001")
        for _ in range(3):
            capture_readings(store, accounts[:400], "R001")
        store.close()
        # every batch takes ≥ 0.3 s through the proxy, so the sync is surely mid-way when
        # the gateway goes down
        proxy = FaultProxy(url, rates={"delay": 1.0}, delay_range=(0.3, 0.3)).start()
        store = Store(tmp_path / "restart.db")
        store.set_meta("gateway_url", proxy.url)
        worker = SyncWorker(tmp_path / "restart.db", timeout=(1, 5), period=3600, debounce=0.01,
                            backoff=Backoff(base=0.05, cap=0.3)).start()
        deadline = time.monotonic() + 30
        while not server_ops(gw_path, store.get_meta("device_id")):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    # the gateway is down now, with part of the outbox sent
    held_before = len(server_ops(gw_path, store.get_meta("device_id")))
    deadline = time.monotonic() + 30
    while True:
        status = worker.status()
        if status["online"] is False and status["state"] == "backoff":
            break
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert status["last_error"]["zh"] and status["last_error"]["en"]
    assert 0 < status["pending"]["reading"] and held_before < 1200
    time.sleep(1.0)                       # down for a while: the worker keeps retrying
    with run_gateway(gw_path, seed_demo=True) as url2:
        proxy.upstream_port = int(url2.rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while worker.status()["pending_total"] or worker.status()["state"] != "idle":
            assert time.monotonic() < deadline, worker.status()
            time.sleep(0.05)
        worker.stop()
        proxy.stop()
        assert worker.status()["online"] is True
        assert_exactly_once(gw_path, store)
