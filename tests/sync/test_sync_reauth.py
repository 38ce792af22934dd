"""Re-authentication of the sync client against a real gateway: a token rotated or lost
server-side is replaced through `POST /v1/devices/token` and the call goes again — ops land
exactly once under the same device id; a wrong key stays `AuthError`, a revoked device
`Forbidden`, and the captured data is kept either way."""
import hashlib
import hmac
import secrets
import threading
import time

import pytest
import requests

from sync.client import AuthError, Backoff, Forbidden, SyncClient
from sync.worker import SyncWorker
from sync_kit import (assert_exactly_once, capture_readings, device, local_accounts,
                      server_ops, supervisor)
from terminal import outbox
from terminal.store import Store
from tests.deadline import seconds, wait_until


def rotate_elsewhere(url: str, store: Store, skew: int = -60) -> str:
    """Another holder of this device's key (a restored copy of the terminal) takes a new
    token: the one in `store` stops working. Its clock is `skew` s off; it may sign the same
    second as the client or as an earlier call (each proof has its own nonce, §4)."""
    device_id, key = store.get_meta("device_id"), store.get_meta("device_key")
    ts = int(time.time()) + skew
    nonce = secrets.token_hex(16)
    proof = hmac.new(bytes.fromhex(key), f"{device_id}|{ts}|{nonce}".encode(),
                     hashlib.sha256).hexdigest()
    r = requests.post(url + "/v1/devices/token", timeout=10,
                      json={"device_id": device_id, "ts": ts, "nonce": nonce, "proof": proof})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def status_code(url: str, token: str) -> int:
    return requests.get(url + "/v1/assignments", timeout=10,
                        headers={"Authorization": f"Bearer {token}"}).status_code


def test_rotated_token_is_replaced_and_the_upload_goes_through(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "rot", start_batch=4)
    device_id = store.get_meta("device_id")
    client.download_route("R001")
    capture_readings(store, local_accounts(store, "R001")[:30], "R001")
    old = store.get_meta("device_token")
    elsewhere = rotate_elsewhere(gw.url, store)
    assert status_code(gw.url, old) == 401

    report = client.upload()          # pipelined batches of 4, 8, 16 …
    assert report.done == 30
    assert client.reauths == 1
    new = store.get_meta("device_token")
    assert new not in (old, elsewhere)
    assert status_code(gw.url, new) == 200
    assert status_code(gw.url, elsewhere) == 401          # the newest token wins
    assert store.get_meta("device_id") == device_id
    assert {r["seq"] for r in server_ops(gw.db, device_id)} == set(range(1, 31))
    assert_exactly_once(gw.db, store)


def test_token_row_changed_in_the_gateway_database_then_restart(tmp_path):
    """The token lost server-side (row rewritten, gateway restarted): the client recovers
    and the seqs continue under the same device id — nothing reported missing."""
    from sync.gateway.testing import GatewayProcess
    gw = GatewayProcess(tmp_path / "gw.db")
    gw.start()
    try:
        store, client = device(tmp_path, gw.base_url, "lost")
        device_id = store.get_meta("device_id")
        client.download_route("R002")
        accounts = local_accounts(store, "R002")
        capture_readings(store, accounts[:5], "R002")
        client.upload()
        gw.query("UPDATE devices SET token_hash = :h WHERE device_id = :d",
                 h="0" * 64, d=device_id)
        gw.restart()                                   # the token cache goes with the process
        capture_readings(store, accounts[5:12], "R002")
        report = client.upload()
        assert report.done == 7 and client.reauths == 1
        assert report.missing_seqs == [] and client.last_missing_seqs == []
        assert gw.query("SELECT COUNT(*), MIN(seq), MAX(seq) FROM sync_ops WHERE device_id = :d",
                        d=device_id) == [(12, 1, 12)]
        assert gw.query("SELECT COUNT(*) FROM devices") == [(1,)]   # no new device
        assert client.ops_status(1, 12)["missing"] == []
    finally:
        gw.stop()


def test_rotation_during_a_route_download_recovers_on_the_next_page(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "dl", page_limit=50)
    rotated = []

    def progress(done, total):
        if not rotated:
            rotated.append(rotate_elsewhere(gw.url, store))

    result = client.download_route("R003", progress)
    assert result["count"] == 400 and rotated
    assert client.reauths == 1
    n = store.conn.execute("SELECT COUNT(*) FROM accounts WHERE route_id='R003'").fetchone()[0]
    assert n == 400


def test_every_device_call_re_authenticates(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "calls")
    calls = [client.refresh_reference, client.assignments, lambda: client.ops_status(1, 5),
             lambda: client.pull_changes("R001")]
    for n, call in enumerate(calls, 1):
        # the other holder's clock agrees with the gateway's: its proofs and the client's
        # fall in the same second, several times over (a replay window keyed on whole
        # seconds took them for replays)
        rotate_elsewhere(gw.url, store, skew=0)
        call()
        assert client.reauths == n
    assert status_code(gw.url, store.get_meta("device_token")) == 200


def test_wrong_device_key_is_auth_error_and_data_kept(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "badkey")
    client.download_route("R001")
    capture_readings(store, local_accounts(store, "R001")[:3], "R001")
    rotate_elsewhere(gw.url, store)
    store.set_meta("device_key", "ab" * 32)
    requests_before = client.requests_made
    with pytest.raises(AuthError) as err:
        client.upload()
    assert err.value.code == "needs_reenrolment"
    assert "bad_proof" in err.value.detail
    assert client.requests_made - requests_before == 2    # the call, one token request
    assert outbox.pending_counts(store) == {"reading": 3}


def test_new_token_refused_again_is_auth_error(gw, tmp_path):
    """The token request succeeds but the resend is 401 again: no second round."""
    store, client = device(tmp_path, gw.url, "twice")
    rotate_elsewhere(gw.url, store)
    original = client.reauthenticate

    def reauth_then_lose(*a, **kw):   # the new token is lost server-side before its use
        headers = original(*a, **kw)
        rotate_elsewhere(gw.url, store, skew=-100)
        return headers
    client.reauthenticate = reauth_then_lose
    before = client.requests_made
    with pytest.raises(AuthError) as err:
        client.assignments()
    assert err.value.code == "needs_reenrolment"
    assert client.reauths == 1 and client.requests_made - before == 3


def test_revoked_device_is_forbidden_and_data_kept(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "revoked")
    client.download_route("R001")
    capture_readings(store, local_accounts(store, "R001")[:4], "R001")
    device_id = store.get_meta("device_id")
    rotate_elsewhere(gw.url, store)                        # the stored token is now unknown
    r = supervisor(gw.url).post(f"{gw.url}/v1/supervisor/devices/{device_id}/revoke", timeout=10)
    assert r.status_code == 200
    with pytest.raises(Forbidden) as err:
        client.upload()
    assert "device_revoked" in err.value.detail
    assert outbox.pending_counts(store) == {"reading": 4}
    assert store.get_meta("device_id") == device_id and store.get_meta("device_key")
    assert server_ops(gw.db, device_id) == []


def test_device_clock_far_off_still_re_authenticates(gw, tmp_path, monkeypatch):
    """The proof's ts comes from the gateway's Date header, not the device clock."""
    store, client = device(tmp_path, gw.url, "skew")
    rotate_elsewhere(gw.url, store)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3 * 3600)   # device 3 h ahead
    client.assignments()
    monkeypatch.undo()
    assert client.reauths == 1


def test_two_clients_on_one_store_re_authenticate_once(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "pair")
    other = SyncClient(Store(store.path, check=False))
    rotate_elsewhere(gw.url, store)
    barrier, errors = threading.Barrier(2), []

    def run(c):
        try:
            barrier.wait(5)
            c.assignments()
        except Exception as exc:  # noqa: BLE001 — reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in (client, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds(30))
    assert errors == []
    assert client.reauths + other.reauths == 1
    assert status_code(gw.url, store.get_meta("device_token")) == 200
    other.store.close()


def test_worker_recovers_without_re_enrolment(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "worker")
    device_id = store.get_meta("device_id")
    client.download_route("R001")
    capture_readings(store, local_accounts(store, "R001")[:6], "R001")
    rotate_elsewhere(gw.url, store)
    states = []
    worker = SyncWorker(store.path, period=3600, debounce=0.05, timeout=(1, 5),
                        backoff=Backoff(base=0.05, cap=0.2),
                        listener=lambda st: states.append(st["state"])).start()
    try:
        wait_until(lambda: not worker.status()["pending_total"] and
                   worker.status()["state"] == "idle", 20, "the outbox drained",
                   detail=worker.status)
        st = worker.status()
        assert st["auth_required"] is False and st["last_error"] is None
        assert st["device_id"] == device_id
    finally:
        worker.stop()
    assert "needs_reenrolment" not in states
    assert_exactly_once(gw.db, store)
