"""POST /v1/ops against a real gateway process: idempotency, rejects, gaps, suspense,
double collection, voids, corrections, closeout, receipt verification, the fault hook."""
import gzip
import json

import requests

from sync import protocol
from sync.gateway.testing import GatewayProcess, OpFactory, enrol_device, thirdparty_payment

R001_FIRST = "3101000001"


def post(dev, ops):
    r = dev["session"].post(dev["base"] + "/v1/ops", json={"ops": ops}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def statuses(body):
    return [(x["status"], x["code"]) for x in body["results"]]


def account(base_url, sv_headers, account_no):
    """The account as the snapshot delivers it (route R001..R003)."""
    route = "R00" + account_no[3]
    dev = enrol_device(base_url)
    h = {"Authorization": f"Bearer {dev['token']}"}
    snap = requests.post(f"{base_url}/v1/routes/{route}/snapshots", headers=h).json()
    page = requests.get(f"{base_url}/v1/routes/{route}/snapshots/{snap['snapshot_id']}",
                        params={"limit": 5000}, headers=h).json()
    return next(a for a in page["accounts"] if a["account_no"] == account_no)


def exceptions(base_url, sv_headers, **params):
    r = requests.get(base_url + "/v1/supervisor/exceptions", headers=sv_headers,
                     params={"status": "all", **params})
    assert r.status_code == 200
    return r.json()


def db_rows(gateway, sql, *args):
    """Rows from the gateway's own database (SQLite file, or PostgreSQL)."""
    for i in range(len(args)):
        sql = sql.replace("?", f":p{i}", 1)
    return gateway.query(sql, **{f"p{i}": a for i, a in enumerate(args)})


def test_accept_then_duplicate_then_payload_mismatch(base_url, gateway, device, sv_headers):
    device["base"] = base_url
    f = device["ops"]
    ops = [f.reading("3101000002", 5000), f.payment("3101000003", 1000)]
    assert statuses(post(device, ops)) == [("accepted", None), ("accepted", None)]
    assert statuses(post(device, ops)) == [("duplicate", None), ("duplicate", None)]
    changed = dict(ops[0], payload=dict(ops[0]["payload"], value=9999))
    changed["payload_sha256"] = f.envelope("x", changed["payload"])["payload_sha256"]
    f.seq -= 1
    f.log.pop()
    body = post(device, [changed])
    assert statuses(body) == [("rejected", "payload_mismatch")]
    rows = db_rows(gateway, "SELECT value FROM readings WHERE op_id=?", ops[0]["op_id"])
    assert rows == [(5000,)]
    assert db_rows(gateway, "SELECT count(*) FROM payments WHERE op_id=?",
                   ops[1]["op_id"]) == [(1,)]
    kinds = [e["code"] for e in exceptions(base_url, sv_headers)
             if e["op_id"] == ops[0]["op_id"]]
    assert "payload_mismatch" in kinds


def test_bad_hash_and_unknown_type_rejected(base_url, gateway, device):
    device["base"] = base_url
    f = device["ops"]
    bad = f.reading("3101000004", 100)
    bad["payload_sha256"] = "0" * 64
    unknown = f.envelope("teleport", {"account_no": "3101000004"})
    body = post(device, [bad, unknown])
    assert statuses(body) == [("rejected", "bad_hash"), ("rejected", "unknown_type")]
    assert db_rows(gateway, "SELECT count(*) FROM readings WHERE op_id=?",
                   bad["op_id"]) == [(0,)]
    # the bad-hash op is held as rejected (exception queue): its seq leaves no gap
    assert body["missing_seqs"] == []
    assert db_rows(gateway, "SELECT status, code FROM sync_ops WHERE op_id=?",
                   bad["op_id"]) == [("rejected", "bad_hash")]


def test_gaps_reported_and_filled(base_url, device):
    device["base"] = base_url
    f = device["ops"]
    ops = [f.reading(f"31010000{i:02d}", 10 + i) for i in range(10, 16)]
    body = post(device, [ops[0], ops[3], ops[5]])
    assert body["missing_seqs"] == [[2, 3], [5, 5]]
    st = device["session"].get(base_url + "/v1/ops/status").json()
    assert st["held"] == [[1, 1], [4, 4], [6, 6]] and st["missing"] == [[2, 3], [5, 5]]
    body = post(device, [ops[4], ops[1], ops[2]])  # out of order on purpose
    assert [r["seq"] for r in body["results"]] == [2, 3, 5]
    assert body["missing_seqs"] == []
    st = device["session"].get(base_url + "/v1/ops/status",
                               params={"from_seq": 1, "to_seq": 8}).json()
    assert st["held"] == [[1, 6]] and st["missing"] == [[7, 8]]


def test_gzip_body_accepted_and_garbage_gzip_is_400(base_url, device):
    f = device["ops"]
    body = gzip.compress(json.dumps({"ops": [f.reading("3101000020", 42)]}).encode())
    h = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    r = device["session"].post(base_url + "/v1/ops", data=body, headers=h)
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "accepted"
    r = device["session"].post(base_url + "/v1/ops", data=b"\x1f\x8bnot gzip", headers=h)
    assert r.status_code == 400 and r.json()["error"] == "invalid_gzip"


def test_bad_envelopes_are_4xx_never_5xx(base_url, device):
    s, url = device["session"], base_url + "/v1/ops"
    bodies = [b"", b"null", b"[]", b'{"ops": 5}', b'{"ops": [1]}', b"\xff\xfe",
              b'{"ops": [{"op_id": "a", "seq": 1e400, "type": "reading", "payload": {}, '
              b'"payload_sha256": ""}]}',
              b'{"ops": [{"op_id": "a", "seq": ' + b"9" * 5000 + b', "type": "r", '
              b'"payload": {}, "payload_sha256": ""}]}',
              b'{"ops": [{"op_id": "a", "seq": 99999999999999999999999, "type": "r", '
              b'"payload": {}, "payload_sha256": ""}]}',
              b'{"ops": [{"op_id": "a", "seq": true, "type": "r", "payload": {}, '
              b'"payload_sha256": ""}]}',
              b"[" * 100000 + b"]" * 100000]
    for body in bodies:
        r = s.post(url, data=body, headers={"Content-Type": "application/json"})
        assert 400 <= r.status_code < 500, (body[:60], r.status_code)
        assert set(r.json()) == {"error", "message"}


def test_malformed_payloads_rejected_per_op_not_5xx(base_url, device):
    device["base"] = base_url
    f = device["ops"]
    ops = [f.envelope("reading", {"account_no": 5}),
           f.envelope("reading", {"account_no": "3101000030", "status": "read",
                                  "value": 10 ** 30}),
           f.envelope("payment", {"account_no": "3101000030", "amount_fen": "100"}),
           f.envelope("void", {"payment_op_id": None}),
           f.envelope("shift_open", {}),
           f.reading("3101000031", 77)]
    body = post(device, ops)
    assert [r["status"] for r in body["results"]] == ["rejected"] * 5 + ["accepted"]
    assert body["missing_seqs"] == []


def test_payment_suspense_for_unknown_account_and_bad_allocation(base_url, gateway, device,
                                                               sv_headers):
    device["base"] = base_url
    f = device["ops"]
    ops = [f.payment("9999999999", 5000),
           f.payment(None, 3000, agent_id="A01",
                     allocations=[{"account_no": "3101000011", "amount_fen": 1000}]),
           f.payment("3101000040", -5)]
    body = post(device, ops)
    assert statuses(body) == [("accepted", "suspense")] * 3
    rows = db_rows(gateway, "SELECT suspense FROM payments WHERE op_id IN (?,?,?)",
                   *[o["op_id"] for o in ops])
    assert [bool(r[0]) for r in rows] == [True, True, True]
    susp = {e["op_id"] for e in exceptions(base_url, sv_headers, kind="suspense")}
    assert {o["op_id"] for o in ops} <= susp


def test_payment_reduces_arrears_and_reaches_change_feed(base_url, device, sv_headers):
    device["base"] = base_url
    acc = account(base_url, sv_headers, "3101000001")
    assert acc["arrears_fen"] > 0
    since = device["session"].get(base_url + "/v1/routes/R001/changes",
                                  params={"since": 0}).json()["version"]
    post(device, [device["ops"].payment("3101000001", acc["arrears_fen"] + 500)])
    after = account(base_url, sv_headers, "3101000001")
    assert after["arrears_fen"] == 0 and after["credit_fen"] == acc["credit_fen"] + 500
    feed = device["session"].get(base_url + "/v1/routes/R001/changes",
                                 params={"since": since}).json()
    bal = [c for c in feed["changes"] if c.get("account_no") == "3101000001"]
    assert bal[-1]["kind"] == "balance" and bal[-1]["arrears_fen"] == 0


def _arrears_accounts(base_url, sv_headers, n):
    dev = enrol_device(base_url)
    h = {"Authorization": f"Bearer {dev['token']}"}
    snap = requests.post(f"{base_url}/v1/routes/R002/snapshots", headers=h).json()
    page = requests.get(f"{base_url}/v1/routes/R002/snapshots/{snap['snapshot_id']}",
                        params={"limit": 5000}, headers=h).json()
    return [a for a in page["accounts"] if a["arrears_fen"] > 0][:n]


def test_double_collection_both_orders(base_url, device, sv_headers):
    device["base"] = base_url
    first, second = _arrears_accounts(base_url, sv_headers, 2)
    # third-party first, then the collector takes the same arrears on site
    assert thirdparty_payment(base_url, first["account_no"], first["arrears_fen"],
                              "TXN-DC-1")["status"] == "accepted"
    post(device, [device["ops"].payment(first["account_no"], first["arrears_fen"])])
    # on site first, then the online payment arrives
    post(device, [device["ops"].payment(second["account_no"], second["arrears_fen"])])
    thirdparty_payment(base_url, second["account_no"], second["arrears_fen"], "TXN-DC-2",
                       platform="wechat")
    flagged = {e["account_no"]: e for e in exceptions(base_url, sv_headers,
                                                       kind="double_collection")}
    for acc in (first, second):
        assert flagged[acc["account_no"]]["credit_fen"] == acc["arrears_fen"]
        now = account(base_url, sv_headers, acc["account_no"])
        assert now["arrears_fen"] == 0 and now["credit_fen"] >= acc["arrears_fen"]


def test_thirdparty_idempotent_and_auth(base_url, sv_headers):
    acc = _arrears_accounts(base_url, sv_headers, 4)[3]
    url = base_url + "/v1/thirdparty/payments"
    body = {"platform": "alipay", "txn_id": "TXN-IDEM", "account_no": acc["account_no"],
            "amount_fen": 100, "paid_at": "2026-11-27T09:00:00+08:00"}
    key = {"X-Platform-Key": "demo-platform-key"}
    assert requests.post(url, json=body).status_code == 401
    assert requests.post(url, json=body, headers={"X-Platform-Key": "x"}).status_code == 403
    assert requests.post(url, json=body, headers=key).json()["status"] == "accepted"
    assert requests.post(url, json=body, headers=key).json()["status"] == "duplicate"
    r = requests.post(url, json=dict(body, amount_fen=200), headers=key)
    assert r.status_code == 409 and r.json()["error"] == "txn_mismatch"
    now = account(base_url, sv_headers, acc["account_no"])
    assert now["arrears_fen"] == acc["arrears_fen"] - 100
    assert now["last_third_party"]["platform"] == "alipay"


def test_void_reverses_payment_and_void_before_payment_waits(base_url, gateway, device,
                                                            sv_headers):
    device["base"] = base_url
    f = device["ops"]
    acc = account(base_url, sv_headers, "3101000050")
    pay = f.payment("3101000050", 1234)
    void = f.void(pay)
    # the void arrives first while the payment (seq below) is missing: retry, not applied
    body = post(device, [void])
    assert statuses(body) == [("retry", "retry_later")]
    body = post(device, [pay, void])
    assert statuses(body) == [("accepted", None), ("accepted", None)]
    assert account(base_url, sv_headers, "3101000050")["arrears_fen"] == acc["arrears_fen"]
    assert db_rows(gateway, "SELECT voided_by FROM payments WHERE op_id=?",
                   pay["op_id"]) == [(void["op_id"],)]
    # voiding it again is a conflict kept for review
    again = f.void(pay)
    assert statuses(post(device, [again])) == [("conflict", "already_voided")]


def test_reading_correction_supersedes_and_second_reading_conflicts(base_url, gateway,
                                                                   device):
    device["base"] = base_url
    f = device["ops"]
    first = f.reading("3101000060", 100)
    fix = f.reading("3101000060", 110, corrects=first["op_id"])
    assert statuses(post(device, [first, fix])) == [("accepted", None)] * 2
    other = enrol_device(base_url)
    g = OpFactory(other)
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {other['token']}"
    body = s.post(base_url + "/v1/ops", json={"ops": [g.reading("3101000060", 120),
                                                     g.reading("0000000000", 5)]}).json()
    assert statuses(body) == [("conflict", "duplicate_reading"), ("conflict", "unknown_account")]
    rows = db_rows(gateway, "SELECT value, state, superseded_by FROM readings "
                            "WHERE account_no='3101000060' ORDER BY id")
    assert rows == [(100, "current", fix["op_id"]), (110, "current", None),
                    (120, "conflict", None)]


def test_closeout_reconciles_and_names_missing_seq(base_url, device):
    device["base"] = base_url
    f = device["ops"]
    ops = [f.shift_open("SH9"), f.payment("3101000070", 500, shift_id="SH9"),
           f.payment("3101000071", 700, method="card", shift_id="SH9"),
           f.reading("3101000072", 9), f.payment("3101000073", 300, shift_id="SH9")]
    post(device, ops)
    summary = f.closeout_summary("SH9", 1, 5)
    r = device["session"].post(base_url + "/v1/shifts/closeout", json=summary).json()
    assert r["ok"] and r["missing_seqs"] == [] and r["extra_seqs"] == []
    assert r["server"]["sums_fen"] == {"cash": 800, "card": 700, "void": 0}
    lost = f.payment("3101000074", 900, shift_id="SH9")  # seq 6 never reaches the server
    post(device, [f.reading("3101000075", 1)])
    summary = f.closeout_summary("SH9", 1, 7)
    r = device["session"].post(base_url + "/v1/shifts/closeout", json=summary).json()
    assert not r["ok"] and r["missing_seqs"] == [[lost["seq"], lost["seq"]]]
    assert r["server"]["digest"] != summary["digest"]
    other = dict(summary, device_id="DOTHER")
    assert device["session"].post(base_url + "/v1/shifts/closeout",
                                  json=other).status_code == 403


def test_receipt_verification_valid_altered_forged(base_url, device):
    device["base"] = base_url
    f = device["ops"]
    pay = f.payment("3101000080", 4321)
    post(device, [pay])
    rc = pay["payload"]["receipt"]
    url = base_url + "/v1/receipts/verify"
    good = {"device_id": device["device_id"], "receipt_no": rc["receipt_no"],
            "amount_fen": 4321, "verify_code": rc["verify_code"]}
    assert requests.post(url, json=good).json() == {"valid": True}
    assert requests.get(url, params=good).json() == {"valid": True}
    # anything else is one bit: nothing says whether the device exists or how many
    # receipts it issued (README, Reliability)
    for bad in (dict(good, amount_fen=4322), dict(good, verify_code="0123456789abcdef"),
                dict(good, receipt_no="999999"), dict(good, device_id="DNOPE")):
        assert requests.post(url, json=bad).json() == {"valid": False}
        assert requests.get(url, params=bad).json() == {"valid": False}


def test_altered_receipt_content_is_detected(base_url, gateway, device):
    device["base"] = base_url
    f = device["ops"]
    pay = f.payment("3101000081", 999)
    post(device, [pay])
    rc = pay["payload"]["receipt"]
    db_rows(gateway, "UPDATE receipts SET content=? WHERE device_id=? AND receipt_no=?",
            json.dumps({"amount_fen": 1}), device["device_id"], rc["receipt_no"])
    r = requests.post(base_url + "/v1/receipts/verify", json={
        "device_id": device["device_id"], "receipt_no": rc["receipt_no"], "amount_fen": 999,
        "verify_code": rc["verify_code"]}).json()
    assert r == {"valid": False}


def test_fault_hook_exits_after_commit_before_answer(tmp_path):
    gw = GatewayProcess(tmp_path / "fault.db", args=["--fault-after-commit", "2"])
    gw.start()
    try:
        dev = enrol_device(gw.base_url)
        f = OpFactory(dev)
        h = {"Authorization": f"Bearer {dev['token']}"}
        first = [f.reading("3101000001", 1)]
        second = [f.reading("3101000002", 2)]
        assert requests.post(gw.base_url + "/v1/ops", json={"ops": first},
                             headers=h).status_code == 200
        try:
            requests.post(gw.base_url + "/v1/ops", json={"ops": second}, headers=h, timeout=10)
            raise AssertionError("the gateway answered although it should have exited")
        except requests.ConnectionError:
            pass
        assert gw.wait_exit(10) == 75
        gw.start(args=[])
        body = requests.post(gw.base_url + "/v1/ops", json={"ops": first + second},
                             headers=h).json()
        assert [r["status"] for r in body["results"]] == ["duplicate", "duplicate"]
    finally:
        gw.stop()


def test_reused_seq_is_kept_as_conflict_not_dropped(base_url, gateway, device):
    device["base"] = base_url
    f = device["ops"]
    assert statuses(post(device, [f.reading("3101000090", 5)])) == [("accepted", None)]
    f.seq = 0  # the device was restored from an old backup and counts from 1 again
    pay = f.payment("3101000091", 800)
    assert statuses(post(device, [pay])) == [("conflict", "seq_conflict")]
    assert [(a, bool(sus)) for a, sus in db_rows(
        gateway, "SELECT amount_fen, suspense FROM payments WHERE op_id=?",
        pay["op_id"])] == [(800, False)]


def test_unstorable_text_is_4xx_or_rejected_never_5xx(base_url, device, sv_headers):
    s, url = device["session"], base_url + "/v1/ops"
    h = {"Content-Type": "application/json"}
    nul = b'{"ops": [{"op_id": "\\u0000", "seq": 1, "type": "reading", "payload": {}, ' \
          b'"payload_sha256": ""}]}'
    assert s.post(url, data=nul, headers=h).status_code == 400
    lone = b'{"ops": [{"op_id": "x\\ud800", "seq": 1, "type": "reading", "payload": {}, ' \
           b'"payload_sha256": ""}]}'
    assert s.post(url, data=lone, headers=h).status_code == 400
    payload = b'{"ops": [{"op_id": "lone-1", "seq": 1, "type": "reading", ' \
              b'"payload": {"note": "\\udc00"}, "payload_sha256": ""}]}'
    r = s.post(url, data=payload, headers=h)
    assert r.status_code == 200 and r.json()["results"][0]["code"] == "invalid_text"
    r = requests.post(base_url + "/v1/supervisor/accounts/3101000001/hazard",
                      data=b'{"hazard": "\\ud800"}', headers=h | sv_headers)
    assert r.status_code == 400
    assert requests.get(base_url + "/v1/receipts/verify?device_id=%00&receipt_no=1&"
                                   "amount_fen=1&verify_code=x").status_code == 400
    # a surrogate pair escaped by an ASCII-only client is a real character and is fine
    pair = b'{"hazard": "\\ud842\\udfb7 dog"}'
    r = requests.post(base_url + "/v1/supervisor/accounts/3101000001/hazard", data=pair,
                      headers=h | sv_headers)
    assert r.status_code == 200 and r.json()["hazard"] == "𠮷 dog"


def test_thirdparty_for_unknown_account_goes_to_suspense(base_url, sv_headers):
    assert thirdparty_payment(base_url, "0000000404", 700, "TXN-SUSP-1") == {
        "status": "accepted", "suspense": True}
    held = [e for e in exceptions(base_url, sv_headers, kind="suspense")
            if e["account_no"] == "0000000404"]
    assert held and held[0]["amount_fen"] == 700


def test_payload_values_that_cannot_name_a_row_are_answered_not_5xx(base_url, device):
    """A list or object where a name is expected (account, agent, payment) is a malformed
    payload — rejected, or a payment held in suspense — never a failed batch."""
    device["base"] = base_url
    f = device["ops"]
    pay = f.payment("3101000041", 300)
    ops = [dict(pay, payload=dict(pay["payload"], account_no={"no": 1}))]
    ops[0]["payload_sha256"] = protocol.sha256hex(ops[0]["payload"])
    ops += [f.payment(None, 300, agent_id="A01",
                      allocations=[{"account_no": ["3101000041"], "amount_fen": 300}]),
            f.reading(["3101000042"], 5), f.reading("3101000042", 5, corrects={"x": 1}),
            f.envelope("void", {"payment_op_id": ["x"], "amount_fen": 300})]
    body = post(device, ops)
    assert statuses(body) == [("accepted", "suspense")] * 2 + \
        [("rejected", "invalid_payload")] * 3
