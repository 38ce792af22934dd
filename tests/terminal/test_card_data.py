"""The core's boundary with a card terminal: a card number in a reversal's result is never
kept in the void, its op or its slip (terminal/card_data.py)."""
import json

from ledger_fixtures import FakeTerminal, make_store
from terminal import outbox, payments, shifts, voids

PAN = "5555 5555 5555 4444"


class LeakyReversals(FakeTerminal):
    """Reversals whose terminal id and display text carry the card number."""

    def reverse(self, receipt_no, on_status, on_result):
        def leaky(result):
            result.terminal_id, result.text = f"T1 {PAN}", f"REVERSED {PAN}"
            on_result(result)
        on_status(9, f"卡号 {PAN}")
        return super().reverse(receipt_no, on_status, leaky)


def test_card_number_in_a_reversal_result_is_masked(tmp_path):
    store = make_store(tmp_path / "t.db")
    shifts.open_shift(store, "2001", 0)
    term = LeakyReversals()
    paid = payments.card_payment(store, term, "3100000002", 4200, "2001", advance=True)
    shown = []
    void = voids.void_payment(store, paid.op_id, "刷错卡", "2001", "9001",
                              terminal=term, on_status=lambda code, text: shown.append(text))
    payload = json.loads(outbox.get(store, void.op_id)["payload"])
    assert payload["card"]["terminal_id"] == "T1 **** **** **** 4444"
    assert shown[0] == "卡号 **** **** **** 4444"
    store.conn.execute("PRAGMA wal_checkpoint(FULL)")
    raw = open(store.path, "rb").read()
    assert PAN.encode() not in raw and PAN.replace(" ", "").encode() not in raw
