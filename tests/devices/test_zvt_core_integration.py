"""The core's card payment orchestration (terminal/payments.py) driving the real ZVT driver
against the simulator over a pty: approved, declined, and a line drop resolved from the
terminal — the core's records and outbox hold what the terminal says."""
import json
import sys
from pathlib import Path

import pytest

from devices.sim.zvt import Script
from devices.zvt import ZvtTerminal
from terminal import outbox, payments, receipts, shifts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "terminal"))
from ledger_fixtures import make_store  # noqa: E402  (the core tests' store with a route)

FAST = dict(ack_timeout=0.2, reply_timeout=2.0, overall_timeout=1.5, inter_byte_timeout=0.1)


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path / "t.db")
    shifts.open_shift(s, "2001", 0)
    return s


def test_core_card_payment_approved_through_zvt(store, sim):
    statuses = []
    with ZvtTerminal(sim.path, **FAST) as term:
        r = payments.card_payment(store, term, "3100000002", 4200, "2001",
                                  on_status=lambda c, t: statuses.append(t), advance=True)
    assert r.state == "approved" and r.receipt_no is not None
    [entry] = sim.approved_sales()
    payload = json.loads(outbox.get(store, r.op_id)["payload"])
    assert payload["amount_fen"] == 4200 == entry.amount_fen
    assert payload["card"]["trace"] == entry.trace
    assert payload["card"]["terminal_receipt_no"] == entry.receipt_no
    assert payload["card"]["masked_pan"] == entry.masked_pan
    assert payload["card"]["terminal_id"] == "52000001"
    assert "请插卡 Insert card" in statuses
    assert (0x04, 0x0F) in sim.acked
    assert receipts.verify_store(store) == []


def test_core_card_payment_declined_through_zvt(store, sim):
    sim.queue(Script(outcome="decline", result_code=51))
    with ZvtTerminal(sim.path, **FAST) as term:
        r = payments.card_payment(store, term, "3100000002", 4200, "2001", advance=True)
    assert r.state == "declined" and r.receipt_no is None
    assert store.conn.execute("SELECT COUNT(*) FROM outbox WHERE type='payment'").fetchone()[0] == 0


def test_core_line_drop_then_resolved_from_the_terminal(store, sim):
    sim.queue(Script(drop="before_status"))
    with ZvtTerminal(sim.path, **FAST) as term:
        r = payments.card_payment(store, term, "3100000002", 4200, "2001", advance=True)
        assert r.state == "unknown"
        assert sim.wait_idle()
        resolved = payments.resolve_unknown(store, term, r.op_id)
    assert resolved.state == "approved"
    [entry] = sim.approved_sales()
    payload = json.loads(outbox.get(store, r.op_id)["payload"])
    assert payload["card"]["trace"] == entry.trace
    assert sim.received.count((0x06, 0x01)) == 1


def test_core_silent_terminal_resolves_declined(store, sim):
    sim.queue(Script(silent=True))
    with ZvtTerminal(sim.path, **FAST) as term:
        r = payments.card_payment(store, term, "3100000002", 4200, "2001", advance=True)
        assert r.state == "unknown"
        assert sim.wait_idle()
        assert payments.resolve_unknown(store, term, r.op_id).state == "declined"
    assert sim.approved_sales() == []


def test_zvt_terminal_has_every_method_of_the_core_protocol():
    import inspect

    from terminal.device_api import PaymentTerminal
    wanted = {n: inspect.signature(f) for n, f in vars(PaymentTerminal).items()
              if callable(f) and not n.startswith("_")}
    assert set(wanted) == {"authorize", "refund", "reverse", "last_result", "end_of_day",
                           "status", "abort", "close"}
    for name, sig in wanted.items():
        have = inspect.signature(getattr(ZvtTerminal, name))
        assert list(have.parameters)[:len(sig.parameters)] == list(sig.parameters), name
