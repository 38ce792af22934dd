"""The sync worker against a real gateway: triggers, status, backoff, blocked states, stop,
the photo folder's disk budget."""
import datetime as dt
import json
import time

from sync import blobs
from sync.client import Backoff
from sync.faultproxy import FaultProxy
from sync.worker import SyncWorker
from sync_kit import (DEMO_CODE, READER, age_photo_file, age_photo_upload,
                      assert_exactly_once, assign, capture_readings, collector_on_route, device,
                      local_accounts, supervisor)
from terminal import shifts
from terminal.canonical import sha256_hex
from terminal.store import Store
from terminal.ui.i18n import status_text
from tests.deadline import seconds, wait_until


def wait_for(pred, timeout=20.0, what=""):
    """`pred()` truthy within the (scaled) deadline; `what` may be a callable (its answer
    at the time of failure goes in the error)."""
    return wait_until(pred, timeout, "" if callable(what) else what,
                      detail=what if callable(what) else None)


def fast_worker(path, **kw):
    kw.setdefault("backoff", Backoff(base=0.05, cap=0.2))
    kw.setdefault("debounce", 0.05)
    kw.setdefault("timeout", (1, 5))
    return SyncWorker(path, **kw)


def test_enrol_download_capture_poke_closeout(gw, tmp_path):
    path = tmp_path / "w.db"
    snapshots = []
    worker = fast_worker(path, period=3600, listener=snapshots.append).start()
    try:
        wait_for(lambda: worker.status()["state"] == "needs_enrolment", what="needs enrolment")
        device_id = worker.enrol(gw.url, DEMO_CODE, "worker test").result(seconds(10))
        assign(gw.url, "R001", device_id)
        worker.sync_now()
        wait_for(lambda: (worker.status()["download"] or {}).get("state") == "done"
                 and worker.status()["online"] and worker.status()["state"] == "idle",
                 what=worker.status)
        st = worker.status()
        assert st["enrolled"] and st["device_id"] == device_id and st["online"] is True
        assert st["download"]["done"] == st["download"]["total"] > 0
        assert [a["route_id"] for a in st["assignments"]] == ["R001"]
        assert any(s["download"] and s["download"]["state"] == "running" for s in snapshots)

        store = Store(path)                       # the UI's own connection
        seen = len(snapshots)
        shifts.open_shift(store, READER, 0)
        capture_readings(store, local_accounts(store, "R001")[:30], "R001")
        worker.poke()

        def uploaded():
            """Ops done by the uploads shown since the captures: a cycle that sync_now()
            queued may still run and send some of them before the poke's cycle."""
            shown = [s["last_upload"] for s in snapshots[max(0, seen - 1):]]
            return sum(now["done"] for before, now in zip(shown, shown[1:])
                       if now and now != before)
        wait_for(lambda: worker.status()["pending_total"] == 0 and uploaded() == 31,
                 what=worker.status)
        st = worker.status()
        assert st["last_success_at"] and st["last_error"] is None and st["pending"] == {}

        shift = shifts.current_shift(store)
        summary = shifts.closeout_summary(store.conn, shift["shift_id"], device_id, 1, 31)
        verdict = worker.closeout(summary).result(seconds(10))
        assert verdict["ok"] is True and verdict["missing_seqs"] == []
        assert_exactly_once(gw.db, store)

        # a rejected op shows up in the attention list, the rest keep flowing
        op_row = store.conn.execute("SELECT op_id, payload FROM outbox WHERE seq=2").fetchone()
        forged = dict(json.loads(op_row["payload"]), value=1)
        with store.transaction() as conn:
            conn.execute("UPDATE outbox SET payload=?, payload_sha256=?, state='pending' "
                         "WHERE op_id=?", (json.dumps(forged), sha256_hex(forged), op_row["op_id"]))
        worker.poke()
        wait_for(lambda: worker.status()["attention_count"] == 1, what="attention item")
        assert worker.status()["attention"][0]["op_id"] == op_row["op_id"]
    finally:
        worker.stop()
    assert not worker._thread.is_alive() and worker.status()["state"] == "stopped"


def test_a_cycle_with_nothing_to_send_leaves_the_last_upload_shown(gw, tmp_path):
    """The Sync screen's "Last upload: N done" is the last upload that carried ops: a
    cycle with nothing pending (a poke, the next full sync) does not turn it into 0."""
    store, _client, accounts = collector_on_route(tmp_path, gw.url, "last", "R001")
    capture_readings(store, accounts[40:45], "R001")     # read by no other test here
    ops = store.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    snapshots = []
    worker = fast_worker(store.path, period=3600, listener=snapshots.append).start()
    try:
        wait_for(lambda: worker.status()["pending_total"] == 0
                 and (worker.status()["last_upload"] or {}).get("done") == ops, what=worker.status)
        shown, seen = worker.status()["last_upload"], len(snapshots)
        worker.sync_now()                    # a full cycle with nothing to upload
        wait_for(lambda: any(s["state"] == "syncing" for s in snapshots[seen:])
                 and snapshots[-1]["state"] == "idle", what=worker.status)
        assert worker.status()["last_upload"] == shown
    finally:
        worker.stop()


def test_supervisor_download_request_is_seen_and_cleared(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "req")
    device_id = store.get_meta("device_id")
    assign(gw.url, "R003", device_id)
    client.download_route("R003")
    worker = fast_worker(store.path, period=0.3).start()
    try:
        wait_for(lambda: worker.status()["state"] == "idle" and worker.status()["online"],
                 what="first sync")
        assert worker.status()["download"] is None            # route already here: no reload
        r = supervisor(gw.url).post(f"{gw.url}/v1/supervisor/routes/R003/request-download",
                                    timeout=10)
        r.raise_for_status()
        wait_for(lambda: (worker.status()["download"] or {}).get("state") == "done",
                 what="requested download")
        wait_for(lambda: not client.assignments()[0]["download_requested"], what="flag cleared")
    finally:
        worker.stop()


def test_watchdog_uploads_without_any_trigger(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "dog")
    client.download_route("R001")
    worker = fast_worker(store.path, period=3600, watchdog=0.3).start()
    try:
        wait_for(lambda: worker.status()["state"] == "idle", what="first cycle")
        capture_readings(store, local_accounts(store, "R001")[:5], "R001")   # no poke
        wait_for(lambda: store.conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE state='pending'").fetchone()[0] == 0,
            what="watchdog upload")
    finally:
        worker.stop()
    assert_exactly_once(gw.db, store)


def test_offline_backoff_then_recovery(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "off")
    client.download_route("R001")
    capture_readings(store, local_accounts(store, "R001")[:7], "R001")
    with FaultProxy(gw.url, rates={"error_503": 0.5, "drop_request": 0.5}, retry_after=0) as proxy:
        store.set_meta("gateway_url", proxy.url)
        worker = fast_worker(store.path, period=3600).start()
        try:
            wait_for(lambda: worker.status()["state"] == "backoff" and
                     worker.status()["online"] is False, what="offline")
            st = worker.status()
            assert st["pending"] == {"reading": 7}
            assert st["last_error"]["code"] in ("busy", "offline")
            assert st["last_error"]["en"]         # the Chinese is the catalog's (assets/locale, chaoshou_core)
            assert status_text(st["last_error"], "zh") != st["last_error"]["en"]
            tries = proxy.stats["requests"]
            wait_for(lambda: proxy.stats["requests"] >= tries + 3, what="retries continue")
            proxy.enabled = False                  # the network comes back
            wait_for(lambda: worker.status()["pending_total"] == 0 and
                     worker.status()["online"] is True, what="recovery")
            assert worker.status()["last_error"] is None
        finally:
            worker.stop()
    assert_exactly_once(gw.db, store)


def test_revoked_device_stops_and_keeps_data(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "revoked")
    client.download_route("R001")
    capture_readings(store, local_accounts(store, "R001")[:4], "R001")
    supervisor(gw.url).post(f"{gw.url}/v1/supervisor/devices/{store.get_meta('device_id')}/revoke",
                            timeout=10).raise_for_status()
    with FaultProxy(gw.url) as proxy:
        store.set_meta("gateway_url", proxy.url)
        worker = fast_worker(store.path, period=0.1, watchdog=0.1).start()
        try:
            wait_for(lambda: worker.status()["state"] == "forbidden", what="forbidden")
            st = worker.status()
            assert st["forbidden"] is True and st["last_error"]["code"] == "forbidden"
            assert st["pending"] == {"reading": 4}
            seen = proxy.stats["requests"]
            worker.poke()
            # period, watchdog and poke: no attempt. Proving an absence needs a span of
            # time; a busy machine can only make the worker do less in it, never more
            time.sleep(0.5)
            assert proxy.stats["requests"] == seen
            worker.sync_now()                      # a person asks: one more try
            wait_for(lambda: proxy.stats["requests"] > seen, what="manual attempt")
        finally:
            worker.stop()
    assert store.conn.execute("SELECT COUNT(*) FROM outbox WHERE state='pending'").fetchone()[0] == 4


def test_update_required_and_bad_token_keep_everything(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "old")
    client.download_route("R001")
    capture_readings(store, local_accounts(store, "R001")[:3], "R001")
    with FaultProxy(gw.url, rates={"error_426": 1.0}) as proxy:
        store.set_meta("gateway_url", proxy.url)
        worker = fast_worker(store.path, period=3600).start()
        try:
            wait_for(lambda: worker.status()["state"] == "update_required", what="426")
            assert worker.status()["update_required"] is True
            assert worker.status()["pending"] == {"reading": 3}
            proxy.enabled = False                  # the app was updated
            good, key = store.get_meta("device_token"), store.get_meta("device_key")
            store.set_meta("device_token", "revoked-or-garbage")
            store.set_meta("device_key", "ab" * 32)   # so re-authentication fails too
            worker.sync_now()
            wait_for(lambda: worker.status()["state"] == "needs_reenrolment", what="401")
            st = worker.status()
            assert st["auth_required"] is True and "enrol" in st["last_error"]["en"]
            assert st["pending"] == {"reading": 3}
            store.set_meta("device_token", good)
            store.set_meta("device_key", key)
            worker.sync_now()
            wait_for(lambda: worker.status()["pending_total"] == 0, what="drained")
            assert worker.status()["auth_required"] is False
        finally:
            worker.stop()
    assert_exactly_once(gw.db, store)


def test_retry_after_sets_the_next_attempt_and_sync_now_overrides_it(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "later")
    client.download_route("R001")
    capture_readings(store, local_accounts(store, "R001")[:2], "R001")
    with FaultProxy(gw.url, rates={"error_503": 1.0}, retry_after=30) as proxy:
        store.set_meta("gateway_url", proxy.url)
        worker = fast_worker(store.path, period=3600).start()
        try:
            wait_for(lambda: worker.status()["state"] == "backoff", what=worker.status)
            assert worker.status()["next_attempt_in"] > 20      # Retry-After beats the 0.2 s cap
            assert worker.status()["last_error"]["code"] == "busy"
            seen = proxy.stats["requests"]
            proxy.enabled = False
            worker.sync_now()
            wait_for(lambda: worker.status()["pending_total"] == 0, what=worker.status)
            assert proxy.stats["requests"] > seen
        finally:
            worker.stop()


def _photo_on_skip(store, account_no: str | None, seed: int) -> str:
    """A real JPEG kept as a photo; named by a skip of `account_no` (None: by nothing)."""
    import io

    from PIL import Image

    from terminal import photos, readings
    out = io.BytesIO()
    Image.effect_noise((320, 240), 40 + seed).convert("RGB").save(out, "JPEG")
    sha = photos.store_photo(store, out.getvalue())
    if account_no is not None:
        assert readings.ReadingEntry(store, account_no, READER).skip(
            "S04", note="表盘破裂", photo=sha).saved
    return sha


def _uploaded_at(store, sha: str):
    return store.conn.execute("SELECT uploaded_at FROM photos WHERE sha256=?",
                              (sha,)).fetchone()[0]


def test_the_worker_keeps_the_photo_budget_after_uploads_and_at_start(gw, tmp_path):
    """After its photo upload pass the worker removes photos uploaded more than 30 days ago
    (the test dates the upload back); a photo never uploaded stays, however old its file.
    At start-up it prunes too, so the budget holds on a device that cannot reach the
    gateway."""
    from terminal import photos, readings

    store, client = device(tmp_path, gw.url, "budget")
    client.refresh_reference()
    assign(gw.url, "R002", store.get_meta("device_id"))
    client.download_route("R002")
    first, second = (a["account_no"] for a in local_accounts(store, "R002", 2))
    sha = _photo_on_skip(store, first, 1)
    stray = _photo_on_skip(store, None, 2)              # kept, never named: never uploaded
    now = dt.datetime.now(dt.timezone.utc)
    age_photo_file(store, stray, now - dt.timedelta(days=400))

    worker = fast_worker(store.path, period=3600).start()
    try:
        wait_for(lambda: _uploaded_at(store, sha), what="the photo uploaded by the worker")
        assert photos.photo_path(store, sha).exists()   # uploaded just now: kept
        age_photo_upload(store, sha, now - dt.timedelta(days=31))
        worker.poke()
        wait_for(lambda: not photos.photo_path(store, sha).exists(),
                 what="the old uploaded photo removed after the upload pass")
        assert photos.photo_path(store, stray).exists() and _uploaded_at(store, stray) is None
    finally:
        worker.stop()

    later = _photo_on_skip(store, second, 3)
    client.upload()
    assert blobs.upload_photos(client).uploaded == 1
    age_photo_upload(store, later, now - dt.timedelta(days=31))
    third = local_accounts(store, "R002", 3)[2]["account_no"]
    assert readings.ReadingEntry(store, third, READER).skip("S01").saved   # waits to go
    store.set_meta("gateway_url", "http://127.0.0.1:9")      # the gateway out of reach
    worker = fast_worker(store.path, period=3600).start()
    try:
        wait_for(lambda: not photos.photo_path(store, later).exists(),
                 what="the old uploaded photo removed at start-up")
        wait_for(lambda: worker.status()["online"] is False, what="the worker offline")
        assert photos.photo_path(store, stray).exists()
        assert worker.status()["pending_total"] == 1
    finally:
        worker.stop()
