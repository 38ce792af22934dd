"""An agent's lump payment by bank card: the allocation across member accounts is shown,
the ZVT simulator approves it with live messages on screen, one payment with its
allocations is booked, one receipt comes out of the printer simulator, and the gateway
receives it.

Real app offscreen, real taps, real gateway process, printer and ZVT simulators on ptys.
"""
import json

from test_ui_field_collect import open_shift
from test_ui_field_reader import assign, keyin, tap_tile, touch
from tests.deadline import seconds


def test_agent_card_payment_one_receipt(make_ui, gateway, printer_sim, zvt_sim, ui_flows):
    from devices.sim.zvt import Script
    ui = make_ui(gateway=gateway, enrol=True, printer=printer_sim, terminal=zvt_sim)
    device_id = assign(gateway, ui, "R001", "3001")
    ui_flows.login(ui, "3001", "1234")
    ui_flows.download_route(ui, "R001")
    ui.app.go("home")
    open_shift(ui)

    agents = tap_tile(ui, "agents")
    ui.wait_for(lambda: agents.ids.agent_rv.data, 10, "agent list")
    agent = max(agents.ids.agent_rv.data, key=lambda a: a["total_due_fen"])
    row = ui.wait_for(lambda: next((v for v in agents.ids.agent_rv.children[0].children
                                    if v.agent_id == agent["agent_id"]), None), 5, "agent row")
    touch(ui, row)
    ui.wait_for(lambda: agents.stage == "members" and agents.ids.member_rv.data, 10, "members")
    owing = [m for m in agents.ids.member_rv.data if m["total_due_fen"] > 0]
    assert len(owing) >= 2
    amount = sum(m["total_due_fen"] for m in owing) - 100     # spread over every member
    keyin(ui, str(amount))
    ui.wait_for(lambda: sum(m["allocated_fen"] for m in agents.ids.member_rv.data) == amount,
                10, "allocation preview")
    preview = {m["account_no"]: m["allocated_fen"] for m in agents.ids.member_rv.data if m["allocated_fen"]}
    assert len(preview) == len(owing)
    ui.shot("allocation")

    zvt_sim.sim.queue(Script(outcome="approve", customer_delay=1.0))
    ui.tap("take_card")
    ui.wait_for(lambda: agents.stage == "card" and agents.card_state == "busy", 5, "card stage")
    connecting = agents.card_text
    ui.wait_for(lambda: agents.card_state == "busy" and agents.card_text != connecting, 15,
                "a message from the terminal")
    ui.shot("card-live-status")
    ui.wait_for(lambda: agents.receipt_no and agents.stage == "members", 30, "approved")
    jobs = printer_sim.sim.wait_for_jobs(1, timeout=seconds(20))
    ui.wait_for(lambda: "…" not in agents.message, 15, "printed")
    ui.shot("card-paid")

    pays = ui.store.conn.execute("SELECT op_id, agent_id, amount_fen, receipt_no, method, state, card "
                                 "FROM payments").fetchall()
    assert len(pays) == 1
    pay = pays[0]
    assert (pay["agent_id"], pay["amount_fen"], pay["method"], pay["state"]) == (
        agent["agent_id"], amount, "card", "approved")
    assert str(pay["receipt_no"]) == agents.receipt_no
    allocs = {r["account_no"]: r["amount_fen"] for r in ui.store.conn.execute(
        "SELECT account_no, amount_fen FROM payment_allocations WHERE payment_op_id=?", (pay["op_id"],))}
    assert allocs == preview
    assert json.loads(pay["card"])["trace"] == zvt_sim.sim.approved_sales()[-1].trace
    assert zvt_sim.sim.approved_sales()[-1].amount_fen == amount
    assert ui.store.conn.execute("SELECT COUNT(*) FROM receipts").fetchone()[0] == 1
    assert len(printer_sim.sim.jobs) == 1
    assert any(agents.receipt_no in t for t in jobs[0].lines + jobs[0].qr)

    ui.services.sync_now()
    rows = ui.wait_for(lambda: gateway.query(
        "SELECT agent_id, method, amount_fen, receipt_no, applied FROM payments WHERE device_id=?",
        (device_id,)), 30, "agent card payment on the gateway")
    assert len(rows) == 1
    assert (rows[0]["agent_id"], rows[0]["method"], rows[0]["amount_fen"], rows[0]["receipt_no"]) == (
        agent["agent_id"], "card", amount, agents.receipt_no)
    assert set(json.loads(rows[0]["applied"])) == set(preview)
