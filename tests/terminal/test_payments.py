"""Cash payments: due, partial, advance, tendered and change, refusals that write nothing, voids."""
import datetime as dt
import json

import pytest
from hypothesis import given, settings, strategies as st

from ledger_fixtures import make_store, outbox_seqs
from terminal import outbox, payments, print_queue, receipts, shifts, tariffs, voids
from terminal.ledger_errors import LedgerError
from terminal.ui.i18n import error_text

TODAY = dt.date(2026, 11, 27)


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path / "t.db")
    shifts.open_shift(s, "2001", 10000)
    return s


def counts(store):
    c = store.conn
    return tuple(c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                 for t in ("payments", "payment_allocations", "receipts", "outbox", "print_jobs"))


def test_pay_amount_due_writes_everything_in_one_go(store):
    due = tariffs.bill_for(store, "3100000001", today=TODAY).total_due_fen
    assert due == 12345 + 407
    r = payments.cash_payment(store, "3100000001", due, "2001", tendered_fen=13000, today=TODAY, advance=True)
    assert r.state == "done" and r.change_fen == 13000 - due and r.receipt_no == "100000"
    pay = store.conn.execute("SELECT * FROM payments WHERE op_id=?", (r.op_id,)).fetchone()
    assert (pay["amount_fen"], pay["tendered_fen"], pay["change_fen"], pay["receipt_no"]) == \
        (due, 13000, 13000 - due, 100000)
    op = outbox.get(store, r.op_id)
    payload = json.loads(op["payload"])
    assert op["type"] == "payment" and op["state"] == "pending"
    assert payload["account_no"] == "3100000001" and payload["method"] == "cash"
    assert payload["amount_fen"] == due and payload["tendered_fen"] == 13000
    assert payload["allocations"] == [{"account_no": "3100000001", "amount_fen": due}]
    assert payload["card"] is None and payload["agent_id"] is None
    assert set(payload["receipt"]) == {"receipt_no", "content", "prev_hash", "hash", "verify_code"}
    assert payload["receipt"]["content"]["due_before_fen"] == due
    assert r.print_job is not None and str(print_queue.pending(store)[-1]["receipt_no"]) == "100000"
    assert tariffs.bill_for(store, "3100000001", today=TODAY).total_due_fen == 0


def test_partial_and_advance(store):
    before = tariffs.bill_for(store, "3100000001", today=TODAY)
    ppm = store.conn.execute("SELECT late_fee_ppm_per_day FROM tariffs WHERE tariff_id=?",
                             (before.tariff_id,)).fetchone()[0]
    r1 = payments.cash_payment(store, "3100000001", 5000, "2001", today=TODAY, advance=True)
    assert r1.change_fen == 0
    left = tariffs.bill_for(store, "3100000001", today=TODAY)
    # the late fee is charged on the arrears still open (docs/ledger.md, "The due figure")
    open_arrears = before.arrears_fen - 5000
    fee = tariffs.late_fee_fen(open_arrears, ppm, before.arrears_due_date, TODAY)
    assert 0 < fee < before.late_fee_fen
    assert left.paid_here_fen == 5000 and left.total_due_fen == open_arrears + fee
    assert r1.due_after_fen == left.total_due_fen      # the payment screen's figure, the same
    r2 = payments.cash_payment(store, "3100000001", 10000, "2001", today=TODAY, advance=True)
    content = receipts.get(store, r2.receipt_no)["content"]
    assert content["due_before_fen"] == left.total_due_fen
    assert content["advance_fen"] == 10000 - left.total_due_fen
    bill = tariffs.bill_for(store, "3100000001", today=TODAY)
    assert bill.total_due_fen == 0 == r2.due_after_fen
    assert bill.credit_left_fen == 15000 - before.arrears_fen


def test_more_than_the_due_needs_the_advance_confirmed(store):
    due = tariffs.bill_for(store, "3100000001", today=TODAY).total_due_fen
    with pytest.raises(LedgerError) as err:
        payments.cash_payment(store, "3100000001", due + 1, "2001", today=TODAY)
    assert err.value.code == "over_due" and "预存" in error_text(err.value, "zh")
    assert store.conn.execute("SELECT COUNT(*) FROM payments").fetchone()[0] == 0
    r = payments.cash_payment(store, "3100000001", due + 1, "2001", today=TODAY, advance=True)
    assert r.due_after_fen == 0


def test_uploaded_payment_counts_until_the_office_books_it(store):
    """No double collection, at the core: the gateway's acknowledgement alone does not book a payment."""
    r = payments.cash_payment(store, "3100000001", 5000, "2001", advance=True)
    batch = outbox.take_batch(store, 10)
    outbox.mark_results(store, [{"op_id": op.op_id, "status": "accepted"} for op in batch])
    assert tariffs.paid_here_fen(store.conn, "3100000001") == 5000
    with store.transaction() as conn:
        tariffs.mark_booked(conn, [r.op_id, "someone-elses-op"])
    assert tariffs.paid_here_fen(store.conn, "3100000001") == 0
    assert [row[0] for row in store.conn.execute("SELECT op_id FROM booked_ops")] == [r.op_id]


@pytest.mark.parametrize("amount,tendered,code", [
    (0, None, "amount_not_positive"),
    (-100, None, "amount_not_positive"),
    (10.5, None, "not_integer"),
    ("100", None, "not_integer"),
    (True, None, "not_integer"),
    (None, None, "not_integer"),
    (1000, 999, "tendered_too_little"),
    (1000, 1000.0, "not_integer"),
    (1000, 100000, "change_too_large"),
    (2_000_001, None, "amount_over_cap"),
])
def test_nonsense_refused_and_nothing_written(store, amount, tendered, code):
    before, left = counts(store), receipts.numbers_left(store)
    with pytest.raises(LedgerError) as err:
        payments.cash_payment(store, "3100000001", amount, "2001", tendered_fen=tendered, advance=True)
    assert err.value.code == code
    assert err.value.en and err.value.en in str(err.value)
    assert error_text(err.value, "zh") != err.value.en     # its Chinese, from the catalog
    assert counts(store) == before and receipts.numbers_left(store) == left


def test_configured_cap(store):
    store.set_meta("cash_limits", json.dumps({"max_fen": 50000}))
    with pytest.raises(LedgerError) as err:
        payments.cash_payment(store, "3100000001", 50001, "2001", advance=True)
    assert err.value.code == "amount_over_cap" and "500.00" in err.value.en
    assert payments.cash_payment(store, "3100000001", 50000, "2001", advance=True).state == "done"


def test_unknown_account_refused(store):
    with pytest.raises(LedgerError) as err:
        payments.cash_payment(store, "nope", 100, "2001", advance=True)
    assert err.value.code == "unknown_account"


def test_no_shift_or_shift_of_someone_else(tmp_path):
    s = make_store(tmp_path / "t.db")
    with pytest.raises(LedgerError) as err:
        payments.cash_payment(s, "3100000001", 100, "2001", advance=True)
    assert err.value.code == "no_open_shift" and counts(s)[0] == 0
    shifts.open_shift(s, "2001", 0)
    with pytest.raises(LedgerError) as err:
        payments.cash_payment(s, "3100000001", 100, "2002", advance=True)
    assert err.value.code == "shift_of_other_operator"


def test_failure_inside_the_transaction_rolls_back_everything(store, monkeypatch):
    payments.cash_payment(store, "3100000001", 100, "2001", advance=True)
    before, left = counts(store), receipts.numbers_left(store)
    tail = store.get_meta(receipts.TAIL_KEY)

    def broken(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(outbox, "append", broken)   # the op write fails after the receipt
    with pytest.raises(OSError):
        payments.cash_payment(store, "3100000001", 200, "2001", advance=True)
    assert counts(store) == before and receipts.numbers_left(store) == left
    assert store.get_meta(receipts.TAIL_KEY) == tail
    monkeypatch.undo()
    assert payments.cash_payment(store, "3100000001", 200, "2001", advance=True).receipt_no == "100001"
    assert receipts.verify_store(store) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 30000), st.integers(0, 9999)), min_size=1, max_size=6))
def test_money_adds_up(tmp_path_factory, items):
    s = make_store(tmp_path_factory.mktemp("p") / "t.db")
    shifts.open_shift(s, "2001", 5000)
    bill0 = tariffs.bill_for(s, "3100000001", today=TODAY)
    due0 = bill0.total_due_fen
    for amount, extra in items:
        r = payments.cash_payment(s, "3100000001", amount, "2001", tendered_fen=amount + extra,
                                  today=TODAY, advance=True)
        assert r.change_fen == extra
    paid = sum(a for a, _ in items)
    bill = tariffs.bill_for(s, "3100000001", today=TODAY)
    assert bill.paid_here_fen == paid
    # everything adds up; only the late fee follows the arrears still open
    ppm = s.conn.execute("SELECT late_fee_ppm_per_day FROM tariffs WHERE tariff_id=?",
                         (bill0.tariff_id,)).fetchone()[0]
    fee = tariffs.late_fee_fen(max(0, bill0.arrears_fen - paid), ppm, bill0.arrears_due_date, TODAY)
    assert bill.late_fee_fen == fee
    assert bill.total_due_fen - bill.credit_left_fen == due0 - paid - bill0.late_fee_fen + fee
    assert shifts.figures(s)["expected_fen"] == 5000 + paid
    assert outbox_seqs(s) == list(range(1, len(items) + 2))
    assert receipts.verify_store(s) == []


# -- voids -----------------------------------------------------------------------------------

def test_void_needs_supervisor_reason_same_shift_once(store):
    r = payments.cash_payment(store, "3100000001", 3000, "2001", advance=True)
    for approver, reason, code in [("2002", "x", "not_supervisor"), ("nobody", "x", "not_supervisor"),
                                   ("9001", "  ", "reason_required"),
                                   ("9001", "长" * 141, "reason_too_long")]:
        with pytest.raises(LedgerError) as err:
            voids.void_payment(store, r.op_id, reason, "2001", approver)
        assert err.value.code == code
    v = voids.void_payment(store, r.op_id, "客户重复缴费", "2001", "9001")
    assert v.amount_fen == 3000
    payload = json.loads(outbox.get(store, v.op_id)["payload"])
    assert payload["payment_op_id"] == r.op_id and payload["receipt_no"] == r.receipt_no
    assert payload["amount_fen"] == 3000 and payload["approved_by"] == "9001"
    assert payload["receipt"]["content"]["kind"] == "void"
    with pytest.raises(LedgerError) as err:
        voids.void_payment(store, r.op_id, "again", "2001", "9001")
    assert err.value.code == "already_voided"
    assert shifts.figures(store)["expected_fen"] == 10000   # cash back out
    assert tariffs.paid_here_fen(store.conn, "3100000001") == 0
    audit = [row[0] for row in store.conn.execute("SELECT event FROM audit_log")]
    assert "void" in audit
    assert receipts.verify_store(store) == []


def test_void_of_previous_shift_refused(store):
    r = payments.cash_payment(store, "3100000001", 3000, "2001", advance=True)
    shifts.close_shift(store, "2001", counted_fen=13000)
    shifts.open_shift(store, "2001", 10000)
    with pytest.raises(LedgerError) as err:
        voids.void_payment(store, r.op_id, "late", "2001", "9001")
    assert err.value.code == "other_shift"
    with pytest.raises(LedgerError) as err:
        voids.void_payment(store, "no-such-op", "x", "2001", "9001")
    assert err.value.code == "unknown_payment"


def test_void_with_supervisor_pin_checked_here(store):
    from terminal import operators
    with store.transaction() as conn:
        conn.execute("UPDATE operators SET pin_hash=? WHERE operator_id='9001'",
                     (operators.hash_pin("99999999", iterations=1000),))
    r = payments.cash_payment(store, "3100000001", 3000, "2001", advance=True)
    with pytest.raises(operators.LoginError):
        voids.void_payment(store, r.op_id, "错", "2001", "9001", supervisor_pin="0000")
    assert store.conn.execute("SELECT COUNT(*) FROM voids").fetchone()[0] == 0
    v = voids.void_payment(store, r.op_id, "错", "2001", "9001", supervisor_pin="99999999")
    assert v.voided_receipt_no == r.receipt_no
    events = [row[0] for row in store.conn.execute("SELECT event FROM audit_log ORDER BY id")]
    assert "login_failed" in events and "approval" in events and events[-1] == "void"


def test_a_print_queue_failure_never_undoes_the_payment(store, monkeypatch):
    def broken(store, doc, **kw):
        raise ValueError("queue broken")
    monkeypatch.setattr(print_queue, "enqueue", broken)
    r = payments.cash_payment(store, "3100000001", 3000, "2001", advance=True)
    assert r.state == "done" and r.print_job is None and r.doc["kind"] == "collection"
    assert outbox.get(store, r.op_id)["type"] == "payment"
    events = [row[0] for row in store.conn.execute("SELECT event FROM audit_log")]
    assert "print_queue_failed" in events
    assert receipts.verify_store(store) == []


@given(amount=st.integers(1, 30000))
@settings(max_examples=40, deadline=None)
def test_left_due_previewed_is_the_due_after_the_payment(tmp_path_factory, amount):
    """One due figure (docs/ledger.md): the payment screen's "left due" preview and the due once paid are one figure."""
    s = make_store(tmp_path_factory.mktemp("p") / "t.db")
    shifts.open_shift(s, "2001", 5000)
    bill = tariffs.bill_for(s, "3100000001", today=TODAY)
    preview = tariffs.due_if_paid(bill.as_dict(), amount)
    r = payments.cash_payment(s, "3100000001", amount, "2001", today=TODAY,
                              advance=amount > bill.total_due_fen)
    assert preview == r.due_after_fen == tariffs.bill_for(s, "3100000001", today=TODAY).total_due_fen
    s.close()
