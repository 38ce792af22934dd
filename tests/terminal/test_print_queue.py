"""Print queue on a real SQLite store with the ESC/POS driver and the printer simulator on
a pty: paper out mid-job → held → paper back → printed once more as COPY, nothing lost or
doubled; order kept; commit together with the caller; survives a restart."""
import json
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from devices.printer import EscPosPrinter
from devices.sim.printer import PrinterSim
from terminal import print_queue
from terminal.print_queue import (COPY_BANNER, as_copy, enqueue, pending, pump,
                                   recover_printing, reprint)
from terminal.store import Store

FIXTURE = Path(__file__).parents[1] / "devices" / "fixtures" / "receipt_collection.json"
PAY_URL = "https://pay.example.cn/e/3100000001"
VERIFY_URL = "https://verify.example.cn/r?d=T0001&n=100023&a=15000&c=3f9a0c1b2d4e5f60"


@pytest.fixture
def reference():
    return json.loads(FIXTURE.read_text("utf-8"))


def receipt(no: str) -> dict:
    return {"kind": "collection", "receipt_no": no, "copy": False,
            "blocks": [{"t": "kv", "k": "收据号 Receipt", "v": no}, {"t": "cut"}]}


@pytest.fixture
def rig(tmp_path):
    store = Store(tmp_path / "terminal.db")
    sim = PrinterSim(tmp_path / "paper", idle_gap=0.3)
    printer = EscPosPrinter(sim.serve_pty())
    yield store, sim, printer
    printer.close()
    sim.close()
    store.close()


def test_paper_out_mid_job_then_copy_after_refill(rig, reference):
    store, sim, printer = rig
    job_id = enqueue(store, reference)
    sim.run_out_of_paper(after_bytes=300)

    [held] = pump(store, printer)
    assert (held.state, held.reason, held.partial, held.copy) == ("held", "paper_out", True, False)
    assert pending(store) == [{"job_id": job_id, "receipt_no": 100023, "kind": "collection",
                               "state": "held", "reason": "paper_out", "copy": True,
                               "attempts": 1}]
    [still] = pump(store, printer)  # collector has not fixed it yet: nothing sent
    assert (still.state, still.partial) == ("held", False)

    sim.refill()
    [done] = pump(store, printer)
    assert (done.state, done.copy, done.receipt_no) == ("done", True, "100023")
    assert pending(store) == [] and pump(store, printer) == []

    jobs = sim.wait_for_jobs(2)
    assert [j.partial for j in jobs] == [True, False]  # the cut-short original, one COPY
    copy = jobs[1]
    assert copy.lines[0] == "副本 COPY" and "收据号 Receipt            100023" in copy.lines
    assert copy.qr == [PAY_URL, VERIFY_URL]
    assert sorted(r.text for r in zxingcpp.read_barcodes(Image.open(copy.path))) == \
        sorted([PAY_URL, VERIFY_URL])
    row = store.conn.execute("SELECT state, copy, attempts FROM print_jobs").fetchone()
    assert tuple(row) == ("done", 1, 3)
    assert store.conn.execute("SELECT count(*) FROM audit_log WHERE event='print_held'"
                              ).fetchone()[0] == 2


def test_jobs_print_in_order_once_each_and_wait_behind_a_cover_open(rig):
    store, sim, printer = rig
    sim.open_cover()
    ids = [enqueue(store, receipt(str(n))) for n in (501, 502, 503)]
    results = pump(store, printer)
    assert [(r.job_id, r.state, r.reason) for r in results] == [(ids[0], "held", "cover_open")]
    assert [p["state"] for p in pending(store)] == ["held", "queued", "queued"]
    sim.close_cover()
    results = pump(store, printer)
    assert [(r.job_id, r.state, r.copy) for r in results] == \
        [(ids[0], "done", True), (ids[1], "done", False), (ids[2], "done", False)]
    jobs = sim.wait_for_jobs(3)
    assert len(jobs) == 3
    assert [[line.split()[-1] for line in j.lines][-1] for j in jobs] == ["501", "502", "503"]
    assert jobs[0].lines[0] == "副本 COPY" and jobs[1].lines[0] != "副本 COPY"


def test_enqueue_commits_with_the_callers_transaction(tmp_path):
    store = Store(tmp_path / "t.db")
    with pytest.raises(RuntimeError):
        with store.transaction():
            enqueue(store, receipt("7"))
            raise RuntimeError("payment failed")
    assert pending(store) == []
    with store.transaction():
        enqueue(store, receipt("8"))
    store.close()
    reopened = Store(tmp_path / "t.db")
    assert [p["receipt_no"] for p in pending(reopened)] == [8]
    reopened.close()


def test_crash_while_printing_reprints_as_copy(rig):
    store, sim, printer = rig
    job_id = enqueue(store, receipt("900"))
    with store.transaction() as conn:  # what a crash mid-print leaves behind
        conn.execute("UPDATE print_jobs SET state='printing' WHERE job_id=?", (job_id,))
    [r] = pump(store, printer)
    assert (r.state, r.copy) == ("done", True)
    assert sim.wait_for_jobs(1)[0].lines[0] == "副本 COPY"


def test_a_job_of_unknown_outcome_waits_for_the_collector(rig):
    """Held as `unknown` (the printer did not answer after it, or a crash cut it off): it may
    already be on paper, so only the collector's word reprints it; later jobs still print."""
    store, sim, printer = rig
    first = enqueue(store, receipt("901"))
    with store.transaction() as conn:
        conn.execute("UPDATE print_jobs SET state='printing' WHERE job_id=?", (first,))
    assert recover_printing(store) == {"print_jobs_resolved": 1}
    enqueue(store, receipt("902"))
    results = pump(store, printer)
    assert [(r.receipt_no, r.state, r.reason) for r in results] == [
        ("901", "held", "unknown"), ("902", "done", None)]
    [job] = sim.wait_for_jobs(1)
    assert "901" not in " ".join(job.lines)          # nothing reprinted on its own
    assert [str(j["receipt_no"]) for j in pending(store)] == ["901"]
    # the collector asks for the reprint: it comes out as a COPY, once
    [r] = pump(store, printer, reprint_unknown=True)
    assert (r.receipt_no, r.state, r.copy) == ("901", "done", True)
    assert sim.wait_for_jobs(2)[1].lines[0] == "副本 COPY"
    assert pending(store) == []


def test_reprint_and_copy_banner_once(rig, reference):
    store, sim, printer = rig
    first = enqueue(store, reference)
    pump(store, printer)
    again = reprint(store, first)
    [r] = pump(store, printer)
    assert (r.job_id, r.state, r.copy) == (again, "done", True)
    jobs = sim.wait_for_jobs(2)
    assert jobs[0].lines[0] == "示范供电公司" and jobs[1].lines[:2] == ["副本 COPY", "示范供电公司"]
    twice = as_copy(as_copy(reference))
    assert twice["copy"] is True and twice["blocks"].count(COPY_BANNER) == 1
    assert reference["copy"] is False  # the original document is not modified


def test_bad_documents_refused_at_enqueue_and_held_not_blocking(rig):
    store, sim, printer = rig
    with pytest.raises(ValueError, match="unknown receipt kind"):
        enqueue(store, {"kind": "letter", "blocks": [{"t": "cut"}]})
    bad = {"kind": "test", "blocks": [{"t": "text", "text": "x", "size": "huge"}]}
    bad_id = enqueue(store, bad)  # structurally fine, but the printer cannot render it
    good_id = enqueue(store, receipt("42"))
    results = pump(store, printer)
    assert [(r.job_id, r.state) for r in results] == [(bad_id, "held"), (good_id, "done")]
    assert results[0].reason.startswith("bad_document:")
    assert [p["job_id"] for p in print_queue.pending(store)] == [bad_id]


def test_a_real_cash_payment_prints_from_the_queue(tmp_path):
    """End to end with the money core: the payment queues its receipt in its transaction;
    the queue prints it; the paper carries the rare-character name and both QR codes."""
    from ledger_fixtures import make_store
    from terminal import payments, shifts

    store = make_store(tmp_path / "t.db", block=(100000, 100004))
    shifts.open_shift(store, "2001", 10000)
    paid = payments.cash_payment(store, "3100000001", 5000, "2001", tendered_fen=10000, advance=True)
    [job] = pending(store)
    assert job["receipt_no"] == int(paid.receipt_no) and job["state"] == "queued"
    with PrinterSim(tmp_path / "paper") as sim:
        printer = EscPosPrinter(sim.serve_pty())
        [result] = pump(store, printer)
        printed = sim.wait_for_jobs(1)[0]
        printer.close()
    assert (result.state, result.copy) == ("done", False)
    qr_data = [b["data"] for b in paid.doc["blocks"] if b["t"] == "qr"]
    assert printed.qr == qr_data
    assert sorted(r.text for r in zxingcpp.read_barcodes(Image.open(printed.path))) == \
        sorted(qr_data)
    assert printed.rasters == 1  # the 户名 line with 王𠮷
    assert any(line.endswith("￥50.00") for line in printed.lines)
    store.close()
