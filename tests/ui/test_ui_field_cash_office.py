"""Scenarios 4 and 5: an agent's lump payment allocated across member accounts with one
receipt; a shift closed with a cash variance and its Z report printed, then reconciled.

Real app offscreen, real taps, real gateway process and printer simulator on a pty.
"""
import json

from test_ui_field_collect import open_shift
from test_ui_field_reader import assign, keyin, popup_button, popup_open, tap_tile, touch
from tests.deadline import seconds


def printer_popup():
    from kivy.core.window import Window
    from terminal.ui.widgets.field_print import PrinterProblemPopup
    return next((w for w in Window.children if isinstance(w, PrinterProblemPopup)), None)


def test_agent_lump_payment_one_receipt(make_ui, gateway, printer_sim, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True, printer=printer_sim)
    device_id = assign(gateway, ui, "R001", "3001")
    ui_flows.login(ui, "3001", "1234")
    ui_flows.download_route(ui, "R001")
    ui.app.go("home")
    open_shift(ui)

    agents = tap_tile(ui, "agents")
    ui.wait_for(lambda: agents.ids.agent_rv.data, 10, "agent list")
    ui.shot("agents")
    agent = max(agents.ids.agent_rv.data, key=lambda a: a["total_due_fen"])
    row = ui.wait_for(lambda: next((v for v in agents.ids.agent_rv.children[0].children
                                    if v.agent_id == agent["agent_id"]), None), 5, "agent row")
    touch(ui, row)
    ui.wait_for(lambda: agents.stage == "members" and agents.ids.member_rv.data, 10, "members")
    owing = [m for m in agents.ids.member_rv.data if m["total_due_fen"] > 0]
    assert len(owing) >= 2
    # a lump sum 1 yuan short of everything the members owe: spread over all of them
    amount = sum(m["total_due_fen"] for m in owing) - 100
    keyin(ui, str(amount))
    ui.wait_for(lambda: sum(m["allocated_fen"] for m in agents.ids.member_rv.data) == amount,
                10, "allocation preview")
    preview = {m["account_no"]: m["allocated_fen"] for m in agents.ids.member_rv.data if m["allocated_fen"]}
    assert len(preview) == len(owing)
    ui.shot("allocation")
    printer_sim.sim.run_out_of_paper(after_bytes=300)   # the roll ends mid-receipt
    ui.tap("take_cash")
    ui.wait_for(lambda: agents.receipt_no, 15, "payment saved")
    popup = ui.wait_for(printer_popup, 30, "printer problem shown")
    ui.shot("paper-out")
    assert "缺纸" in popup.message
    printer_sim.sim.refill()

    def copy_printed():
        return next((j for j in printer_sim.sim.jobs if any("COPY" in t for t in j.lines)
                     and not j.partial), None)
    # the collector taps Reprint until the COPY comes out (a printer just refilled may
    # still be busy with the rest of the cut-short job and not answer the first time)
    for _attempt in range(3):
        touch(ui, popup.ids.reprint)
        ui.wait_for(lambda: copy_printed() or printer_popup(), 30, "reprint answered")
        if copy_printed():
            break
        popup = printer_popup()
    copy = ui.wait_for(copy_printed, 10, "COPY printed")
    # the simulator has the COPY on paper before the driver has read the printer's status
    # after it: the job is done, and the collector told so, only once that answer is in
    ui.wait_for(lambda: agents.message.endswith(ui.app.tr("Printed.")) and printer_popup() is None,
                15, "the collector told the receipt is printed")
    ui.shot("paid")

    pays = ui.store.conn.execute("SELECT op_id, agent_id, amount_fen, receipt_no FROM payments").fetchall()
    assert len(pays) == 1 and pays[0]["agent_id"] == agent["agent_id"] and pays[0]["amount_fen"] == amount
    allocs = {r["account_no"]: r["amount_fen"] for r in ui.store.conn.execute(
        "SELECT account_no, amount_fen FROM payment_allocations WHERE payment_op_id=?", (pays[0]["op_id"],))}
    assert allocs == preview
    assert ui.store.conn.execute("SELECT COUNT(*) FROM receipts").fetchone()[0] == 1
    assert any(agents.receipt_no in t for t in copy.lines + copy.qr) and copy.path.exists()
    job = ui.store.conn.execute("SELECT state, copy, attempts FROM print_jobs").fetchall()
    assert len(job) == 1 and job[0]["state"] == "done" and job[0]["copy"] == 1

    ui.services.sync_now()
    rows = ui.wait_for(lambda: gateway.query(
        "SELECT agent_id, amount_fen, receipt_no, applied FROM payments WHERE device_id=?",
        (device_id,)), 30, "agent payment on the gateway")
    assert len(rows) == 1 and rows[0]["agent_id"] == agent["agent_id"]
    assert rows[0]["amount_fen"] == amount and rows[0]["receipt_no"] == agents.receipt_no
    assert set(json.loads(rows[0]["applied"])) == set(preview)


def test_shift_close_with_variance_prints_z_report(make_ui, gateway, printer_sim, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True, printer=printer_sim)
    device_id = ui.store.get_meta("device_id")
    ui_flows.login(ui, "2001", "1234")
    open_shift(ui, "20000")                        # float 200.00

    shift = tap_tile(ui, "shift")
    ui.wait_for(lambda: shift.stage == "running", 10, "shift figures")
    ui.tap("x_report")
    printer_sim.sim.wait_for_jobs(1, timeout=seconds(20))
    ui.shot("x-report")
    ui.tap("start_close")
    ui.wait_for(lambda: shift.stage == "count", 5, "count form")
    # 1 × ¥100, 2 × ¥50, then 3 × ¥0.50 → counted 201.50, expected 200.00
    denoms = shift.ids.denoms.children
    for fen, count in ((10000, "1"), (5000, "2"), (50, "3")):
        ui.tap(next(b for b in denoms if b.denom == fen))
        keyin(ui, count)
    ui.wait_for(lambda: shift.counted_fen == 20150, 5, "counted total")
    ui.shot("count")
    assert "1.50" in shift.ids.variance.value
    ui.tap("close_shift")
    ui.wait_for(popup_open, 5, "the overage to confirm")     # a variance asks first
    touch(ui, popup_button("1.50"))
    ui.wait_for(lambda: shift.stage == "closed", 15, "closed")
    jobs = printer_sim.sim.wait_for_jobs(2, timeout=seconds(20))
    ui.wait_for(lambda: shift.closeout_state in ("sent", "mismatch", "failed"), 40, "closeout answered")
    assert shift.closeout_state == "sent"
    ui.shot("closed")

    row = ui.store.conn.execute("SELECT counted_fen, expected_fen, variance_fen, z_no FROM shifts").fetchone()
    assert (row["counted_fen"], row["expected_fen"], row["variance_fen"]) == (20150, 20000, 150)
    z_text = "\n".join(jobs[1].lines)
    assert "Z" in z_text and "1.50" in z_text and jobs[1].path.exists()
    verdict = dict(shift.closeout_verdict)
    # The gateway reconciles counts, sums and digest over the shift's seq range (contracts §3).
    assert verdict.get("ok") is True and verdict.get("missing_seqs") == [] \
        and verdict.get("extra_seqs") == [], verdict
    events = ui.wait_for(lambda: gateway.query(
        "SELECT type, payload FROM shift_events WHERE device_id=? ORDER BY type", (device_id,)),
        20, "shift events on the gateway")
    close = next(json.loads(e["payload"]) for e in events if e["type"] == "shift_close")
    assert close["variance_fen"] == 150 and close["counted_fen"] == 20150 and close["z_no"] == row["z_no"]
