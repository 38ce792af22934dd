"""Exactly-once under a hostile network and a gateway that goes away mid-sync."""
from sync.client import Backoff, SyncClient, TransientError
from sync.faultproxy import FaultProxy
from sync.gateway.testing import run_gateway
from sync.worker import SyncWorker
from sync_kit import (READER, assert_exactly_once, capture_readings, device, drain,
                      local_accounts, server_ops)
from terminal import outbox, payments, shifts
from terminal.store import Store
from terminal.ui.i18n import status_text
from tests.deadline import wait_until

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
        payments.cash_payment(store, accounts[i]["account_no"], 100 + i, READER, advance=True)
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
        wait_until(lambda: server_ops(gw_path, store.get_meta("device_id")), 30,
                   "the first ops on the gateway")
    # the gateway is down now, with part of the outbox sent
    held_before = len(server_ops(gw_path, store.get_meta("device_id")))
    status = wait_until(lambda: (lambda s: s if s["online"] is False and s["state"] == "backoff"
                                 else None)(worker.status()), 30, "the worker backing off")
    assert status["last_error"]["en"]         # the Chinese is the catalog's (assets/locale, chaoshou_core)
    assert status_text(status["last_error"], "zh") != status["last_error"]["en"]
    assert 0 < status["pending"]["reading"] and held_before < 1200
    # down for a while: the worker keeps retrying (three more attempts fail)
    attempts = {status["last_attempt_at"]}
    wait_until(lambda: attempts.add(worker.status()["last_attempt_at"]) or len(attempts) > 3,
               30, "three more attempts while the gateway is down")
    assert worker.status()["state"] in ("backoff", "syncing") and held_before == len(
        server_ops(gw_path, store.get_meta("device_id")))
    with run_gateway(gw_path, seed_demo=True) as url2:
        proxy.upstream_port = int(url2.rsplit(":", 1)[1])
        wait_until(lambda: not worker.status()["pending_total"] and
                   worker.status()["state"] == "idle", 60, "the outbox drained",
                   detail=worker.status)
        worker.stop()
        proxy.stop()
        assert worker.status()["online"] is True
        assert_exactly_once(gw_path, store)


def test_poison_op_is_bisected_out_and_the_rest_flow(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "poison")
    client.download_route("R003")
    accounts = local_accounts(store, "R003")[200:250]
    capture_readings(store, accounts[:30], "R003")
    with store.transaction() as conn:            # an op the gateway cannot even parse
        bad = outbox.append(conn, "x" * 60, {"account_no": accounts[30]["account_no"]},
                            operator_id=READER)
    capture_readings(store, accounts[31:50], "R003")
    report = client.upload()
    assert report.attention == 1 and report.done == 49
    row = outbox.get(store, bad.op_id)
    assert row["state"] == "rejected" and row["result_code"] == "http_400"
    assert [a["op_id"] for a in outbox.attention(store)] == [bad.op_id]
    held = {r["op_id"] for r in server_ops(gw.db, store.get_meta("device_id"))}
    assert len(held) == 49 and bad.op_id not in held


def test_413_halves_the_batch_and_keeps_everything(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "big")
    client.download_route("R003")
    capture_readings(store, local_accounts(store, "R003")[250:290], "R003")
    with FaultProxy(gw.url, rates={"error_413": 1.0}, paths=("/v1/ops",)) as proxy:
        small = SyncClient(store, proxy.url)
        try:
            small.upload()
        except TransientError as exc:
            assert exc.code == "too_large"
        else:
            raise AssertionError("a gateway refusing every size must be reported")
        assert small.batch_size == 1
        assert proxy.stats["error_413"] == 8          # 200, 100, 50, 25, 12, 6, 3, 1: give up
    assert outbox.pending_counts(store) == {"reading": 40}
    client.upload()
    assert_exactly_once(gw.db, store)


def test_timeout_halves_and_retry_after_is_honoured(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "slow")
    client.download_route("R003")
    capture_readings(store, local_accounts(store, "R003")[290:300], "R003")
    with FaultProxy(gw.url, rates={"delay": 1.0}, delay_range=(0.6, 0.6),
                    paths=("/v1/ops",)) as proxy:
        slow = SyncClient(store, proxy.url, timeout=(1, 0.2))
        try:
            slow.upload()
        except TransientError as exc:
            assert exc.code == "timeout"
        assert slow.batch_size == 100
        wait_until(lambda: proxy.stats["forwarded"] >= 1, 30,   # the gateway still gets it
                   "the timed-out batch forwarded to the gateway")
    with FaultProxy(gw.url, rates={"error_429": 1.0}, retry_after=42) as proxy:
        busy = SyncClient(store, proxy.url)
        try:
            busy.upload()
        except TransientError as exc:
            assert exc.retry_after == 42 and exc.status == 429
            assert Backoff(base=0.01).next_delay(exc.retry_after) >= 42
    assert outbox.pending_counts(store) == {"reading": 10}
    client.upload()
    assert_exactly_once(gw.db, store)
    assert dict(store.conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state")) == \
        {"duplicate": 10}
