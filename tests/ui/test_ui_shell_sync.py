"""Sync screen: pending ops by type, an op the gateway rejects shown with the gateway's own
reason (and kept, not blocking the ops behind it), "sync now" drains the rest."""
from terminal import outbox, readings


def test_sync_screen_pending_attention_and_sync_now(gateway, make_ui, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True, language="en",
                 worker_options={"period": 3600.0, "debounce": 3600.0, "watchdog": 3600.0})
    ui_flows.login(ui, "1001", "1234")
    ui_flows.download_route(ui, "R001", gateway=gateway)
    # The routes screen asked for a sync and the download for another: on a busy machine the
    # second may still be due and would upload the captures below before the screen is seen.
    # Stop the worker (it finishes its cycle); "sync now" starts it again.
    ui.services.stop_worker()
    accounts = [r[0] for r in ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' ORDER BY seq LIMIT 2")]
    with ui.store.transaction() as conn:     # an op type this gateway does not know
        bogus = outbox.append(conn, "meter_photo", {"account_no": accounts[0]}, operator_id="1001")
    good = [readings.capture_reading(ui.store, account_no=a, operator_id="1001", status="skipped",
                                     skip_code="S01") for a in accounts]
    ui.services.refresh_counts()
    ui.tap("back_button")
    ui.wait_screen("home")
    ui.tap("tile_sync")
    screen = ui.wait_screen("sync")
    ui.wait_for(lambda: "Readings: 2" in ui.find("pending_text").text, 10, "pending by type")
    ui.shot("pending")
    assert "meter_photo: 1" in ui.find("pending_text").text

    ui.tap("sync_now")
    ui.wait_for(lambda: ui.services.pending == 0 and screen.attention_lines, 30, "results")
    ui.shot("attention")
    text = ui.find("attention_text").text
    assert f"#{bogus.seq}" in text and "unknown_type" in text
    row = outbox.get(ui.store, bogus.op_id)
    assert row["state"] == "rejected" and row["result_code"] == "unknown_type"
    held = {r["op_id"] for r in gateway.query("SELECT op_id FROM readings")}
    assert held == {op.op_id for op in good}


def test_supervisor_resolves_an_exception(gateway, make_ui, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True, language="en")
    with ui.store.transaction() as conn:     # rejected by the gateway → its exception queue
        outbox.append(conn, "meter_photo", {"account_no": "3100000001"}, operator_id="1001")
    ui.services.sync_now()
    ui.wait_for(lambda: gateway.query("SELECT COUNT(*) AS n FROM exceptions WHERE resolved_at IS NULL")[0]["n"],
                30, "an open exception on the gateway")
    exception_id = gateway.query("SELECT id FROM exceptions")[0]["id"]
    ui_flows.login(ui, "9001", "99999999")
    ui.tap("tile_supervisor")
    screen = ui.wait_screen("supervisor")
    ui.keypad("99999999")
    ui.wait_for(lambda: screen.connected, 20, "connected")
    ui.tap("tab_exceptions")
    ui.wait_for(lambda: ui.exists(f"resolve_{exception_id}"), 10, "exception listed")
    ui.shot("exceptions")
    ui.tap(f"resolve_{exception_id}")
    ui.tap("resolve_note")
    ui.type("photo sent by e-mail")
    ui.tap("resolve_confirm")
    ui.wait_for(lambda: not screen.busy and not screen.form, 20, "resolved")
    ui.shot("resolved")
    row = gateway.query("SELECT resolved_by, resolution_note FROM exceptions WHERE id=?", (exception_id,))[0]
    assert row == {"resolved_by": "9001", "resolution_note": "photo sent by e-mail"}


def test_the_sync_worker_process_runs_at_background_priority(gateway, make_ui):
    """The upload shares the handheld's few cores with the UI: its process runs niced
    (terminal/ui/sync_process.py), so the scheduler serves the frames first."""
    import os

    import psutil

    from terminal.ui.sync_process import BACKGROUND_NICE, ProcessSyncWorker
    ui = make_ui(gateway=gateway, enrol=True)
    ui.app.services.start_worker()
    worker = ui.app.services.worker
    assert isinstance(worker, ProcessSyncWorker)
    wanted = min(19, os.nice(0) + BACKGROUND_NICE)
    ui.wait_for(lambda: worker.pid and psutil.Process(worker.pid).nice() >= wanted, 20,
                "the worker process niced")
    assert os.nice(0) < wanted, "the app itself keeps its priority"
