"""Money figures that disagree: after a partial, a full, an advance, an agent's
lump payment and a supervisor's void, the same account's due is one figure everywhere — the
payment screen (before and after), the account screen, the receipt, the bill notice, the
agent's screen and statement — and equal to the core's (`tariffs.bill_for`, docs/ledger.md
"The due figure"); after a void the X and Z reports carry the core's shift figures.

The real app offscreen, real taps, a real gateway process and the printer simulator.
"""
from terminal import tariffs
from terminal.ui.widgets.field_common import fmt_fen

from terminal import shifts
from test_ui_field_card_void import _as_supervisor, _start_void
from test_ui_field_paper import collector_on_shift, fen, kv_value, printed
from test_ui_field_reader import keyin, popup_button, popup_open, tap_tile, touch


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
    return (on_receipt, *screens_now(ui, printer_sim, account_no))


def printed_job(ui, printer_sim, title, what):
    jobs = len(printer_sim.sim.jobs)
    ui.wait_for(lambda: len(printer_sim.sim.jobs) > jobs and any(
        title in t for t in printer_sim.sim.jobs[-1].lines) and any(
        "Total due" in t or "Expected cash" in t for t in printer_sim.sim.jobs[-1].lines), 30, what)
    return printer_sim.sim.jobs[-1].lines


def screens_now(ui, printer_sim, account_no):
    """The due as the account screen, the bill notice and the payment screen show it now
    (the account screen's text, the notice's total, the payment screen's due and lines)."""
    account = ui.go("account", account_no=account_no, route_id="R001")
    ui.wait_for(lambda: account.loaded and account.account_no == account_no, 10, "account")
    on_account = account.balance_text
    jobs = len(printer_sim.sim.jobs)
    ui.tap("notice")
    ui.wait_for(lambda: len(printer_sim.sim.jobs) > jobs and any(
        "Total due" in t for t in printer_sim.sim.jobs[-1].lines), 30, "bill notice")
    notice = printer_sim.sim.jobs[-1].lines
    on_notice = fen(kv_value(notice, "Total due"))
    ui.tap("collect")
    pay = ui.wait_screen("payment")
    ui.wait_for(lambda: pay.loaded and pay.account_no == account_no, 10, "bill again")
    return on_account, on_notice, pay.due_fen, pay.lines_text, notice


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
    receipt, account, notice, payment, _lines, _paper = figures_after(ui, printer_sim, a, pay.receipt_no)
    ui.shot("after-partial")
    assert receipt == notice == payment == core
    assert due_label.format(a=fmt_fen(core)) in account

    # full: the rest, nothing due anywhere
    pay, _ = pay_cash(ui, a)
    assert tariffs.bill_for(ui.store, a).total_due_fen == 0
    receipt, account, notice, payment, _lines, _paper = figures_after(ui, printer_sim, a, pay.receipt_no)
    ui.shot("after-full")
    assert receipt == notice == payment == 0
    assert due_label.format(a=fmt_fen(0)) in account

    # advance: more than due, the rest is credit and nothing is due
    due_b = tariffs.bill_for(ui.store, b).total_due_fen
    pay, _ = pay_cash(ui, b, due_b + 10000)
    assert tariffs.bill_for(ui.store, b).total_due_fen == 0
    receipt, account, notice, payment, _lines, _paper = figures_after(ui, printer_sim, b, pay.receipt_no)
    ui.shot("after-advance")
    assert receipt == notice == payment == 0
    assert due_label.format(a=fmt_fen(0)) in account


def member_dues_on_statement(lines, members):
    """Each member's due as the agent statement prints it (the "Due" line after its name)."""
    out = {}
    for no in members:
        at = next(i for i, t in enumerate(lines) if t.strip().startswith(no))
        out[no] = fen(kv_value(lines[at + 1:], "Due"))
    return out


def test_the_due_is_one_figure_after_an_agent_payment(make_ui, gateway, printer_sim, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True, printer=printer_sim)
    collector_on_shift(ui, gateway, ui_flows)
    due_label = ui.app.tr("Due {a}")
    agents = tap_tile(ui, "agents")
    ui.wait_for(lambda: agents.ids.agent_rv.data, 10, "agent list")
    agent = max(agents.ids.agent_rv.data, key=lambda a: a["total_due_fen"])
    row = ui.wait_for(lambda: next((v for v in agents.ids.agent_rv.children[0].children
                                    if v.agent_id == agent["agent_id"]), None), 5, "agent row")
    touch(ui, row)
    ui.wait_for(lambda: agents.stage == "members" and agents.ids.member_rv.data, 10, "members")
    owing = [m["account_no"] for m in agents.ids.member_rv.data if m["total_due_fen"] > 0]
    assert len(owing) >= 2
    before = {no: tariffs.bill_for(ui.store, no).total_due_fen for no in owing}
    # a lump sum of about half of what the members owe: some members keep a due
    amount = sum(before.values()) // 2 // 100 * 100
    keyin(ui, str(amount))
    ui.wait_for(lambda: sum(m["allocated_fen"] for m in agents.ids.member_rv.data) == amount,
                10, "allocation preview")
    ui.tap("take_cash")
    ui.wait_for(lambda: agents.receipt_no, 15, "payment saved")
    printed(ui, printer_sim.sim, agents.receipt_no)
    core = {no: tariffs.bill_for(ui.store, no).total_due_fen for no in owing}
    assert 0 < sum(core.values()) < sum(before.values())
    # the agent's screen, once it has reloaded its members
    ui.wait_for(lambda: {m["account_no"]: m["total_due_fen"] for m in agents.ids.member_rv.data
                         if m["account_no"] in core} == core, 10, "the members' dues on screen")
    ui.wait_for(lambda: agents.members_due_fen == sum(
        tariffs.bill_for(ui.store, m["account_no"]).total_due_fen
        for m in agents.ids.member_rv.data), 10, "the agent's total on screen")
    ui.shot("agent-paid")
    # the agent statement
    ui.tap("statement")
    statement = printed_job(ui, printer_sim, "Agent statement", "agent statement")
    assert member_dues_on_statement(statement, core) == core
    assert fen(kv_value(statement, "Total due")) == sum(
        tariffs.bill_for(ui.store, m["account_no"]).total_due_fen for m in agents.ids.member_rv.data)
    # every member on the account screen, the bill notice and the payment screen
    for no, due in core.items():
        account, notice, payment, _lines, _paper = screens_now(ui, printer_sim, no)
        assert notice == payment == due, no
        assert due_label.format(a=fmt_fen(due)) in account, (no, account)


def shift_figures_on(paper):
    """Cash taken, voids and expected cash as an X or Z report prints them."""
    return {"cash_fen": fen(kv_value(paper, "Cash (")), "void_fen": -fen(kv_value(paper, "Voids (")),
            "expected_fen": fen(kv_value(paper, "Expected cash"))}


def _row_shown(ui, name):
    """The void list shows this row (the list is rebuilt each time the payments load)."""
    try:
        widget = ui.find(name, required=False)
        return widget is not None and widget.parent is not None
    except ReferenceError:
        return False


def _cash_booked(ui, account_no):
    """The office's balance on this device names the payment as booked (synced, pulled)."""
    return tariffs.bill_for(ui.store, account_no).paid_here_fen == 0


def test_the_due_goes_back_up_once_after_a_void(make_ui, gateway, printer_sim, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True, printer=printer_sim, language="en")
    collector_on_shift(ui, gateway, ui_flows)
    a, b = [r[0] for r in ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' AND arrears_fen > 5000 "
        "ORDER BY seq LIMIT 2")]
    due_label = ui.app.tr("Due {a}")
    voided_label = ui.app.tr("Voided here")

    # two partial cash payments, booked by the office (synced and pulled back), then voided
    due = {no: tariffs.bill_for(ui.store, no).total_due_fen for no in (a, b)}
    paid = {no: due[no] // 2 // 100 * 100 for no in (a, b)}
    receipts = {no: int(pay_cash(ui, no, paid[no])[0].receipt_no) for no in (a, b)}
    ui.services.sync_now()
    ui.wait_for(lambda: gateway.query("SELECT 1 FROM payments WHERE receipt_no=?",
                                      (receipts[b],)), 30, "payments on the gateway")
    ui.services.sync_now()
    ui.wait_for(lambda: _cash_booked(ui, a) and _cash_booked(ui, b), 60,
                "the office's balance books the payments")

    screen = _as_supervisor(ui, ui_flows)
    # the line drops: the voids wait in the outbox, so the office books none of them yet
    gateway.stop()
    for no in (a, b):
        ui.wait_for(lambda: not screen.busy and _row_shown(ui, f"void_{receipts[no]}"), 10,
                    "the payment listed to void")
        _start_void(ui, receipts[no], "wrong account")
        ui.wait_for(lambda: ui.store.conn.execute(
            "SELECT state FROM payments WHERE receipt_no=?", (receipts[no],)).fetchone()[0]
            == "voided" and not screen.busy, 30, "void recorded")
    ui.shot("voided")
    for no in (a, b):     # booked payments: given back until the office books the voids
        assert tariffs.bill_for(ui.store, no).voided_here_fen == paid[no]
    # the collector, back on the device, looks at the accounts
    ui.app.go("home")
    ui.wait_screen("home")
    ui.tap("logout_button")
    ui_flows.login(ui, "3001", "1234", shot=False)
    for no in (a, b):
        bill = tariffs.bill_for(ui.store, no)
        assert bill.total_due_fen == due[no]           # back up, once
        account, notice, payment, lines, paper = screens_now(ui, printer_sim, no)
        assert notice == payment == bill.total_due_fen, no
        assert due_label.format(a=fmt_fen(bill.total_due_fen)) in account, (no, account)
        # the line the due is made of, shown where the other lines are
        assert ui.app.tr("Voided here {a}").format(a=fmt_fen(bill.voided_here_fen)) in account
        assert voided_label in lines and fmt_fen(bill.voided_here_fen) in lines
        assert fen(kv_value(paper, "Voided")) == bill.voided_here_fen

    # the X report, then the Z report at close: the core's figures of the shift, on screen
    # and on paper
    ui.app.go("home")
    shift = tap_tile(ui, "shift")
    ui.wait_for(lambda: shift.stage == "running", 10, "shift figures")
    core = shifts.figures(ui.store)
    assert core["void_count"] == 2 and core["cash_void_fen"] == core["void_fen"] > 0
    ui.tap("x_report")
    x = printed_job(ui, printer_sim, "X report", "X report")
    assert shift_figures_on(x) == {k: core[k] for k in ("cash_fen", "void_fen", "expected_fen")}
    assert shift.ids.expected.value == fmt_fen(core["expected_fen"])
    assert core["expected_fen"] == core["float_fen"] + core["cash_fen"] - core["cash_void_fen"]

    ui.tap("start_close")
    ui.wait_for(lambda: shift.stage == "count", 5, "count form")
    ui.tap(next(b for b in shift.ids.denoms.children if b.denom == 10000))
    keyin(ui, "1")                                   # counted: one ¥100 note
    ui.wait_for(lambda: shift.counted_fen == 10000, 5, "counted total")
    ui.tap("close_shift")
    ui.wait_for(popup_open, 5, "the variance to confirm")
    touch(ui, popup_button(fmt_fen(abs(10000 - core["expected_fen"]))))
    ui.wait_for(lambda: shift.stage == "closed", 15, "closed")
    z = printed_job(ui, printer_sim, "Z report", "Z report")
    assert shift_figures_on(z) == {k: core[k] for k in ("cash_fen", "void_fen", "expected_fen")}
    row = ui.store.conn.execute("SELECT expected_fen, variance_fen FROM shifts").fetchone()
    assert (row["expected_fen"], row["variance_fen"]) == (core["expected_fen"], 10000 - core["expected_fen"])
    assert fen(kv_value(z, "Variance")) == row["variance_fen"]
