"""Enrol → reference → route download → capture → sync, against a real gateway process."""
import gzip
import json

import pytest

from sync.client import AuthError, EnrolmentRefused, SyncClient
from sync_kit import (READER, assert_exactly_once, assign, capture_readings, capture_real, device,
                      gateway_db, local_accounts, server_ops)
from terminal import outbox, payments, receipts, routes, search, shifts
from terminal.store import Store


def test_enrol_download_capture_sync(gw, tmp_path):
    store, client = device(tmp_path, gw.url)
    device_id = store.get_meta("device_id")
    assert device_id and store.get_meta("device_token") and len(store.get_meta("device_key")) == 64
    assert store.get_meta("gateway_url") == gw.url

    client.refresh_reference()
    ops_rows = store.conn.execute("SELECT operator_id FROM operators").fetchall()
    assert {"1001", "9001"} <= {r[0] for r in ops_rows}
    assert receipts.numbers_left(store) >= 200

    assign(gw.url, "R001", device_id)
    assigned = client.assignments()
    assert [a["route_id"] for a in assigned] == ["R001"]

    seen = []
    client.page_limit = 150
    result = client.download_route("R001", lambda done, total: seen.append((done, total)))
    with gateway_db(gw.db) as conn:
        server_count = conn.execute("SELECT COUNT(*) FROM accounts WHERE route_id='R001' "
                                    "AND active").fetchone()[0]
    assert result["count"] == server_count
    assert seen[-1] == (server_count, server_count) and len(seen) == -(-server_count // 150)
    local = store.conn.execute("SELECT COUNT(*) FROM accounts WHERE route_id='R001'").fetchone()[0]
    assert local == server_count
    some = local_accounts(store, "R001")[5]
    assert any(h["account_no"] == some["account_no"]
               for h in search.search(store, some["account_no"][:8]))

    # capture: readings (outbox ops) and cash payments through the real payment API
    accounts = local_accounts(store, "R001")
    read_ops = capture_real(store, accounts[:20])
    shifts.open_shift(store, READER, 10000)
    paid = [payments.cash_payment(store, a["account_no"], 1000 + i, READER, advance=True)
            for i, a in enumerate(accounts[20:23])]
    report = client.upload()
    assert report.done == 24 and report.attention == 0   # 20 readings, 1 shift_open, 3 payments
    assert_exactly_once(gw.db, store)
    with gateway_db(gw.db) as conn:
        amounts = sorted(r[0] for r in conn.execute(
            "SELECT amount_fen FROM payments WHERE device_id=?", (device_id,)))
        values = {r[0]: r[1] for r in conn.execute(
            "SELECT account_no, value FROM readings WHERE device_id=?", (device_id,))}
    assert amounts == sorted(p.amount_fen for p in paid)
    for op in read_ops:
        assert values[op.payload["account_no"]] == op.payload["value"]
    local_rows = store.conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
    assert local_rows == 20
    # nothing left: the next upload makes no request
    assert client.upload().requests == 0


def test_interrupted_download_resumes_from_committed_page(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "resume")
    assign(gw.url, "R003", store.get_meta("device_id"))
    client.page_limit = 40

    class PowerCut(Exception):
        pass

    def cut_after_three_pages(done, total):
        if done >= 120:
            raise PowerCut()

    with pytest.raises(PowerCut):
        client.download_route("R003", cut_after_three_pages)
    assert routes.current_version(store, "R003") is None       # nothing live yet
    status = routes.stage_status(store, "R003")
    assert status["staged"] == 120 and status["cursor"] is not None
    store.close()

    store = Store(tmp_path / "resume.db")                      # "restart"
    client = SyncClient(store, page_limit=40)
    seen = []
    result = client.download_route("R003", lambda d, t: seen.append(d))
    assert result["resumed"] is True
    assert seen[0] == 160                                      # continued after page 3
    total = result["count"]
    # remaining pages + the "downloaded" call; the first three pages were not fetched again
    assert client.requests_made == -(-(total - 120) // 40) + 1
    assert store.conn.execute("SELECT COUNT(*) FROM accounts WHERE route_id='R003'").fetchone()[0] \
        == total
    assert routes.stage_status(store, "R003") is None


def test_same_op_id_with_other_payload_is_rejected_and_never_applied(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "tamper")
    client.download_route("R001")
    acc = local_accounts(store, "R001")[300]   # not read by the other tests
    op = capture_readings(store, [acc], "R001")[0]
    client.upload()
    assert outbox.get(store, op.op_id)["state"] == "accepted"
    # the same op_id comes again with another value (a bug, a restored backup…)
    forged = dict(op.payload, value=op.payload["value"] + 500)
    from terminal.canonical import sha256_hex
    with store.transaction() as conn:
        conn.execute("UPDATE outbox SET payload=?, payload_sha256=?, state='pending' WHERE op_id=?",
                     (json.dumps(forged, sort_keys=True), sha256_hex(forged), op.op_id))
    report = client.upload()
    assert report.attention == 1
    row = outbox.get(store, op.op_id)
    assert row["state"] == "rejected" and row["result_code"].endswith("payload_mismatch")
    assert [a["op_id"] for a in outbox.attention(store)] == [op.op_id]
    with gateway_db(gw.db) as conn:
        values = [r[0] for r in conn.execute("SELECT value FROM readings WHERE op_id=?", (op.op_id,))]
    assert values == [op.payload["value"]]                     # the original, once
    held = server_ops(gw.db, store.get_meta("device_id"))
    assert len(held) == 1 and held[0]["payload_sha256"] == op.payload_sha256


def test_closeout_names_a_missing_seq(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "closeout")
    client.ensure_receipt_numbers()
    client.download_route("R003")
    accounts = local_accounts(store, "R003")
    shift = shifts.open_shift(store, READER, 5000)
    capture_readings(store, accounts[:6], "R003")
    payments.cash_payment(store, accounts[7]["account_no"], 2500, READER, advance=True)
    last = store.conn.execute("SELECT MAX(seq) FROM outbox").fetchone()[0]
    lost = 4
    # op 4 "never leaves the device" (lost): mark it done locally without sending it
    with store.transaction() as conn:
        conn.execute("UPDATE outbox SET state='accepted' WHERE seq=?", (lost,))
    client.upload()
    summary = shifts.closeout_summary(store.conn, shift["shift_id"], store.get_meta("device_id"),
                                      1, last)
    verdict = client.closeout(summary)
    assert verdict["ok"] is False
    missing = verdict["missing_seqs"]
    flat = {s for a, b in missing for s in range(a, b + 1)} if missing and isinstance(missing[0], list) \
        else set(missing)
    assert flat == {lost}
    assert verdict["extra_seqs"] in ([], None)


def test_bad_enrolment_code_and_revoked_token(gw, tmp_path):
    store = Store(tmp_path / "x.db")
    with pytest.raises(EnrolmentRefused):
        SyncClient(store).enrol(gw.url, "NO-SUCH-CODE", "x")
    assert store.get_meta("device_token") is None
    store, client = device(tmp_path, gw.url, "auth")
    client.download_route("R001")
    capture_readings(store, local_accounts(store, "R001")[:3], "R001")
    store.set_meta("device_token", "not-a-valid-token")
    store.set_meta("device_key", "ab" * 32)      # re-authentication cannot cure it either
    with pytest.raises(AuthError) as err:
        client.upload()
    assert err.value.code == "needs_reenrolment" and "enrol" in err.value.en
    assert outbox.pending_counts(store) == {"reading": 3}      # kept, still pending


def test_corrupted_page_fails_the_digest_and_a_fresh_snapshot_is_taken(gw, tmp_path):
    from sync.faultproxy import FaultProxy
    store, client = device(tmp_path, gw.url, "digest")
    client.download_route("R003")
    old = store.conn.execute("SELECT account_no, name FROM accounts WHERE route_id='R003' "
                             "ORDER BY seq").fetchall()
    corrupted = []

    def corrupt_once(method, path, status, body):
        if "/snapshots/" in path and method == "GET" and not corrupted and status == 200:
            corrupted.append(path)
            zipped = body[:2] == b"\x1f\x8b"                    # the gateway gzips answers
            page = json.loads(gzip.decompress(body) if zipped else body)
            page["accounts"][3]["name"] += "𠮷"                   # one character more
            out = json.dumps(page, ensure_ascii=False).encode()
            return gzip.compress(out) if zipped else out
        return body

    with FaultProxy(gw.url, response_hook=corrupt_once) as proxy:
        seen_snapshots = []
        c2 = SyncClient(store, proxy.url, page_limit=100)
        result = c2.download_route("R003", lambda d, t: seen_snapshots.append(d))
    assert corrupted, "the hook never saw a page"
    assert result["resumed"] is False
    assert corrupted[0].split("/snapshots/")[1].split("?")[0] != result["snapshot_id"]
    new = store.conn.execute("SELECT account_no, name FROM accounts WHERE route_id='R003' "
                             "ORDER BY seq").fetchall()
    assert [tuple(r) for r in new] == [tuple(r) for r in old]    # right data, not the corrupted
    audit = store.conn.execute("SELECT COUNT(*) FROM audit_log WHERE event='route_verify_failed'"
                               ).fetchone()[0]
    assert audit == 1
