"""A receipt that was printing when the app died may or may not be on paper: on the next
start the app asks the collector to look, and only the collector's answer decides — printed
whole (no reprint) or a reprint marked COPY. Real app offscreen, real printer simulator."""
import json
from pathlib import Path

from terminal import print_queue
from terminal.store import Store
from tests.deadline import seconds

FIXTURE = Path(__file__).parents[1] / "devices" / "fixtures" / "receipt_collection.json"


def printer_popup():
    from kivy.core.window import Window
    from terminal.ui.widgets.field_print import PrinterProblemPopup
    return next((w for w in Window.children if isinstance(w, PrinterProblemPopup)), None)


def crashed_while_printing(data_dir: Path) -> int:
    """A device whose app died between sending a receipt to the printer and its answer."""
    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(data_dir / "chaoshou.db")
    job_id = print_queue.enqueue(store, json.loads(FIXTURE.read_text("utf-8")))
    with store.transaction() as conn:
        conn.execute("UPDATE print_jobs SET state='printing' WHERE job_id=?", (job_id,))
    store.close()
    return job_id


def test_receipt_cut_off_by_a_crash_is_confirmed_by_the_collector(make_ui, printer_sim, tmp_path):
    job_id = crashed_while_printing(tmp_path / "device")
    ui = make_ui(printer=printer_sim, data_dir=tmp_path / "device", start_worker=False)
    popup = ui.wait_for(printer_popup, 30, "the collector asked to check the paper")
    ui.shot("check-the-paper")
    assert popup.message == ui.app.tr(print_queue_reason_text())
    assert popup.ids.confirm.opacity == 1 and not popup.ids.confirm.disabled
    ui.tap(popup.ids.confirm)
    ui.wait_for(lambda: not print_queue.pending(ui.store), 30, "job marked printed")
    row = ui.store.conn.execute("SELECT state FROM print_jobs WHERE job_id=?", (job_id,)).fetchone()
    assert row["state"] == "done"
    assert printer_sim.sim.jobs == []        # nothing printed again: the receipt was whole


def test_receipt_cut_off_by_a_crash_is_reprinted_as_copy_when_asked(make_ui, printer_sim,
                                                                       tmp_path):
    crashed_while_printing(tmp_path / "device")
    ui = make_ui(printer=printer_sim, data_dir=tmp_path / "device", start_worker=False)
    popup = ui.wait_for(printer_popup, 30, "the collector asked to check the paper")
    assert printer_sim.sim.jobs == []        # nothing printed before the collector decides
    ui.tap(popup.ids.reprint)
    [job] = printer_sim.sim.wait_for_jobs(1, timeout=seconds(30))
    assert job.lines[0] == "副本 COPY" and not job.partial
    ui.wait_for(lambda: not print_queue.pending(ui.store), 30, "COPY done")
    ui.shot("copy-printed")


def print_queue_reason_text() -> str:
    from terminal.ui.widgets.field_print import REASONS
    return REASONS["unknown"]
