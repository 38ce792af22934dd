"""A print job is never left `printing`: the app killed (SIGKILL) between sending a job and
the printer's answer, then start-up recovery (terminal.recovery.recover) holds it as
`unknown` for the collector, who confirms it or reprints it as a COPY."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from devices.printer import EscPosPrinter
from devices.printer.escpos_render import render
from devices.sim.printer import PrinterSim
from terminal import print_queue
from terminal.recovery import recover
from terminal.store import Store
from tests.deadline import wait_until

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
CHILD = """
import sys
from devices.printer import EscPosPrinter
from terminal import print_queue
from terminal.store import Store
store = Store(sys.argv[1])
print_queue.pump(store, EscPosPrinter(sys.argv[2], timeout=30.0))
"""


def _wait(predicate, what, limit=30.0):
    wait_until(predicate, limit, what)      # the shared deadline (tests/deadline.py)


def test_sigkill_between_send_and_status_then_start_up_holds_it_unknown(tmp_path):
    doc = json.loads((FIXTURES / "receipt_collection.json").read_text("utf-8"))
    db = tmp_path / "t.db"
    store = Store(db)
    job_id = print_queue.enqueue(store, doc)
    sim = PrinterSim(tmp_path / "paper", idle_gap=0.3)
    path = sim.serve_pty()
    wire = render(doc)
    sim.power_off(after_bytes=6 + len(wire) + 1)  # takes the job, then never answers
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), path], cwd=REPO,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        _wait(lambda: len(sim.received) >= 6 + len(wire) + 3, "the job never reached the printer")
        row = store.conn.execute("SELECT state FROM print_jobs WHERE job_id=?", (job_id,)).fetchone()
        assert row["state"] == "printing"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    store.close()
    store = Store(db)
    report = recover(store)
    assert report["print_jobs_resolved"] == 1
    [job] = print_queue.pending(store)
    assert job["state"] == "held" and job["reason"] == "unknown" and job["copy"]
    # the collector looks at the paper: whole, so no reprint
    print_queue.confirm_printed(store, job_id)
    assert print_queue.pending(store) == []
    # or, had it been missing, the collector's reprint is a COPY
    job2 = print_queue.enqueue(store, doc)
    store.conn.execute("UPDATE print_jobs SET state='printing' WHERE job_id=?", (job2,))
    store.conn.commit()
    assert recover(store)["print_jobs_resolved"] == 1
    sim.power_on()
    printer = EscPosPrinter(path, timeout=1.0)
    try:
        # not on its own: it may be on paper already
        [waiting] = print_queue.pump(store, printer)
        assert (waiting.state, waiting.reason) == ("held", "unknown")
        # the collector found it missing and asked for the reprint
        [result] = print_queue.pump(store, printer, reprint_unknown=True)
    finally:
        printer.close()
        sim.close()
        store.close()
    assert result.state == "done" and result.copy


def test_start_up_asks_the_printer_when_one_is_given(tmp_path):
    doc = json.loads((FIXTURES / "receipt_collection.json").read_text("utf-8"))
    store = Store(tmp_path / "t.db")
    job_id = print_queue.enqueue(store, doc)
    store.conn.execute("UPDATE print_jobs SET state='printing' WHERE job_id=?", (job_id,))
    store.conn.commit()
    with PrinterSim(tmp_path / "paper") as sim:
        printer = EscPosPrinter(sim.serve_pty(), timeout=1.0)
        sim.run_out_of_paper()
        try:
            assert print_queue.recover_printing(store, printer) == {"print_jobs_resolved": 1}
        finally:
            printer.close()
    [job] = print_queue.pending(store)
    assert job["state"] == "held" and job["reason"] == "paper_out" and job["copy"]
    store.close()
