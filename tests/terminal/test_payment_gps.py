"""Where a payment was taken: the fix as of the payment (terminal/location.py) goes into the
payment row and its op, stale or inaccurate ones recorded as such; cash and card alike (a
card payment's op is written when the terminal answers, from the row)."""
import json

import pytest

from ledger_fixtures import FakeTerminal, make_store
from terminal import location, outbox, payments, shifts
from terminal.ledger_errors import LedgerError


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path / "t.db")
    shifts.open_shift(s, "2001", 10000)
    return s


def op_gps(store, op_id):
    return json.loads(outbox.get(store, op_id)["payload"])["gps"]


def test_cash_and_card_payments_record_the_fix(store):
    now = 1_800_000_000.0
    stale = location.assess(30.2601, 120.1302, 6.0, now - 300, now)
    good = location.assess(30.2602, 120.1303, 4.0, now - 2, now)
    assert (stale["state"], good["state"]) == ("stale", "good")
    cash = payments.cash_payment(store, "3100000001", 500, "2001", gps=stale)
    assert op_gps(store, cash.op_id) == stale
    card = payments.card_payment(store, FakeTerminal(), "3100000002", 4200, "2001",
                                 advance=True, gps=good)
    assert card.state == "approved" and op_gps(store, card.op_id) == good
    bare = payments.cash_payment(store, "3100000001", 100, "2001")
    assert op_gps(store, bare.op_id) is None


def test_a_fix_out_of_range_is_refused_and_nothing_written(store):
    before = store.conn.execute("SELECT COUNT(*) FROM payments").fetchone()[0]
    with pytest.raises(LedgerError) as err:
        payments.cash_payment(store, "3100000001", 500, "2001",
                              gps={"lat": 91, "lon": 0, "accuracy_m": 5, "age_s": 1,
                                   "state": "good"})
    assert err.value.code == "gps_invalid"
    assert store.conn.execute("SELECT COUNT(*) FROM payments").fetchone()[0] == before
