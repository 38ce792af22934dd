"""The app is killed in the middle of a card payment; on the next start it settles the
payment from the card terminal's own record by itself: approved once, receipt printed, synced."""
import os
import signal
import subprocess
import sys
from pathlib import Path

from terminal import payments
from terminal.store import Store
from tests.deadline import seconds, wait_until

REPO = Path(__file__).resolve().parents[2]

# The collector's process dies after the terminal approved but before the app committed
# the result (the terminal is still waiting for its acknowledgement).
CHILD = r"""
import sys, time
from devices.zvt import ZvtTerminal
from terminal import payments
from terminal.store import Store
db, port, account, marker = sys.argv[1:5]

class DiesBeforeCommit(ZvtTerminal):
    def authorize(self, amount_fen, on_status, on_result):
        def dying(result):
            open(marker, "w").write("approved, not yet committed")
            time.sleep(60)
        return super().authorize(amount_fen, on_status, dying)

payments.card_payment(Store(db), DiesBeforeCommit(port), account, 4321, "3001")
"""


def test_payment_interrupted_by_a_crash_is_settled_from_the_terminal_on_restart(
        make_ui, gateway, printer_sim, zvt_sim, tmp_path, ui_flows):
    from devices.sim.zvt import Script
    from sync.client import SyncClient
    from sync.gateway.testing import assign_route
    from terminal import shifts
    from conftest import enrol_store

    data_dir = tmp_path / "device"
    data_dir.mkdir()
    db = data_dir / "chaoshou.db"
    device_id = enrol_store(db, gateway.url)
    assign_route(gateway.url, "R001", device_id, "3001")
    store = Store(db)
    client = SyncClient(store, gateway.url)
    client.download_route("R001")
    client.ensure_receipt_numbers()
    client.close()
    shifts.open_shift(store, "3001", 10000)
    account = store.conn.execute("SELECT account_no FROM accounts WHERE route_id='R001' "
                                 "ORDER BY seq LIMIT 1").fetchone()[0]

    zvt_sim.sim.queue(Script(outcome="approve"))
    marker = tmp_path / "approved"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), zvt_sim.url, account, str(marker)],
                             cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    wait_until(lambda: marker.exists() or child.poll() is not None, 30,
               "the terminal's result in the child")
    assert marker.exists() and child.poll() is None, "no result from the terminal"
    os.kill(child.pid, signal.SIGKILL)       # the battery falls out at the worst moment
    child.wait(seconds(10))
    assert zvt_sim.sim.wait_idle(seconds(30))  # the terminal gives up waiting for the ack
    [sale] = zvt_sim.sim.approved_sales()
    assert payments.unknown_payments(store)[0]["state"] == "sent"
    store.close()

    ui = make_ui(gateway=gateway, printer=printer_sim, terminal=zvt_sim, data_dir=data_dir)
    ui.wait_for(lambda: not payments.unknown_payments(ui.store), 60, "payment settled")
    ui.shot("settled")
    row = ui.store.conn.execute("SELECT state, amount_fen, receipt_no, card FROM payments").fetchone()
    assert (row["state"], row["amount_fen"]) == ("approved", 4321)
    assert str(sale.trace) in row["card"] and row["receipt_no"] is not None
    assert ui.store.conn.execute("SELECT COUNT(*) FROM outbox WHERE type='payment'").fetchone()[0] == 1
    assert zvt_sim.sim.received.count((0x06, 0x01)) == 1     # charged once, never retried
    [job] = printer_sim.sim.wait_for_jobs(1, timeout=seconds(30))
    assert str(row["receipt_no"]) in "\n".join(job.lines)

    ui.services.sync_now()
    held = ui.wait_for(lambda: gateway.query("SELECT amount_fen FROM payments WHERE device_id=?",
                                             (device_id,)), 30, "payment on the gateway")
    assert [r["amount_fen"] for r in held] == [4321]
