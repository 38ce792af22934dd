"""ESC/POS driver ↔ printer simulator over a real pseudo-terminal: status bits, refusing
to start when not ready, a job cut short by paper out, a silent line."""
import json
import os
from pathlib import Path

import pytest

from devices.printer import EscPosPrinter, PrinterNotReady, parse_status
from devices.printer.driver import STATUS_ATTEMPTS
from devices.printer.escpos_render import render
from devices.sim.printer import PrinterSim

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def reference():
    return json.loads((FIXTURES / "receipt_collection.json").read_text("utf-8"))


@pytest.fixture
def rig(tmp_path):
    sim = PrinterSim(tmp_path / "paper", idle_gap=0.3)
    printer = EscPosPrinter(sim.serve_pty(), timeout=1.0)
    yield sim, printer
    printer.close()
    sim.close()


def test_status_bits_parsed():
    assert parse_status(0x12, 0x12) == {"online": True, "paper": "ok", "cover_open": False}
    assert parse_status(0x12, 0x1E)["paper"] == "near_end"
    assert parse_status(0x32, 0x72)["paper"] == "out"
    assert parse_status(0x16, 0x12)["cover_open"] is True
    assert parse_status(None, None)["online"] is False
    assert parse_status(0xFF, 0x12)["online"] is False  # not a status byte


def test_status_over_pty_follows_the_printer(rig):
    sim, printer = rig
    assert printer.status() == {"online": True, "paper": "ok", "cover_open": False}
    sim.near_end()
    assert printer.status()["paper"] == "near_end"
    sim.run_out_of_paper()
    assert printer.status()["paper"] == "out"
    sim.refill()
    sim.open_cover()
    assert printer.status() == {"online": True, "paper": "ok", "cover_open": True}
    sim.close_cover()
    assert printer.status()["cover_open"] is False


def test_prints_reference_receipt_byte_exact(rig, reference):
    sim, printer = rig
    sent = printer.print_document(reference)
    jobs = sim.wait_for_jobs(1)
    assert sent == len(render(reference))
    wire = bytes(sim.received).replace(b"\x10\x04\x02", b"").replace(b"\x10\x04\x04", b"")
    assert wire == (FIXTURES / "receipt_collection.escpos").read_bytes()
    assert not jobs[0].partial and "户名 Name                 王小明" in jobs[0].lines


@pytest.mark.parametrize("fault, reason", [("paper", "paper_out"), ("cover", "cover_open")])
def test_not_ready_before_the_job_sends_nothing(rig, reference, fault, reason):
    sim, printer = rig
    sim.run_out_of_paper() if fault == "paper" else sim.open_cover()
    with pytest.raises(PrinterNotReady) as exc:
        printer.print_document(reference)
    assert exc.value.reason == reason and exc.value.partial is False
    assert isinstance(exc.value, OSError)
    assert b"\x1b@" not in sim.received and sim.jobs == []


def test_paper_out_mid_job_is_partial(rig, reference):
    sim, printer = rig
    sim.run_out_of_paper(after_bytes=300)
    with pytest.raises(PrinterNotReady) as exc:
        printer.print_document(reference)
    assert exc.value.reason == "paper_out" and exc.value.partial is True
    job = sim.wait_for_jobs(1)[0]
    assert job.partial and job.path.name.endswith("-partial.png")
    assert job.qr == [] and "扫码缴费 Scan to pay" not in job.lines


def test_nobody_answering_is_offline(tmp_path, reference):
    master, slave = os.openpty()
    try:
        printer = EscPosPrinter(os.ttyname(slave), timeout=0.2)
        assert printer.status()["online"] is False
        with pytest.raises(PrinterNotReady) as exc:
            printer.print_document(reference)
        assert exc.value.reason == "offline" and exc.value.partial is False
        printer.close()
    finally:
        os.close(master)
        os.close(slave)


def test_an_unanswered_status_query_is_asked_again_before_the_printer_counts_as_off(
        rig, reference):
    """Seen on a busy machine: one status answer came too late, and the collector was told
    to switch on a printer that was on. Only a printer silent to every attempt is off."""
    sim, printer = rig
    printer.timeout = printer.port.timeout = 0.3
    sim.drop_answers(STATUS_ATTEMPTS - 1)
    assert printer.print_document(reference) == len(render(reference))
    assert not sim.wait_for_jobs(1)[0].partial
    sim.drop_answers(STATUS_ATTEMPTS)
    with pytest.raises(PrinterNotReady) as exc:
        printer.print_document(reference)
    assert exc.value.reason == "offline" and exc.value.partial is False
    assert printer.status()["online"] is True  # it answers again: nothing was lost
    assert len(sim.jobs) == 1


def test_simulator_command_drops_answers(tmp_path):
    with PrinterSim(tmp_path / "paper") as sim:
        assert sim.command("drop answers 2").startswith("ok")
        assert sim.receive(b"\x10\x04\x02\x10\x04\x02\x10\x04\x02") == b"\x12"
        assert sim.command("drop answers x") == "error: the count must be a number"


def test_bad_document_raises_value_error_and_sends_nothing(rig):
    sim, printer = rig
    with pytest.raises(ValueError):
        printer.print_document({"kind": "collection", "blocks": [{"t": "nope"}]})
    assert bytes(sim.received) == b""


def test_printer_dying_mid_job_is_unknown_for_the_collector_to_check(rig, reference):
    sim, printer = rig
    printer.timeout = printer.port.timeout = 0.3
    sim.power_off(after_bytes=400)
    with pytest.raises(PrinterNotReady) as exc:
        printer.print_document(reference)
    # silence after the job cannot tell a dead printer from a slow answer: check the paper
    assert exc.value.reason == "unknown" and exc.value.partial is False
    assert printer.status()["online"] is False
    job = sim.wait_for_jobs(1)[0]
    assert job.partial and job.qr == []
    sim.power_on()
    assert printer.status()["online"] is True


def test_realtime_status_is_answered_while_the_printer_is_busy_drawing(rig, reference):
    """A real printer answers DLE EOT on receipt, mid-job; the simulator's drawing lock is
    held here (as a busy machine would keep it) and the status must still come."""
    sim, printer = rig
    job = render(reference)
    with sim._cond:  # the paper side is busy: nothing gets drawn meanwhile
        printer.port.write(job)
        assert printer.status() == {"online": True, "paper": "ok", "cover_open": False}
        assert sim.jobs == []
    assert not sim.wait_for_jobs(1)[0].partial


def test_silence_after_a_whole_job_is_unknown_never_cut_short(rig, reference):
    sim, printer = rig
    printer.timeout = printer.port.timeout = 0.3
    job = render(reference)
    sim.power_off(after_bytes=6 + len(job) + 1)  # 2 status queries, the job, then dead
    with pytest.raises(PrinterNotReady) as exc:
        printer.print_document(reference)
    assert exc.value.reason == "unknown" and exc.value.partial is False
    assert "check the paper" in str(exc.value) and "cut short" not in str(exc.value)
    assert not sim.wait_for_jobs(1)[0].partial  # it was on paper, whole


def test_after_job_wait_covers_the_wire_time(rig):
    sim, printer = rig
    assert printer.wire_seconds(2066) == pytest.approx(2066 * 10 / 9600)
