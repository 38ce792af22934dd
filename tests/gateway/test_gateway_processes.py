"""Two gateway processes on one database (SQLite file or PostgreSQL): what one process
does holds on the other at once — revocation, PIN lockout, re-issued tokens — and shared
counters and balances stay right under concurrent writes from both (docs/deploy.md)."""
import json
import threading

import pytest
import requests

from sync.gateway.testing import (DEMO_SUPERVISOR, GatewayProcess, OpFactory, enrol_device,
                                  post_ops, supervisor_token)


@pytest.fixture(scope="module")
def pair(tmp_path_factory, engine):
    a = GatewayProcess(tmp_path_factory.mktemp("pair") / "gateway.db")
    a.start()
    b = GatewayProcess(None, db_url=a.url, seed_demo=False, migrate=False)
    b.start()
    yield a, b
    b.stop()
    a.stop()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_revocation_through_one_process_holds_on_the_other_at_once(pair):
    a, b = pair
    dev = enrol_device(a.base_url)
    for gw in (a, b):       # both processes have served this token (nothing to go stale)
        assert requests.get(gw.base_url + "/v1/assignments", headers=bearer(dev["token"]),
                            timeout=10).status_code == 200
    sv = bearer(supervisor_token(a.base_url))
    requests.post(f"{a.base_url}/v1/supervisor/devices/{dev['device_id']}/revoke", headers=sv,
                  timeout=10).raise_for_status()
    for gw in (b, a):
        r = requests.get(gw.base_url + "/v1/assignments", headers=bearer(dev["token"]),
                         timeout=10)
        assert r.status_code == 403 and r.json()["error"] == "device_revoked"


def test_pin_lockout_on_one_process_holds_on_the_other(pair):
    a, b = pair
    operator_id, pin = DEMO_SUPERVISOR
    try:
        for _ in range(5):
            r = requests.post(a.base_url + "/v1/supervisor/login",
                              json={"operator_id": operator_id, "pin": "0000"}, timeout=10)
            assert r.status_code == 401
        for gw in (b, a):
            r = requests.post(gw.base_url + "/v1/supervisor/login",
                              json={"operator_id": operator_id, "pin": pin}, timeout=10)
            assert r.status_code == 429 and r.json()["error"] == "locked_out"
            assert 0 < int(r.headers["Retry-After"]) <= 300
    finally:     # the lockout lives in the database: lift it for the other tests
        a.query("DELETE FROM login_failures")


def test_receipt_blocks_from_both_processes_never_overlap(pair):
    a, b = pair
    dev = enrol_device(a.base_url)
    blocks, errors = [], []

    def take(gw):
        try:
            for _ in range(15):
                r = requests.post(gw.base_url + "/v1/receipt-blocks", json={"size": 100},
                                  headers=bearer(dev["token"]), timeout=30)
                r.raise_for_status()
                blocks.append((r.json()["start"], r.json()["end"]))
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(gw,)) for gw in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    numbers = [n for lo, hi in blocks for n in range(lo, hi + 1)]
    assert len(blocks) == 60 and len(numbers) == len(set(numbers)) == 6000


def test_concurrent_payments_through_both_processes_keep_every_fen(pair):
    """Devices on both processes pay the same accounts at once: no lost update."""
    a, b = pair
    accounts = [r[0] for r in a.query("SELECT account_no FROM accounts WHERE route_id = 'R002' "
                                      "ORDER BY account_no LIMIT 3")]
    before = {no: doc for no, doc in a.query(
        "SELECT account_no, doc FROM accounts WHERE route_id = 'R002' "
        "ORDER BY account_no LIMIT 3")}
    devices = [enrol_device(gw.base_url) for gw in (a, b, a, b)]
    errors = []

    def pay(gw, dev):
        ops = OpFactory(dev)
        try:
            for i in range(10):
                batch = [ops.payment(accounts[(i + j) % 3], 100 + j) for j in range(3)]
                r = post_ops(gw.base_url, dev["token"], batch)
                r.raise_for_status()
                assert {x["status"] for x in r.json()["results"]} == {"accepted"}
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=pay, args=(gw, dev))
               for gw, dev in zip((a, b, a, b), devices)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    paid = dict(a.query("SELECT account_no, SUM(amount_fen) FROM payments WHERE account_no IN "
                        "(:a0, :a1, :a2) GROUP BY account_no",
                        **{f"a{i}": no for i, no in enumerate(accounts)}))
    assert sum(paid.values()) == 4 * 10 * (100 + 101 + 102)
    for no, doc in a.query("SELECT account_no, doc FROM accounts WHERE account_no IN "
                           "(:a0, :a1, :a2)", **{f"a{i}": no for i, no in enumerate(accounts)}):
        old, new = json.loads(before[no]), json.loads(doc)
        to_arrears = min(paid[no], old["arrears_fen"])
        assert new["arrears_fen"] == old["arrears_fen"] - to_arrears
        assert new["credit_fen"] == old["credit_fen"] + paid[no] - to_arrears
