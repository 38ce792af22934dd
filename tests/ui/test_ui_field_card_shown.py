"""Card payments: with the simulated terminal approving at once, the collector
still sees the amount being charged and the terminal's messages for a moment, then the
approval with the masked card and the terminal's trace — what they tell the customer —
and never a full card number.

The real app offscreen, real taps, a real gateway process, the ZVT card terminal and the
ESC/POS printer simulators on ptys.
"""
import re

from devices.sim.zvt_script import Script

from test_ui_field_collect import card_pay
from test_ui_field_paper import collector_on_shift
from test_ui_field_tour import visible_texts


def test_an_instant_approval_shows_amount_messages_and_masked_card(make_ui, gateway, printer_sim,
                                                                   zvt_sim, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True, printer=printer_sim, terminal=zvt_sim)
    collector_on_shift(ui, gateway, ui_flows)
    account = ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' ORDER BY seq LIMIT 1").fetchone()[0]
    zvt_sim.sim.queue(Script(outcome="approve"))
    pay = card_pay(ui, account, "2345")

    # the approval is on the card stage first: amount, the terminal's messages, the card
    ui.wait_for(lambda: pay.card_state == "approved" and pay.stage == "card" and pay.card_done,
                15, "the approval shown on the card stage")
    ui.shot("card-approved-shown")
    assert "23.45" in pay.ids.card_amount.text
    assert pay.card_log, "the terminal's messages are shown"
    entry = zvt_sim.sim.journal[-1]
    assert entry.approved and entry.trace is not None
    stored = ui.store.conn.execute("SELECT card FROM payments ORDER BY rowid DESC LIMIT 1").fetchone()[0]
    assert "****" + entry.masked_pan[-4:] in pay.card_done, stored
    assert str(entry.trace) in pay.card_done

    # then the receipt, the masked card still said
    ui.wait_for(lambda: pay.stage == "done" and pay.receipt_no, 15, "receipt stage")
    ui.shot("card-receipt")
    assert pay.ids.done_card.text == pay.card_done and pay.ids.done_card.opacity == 1
    for text, _size, _w in visible_texts(ui):
        assert not re.search(r"\d{12,}", text.replace(" ", "")), text
