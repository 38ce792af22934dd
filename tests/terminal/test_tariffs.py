"""Tariffs and bills: band lines, the rounding rule, late fee, credit, totals, bad input."""
import datetime as dt

import pytest
from hypothesis import given, settings, strategies as st

from ledger_fixtures import make_store
from terminal import tariffs
from terminal.ledger_errors import LedgerError
from terminal.ui.i18n import error_text
from terminal.tariffs import Tariff, charge_fen, charge_lines, late_fee_fen, round_half_up

TIER = Tariff.from_dict({"tariff_id": "RES", "kind": "tiered", "late_fee_ppm_per_day": 1000,
                         "bands": [{"upto_kwh": 230, "price_e4": 4883},
                                   {"upto_kwh": 400, "price_e4": 5383},
                                   {"upto_kwh": None, "price_e4": 7883}]})
FLAT = Tariff.from_dict({"tariff_id": "COM", "kind": "flat",
                         "bands": [{"upto_kwh": None, "price_e4": 6500}]})
TODAY = dt.date(2026, 11, 27)


def test_tiered_lines_worked_example():
    # 450 kWh: 230 × 0.4883 + 170 × 0.5383 + 50 × 0.7883 yuan
    lines = charge_lines(TIER, 450_000)
    assert [(l.band, l.kwh_e3, l.price_e4, l.amount_fen) for l in lines] == [
        (1, 230_000, 4883, 11231),  # 112.309 yuan → 112.31
        (2, 170_000, 5383, 9151),   # 91.511 → 91.51
        (3, 50_000, 7883, 3942)]    # 39.415 → 39.42 (half up)
    assert charge_fen(TIER, 450_000) == 11231 + 9151 + 3942


def test_band_boundaries():
    assert [l.band for l in charge_lines(TIER, 230_000)] == [1]
    assert [l.band for l in charge_lines(TIER, 230_001)] == [1, 2]
    assert charge_lines(TIER, 230_001)[1].kwh_e3 == 1
    assert charge_lines(TIER, 0) == []
    assert charge_fen(TIER, 0) == 0


def test_rounding_is_half_up_per_line():
    # 1 kWh × 0.6500 = 65 fen exactly; 0.001 kWh × 0.65 = 0.065 fen → 0; 0.008 kWh → 0.52 → 1
    assert charge_fen(FLAT, 1000) == 65
    assert charge_fen(FLAT, 1) == 0
    assert charge_fen(FLAT, 8) == 1
    assert round_half_up(5, 10) == 1 and round_half_up(4, 10) == 0
    assert round_half_up(15, 10) == 2 and round_half_up(25, 10) == 3


def test_late_fee():
    # 123.45 yuan, 0.1 % a day, 33 days: 4.07385 → 4.07
    assert late_fee_fen(12345, 1000, "2026-10-25", TODAY) == 407
    assert late_fee_fen(12345, 1000, "2026-11-27", TODAY) == 0   # due today: not overdue
    assert late_fee_fen(12345, 1000, "2026-12-01", TODAY) == 0
    assert late_fee_fen(12345, 1000, None, TODAY) == 0
    assert late_fee_fen(0, 1000, "2026-10-25", TODAY) == 0
    assert late_fee_fen(1000, 1000, "2026-11-22", TODAY) == 5    # 5 days × 1 fen


@pytest.mark.parametrize("bad", [-1, 1.5, "100", None, True])
def test_bad_consumption_refused(bad):
    with pytest.raises(LedgerError) as err:
        charge_lines(TIER, bad)
    assert err.value.code in ("negative_kwh", "not_integer")
    assert error_text(err.value, "zh") != error_text(err.value, "en")  # shown in either language


@pytest.mark.parametrize("bands,kind", [
    ([], "tiered"),
    ([{"upto_kwh": 230, "price_e4": 4883}], "tiered"),  # no open-ended band
    ([{"upto_kwh": 230, "price_e4": 4883}, {"upto_kwh": 100, "price_e4": 5000},
      {"upto_kwh": None, "price_e4": 1}], "tiered"),    # not ascending
    ([{"upto_kwh": None, "price_e4": 1.5}], "flat"),     # float price
    ([{"upto_kwh": None, "price_e4": 1}, {"upto_kwh": None, "price_e4": 2}], "flat"),
    ([{"upto_kwh": None, "price_e4": 1}], "stepped"),
])
def test_bad_tariffs_refused(bands, kind):
    with pytest.raises(LedgerError):
        Tariff.from_dict({"tariff_id": "X", "kind": kind, "bands": bands})


def test_bill_for_account(tmp_path):
    store = make_store(tmp_path / "t.db")
    bill = tariffs.bill_for(store, "3100000001", 250_000, TODAY)
    assert bill.current_fen == 11231 + 1077
    assert bill.arrears_fen == 12345 and bill.overdue_days == 33 and bill.late_fee_fen == 407
    assert bill.total_due_fen == 12308 + 12345 + 407
    assert sum(l["amount_fen"] for l in bill.as_dict()["lines"]) == bill.current_fen
    assert tariffs.bill_estimate(store, "3100000001", 250_000) == 12308
    assert tariffs.bill_estimate(store, "3100000002", 100_000) == 6500   # flat


def test_credit_reduces_total_and_is_carried(tmp_path):
    store = make_store(tmp_path / "t.db")
    bill = tariffs.bill_for(store, "3100000005", 10_000, TODAY)   # 10 kWh = 4.88 yuan, credit 20
    assert bill.current_fen == 488 and bill.credit_fen == 2000
    assert bill.total_due_fen == 0 and bill.credit_left_fen == 2000 - 488


def test_bill_without_reading_has_no_current_charge(tmp_path):
    store = make_store(tmp_path / "t.db")
    bill = tariffs.bill_for(store, "3100000003", today=TODAY)
    assert bill.kwh_e3 is None and bill.lines == () and bill.current_fen == 0
    assert bill.total_due_fen == 5000 + 315   # 63 days × 0.1 % × 50 yuan


def test_unknown_account_and_tariff(tmp_path):
    store = make_store(tmp_path / "t.db")
    with pytest.raises(LedgerError) as err:
        tariffs.bill_estimate(store, "999", 1000)
    assert err.value.code == "unknown_account"
    with store.transaction() as conn:
        conn.execute("UPDATE accounts SET tariff_id='GONE' WHERE account_no='3100000001'")
    with pytest.raises(LedgerError) as err:
        tariffs.bill_estimate(store, "3100000001", 1000)
    assert err.value.code == "unknown_tariff"


band_lists = st.lists(st.tuples(st.integers(1, 2000), st.integers(0, 20000)), min_size=0,
                      max_size=4).map(lambda xs: sorted({u: p for u, p in xs}.items()))


def tariff_of(bands, last_price):
    return Tariff.from_dict({"tariff_id": "P", "kind": "tiered" if bands else "flat",
                             "bands": [{"upto_kwh": u, "price_e4": p} for u, p in bands]
                             + [{"upto_kwh": None, "price_e4": last_price}]})


@settings(max_examples=300, deadline=None)
@given(band_lists, st.integers(0, 20000), st.integers(0, 5_000_000))
def test_lines_cover_consumption_and_add_up(bands, last_price, kwh_e3):
    t = tariff_of(bands, last_price)
    lines = charge_lines(t, kwh_e3)
    assert sum(l.kwh_e3 for l in lines) == kwh_e3
    assert sum(l.amount_fen for l in lines) == charge_fen(t, kwh_e3)
    for l in lines:
        assert isinstance(l.amount_fen, int)
        assert abs(l.amount_fen * 100_000 - l.kwh_e3 * l.price_e4) <= 50_000   # ≤ ½ fen per line
        if l.upto_kwh is not None:
            assert l.from_kwh * 1000 + l.kwh_e3 <= l.upto_kwh * 1000


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2_000_000), st.integers(0, 2_000_000))
def test_charge_is_monotone_in_consumption(a, b):
    lo, hi = sorted((a, b))
    assert charge_fen(TIER, lo) <= charge_fen(TIER, hi)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2_000_000))
def test_tiered_never_cheaper_than_first_band_price(kwh_e3):
    # ascending prices: the tiered charge is at least the first-band price on all of it,
    # within the rounding of at most one half fen per line
    exact_low = kwh_e3 * 4883
    assert charge_fen(TIER, kwh_e3) * 100_000 >= exact_low - 3 * 50_000


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10_000_000), st.integers(0, 10_000), st.integers(0, 3650))
def test_late_fee_exact_half_up(overdue, ppm, days):
    due = (TODAY - dt.timedelta(days=days)).isoformat()
    fee = late_fee_fen(overdue, ppm, due, TODAY)
    exact_e6 = overdue * ppm * days
    assert -500_000 < fee * 1_000_000 - exact_e6 <= 500_000   # half up: ties go up
