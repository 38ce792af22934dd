"""Issue 12, "Money figures that disagree": after a partial, a full and an advance payment,
the same account's due is one figure everywhere — the payment screen (before and after),
the account screen, the receipt, the bill notice — and equal to the core's
(`tariffs.bill_for`, docs/ledger.md "The due figure").

The real app offscreen, real taps, a real gateway process and the printer simulator.
"""
from terminal import tariffs
from terminal.ui.widgets.field_common import fmt_fen

from test_ui_field_paper import collector_on_shift, fen, kv_value, printed
from test_ui_field_reader import keyin


def pay_cash(ui, account_no, amount_fen=None):
    account = ui.go("account", account_no=account_no, route_id="R001")
    ui.wait_for(lambda: account.loaded and account.account_no == account_no, 10, "account")
    ui.tap("collect")
    pay = ui.wait_screen("payment")
    ui.wait_for(lambda: pay.loaded and pay.account_no == account_no, 10, "bill")
    if amount_fen is not None:
        ui.tap("clear")
        keyin(ui, str(amount_fen))
    shown_before = pay.amount_kind(pay.amount_keyed, pay.due_fen)
    ui.tap("cash")
    ui.wait_for(lambda: pay.stage == "cash", 5, "cash stage")
    ui.tap("exact")
    ui.tap("confirm_cash")
    ui.wait_for(lambda: pay.stage == "done" and pay.receipt_no, 10, "paid")
    return pay, shown_before


def figures_after(ui, printer_sim, account_no, receipt_no):
    """The due as the receipt, the account screen, the payment screen and the bill notice
    show it now."""
    lines, _q, _p = printed(ui, printer_sim.sim, str(receipt_no))
    ui.wait_for(lambda: any("请妥善保管" in t for t in printer_sim.sim.jobs[-1].lines), 30, "receipt end")
    receipt = printer_sim.sim.jobs[-1].lines
    owed = [t for t in receipt if "Still owed" in t]
    on_receipt = fen(owed[0].split()[-1]) if owed else 0
    account = ui.go("account", account_no=account_no, route_id="R001")
    ui.wait_for(lambda: account.loaded and account.account_no == account_no, 10, "account")
    on_account = account.balance_text
    jobs = len(printer_sim.sim.jobs)
    ui.tap("notice")
    ui.wait_for(lambda: len(printer_sim.sim.jobs) > jobs and any(
        "Total due" in t for t in printer_sim.sim.jobs[-1].lines), 30, "bill notice")
    on_notice = fen(kv_value(printer_sim.sim.jobs[-1].lines, "Total due"))
    ui.tap("collect")
    pay = ui.wait_screen("payment")
    ui.wait_for(lambda: pay.loaded and pay.account_no == account_no, 10, "bill again")
    return on_receipt, on_account, on_notice, pay.due_fen


def test_the_due_is_one_figure_on_every_screen_and_paper(make_ui, gateway, printer_sim, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True, printer=printer_sim)
    collector_on_shift(ui, gateway, ui_flows)
    a, b = [r[0] for r in ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' AND arrears_fen > 5000 "
        "ORDER BY seq LIMIT 2")]
    due_label = ui.app.tr("Due {a}")

    # partial: what the payment screen promised is what every screen and paper then say
    before = tariffs.bill_for(ui.store, a).total_due_fen
    partial = before // 2 // 100 * 100
    pay, promised = pay_cash(ui, a, partial)
    core = tariffs.bill_for(ui.store, a).total_due_fen
    assert 0 < core < before
    assert fmt_fen(core) in promised
    receipt, account, notice, payment = figures_after(ui, printer_sim, a, pay.receipt_no)
    ui.shot("after-partial")
    assert receipt == notice == payment == core
    assert due_label.format(a=fmt_fen(core)) in account

    # full: the rest, nothing due anywhere
    pay, _ = pay_cash(ui, a)
    assert tariffs.bill_for(ui.store, a).total_due_fen == 0
    receipt, account, notice, payment = figures_after(ui, printer_sim, a, pay.receipt_no)
    ui.shot("after-full")
    assert receipt == notice == payment == 0
    assert due_label.format(a=fmt_fen(0)) in account

    # advance: more than due, the rest is credit and nothing is due
    due_b = tariffs.bill_for(ui.store, b).total_due_fen
    pay, _ = pay_cash(ui, b, due_b + 10000)
    assert tariffs.bill_for(ui.store, b).total_due_fen == 0
    receipt, account, notice, payment = figures_after(ui, printer_sim, b, pay.receipt_no)
    ui.shot("after-advance")
    assert receipt == notice == payment == 0
    assert due_label.format(a=fmt_fen(0)) in account
