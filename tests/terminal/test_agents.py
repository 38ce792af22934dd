"""Agent lump payments: the allocation rule, explicit allocations, one receipt, the statement."""
import datetime as dt
import json

import pytest
from hypothesis import given, settings, strategies as st

from ledger_fixtures import FakeTerminal, make_store
from terminal import agents, outbox, payments, print_queue, receipts, shifts, tariffs
from terminal.ledger_errors import LedgerError

TODAY = dt.date(2026, 11, 27)
# members of A01 in walk order: …03 (arrears 50.00 due 09-25 → fee 3.15),
# …04 (arrears 30.00 due 10-25 → fee 0.99), …05 (credit 20.00, nothing due)


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path / "t.db")
    shifts.open_shift(s, "2001", 0)
    return s


def test_oldest_arrears_first(store):
    assert agents.allocate(store, "A01", 3000, TODAY) == [
        {"account_no": "3100000003", "name": "户主30", "amount_fen": 3000}]
    assert agents.allocate(store, "A01", 6000, TODAY) == [
        {"account_no": "3100000003", "name": "户主30", "amount_fen": 5315},
        {"account_no": "3100000004", "name": "户主40", "amount_fen": 685}]


def test_oldest_first_even_against_walk_order(store):
    with store.transaction() as conn:   # make …04 the older debt
        conn.execute("UPDATE accounts SET arrears_due_date='2026-08-01' WHERE account_no='3100000004'")
    alloc = agents.allocate(store, "A01", 1000, TODAY)
    assert alloc == [{"account_no": "3100000004", "name": "户主40", "amount_fen": 1000}]


def test_current_charges_after_arrears_in_walk_order(store):
    with store.transaction() as conn:
        conn.execute("INSERT INTO outbox (seq, op_id, type, device_time, payload, payload_sha256) "
                     "VALUES (2, 'r1', 'reading', 'now', '{}', 'x')")
        conn.execute("INSERT INTO readings (op_id, seq, account_no, meter_no, route_id, cycle, "
                     "status, value, kwh_e3, operator_id, device_time) VALUES ('r1', 2, '3100000003', "
                     "'M3100000003', 'R001', '2026-11', 'read', 1100, 100000, '1001', 'now')")
    dues = {d["account_no"]: d for d in agents.dues(store, "A01", TODAY)}
    assert dues["3100000003"]["current_fen"] == 4883 and dues["3100000003"]["overdue_fen"] == 5315
    alloc = agents.allocate(store, "A01", 5315 + 3099 + 100, TODAY)
    assert alloc == [{"account_no": "3100000003", "name": "户主30", "amount_fen": 5315 + 100},
                     {"account_no": "3100000004", "name": "户主40", "amount_fen": 3099}]


def test_more_than_due_refused(store):
    with pytest.raises(LedgerError) as err:
        agents.allocate(store, "A01", 5315 + 3099 + 1, TODAY)
    assert err.value.code == "amount_exceeds_due" and "84.14" in err.value.en


def test_lump_payment_one_receipt_listing_accounts(store):
    r = agents.agent_payment(store, "A01", 8000, "2001", tendered_fen=10000, today=TODAY)
    assert r.change_fen == 2000
    payload = json.loads(outbox.get(store, r.op_id)["payload"])
    assert payload["agent_id"] == "A01" and payload["account_no"] is None
    assert payload["allocations"] == [{"account_no": "3100000003", "amount_fen": 5315},
                                      {"account_no": "3100000004", "amount_fen": 2685}]
    rows = store.conn.execute("SELECT account_no, amount_fen FROM payment_allocations "
                              "WHERE payment_op_id=?", (r.op_id,)).fetchall()
    assert sorted(map(tuple, rows)) == [("3100000003", 5315), ("3100000004", 2685)]
    assert store.conn.execute("SELECT COUNT(*) FROM receipts").fetchone()[0] == 1
    kv = {b["k"]: b["v"] for b in r.doc["blocks"] if b["t"] == "kv"}
    assert kv["代管单位 Agent"] == "阳光物业"
    assert kv["3100000003 户主30"] == "¥53.15" and kv["3100000004 户主40"] == "¥26.85"
    print_queue.validate(r.doc)
    assert tariffs.bill_for(store, "3100000003", today=TODAY).total_due_fen == 0
    # the late fee follows the arrears still open (docs/ledger.md, "The due figure")
    left = tariffs.bill_for(store, "3100000004", today=TODAY)
    ppm = store.conn.execute("SELECT late_fee_ppm_per_day FROM tariffs WHERE tariff_id=?",
                             (left.tariff_id,)).fetchone()[0]
    fee = tariffs.late_fee_fen(3000 - 2685, ppm, left.arrears_due_date, TODAY)
    assert 0 < fee < 99 and left.late_fee_fen == fee
    assert left.total_due_fen == 3000 - 2685 + fee


def test_explicit_allocations_allow_advance(store):
    r = agents.agent_payment(store, "A01", 10000, "2001", today=TODAY, allocations=[
        {"account_no": "3100000005", "amount_fen": 9000},
        {"account_no": "3100000003", "amount_fen": 1000}])
    payload = json.loads(outbox.get(store, r.op_id)["payload"])
    assert payload["allocations"] == [{"account_no": "3100000005", "amount_fen": 9000},
                                      {"account_no": "3100000003", "amount_fen": 1000}]
    assert tariffs.bill_for(store, "3100000005", today=TODAY).credit_left_fen == 11000


@pytest.mark.parametrize("allocs,code", [
    ([{"account_no": "3100000001", "amount_fen": 1000}], "not_a_member"),
    ([{"account_no": "3100000003", "amount_fen": 500}, {"account_no": "3100000003",
                                                        "amount_fen": 500}], "duplicate_allocation"),
    ([{"account_no": "3100000003", "amount_fen": 999}], "allocation_sum"),
    ([{"account_no": "3100000003", "amount_fen": 1001}, {"account_no": "3100000004",
                                                         "amount_fen": -1}], "amount_not_positive"),
    ([{"account_no": "3100000003", "amount_fen": 1000.0}], "not_integer"),
    ([], "allocation_sum"),
])
def test_bad_explicit_allocations(store, allocs, code):
    with pytest.raises(LedgerError) as err:
        agents.agent_payment(store, "A01", 1000, "2001", allocations=allocs)
    assert err.value.code == code
    assert store.conn.execute("SELECT COUNT(*) FROM payments").fetchone()[0] == 0


def test_unknown_agent(store):
    with pytest.raises(LedgerError) as err:
        agents.agent_payment(store, "A99", 1000, "2001")
    assert err.value.code == "unknown_agent"


def test_agent_card_payment(store):
    r = agents.agent_card_payment(store, FakeTerminal(), "A01", 3000, "2001", today=TODAY)
    assert r.state == "approved"
    payload = json.loads(outbox.get(store, r.op_id)["payload"])
    assert payload["agent_id"] == "A01" and payload["allocations"] == [
        {"account_no": "3100000003", "amount_fen": 3000}]
    assert receipts.verify_store(store) == []


def test_statement(store):
    st_ = agents.statement(store, "A01", TODAY)
    assert [m["account_no"] for m in st_["members"]] == ["3100000003", "3100000004", "3100000005"]
    assert [m["total_due_fen"] for m in st_["members"]] == [5315, 3099, 0]
    assert st_["total_due_fen"] == 8414 and all(m["reading"] is None for m in st_["members"])
    doc = agents.statement_document(store, "A01", TODAY)
    print_queue.validate(doc)
    assert doc["kind"] == "agent_statement"
    assert {"t": "kv", "k": "合计应缴 Total due", "v": "¥84.14"} in doc["blocks"]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8414))
def test_allocation_sums_and_respects_dues(tmp_path_factory, amount):
    s = make_store(tmp_path_factory.mktemp("a") / "t.db")
    alloc = agents.allocate(s, "A01", amount, TODAY)
    assert sum(a["amount_fen"] for a in alloc) == amount
    dues = {d["account_no"]: d["total_due_fen"] for d in agents.dues(s, "A01", TODAY)}
    assert all(0 < a["amount_fen"] <= dues[a["account_no"]] for a in alloc)
    # the older debt is paid in full before the next gets anything
    got = {a["account_no"]: a["amount_fen"] for a in alloc}
    if "3100000004" in got:
        assert got["3100000003"] == 5315


def test_statement_shows_this_cycles_readings_only(store):
    from terminal import readings
    readings.capture_reading(store, account_no="3100000003", operator_id="1001", status="read",
                             value=1100, consumption=100, kwh_e3=100_000)
    member = agents.statement(store, "A01", TODAY)["members"][0]
    assert member["reading"] == 1100 and member["current_fen"] == 4883
    assert member["total_due_fen"] == 5315 + 4883
    with store.transaction() as conn:   # next month's route: last month's reading is history
        conn.execute("UPDATE routes SET cycle='2026-12' WHERE route_id='R001'")
    member = agents.statement(store, "A01", TODAY)["members"][0]
    assert member["reading"] is None and member["current_fen"] == 0
