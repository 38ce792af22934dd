"""Shifts: open with a float, X report, close with counted cash → variance, Z numbering, closeout."""
import json

import pytest

from ledger_fixtures import FakeTerminal, make_store
from sync import protocol
from terminal import outbox, payments, print_queue, shifts, voids
from terminal.ledger_errors import LedgerError


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path / "t.db")


def test_open_writes_op_and_refuses_a_second(store):
    shift = shifts.open_shift(store, "2001", 20000)
    op = outbox.ops_in_range(store, 1, 1)[0]
    assert op.type == "shift_open" and op.payload == {"shift_id": shift["shift_id"], "float_fen": 20000}
    with pytest.raises(LedgerError) as err:
        shifts.open_shift(store, "2002", 0)
    assert err.value.code == "shift_already_open"


@pytest.mark.parametrize("bad", [-1, 10.0, "100", None, 1_000_001])
def test_bad_float_refused(store, bad):
    with pytest.raises(LedgerError):
        shifts.open_shift(store, "2001", bad)
    assert shifts.current_shift(store) is None and outbox.pending_counts(store) == {}


def test_x_report_any_time_changes_nothing(store):
    shifts.open_shift(store, "2001", 20000)
    payments.cash_payment(store, "3100000001", 5000, "2001", advance=True)
    before = store.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    doc = shifts.x_report(store)
    print_queue.validate(doc)
    kv = {b["k"]: b["v"] for b in doc["blocks"] if b["t"] == "kv"}
    assert doc["kind"] == "x_report" and kv["应有现金 Expected cash"] == "¥250.00"
    assert store.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == before


def test_close_variance_z_and_closeout(store):
    shift = shifts.open_shift(store, "2001", 20000)
    p1 = payments.cash_payment(store, "3100000001", 5000, "2001", advance=True)
    payments.cash_payment(store, "3100000002", 1234, "2001", advance=True)
    payments.card_payment(store, FakeTerminal(), "3100000002", 3000, "2001", advance=True)
    voids.void_payment(store, p1.op_id, "重复", "2001", "9001")
    z = shifts.close_shift(store, "2001", denominations={"10000": 2, "1000": 1, "100": 2, "10": 3, "1": 4})
    rep = z["report"]
    assert rep["expected_fen"] == 20000 + 5000 + 1234 - 5000
    assert rep["counted_fen"] == 21234 and rep["variance_fen"] == 0 and rep["z_no"] == 1
    assert z["kind"] == "z_report"
    print_queue.validate({k: v for k, v in z.items() if k != "report"})
    close_op = outbox.ops_in_range(store, 1, 100)[-1]
    assert close_op.type == "shift_close"
    p = close_op.payload
    assert (p["counted_fen"], p["expected_fen"], p["variance_fen"], p["z_no"]) == (21234, 21234, 0, 1)
    summary = p["summary"]
    assert summary["shift_id"] == shift["shift_id"] and summary["device_id"] == "DEV-7"
    assert (summary["seq_from"], summary["seq_to"]) == (1, close_op.seq - 1)
    assert summary["counts"] == {"shift_open": 1, "payment": 3, "void": 1}
    assert summary["sums_fen"] == {"cash": 6234, "card": 3000, "void": 5000}
    ops = outbox.ops_in_range(store, summary["seq_from"], summary["seq_to"])
    assert summary["digest"] == protocol.closeout_digest(op.payload_sha256 for op in ops)
    assert shifts.current_shift(store) is None
    with pytest.raises(LedgerError) as err:
        payments.cash_payment(store, "3100000001", 100, "2001", advance=True)
    assert err.value.code == "no_open_shift"


def test_short_and_over(store):
    shifts.open_shift(store, "2001", 10000)
    payments.cash_payment(store, "3100000001", 5000, "2001", advance=True)
    assert shifts.close_shift(store, "2001", counted_fen=14950)["report"]["variance_fen"] == -50
    shifts.open_shift(store, "2001", 10000)
    assert shifts.close_shift(store, "2001", counted_fen=10020)["report"]["variance_fen"] == 20


def test_z_numbers_without_gaps_and_reprint(store):
    for i in range(3):
        shifts.open_shift(store, "2001", 0)
        assert shifts.close_shift(store, "2001", counted_fen=0)["report"]["z_no"] == i + 1
    # a refused close uses no Z number
    shifts.open_shift(store, "2001", 0)
    with pytest.raises(LedgerError):
        shifts.close_shift(store, "2001", counted_fen=-1)
    assert shifts.close_shift(store, "2001", counted_fen=0)["report"]["z_no"] == 4
    assert [r[0] for r in store.conn.execute("SELECT z_no FROM shifts ORDER BY z_no")] == [1, 2, 3, 4]
    copy = shifts.z_report(store, 2)
    assert copy["copy"] and copy["blocks"][0]["text"] == "副本 COPY"


@pytest.mark.parametrize("counted,denoms,code", [
    (None, None, "no_count"),
    (-5, None, "bad_count"),
    (1.5, None, "not_integer"),
    (None, {"300": 1}, "bad_denomination"),
    (None, {"100": -1}, "bad_count"),
    (500, {"100": 1}, "count_mismatch"),
])
def test_bad_counts_refused(store, counted, denoms, code):
    shifts.open_shift(store, "2001", 0)
    with pytest.raises(LedgerError) as err:
        shifts.close_shift(store, "2001", counted_fen=counted, denominations=denoms)
    assert err.value.code == code and shifts.current_shift(store) is not None


def test_only_the_shift_owner_closes(store):
    shifts.open_shift(store, "2001", 0)
    with pytest.raises(LedgerError) as err:
        shifts.close_shift(store, "2002", counted_fen=0)
    assert err.value.code == "shift_of_other_operator"
    shifts.close_shift(store, "2001", counted_fen=0)
    with pytest.raises(LedgerError) as err:
        shifts.close_shift(store, "2001", counted_fen=0)
    assert err.value.code == "no_open_shift"


def test_readings_in_the_shift_are_in_the_closeout(store):
    from terminal import readings
    shifts.open_shift(store, "2001", 0)
    readings.capture_reading(store, account_no="3100000001", operator_id="2001", status="read",
                             value=1100, consumption=100, kwh_e3=100000)
    payload = shifts.close_shift(store, "2001", counted_fen=0)["report"]["summary"]
    assert payload["counts"] == {"shift_open": 1, "reading": 1}
    assert json.loads(store.conn.execute("SELECT summary FROM shifts").fetchone()[0]) == payload
