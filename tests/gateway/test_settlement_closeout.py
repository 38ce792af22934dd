"""A closeout mismatch written off in the console writes off its variance (docs/ledger.md,
"Settling an exception"): expected − counted, the net the handheld's closeout summary
reports (cash + card − void) less the net of the ops the gateway holds for the shift, in
fen, with its sign; no balance moves. Real gateway on SQLite and PostgreSQL."""
from __future__ import annotations

import json

import pytest

from tests.gateway.office_kit import USERS, Office


@pytest.fixture(scope="module")
def office(base_url):
    return Office(base_url)


def mismatch(gw, device, shift_id: str) -> tuple[int, int]:
    """A shift whose 900-fen cash payment and 300-fen card payment never reached the
    gateway, with a 200-fen void of a payment that did: (exception id, variance)."""
    f, s = device["ops"], device["session"]
    [a, b, c] = [no for (no,) in gw.query(
        "SELECT account_no FROM accounts WHERE route_id = 'R001' AND active = :t "
        "ORDER BY account_no DESC LIMIT 3", t=True)]
    opened = f.shift_open(shift_id)
    kept = f.payment(a, 200, shift_id=shift_id)
    ops = [opened, kept, f.void(kept, shift_id=shift_id)]
    assert s.post(gw.base_url + "/v1/ops", json={"ops": ops}, timeout=30).ok
    f.payment(b, 900, shift_id=shift_id)                  # lost on the way
    f.payment(c, 300, method="card", shift_id=shift_id)   # lost too
    last = f.reading(c, 5)
    assert s.post(gw.base_url + "/v1/ops", json={"ops": [last]}, timeout=30).ok
    summary = f.closeout_summary(shift_id, ops[0]["seq"], last["seq"])
    report = s.post(gw.base_url + "/v1/shifts/closeout", json=summary, timeout=30).json()
    assert not report["ok"] and report["missing_seqs"]
    [(exc_id, amount, detail)] = gw.query(
        "SELECT id, amount_fen, detail FROM exceptions WHERE kind = 'closeout' "
        "AND resolved_at IS NULL AND message LIKE :m", m=f"shift {shift_id} %")
    detail = json.loads(detail)
    # the handheld says 200 + 900 + 300 − 200 = 1 200; the gateway holds 200 − 200 = 0
    assert (detail["expected_fen"], detail["counted_fen"]) == (1200, 0)
    return exc_id, amount


def test_write_off_of_a_closeout_mismatch_writes_off_its_variance(gateway, device, office):
    exc_id, amount = mismatch(gateway, device, "SH-CLOSE-1")
    assert amount == 1200
    [(version_before,)] = gateway.query("SELECT value FROM counters WHERE name = 'feed_version'")
    assert office.resolve(exc_id, "write_off", "缺失操作无法追回").status_code == 303
    assert gateway.query("SELECT action, amount_fen, balance_fen, by_user FROM "
                         "exception_settlements WHERE exception_id = :i", i=exc_id) == [
        ("write_off", 1200, 0, f"office:{USERS['cashier'][0]}")]
    [(version_after,)] = gateway.query("SELECT value FROM counters WHERE name = 'feed_version'")
    assert version_after == version_before   # the books of a device: no balance moves
    [(detail,)] = gateway.query("SELECT detail FROM supervisor_audit WHERE action = "
                                "'exception_write_off' ORDER BY id DESC LIMIT 1")
    assert json.loads(detail)["amount_fen"] == 1200


def test_a_mismatch_queued_without_its_variance_is_written_off_from_the_closeout_report(
        gateway, device, office):
    """An exception queued before exceptions carried the variance (amount and detail as
    they were): the write-off reads the variance from the shift's closeout report."""
    exc_id, _amount = mismatch(gateway, device, "SH-CLOSE-OLD")
    detail = {"device_id": device["device_id"], "missing_seqs": [[4, 5]], "extra_seqs": []}
    gateway.query("UPDATE exceptions SET amount_fen = NULL, detail = :d, message = "
                  "'shift SH-CLOSE-OLD does not reconcile' WHERE id = :i",
                  d=json.dumps(detail), i=exc_id)
    assert office.resolve(exc_id, "write_off", "历史差异").status_code == 303
    assert gateway.query("SELECT amount_fen, balance_fen FROM exception_settlements "
                         "WHERE exception_id = :i", i=exc_id) == [(1200, 0)]
