"""Device token re-issue (`POST /v1/devices/token`) against a real gateway process: a proof
of the device key gives a new token and ends the old one; wrong proofs, stale timestamps
and replayed proofs are 401 (two proofs signed in the same second are not a replay), a
revoked device 403; no body makes it answer 5xx."""
import hashlib
import hmac
import secrets
import time

import pytest
import requests

from sync.gateway.testing import enrol_device, post_ops


NONCE = "0123456789abcdef0123456789abcdef"


def proof(device: dict, ts: int, key: str | None = None, nonce: str = NONCE) -> str:
    """contracts §4, computed here independently of sync.protocol."""
    key_bytes = bytes.fromhex(key or device["device_key"])
    return hmac.new(key_bytes, f"{device['device_id']}|{ts}|{nonce}".encode(),
                    hashlib.sha256).hexdigest()


def ask(base_url, device_id, ts, proof_hex, nonce: str = NONCE):
    return requests.post(base_url + "/v1/devices/token", timeout=10,
                         json={"device_id": device_id, "ts": ts, "nonce": nonce,
                               "proof": proof_hex})


def reference(base_url, token):
    return requests.get(base_url + "/v1/reference", timeout=10,
                        headers={"Authorization": f"Bearer {token}"})


def test_new_token_works_and_the_old_one_stops(base_url, device):
    old = device["token"]
    assert reference(base_url, old).status_code == 200       # cached as valid first
    ts = int(time.time())
    r = ask(base_url, device["device_id"], ts, proof(device, ts))
    assert r.status_code == 200, r.text
    new = r.json()["token"]
    assert new != old
    assert reference(base_url, new).status_code == 200
    gone = reference(base_url, old)
    assert gone.status_code == 401 and gone.json()["error"] == "unauthenticated"
    ops = device["ops"]
    r = post_ops(base_url, new, [ops.reading("R001-0001")])
    assert r.status_code == 200 and r.json()["results"][0]["status"] in ("accepted", "conflict")
    assert post_ops(base_url, old, [ops.reading("R001-0002")]).status_code == 401


def test_proof_in_upper_case_hex_is_accepted(base_url, device):
    ts = int(time.time())
    r = ask(base_url, device["device_id"], ts, proof(device, ts).upper())
    assert r.status_code == 200, r.text


def test_wrong_proof_is_401_and_the_token_is_kept(base_url, device):
    ts = int(time.time())
    other = enrol_device(base_url)
    for bad in (proof(device, ts, key=other["device_key"]),      # another device's key
                proof(device, ts + 1),                            # signs another ts
                "00" * 32, "zz", "王𠮷"):
        r = ask(base_url, device["device_id"], ts, bad)
        assert r.status_code == 401, (bad, r.text)
        assert r.json() == {"error": "bad_proof", "message": r.json()["message"]}
    r = ask(base_url, other["device_id"], ts, proof(device, ts))  # my proof, their id
    assert r.status_code == 401 and r.json()["error"] == "bad_proof"
    r = ask(base_url, "DNOSUCHDEVICE", ts, proof(device, ts))
    assert r.status_code == 401 and r.json()["error"] == "bad_proof"
    assert reference(base_url, device["token"]).status_code == 200


@pytest.mark.parametrize("skew", [-301, 301, -10 ** 6])
def test_stale_timestamp_is_401(base_url, device, skew):
    # A proof one second outside the window is only outside it while the gateway's clock
    # reads the second the proof was signed in: once a second boundary passes before the
    # gateway looks (a slow request), 301 s ahead is 300 s ahead. Such an answer proves
    # nothing either way; sign again until the request was answered within its second.
    # A proof that was inside the window by then was rightly accepted, and the device's
    # token is the one that answer gave.
    token = device["token"]
    for _ in range(20):
        signed = time.time()
        ts = int(signed) + skew
        r = ask(base_url, device["device_id"], ts, proof(device, ts))
        if int(time.time()) == int(signed):
            break
        if r.status_code == 200:
            token = r.json()["token"]
    else:
        pytest.fail("no request was answered within the second it was signed in")
    assert r.status_code == 401
    assert r.json()["error"] == "stale_timestamp"
    assert reference(base_url, token).status_code == 200


def test_timestamp_within_the_window_is_accepted(base_url, device):
    ts = int(time.time()) - 240
    assert ask(base_url, device["device_id"], ts, proof(device, ts)).status_code == 200


def test_a_proof_is_accepted_once(base_url, device):
    ts = int(time.time())
    first = ask(base_url, device["device_id"], ts, proof(device, ts))
    assert first.status_code == 200
    again = ask(base_url, device["device_id"], ts, proof(device, ts))
    assert again.status_code == 401 and again.json()["error"] == "proof_replayed"
    assert reference(base_url, first.json()["token"]).status_code == 200
    # the same nonce under another timestamp is the same request again: refused too
    later = ask(base_url, device["device_id"], ts + 1, proof(device, ts + 1))
    assert later.status_code == 401 and later.json()["error"] == "proof_replayed"


def test_two_proofs_signed_in_the_same_second_are_both_accepted(base_url, device):
    """Two holders of the key (the worker and the app, or a restored copy) re-authenticate
    within one second: each signs its own nonce, and neither is taken for a replay."""
    ts = int(time.time())
    tokens = []
    for _ in range(3):
        nonce = secrets.token_hex(16)
        r = ask(base_url, device["device_id"], ts, proof(device, ts, nonce=nonce), nonce=nonce)
        assert r.status_code == 200, r.text
        tokens.append(r.json()["token"])
    assert len(set(tokens)) == 3
    assert reference(base_url, tokens[-1]).status_code == 200
    assert reference(base_url, tokens[0]).status_code == 401     # the newest token wins


def test_replay_refused_after_a_gateway_restart(gateway, device):
    ts = int(time.time())
    assert ask(gateway.base_url, device["device_id"], ts, proof(device, ts)).status_code == 200
    gateway.restart()
    again = ask(gateway.base_url, device["device_id"], ts, proof(device, ts))
    assert again.status_code == 401 and again.json()["error"] == "proof_replayed"


def test_revoked_device_is_403(base_url, device, sv_headers):
    r = requests.post(f"{base_url}/v1/supervisor/devices/{device['device_id']}/revoke",
                      headers=sv_headers, timeout=10)
    assert r.status_code == 200
    ts = int(time.time())
    r = ask(base_url, device["device_id"], ts, proof(device, ts))
    assert r.status_code == 403 and r.json()["error"] == "device_revoked"
    # a wrong proof for a revoked device still says nothing about the device
    r = ask(base_url, device["device_id"], ts, "00" * 32)
    assert r.status_code == 401 and r.json()["error"] == "bad_proof"


@pytest.mark.parametrize("body", [
    None, b"", b"[]", b"{", b'"x"', {}, {"device_id": "D1"},
    {"device_id": "D1", "ts": "now", "proof": "ab"},
    {"device_id": "D1", "ts": -1, "proof": "ab"},
    {"device_id": "D1", "ts": 10 ** 30, "proof": "ab"},
    {"device_id": "D1", "ts": 1.5, "proof": "ab"},
    {"device_id": "", "ts": 1, "proof": "ab"},
    {"device_id": "D1", "ts": 1, "proof": ""},
    {"device_id": "D1", "ts": 1, "proof": "a" * 129},
    {"device_id": ["D1"], "ts": 1, "proof": "ab"},
    {"device_id": "D1", "ts": 1, "nonce": "not hex at all!!", "proof": "ab"},
    {"device_id": "D1", "ts": 1, "nonce": "ab", "proof": "ab"},
    {"device_id": "D1", "ts": 1, "nonce": "a" * 65, "proof": "ab"},
])
def test_bad_bodies_are_4xx_with_the_error_format(base_url, body):
    if isinstance(body, dict):
        r = requests.post(base_url + "/v1/devices/token", json=body, timeout=10)
    else:
        r = requests.post(base_url + "/v1/devices/token", data=body, timeout=10,
                          headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
    assert set(r.json()) == {"error", "message"}
