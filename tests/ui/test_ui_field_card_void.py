"""A supervisor voids a card payment: the collector takes a card payment on the ZVT
simulator, the supervisor approves the void with the PIN, the payment terminal reverses it
(06 30 for the terminal's receipt number) with its messages on screen, the store records the
void (payment voided, void slip, op `void`) and the gateway receives it. A reversal whose
result is lost on the line is settled from the terminal's last transaction.

Real app offscreen, real taps, real gateway process, printer and ZVT simulators on ptys.
"""
import json

from test_ui_field_collect import card_pay, open_shift
from test_ui_field_reader import assign


def _card_payment(ui, zvt_sim, account_no, digits):
    from devices.sim.zvt import Script
    zvt_sim.sim.queue(Script(outcome="approve"))
    pay = card_pay(ui, account_no, digits)
    ui.wait_for(lambda: pay.stage == "done" and pay.receipt_no, 30, "card payment approved")
    return ui.store.conn.execute("SELECT * FROM payments WHERE receipt_no=?",
                                 (int(pay.receipt_no),)).fetchone()


def _as_supervisor(ui, ui_flows):
    ui.app.go("home")
    ui.wait_screen("home")
    ui.tap("logout_button")
    ui_flows.login(ui, "9001", "99999999", shot=False)
    ui.go("supervisor")
    ui.keypad("99999999")
    screen = ui.screen
    ui.wait_for(lambda: screen.connected and not screen.busy, 20, "connected")
    ui.tap("tab_voids")
    return screen


def _start_void(ui, receipt_no, reason):
    ui.wait_for(lambda: ui.exists(f"void_{receipt_no}"), 10, "the card payment listed")
    ui.tap(f"void_{receipt_no}")
    ui.tap("void_reason")
    ui.type(reason)
    ui.keypad("99999999")


def _void_state(ui, op_id):
    return ui.store.conn.execute("SELECT state FROM payments WHERE op_id=?", (op_id,)).fetchone()[0]


def test_supervisor_voids_a_card_payment_by_reversal(make_ui, gateway, printer_sim, zvt_sim, ui_flows):
    from devices.sim.zvt import Script
    ui = make_ui(gateway=gateway, enrol=True, printer=printer_sim, terminal=zvt_sim, language="en")
    device_id = assign(gateway, ui, "R001", "3001")
    ui_flows.login(ui, "3001", "1234")
    ui_flows.download_route(ui, "R001")
    ui.app.go("home")
    open_shift(ui)
    accounts = [r[0] for r in ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' ORDER BY seq LIMIT 2")]
    paid = _card_payment(ui, zvt_sim, accounts[0], "4321")
    terminal_receipt = json.loads(paid["card"])["terminal_receipt_no"]
    assert paid["state"] == "approved" and terminal_receipt

    screen = _as_supervisor(ui, ui_flows)
    zvt_sim.sim.queue(Script(outcome="approve", customer_delay=1.0))
    _start_void(ui, paid["receipt_no"], "customer paid twice")
    ui.wait_for(lambda: screen.card_busy and screen.message
                and screen.message != ui.app.tr("Reversing the card payment on the card terminal…"),
                15, "a message from the terminal")
    ui.shot("reversal-live-status")
    assert ui.find("cancel_reversal").opacity == 1
    ui.wait_for(lambda: _void_state(ui, paid["op_id"]) == "voided" and not screen.card_busy, 30,
                "void recorded")
    ui.shot("card-voided")

    assert (0x06, 0x30) in zvt_sim.sim.received
    reversals = [e for e in zvt_sim.sim.journal if e.kind == "reversal" and e.approved]
    assert [(e.original_receipt, e.amount_fen) for e in reversals] == [(terminal_receipt, 4321)]
    void = ui.store.conn.execute("SELECT op_id, approved_by, reason, operator_id FROM voids "
                                 "WHERE payment_op_id=?", (paid["op_id"],)).fetchone()
    assert (void["approved_by"], void["reason"], void["operator_id"]) == (
        "9001", "customer paid twice", "3001")
    op = ui.store.conn.execute("SELECT type, payload FROM outbox WHERE op_id=?", (void["op_id"],)).fetchone()
    payload = json.loads(op["payload"])
    assert op["type"] == "void" and payload["payment_op_id"] == paid["op_id"]
    assert payload["card"]["terminal_receipt_no"] == reversals[0].receipt_no
    assert ui.store.get_meta("card_reversal_pending") is None

    ui.services.sync_now()
    rows = ui.wait_for(lambda: gateway.query(
        "SELECT payment_op_id, amount_fen, approved_by FROM voids WHERE device_id=?", (device_id,)),
        30, "void on the gateway")
    assert rows == [{"payment_op_id": paid["op_id"], "amount_fen": 4321, "approved_by": "9001"}]


def test_lost_reversal_result_is_settled_from_the_terminal(make_ui, gateway, printer_sim, zvt_sim,
                                                           ui_flows):
    from devices.sim.zvt import Script
    ui = make_ui(gateway=gateway, enrol=True, printer=printer_sim, terminal=zvt_sim, language="en")
    assign(gateway, ui, "R001", "3001")
    ui_flows.login(ui, "3001", "1234")
    ui_flows.download_route(ui, "R001")
    ui.app.go("home")
    open_shift(ui)
    account_no = ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' ORDER BY seq LIMIT 1").fetchone()[0]
    paid = _card_payment(ui, zvt_sim, account_no, "2750")

    screen = _as_supervisor(ui, ui_flows)
    # the line goes dead after the terminal booked the reversal; a dead line is noticed
    # after the driver's overall timeout, shortened here on the app's own driver
    ui.services._drivers["terminal"].overall_timeout = 3.0
    zvt_sim.sim.queue(Script(outcome="approve", drop="before_status"))
    _start_void(ui, paid["receipt_no"], "wrong account")
    ui.wait_for(lambda: screen.reversal_pending and not screen.card_busy, 60, "reversal unknown")
    ui.shot("reversal-unknown")
    assert _void_state(ui, paid["op_id"]) == "approved"
    assert ui.store.get_meta("card_reversal_pending") is not None
    assert ui.store.conn.execute("SELECT COUNT(*) FROM voids").fetchone()[0] == 0
    # the supervisor asks the terminal; if it does not answer yet (just reconnected), again
    for _attempt in range(3):
        ui.tap("check_reversal")
        ui.wait_for(lambda: not screen.card_busy, 30, "terminal answered")
        if not screen.reversal_pending:
            break
    ui.wait_for(lambda: _void_state(ui, paid["op_id"]) == "voided", 10, "void recorded")
    ui.shot("reversal-settled")
    assert [e.kind for e in zvt_sim.sim.journal].count("reversal") == 1   # never reversed twice
    assert ui.store.get_meta("card_reversal_pending") is None
    assert ui.store.conn.execute("SELECT COUNT(*) FROM outbox WHERE type='void'").fetchone()[0] == 1
