"""Whatever the device accepts, the gateway accepts (docs/contracts.md §0, "Captured text").

Every content reason the gateway's ingest can reject an op for is walked through the
capture API (each is refused there, nothing written); the same texts forced into the
outbox past the capture API are rejected by a real gateway with the same reason, yet each
holds its seq, so the seq range has no hole and the shift's closeout reconciles.
"""
import hashlib
import json

import pytest
import requests
from sqlalchemy import text

import fieldrules
from sync import protocol
from sync.gateway.ingest.batch import CONTENT_REASONS
from sync_kit import (READER, SUPERVISOR, assign, collector_on_route, device, gateway_engine,
                      local_accounts)
from terminal import outbox, payments, readings, shifts, voids
from terminal.ledger_errors import LedgerError


def bad_text(reason: str, field: fieldrules.Field) -> str:
    """A text that breaks `reason` for `field`; a reason without an example fails here."""
    return {"nul_character": "门锁\x00坏了",
            "invalid_text": "门锁\ud800坏了",
            "control_character": "门锁\u202e坏了",
            "noncharacter": "门锁\ufdd0坏了",
            "too_long": "字" * (field.max_chars + 1)}[reason]


def test_every_reason_has_an_example_and_means_the_same_on_both_sides():
    # derived from the gateway's own list: a new reason without an example fails here
    assert set(CONTENT_REASONS) == set(fieldrules.REASONS)
    for reason in CONTENT_REASONS:
        for op_type, fields in fieldrules.CAPTURED.items():
            for f in fields:
                assert fieldrules.payload_problem(op_type, {f.key: bad_text(reason, f)}).code \
                    == reason


@pytest.fixture(scope="module")
def collector(gw, tmp_path_factory):
    return collector_on_route(tmp_path_factory.mktemp("content"), gw.url, "content", "R002", 10000)


def _written(store) -> tuple:
    return tuple(store.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                 for t in ("outbox", "readings", "voids"))


def _capture(store, accounts, op_type: str, key: str, value: str, i: int):
    """Try to capture `value` into captured field `key` through the capture API."""
    account = accounts[i]
    if op_type == "reading" and key == "note":
        entry = readings.ReadingEntry(store, account["account_no"], READER)
        problems = entry.set_note(value)
        if problems:
            raise readings.ReadingError(problems)
        m = account["meter"]
        return readings.capture_reading(store, account_no=account["account_no"],
                                        operator_id=READER, status="read",
                                        value=(m["prev_value"] or 0) + 5, consumption=5,
                                        note=value, estimate=False)
    if op_type == "reading":
        return readings.capture_reading(store, account_no=account["account_no"],
                                        operator_id=READER, status="skipped",
                                        estimate=False, **{key: value})
    pay = payments.cash_payment(store, account["account_no"], 100 + i, READER, advance=True)
    args = {"reason": "收错户", "approved_by": SUPERVISOR[0], key: value}
    return voids.void_payment(store, pay.op_id, args["reason"], READER, args["approved_by"],
                              SUPERVISOR[1])


CASES = [(reason, op_type, f.key) for reason in CONTENT_REASONS
         for op_type, fields in fieldrules.CAPTURED.items() for f in fields]


@pytest.mark.parametrize("reason,op_type,key", CASES)
def test_each_gateway_content_reason_is_refused_at_capture(collector, reason, op_type, key):
    store, _client, accounts = collector
    value = bad_text(reason, fieldrules.field(op_type, key))
    i = CASES.index((reason, op_type, key))
    before = _written(store)
    if op_type == "void":
        before = (before[0] + 1,) + before[1:]   # the cash payment to void is written first
    with pytest.raises((readings.ReadingError, LedgerError)) as err:
        _capture(store, accounts, op_type, key, value, i)
    assert _written(store) == before            # refused: nothing of it kept
    message = str(err.value)
    if key in ("note", "reason"):               # the keyed fields say exactly why
        assert err.value.code.endswith(reason)
        zh, en = fieldrules.REASONS[reason]
        assert en.split("{")[0].strip() in message and zh.split("{")[0] in message


def _force(store, op_type: str, payload: dict) -> outbox.Op:
    """An op written to the outbox directly, past the capture API's content rules (as an
    older app version or a damaged device might)."""
    digest = hashlib.sha256(protocol.canonical_json(payload)).hexdigest()
    with store.transaction() as conn:
        seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox").fetchone()[0]
        op_id = outbox.new_op_id()
        conn.execute("INSERT INTO outbox (seq, op_id, type, operator_id, device_time, payload, "
                     "payload_sha256, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (seq, op_id, op_type, READER, "2026-11-27T10:00:00+08:00",
                      json.dumps(payload, ensure_ascii=False, sort_keys=True), digest,
                      "2026-11-27T10:00:00+08:00"))
    return seq, op_id


def _gateway_rows(gw, sql: str, **params) -> list[tuple]:
    with gateway_engine(gw) as engine, engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def test_forced_bad_ops_are_rejected_yet_hold_their_seq_and_closeout_completes(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "forced")
    client.ensure_receipt_numbers()
    assign(gw.url, "R003", store.get_meta("device_id"))
    client.download_route("R003")
    accounts = local_accounts(store, "R003")
    shift = shifts.open_shift(store, READER, 5000)
    payments.cash_payment(store, accounts[0]["account_no"], 2500, READER, advance=True)
    forced = {}
    storable = [r for r in CONTENT_REASONS if r != "invalid_text"]  # SQLite cannot hold it
    for n, reason in enumerate(storable):
        for op_type, fields in fieldrules.CAPTURED.items():
            for f in fields:
                payload = {"account_no": accounts[1 + n]["account_no"], "status": "skipped",
                           "shift_id": shift["shift_id"], f.key: bad_text(reason, f)}
                forced[_force(store, op_type, payload)] = reason
    payments.cash_payment(store, accounts[9]["account_no"], 1200, READER, advance=True)
    shifts.close_shift(store, READER, counted_fen=5000 + 2500 + 1200)
    report = client.upload()
    assert report.attention == len(forced) and not outbox.pending_counts(store)
    device_id = store.get_meta("device_id")
    held = {(seq, op_id): (status, code) for seq, op_id, status, code in _gateway_rows(
        gw, "SELECT seq, op_id, status, code FROM sync_ops WHERE device_id = :d", d=device_id)}
    assert {k: held[k] for k in forced} == {k: ("rejected", r) for k, r in forced.items()}
    last = store.conn.execute("SELECT MAX(seq) FROM outbox").fetchone()[0]
    assert sorted(s for s, _o in held) == list(range(1, last + 1))   # no hole
    queued = {op_id for (op_id,) in _gateway_rows(
        gw, "SELECT op_id FROM exceptions WHERE kind = 'rejected' AND device_id = :d",
        d=device_id)}
    assert {op_id for _s, op_id in forced} <= queued
    # the NUL is kept escaped, never raw (PostgreSQL could not store it)
    stored = _gateway_rows(gw, "SELECT payload FROM sync_ops WHERE device_id = :d", d=device_id)
    assert not any("\x00" in p for (p,) in stored)
    summary = json.loads(store.conn.execute(
        "SELECT summary FROM shifts WHERE shift_id=?", (shift["shift_id"],)).fetchone()[0])
    verdict = client.closeout(summary)
    assert verdict["ok"] is True and verdict["missing_seqs"] == [], verdict


def test_an_unencodable_op_holds_its_seq(gw, tmp_path):
    """A lone surrogate cannot even be written to the device's store; sent anyway, the
    gateway rejects it (`invalid_text`) and still counts its seq as received."""
    store, client = device(tmp_path, gw.url, "surrogate")
    shifts.open_shift(store, READER, 0)
    client.upload()
    token = store.get_meta("device_token")
    op = {"op_id": outbox.new_op_id(), "seq": 2, "type": "reading", "operator_id": READER,
          "payload": {"account_no": "3103000001", "status": "skipped", "note": "x\ud800"},
          "payload_sha256": "0" * 64}
    after = {"shift_id": "S-AFTER", "float_fen": 0}
    good = {"op_id": outbox.new_op_id(), "seq": 3, "type": "shift_open", "operator_id": READER,
            "payload": after,
            "payload_sha256": hashlib.sha256(protocol.canonical_json(after)).hexdigest()}
    body = json.dumps({"ops": [op, good]})   # ASCII-escaped, as a JSON client would send it
    r = requests.post(gw.url + "/v1/ops", data=body, timeout=10,
                      headers={"Authorization": f"Bearer {token}",
                               "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert [(x["status"], x["code"]) for x in doc["results"]] == [("rejected", "invalid_text"),
                                                                  ("accepted", None)]
    assert doc["missing_seqs"] == []
    again = requests.post(gw.url + "/v1/ops", data=body, timeout=10,
                          headers={"Authorization": f"Bearer {token}",
                                   "Content-Type": "application/json"}).json()
    assert [(x["status"], x["code"]) for x in again["results"]] == [("rejected", "invalid_text"),
                                                                    ("duplicate", None)]
