"""Scenario 6: a supervisor reassigns a route to another reader and device with a reason and
triggers a download; the reader's device picks it up on its own. Also scenario 1's first
part (login → download route) through the Routes screen."""
from conftest import enrol_store


def test_reader_downloads_assigned_route(gateway, make_ui, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True)
    ui_flows.login(ui, "1001", "1234")
    count = ui_flows.download_route(ui, "R001", gateway=gateway)
    ui.shot("routes-downloaded")
    server = gateway.query("SELECT COUNT(*) AS n FROM accounts WHERE route_id='R001' AND active=1")[0]["n"]
    assert count == server > 0
    ui.tap("open_R001")
    ui.wait_for(lambda: ui.app.sm.current == "walk", 10, "walk screen")
    ui.shot("walk")
    route = gateway.query("SELECT download_requested FROM routes WHERE route_id='R001'")[0]
    assert not route["download_requested"]


def test_supervisor_reassigns_and_device_picks_up(gateway, make_ui, ui_flows, tmp_path):
    reader_dir = tmp_path / "reader-device"
    reader_dir.mkdir()
    reader_device = enrol_store(reader_dir / "chaoshou.db", gateway.url)

    # the supervisor's handheld
    sup = make_ui(gateway=gateway, enrol=True, language="en")
    ui_flows.login(sup, "9001", "99999999")
    sup.tap("tile_supervisor")
    sup.wait_screen("supervisor")
    sup.shot("supervisor-pin")
    sup.keypad("99999999")
    screen = sup.screen
    sup.wait_for(lambda: screen.connected and screen.routes, 20, "gateway routes")
    sup.shot("supervisor-routes")
    sup.tap("assign_R002")
    sup.tap("assign_operator")
    sup.find("assign_operator").text = ""
    sup.type("1002", into="assign_operator")
    # a drop-down that takes its time to close (Config `min_state_time`, 35 ms by default)
    # must not swallow what comes next: the tap that follows, and the typing
    spinner = sup.find("assign_device")
    spinner._dropdown.min_state_time = 0.5
    sup.tap("assign_device")
    sup.tap(reader_device)                         # the drop-down's entry for the device
    assert spinner.text == reader_device
    # choosing the device hands the keyboard to the reason: typing goes straight there
    sup.wait_for(lambda: sup.has_focus("assign_reason"), 5, "reason focused")
    sup.type("reader 1003 ", into="assign_reason")
    sup.tap("assign_reason")                       # a tap on the field keeps it
    sup.type("is sick", into="assign_reason")
    assert sup.find("assign_reason").text == "reader 1003 is sick"
    assert sup.find("assign_operator").text == "1002" and spinner.text == reader_device
    sup.shot("assign-form")
    sup.tap("assign_confirm")
    sup.wait_for(lambda: not screen.form and not screen.busy, 20, "assignment done")
    sup.tap("request_R002")
    sup.wait_for(lambda: not screen.busy, 20, "download requested")
    sup.shot("assigned")
    route = gateway.query("SELECT operator_id, device_id, download_requested FROM routes "
                          "WHERE route_id='R002'")[0]
    assert route == {"operator_id": "1002", "device_id": reader_device, "download_requested": 1}
    reasons = [r["reason"] for r in gateway.query(
        "SELECT reason FROM route_assignments WHERE route_id='R002'")]
    assert "reader 1003 is sick" in reasons
    sup.close()

    # the reader's handheld: its sync worker sees the request and downloads by itself
    reader = make_ui(gateway=gateway, data_dir=reader_dir)
    ui_flows.login(reader, "1002", "1234")
    reader.tap("tile_routes")
    reader.wait_screen("routes")
    n = reader.wait_for(lambda: reader.store.conn.execute(
        "SELECT COUNT(*) FROM accounts WHERE route_id='R002'").fetchone()[0], 30, "R002 on the device")
    reader.wait_for(lambda: reader.exists("open_R002") and not reader.find("open_R002").disabled,
                    15, "R002 listed")
    reader.shot("reader-routes")
    assert n == gateway.query("SELECT COUNT(*) AS n FROM accounts WHERE route_id='R002' "
                              "AND active=1")[0]["n"]
    reader.wait_for(lambda: not gateway.query("SELECT download_requested FROM routes "
                                              "WHERE route_id='R002'")[0]["download_requested"],
                    20, "download flag cleared on the gateway")


def test_supervisor_approves_a_void_with_pin(gateway, make_ui, ui_flows, printer_sim):
    from terminal import payments, shifts
    ui = make_ui(gateway=gateway, enrol=True, printer=printer_sim, language="en")
    ui_flows.login(ui, "9001", "99999999")
    ui_flows.assign(gateway, "R001", ui.store.get_meta("device_id"), "3001")
    ui.tap("tile_routes")
    ui.wait_screen("routes")
    ui.wait_for(lambda: ui.store.conn.execute(
        "SELECT COUNT(*) FROM accounts WHERE route_id='R001'").fetchone()[0], 30, "route on device")
    account_no = ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' ORDER BY seq LIMIT 1").fetchone()[0]
    shifts.open_shift(ui.store, "3001", 10000)                   # the collector's shift and payment
    paid = payments.cash_payment(ui.store, account_no, 5000, "3001", tendered_fen=5000, advance=True)
    receipt_no = paid.receipt_no

    ui.go("supervisor")
    ui.keypad("99999999")
    screen = ui.screen
    ui.wait_for(lambda: screen.connected, 20, "connected")
    ui.tap("tab_voids")
    ui.wait_for(lambda: ui.exists(f"void_{receipt_no}"), 10, "the payment listed")
    ui.shot("voids")
    ui.tap(f"void_{receipt_no}")
    ui.tap("void_reason")
    ui.type("wrong account")
    ui.keypad("1234")                    # a wrong PIN is refused, nothing voided
    ui.wait_for(lambda: not screen.busy and screen.message, 20, "refusal")
    ui.shot("void-wrong-pin")
    assert ui.store.conn.execute("SELECT COUNT(*) FROM voids").fetchone()[0] == 0
    ui.keypad("99999999")
    ui.wait_for(lambda: ui.store.conn.execute("SELECT COUNT(*) FROM voids").fetchone()[0] == 1, 20,
                "void recorded")
    ui.shot("voided")
    row = ui.store.conn.execute("SELECT approved_by, reason, operator_id FROM voids").fetchone()
    assert tuple(row) == ("9001", "wrong account", "3001")
    assert ui.store.conn.execute("SELECT state FROM payments WHERE op_id=?",
                                 (paid.op_id,)).fetchone()[0] == "voided"
    ui.services.sync_now()
    ui.wait_for(lambda: gateway.query("SELECT COUNT(*) AS n FROM voids")[0]["n"] == 1, 30,
                "void on the gateway")
