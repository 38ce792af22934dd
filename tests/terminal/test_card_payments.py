"""Card payments: sent committed before the terminal is asked, result committed before it is
acknowledged, unknown after a line drop and resolved from the terminal, masked PAN only,
offline limits."""
import datetime as dt
import json
import sqlite3

import pytest
from hypothesis import given, strategies as st

from ledger_fixtures import CardResult, FakeTerminal, make_store
from terminal import outbox, payments, receipts, shifts
from terminal.ledger_errors import LedgerError
from terminal.payments import CardDataError, masked_pan


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path / "t.db")
    shifts.open_shift(s, "2001", 0)
    return s


def state_seen_by_another_connection(store, op_id):
    conn = sqlite3.connect(store.path)
    try:
        row = conn.execute("SELECT state FROM payments WHERE op_id IS NOT NULL "
                           "ORDER BY device_time DESC, rowid DESC LIMIT 1").fetchone()
        return row[0] if row else None
    finally:
        conn.close()


class WitnessTerminal(FakeTerminal):
    """Records what another connection sees at the moments that matter."""

    def __init__(self, store, **kw):
        super().__init__(**kw)
        self.store = store
        self.seen = {}

    def authorize(self, amount_fen, on_status, on_result):
        self.seen["before_send"] = state_seen_by_another_connection(self.store, None)

        def wrapped(result):
            on_result(result)
            self.seen["before_ack"] = state_seen_by_another_connection(self.store, None)
        return super().authorize(amount_fen, on_status, wrapped)


def test_approved_card_payment(store):
    term = WitnessTerminal(store)
    statuses = []
    r = payments.card_payment(store, term, "3100000002", 4200, "2001",
                              on_status=lambda c, t: statuses.append(t), advance=True)
    assert term.seen == {"before_send": "sent", "before_ack": "approved"}
    assert statuses and r.state == "approved" and r.receipt_no == "100000"
    payload = json.loads(outbox.get(store, r.op_id)["payload"])
    assert payload["method"] == "card" and payload["amount_fen"] == 4200
    assert payload["tendered_fen"] is None
    assert payload["card"] == {"result_code": 0, "trace": 501, "terminal_receipt_no": 9501,
                               "masked_pan": "622848******1234", "card_type": "UnionPay",
                               "terminal_id": "T0000001"}
    content = payload["receipt"]["content"]
    assert content["card"]["last4"] == "1234" and "622848" not in json.dumps(content)
    assert "622848" not in json.dumps(r.doc) and "****1234" in json.dumps(r.doc, ensure_ascii=False)
    audit = " ".join(row[0] for row in store.conn.execute("SELECT detail FROM audit_log"))
    assert "622848" not in audit and "1234" not in audit
    assert receipts.verify_store(store) == []


def test_declined_writes_no_op_and_no_number(store):
    r = payments.card_payment(store, FakeTerminal("decline"), "3100000002", 4200, "2001", advance=True)
    assert r.state == "declined" and r.receipt_no is None
    assert store.conn.execute("SELECT COUNT(*) FROM outbox WHERE type='payment'").fetchone()[0] == 0
    assert receipts.numbers_left(store) == 1000
    assert payments.card_payment(store, FakeTerminal(), "3100000002", 4200, "2001",
                                 advance=True).state == "approved"


def test_result_only_returned_is_booked(store):
    r = payments.card_payment(store, FakeTerminal("return_only"), "3100000002", 4200, "2001", advance=True)
    assert r.state == "approved" and r.receipt_no == "100000"


def test_line_drop_before_result_is_unknown_then_resolved_declined(store):
    term = FakeTerminal("drop_before")
    r = payments.card_payment(store, term, "3100000002", 4200, "2001", advance=True)
    assert r.state == "unknown" and r.receipt_no is None
    assert [u["op_id"] for u in payments.unknown_payments(store)] == [r.op_id]
    # no blind retry: a new card payment waits until this one is settled
    with pytest.raises(LedgerError) as err:
        payments.card_payment(store, FakeTerminal(), "3100000002", 4200, "2001", advance=True)
    assert err.value.code == "card_unresolved" and term.calls == 1
    with pytest.raises(LedgerError) as err:
        shifts.close_shift(store, "2001", counted_fen=0)
    assert err.value.code == "unknown_card_payments"
    # the terminal has no transaction for it → declined, nothing booked
    done = payments.resolve_unknown(store, term, r.op_id)
    assert done.state == "declined" and payments.unknown_payments(store) == []
    assert store.conn.execute("SELECT COUNT(*) FROM outbox WHERE type='payment'").fetchone()[0] == 0


def test_line_drop_after_approval_is_resolved_approved(store):
    term = FakeTerminal("drop_after")
    r = payments.card_payment(store, term, "3100000002", 4200, "2001", advance=True)
    assert r.state == "unknown"
    term.reachable = False
    with pytest.raises(LedgerError) as err:
        payments.resolve_unknown(store, term, r.op_id)
    assert err.value.code == "terminal_unreachable"
    assert payments.unknown_payments(store)[0]["state"] == "unknown"
    term.reachable = True
    done = payments.resolve_unknown(store, term, r.op_id)
    assert done.state == "approved" and done.receipt_no == "100000"
    assert json.loads(outbox.get(store, r.op_id)["payload"])["card"]["trace"] == term.last.trace
    with pytest.raises(LedgerError) as err:
        payments.resolve_unknown(store, term, r.op_id)
    assert err.value.code == "not_unknown"
    assert receipts.verify_store(store) == []


def test_last_result_of_another_payment_does_not_match(store):
    term = FakeTerminal()
    first = payments.card_payment(store, term, "3100000002", 4200, "2001", advance=True)
    assert first.state == "approved"
    term.mode = "drop_before"
    r = payments.card_payment(store, term, "3100000002", 4200, "2001", advance=True)   # same amount
    assert r.state == "unknown"
    # last_result() is still the first (already booked) transaction: not ours
    assert payments.resolve_unknown(store, term, r.op_id).state == "declined"
    assert store.conn.execute("SELECT COUNT(*) FROM outbox WHERE type='payment'").fetchone()[0] == 1


def test_commit_failure_in_on_result_leaves_it_unacknowledged_and_unknown(store, monkeypatch):
    term = FakeTerminal()

    def broken(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(outbox, "append", broken)
    r = payments.card_payment(store, term, "3100000002", 4200, "2001", advance=True)
    assert term.acked == [] and r.state == "unknown" and receipts.numbers_left(store) == 1000
    monkeypatch.undo()
    assert payments.resolve_unknown(store, term, r.op_id).state == "approved"
    assert receipts.verify_store(store) == []


def test_amount_mismatch_is_not_booked(store):
    class Odd(FakeTerminal):
        def authorize(self, amount_fen, on_status, on_result):
            result = CardResult(True, 0, amount_fen + 1, 77, 1)
            on_result(result)
            return result
    r = payments.card_payment(store, Odd(), "3100000002", 4200, "2001", advance=True)
    assert r.state == "unknown" and r.receipt_no is None


def test_recover_on_start_up(tmp_path):
    s = make_store(tmp_path / "t.db")
    shifts.open_shift(s, "2001", 0)
    with s.transaction() as conn:
        for op, state in (("a", "intent"), ("b", "sent")):
            conn.execute("INSERT INTO payments (op_id, account_no, method, amount_fen, state, shift_id,"
                         " operator_id, device_time) VALUES (?, '3100000002', 'card', 100, ?, ?, "
                         "'2001', '2026-11-27T10:00:00+08:00')",
                         (op, state, shifts.current_shift(s)["shift_id"]))
    s.close()
    s = make_store(tmp_path / "t.db", block=None)
    assert payments.recover_card_payments(s) == {"declined": 1, "unknown": 1}
    assert [u["op_id"] for u in payments.unknown_payments(s)] == ["b"]


# -- masked PAN ------------------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [
    ("622848******1234", "622848******1234"),
    ("622848XXXXXX1234", "622848******1234"),
    ("622848EEEEEEEEE1234", "622848*********1234"),
    ("6228 48** **** 1234", "622848******1234"),
    ("************1234", "************1234"),
    (None, None), ("", None),
])
def test_masked_pan_accepted(value, expected):
    assert masked_pan(value) == expected


@pytest.mark.parametrize("value", [
    "4111111111111111",            # full PAN, Luhn valid
    "4111111111111112",            # full PAN, Luhn invalid: still refused
    "6228480000000001234",         # 19 digits
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "41111111111*1111",            # 15 digits shown
])
def test_full_pan_refused_without_echo(value):
    with pytest.raises(CardDataError) as err:
        masked_pan(value)
    assert err.value.code == "full_pan_refused"
    assert value not in str(err.value) and value.replace(" ", "") not in str(err.value)


@pytest.mark.parametrize("value", ["1234", "abc", "622848******12", 1234, "62284*1234"])
def test_malformed_masked_pan_refused(value):
    with pytest.raises(CardDataError):
        masked_pan(value)


def test_full_pan_from_terminal_is_never_stored(store):
    pan = "6228480402564890018"
    r = payments.card_payment(store, FakeTerminal(pan=pan), "3100000002", 4200, "2001", advance=True)
    assert r.state == "approved"   # the money was taken; the card number is not kept
    payload = json.loads(outbox.get(store, r.op_id)["payload"])
    assert payload["card"]["masked_pan"] is None
    store.conn.execute("PRAGMA wal_checkpoint(FULL)")
    raw = open(store.path, "rb").read()
    assert pan.encode() not in raw and b"0402564890018" not in raw


# -- offline limits --------------------------------------------------------------------------

def test_per_payment_limits(store):
    store.set_meta("card_limits", json.dumps({"min_fen": 100, "max_fen": 5000}))
    for amount, code in ((99, "amount_below_minimum"), (5001, "amount_over_cap"),
                         (0, "amount_not_positive"), (12.0, "not_integer")):
        with pytest.raises(LedgerError) as err:
            payments.card_payment(store, FakeTerminal(), "3100000002", amount, "2001", advance=True)
        assert err.value.code == code
    assert store.conn.execute("SELECT COUNT(*) FROM payments").fetchone()[0] == 0


def test_count_and_total_limits_until_synced(store):
    store.set_meta("card_limits", json.dumps({"max_count": 2, "max_total_fen": 10000}))
    term = FakeTerminal()
    payments.card_payment(store, term, "3100000002", 4000, "2001", advance=True)
    with pytest.raises(LedgerError) as err:
        payments.card_payment(store, term, "3100000002", 6001, "2001", advance=True)
    assert err.value.code == "card_total_limit"
    payments.card_payment(store, term, "3100000002", 1000, "2001", advance=True)
    with pytest.raises(LedgerError) as err:
        payments.card_payment(store, term, "3100000002", 100, "2001", advance=True)
    assert err.value.code == "card_count_limit"
    batch = outbox.take_batch(store, 50)
    outbox.mark_results(store, [{"op_id": op.op_id, "status": "accepted"} for op in batch])
    assert payments.card_payment(store, term, "3100000002", 100, "2001", advance=True).state == "approved"


def test_age_limit(store):
    store.set_meta("card_limits", json.dumps({"max_age_hours": 24}))
    r = payments.card_payment(store, FakeTerminal(), "3100000002", 100, "2001", advance=True)
    created = dt.datetime.fromisoformat(
        store.conn.execute("SELECT device_time FROM payments WHERE op_id=?", (r.op_id,)).fetchone()[0])
    with pytest.raises(LedgerError) as err:
        payments.card_payment(store, FakeTerminal(), "3100000002", 100, "2001",
                              now=created + dt.timedelta(hours=25), advance=True)
    assert err.value.code == "card_age_limit"
    assert payments.card_payment(store, FakeTerminal(), "3100000002", 100, "2001",
                                 now=created + dt.timedelta(hours=23), advance=True).state == "approved"


def test_default_limits_documented():
    assert payments.CARD_LIMIT_DEFAULTS == {"min_fen": 1, "max_fen": 500_000,
                                            "max_total_fen": 2_000_000, "max_count": 50,
                                            "max_age_hours": 72}


def test_card_receipt_shows_the_amount_due_before_the_payment(store):
    from terminal import tariffs
    due = tariffs.bill_for(store, "3100000001").total_due_fen
    r = payments.card_payment(store, FakeTerminal(), "3100000001", due + 500, "2001", advance=True)
    content = receipts.get(store, r.receipt_no)["content"]
    assert content["due_before_fen"] == due and content["advance_fen"] == 500
    assert content["method"] == "card" and content["card"]["last4"] == "1234"


@given(st.text(alphabet="0123456789", min_size=13, max_size=19),
       st.sampled_from(["", " ", "-"]))
def test_any_full_pan_is_refused(pan, sep):
    spaced = sep.join(pan[i:i + 4] for i in range(0, len(pan), 4))
    with pytest.raises(CardDataError) as err:
        masked_pan(spaced)
    assert err.value.code == "full_pan_refused" and pan not in str(err.value)


@given(st.text(alphabet="0123456789", min_size=6, max_size=6),
       st.text(alphabet="*xXeE", min_size=3, max_size=9),
       st.text(alphabet="0123456789", min_size=4, max_size=4))
def test_any_first6_last4_masking_is_kept_normalised(head, mask, tail):
    assert masked_pan(head + mask + tail) == head + "*" * len(mask) + tail


# -- card voids (reversal on the terminal) -----------------------------------------------------

def _approved(store, term, amount=4200):
    r = payments.card_payment(store, term, "3100000002", amount, "2001", advance=True)
    assert r.state == "approved"
    return r


def test_card_void_reverses_on_the_terminal(store):
    from terminal import voids
    term = FakeTerminal()
    r = _approved(store, term)
    with pytest.raises(LedgerError) as err:
        voids.void_payment(store, r.op_id, "客户要求", "2001", "9001")
    assert err.value.code == "card_void_needs_terminal" and term.reversals == []
    v = voids.void_payment(store, r.op_id, "客户要求", "2001", "9001", terminal=term)
    assert term.reversals == [9501] and v.amount_fen == 4200 and v.voided_receipt_no == r.receipt_no
    payload = json.loads(outbox.get(store, v.op_id)["payload"])
    assert payload["card"]["trace"] == term.last.trace and payload["amount_fen"] == 4200
    assert store.conn.execute("SELECT state FROM payments WHERE op_id=?",
                              (r.op_id,)).fetchone()[0] == "voided"
    assert voids.pending_reversal(store) is None
    fig = shifts.figures(store)
    assert fig["void_fen"] == 4200 and fig["expected_fen"] == 0   # no cash moved
    with pytest.raises(LedgerError) as err:
        voids.void_payment(store, r.op_id, "again", "2001", "9001", terminal=term)
    assert err.value.code == "already_voided" and term.reversals == [9501]
    assert receipts.verify_store(store) == []


def test_declined_reversal_records_nothing(store):
    from terminal import voids
    term = FakeTerminal()
    r = _approved(store, term)
    term.reverse_mode = "decline"
    with pytest.raises(LedgerError) as err:
        voids.void_payment(store, r.op_id, "x", "2001", "9001", terminal=term)
    assert err.value.code == "reversal_declined"
    assert store.conn.execute("SELECT COUNT(*) FROM voids").fetchone()[0] == 0
    assert voids.pending_reversal(store) is None


@pytest.mark.parametrize("mode,reversed_", [("drop_after", True), ("drop_before", False)])
def test_lost_reversal_result_is_resolved_from_the_terminal(store, mode, reversed_):
    from terminal import voids
    term = FakeTerminal()
    r = _approved(store, term)
    term.reverse_mode = mode
    with pytest.raises(LedgerError) as err:
        voids.void_payment(store, r.op_id, "x", "2001", "9001", terminal=term)
    assert err.value.code == "reversal_unknown"
    assert voids.pending_reversal(store)["payment_op_id"] == r.op_id
    # nothing else may touch the terminal or close the shift meanwhile; no second reversal
    for call, code in ((lambda: payments.card_payment(store, term, "3100000002", 100, "2001", advance=True),
                        "card_unresolved"),
                       (lambda: shifts.close_shift(store, "2001", counted_fen=0),
                        "unknown_card_payments"),
                       (lambda: voids.void_payment(store, r.op_id, "x", "2001", "9001",
                                                   terminal=term), "reversal_unresolved")):
        with pytest.raises(LedgerError) as err:
            call()
        assert err.value.code == code
    assert len(term.reversals) == 1
    result = voids.resolve_reversal(store, term)
    assert voids.pending_reversal(store) is None
    state = store.conn.execute("SELECT state FROM payments WHERE op_id=?", (r.op_id,)).fetchone()[0]
    if reversed_:
        assert result is not None and state == "voided"
    else:
        assert result is None and state == "approved"
        assert store.conn.execute("SELECT COUNT(*) FROM voids").fetchone()[0] == 0
    with pytest.raises(LedgerError) as err:
        voids.resolve_reversal(store, term)
    assert err.value.code == "no_pending_reversal"
    assert receipts.verify_store(store) == []


# -- with the real ZVT driver and the terminal simulator over a pty ---------------------------

ZVT_FAST = dict(ack_timeout=0.2, reply_timeout=2.0, overall_timeout=1.5, inter_byte_timeout=0.1)


@pytest.fixture
def zvt_sim():
    from devices.sim.zvt import ZvtSimulator
    sim = ZvtSimulator(ack_timeout=1.0, reply_timeout=2.0, quiet=0.8)
    sim.serve_pty()
    yield sim
    sim.close()


def test_zvt_payment_and_void_by_reversal(store, zvt_sim):
    from devices.zvt import ZvtTerminal
    from terminal import voids
    with ZvtTerminal(zvt_sim.path, **ZVT_FAST) as term:
        r = payments.card_payment(store, term, "3100000002", 4200, "2001", advance=True)
        assert r.state == "approved" and len(zvt_sim.approved_sales()) == 1
        v = voids.void_payment(store, r.op_id, "客户要求 customer asked", "2001", "9001",
                               terminal=term)
    assert zvt_sim.approved_sales() == []            # the terminal's sale is reversed
    assert v.amount_fen == 4200
    assert store.conn.execute("SELECT state FROM payments WHERE op_id=?",
                              (r.op_id,)).fetchone()[0] == "voided"
    assert receipts.verify_store(store) == []


def test_zvt_reversal_line_drops(store, zvt_sim):
    """After the status information: the result was delivered and committed before the line
    died. Before it: the reversal happened but its result is lost → resolved from the
    terminal's Repeat Receipt, and never sent a second time."""
    from devices.sim.zvt import Script
    from devices.zvt import ZvtTerminal
    from terminal import voids
    with ZvtTerminal(zvt_sim.path, **ZVT_FAST) as term:
        first = payments.card_payment(store, term, "3100000002", 4200, "2001", advance=True)
        second = payments.card_payment(store, term, "3100000002", 1800, "2001", advance=True)
        zvt_sim.queue(Script(drop="after_status"))
        v = voids.void_payment(store, first.op_id, "x", "2001", "9001", terminal=term)
        assert v.amount_fen == 4200
        assert zvt_sim.wait_idle()
        zvt_sim.queue(Script(drop="before_status"))
        with pytest.raises(LedgerError) as err:
            voids.void_payment(store, second.op_id, "y", "2001", "9001", terminal=term)
        assert err.value.code == "reversal_unknown"
        assert zvt_sim.wait_idle()
        assert voids.resolve_reversal(store, term) is not None
    assert zvt_sim.approved_sales() == [] and zvt_sim.received.count((0x06, 0x30)) == 2
    states = {r[0] for r in store.conn.execute("SELECT state FROM payments")}
    assert states == {"voided"}
    assert receipts.verify_store(store) == []


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '{"max_fen": "lots"}', '{"max_fen": 2.5}',
                                 '{"max_fen": -1}', '{"max_fen": true}'])
def test_malformed_limits_fall_back_to_defaults(store, raw):
    store.set_meta("card_limits", raw)
    assert payments.card_limits(store) == payments.CARD_LIMIT_DEFAULTS
    store.set_meta("card_limits", '{"max_fen": 9000, "unknown": 1}')
    assert payments.card_limits(store)["max_fen"] == 9000
