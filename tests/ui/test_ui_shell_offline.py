"""Scenario 7: the gateway stops → captures go on while the app runs (each commits at once,
the status bar says offline and counts them) → the gateway comes back → the outbox drains
by itself (no "sync now") and the gateway holds exactly those captures."""
import time

from sync.client import Backoff
from terminal import outbox, readings


def test_offline_captures_then_outbox_drains_by_itself(gateway, make_ui, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True,
                 worker_options={"backoff": Backoff(base=0.5, cap=2.0), "period": 1.0})
    ui_flows.login(ui, "1001", "1234")
    ui_flows.download_route(ui, "R001", gateway=gateway)
    accounts = [r[0] for r in ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' ORDER BY seq LIMIT 6")]

    gateway.stop()
    ui.services.sync_now()
    ui.wait_for(lambda: not ui.services.online, 20, "offline shown")
    ui.shot("offline")

    op_ids = []
    for account_no in accounts:
        started = time.monotonic()
        op = readings.capture_reading(ui.store, account_no=account_no, operator_id="1001",
                                      status="skipped", skip_code="S01")
        op_ids.append(op.op_id)
        ui.services.poke()
        ui.pump(2)                               # the UI keeps drawing between captures
        assert outbox.get(ui.store, op.op_id)["state"] in ("pending", "inflight")
        print(f"capture {account_no} committed in {1000 * (time.monotonic() - started):.1f} ms offline")
    ui.wait_for(lambda: ui.services.pending == len(accounts), 10, "pending count on the status bar")
    ui.tap("tile_sync") if ui.app.sm.current == "home" else ui.go("sync")
    ui.wait_screen("sync")
    ui.shot("sync-offline")
    assert "6" in ui.find("pending_text").text
    assert gateway.query("SELECT COUNT(*) AS n FROM readings")[0]["n"] == 0

    gateway.start()
    ui.wait_for(lambda: ui.services.online and ui.services.pending == 0, 60,
                "outbox drained after the gateway came back")
    ui.shot("sync-drained")
    held = {r["op_id"] for r in gateway.query("SELECT op_id FROM readings")}
    assert held == set(op_ids)
    states = {outbox.get(ui.store, op_id)["state"] for op_id in op_ids}
    assert states == {"accepted"}
