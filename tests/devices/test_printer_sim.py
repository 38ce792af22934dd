"""Printer simulator: what it puts on paper (PNG decoded by a real QR reader), its status
answers, job boundaries, TCP and command-line use."""
import json
import os
import select
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import serial
import zxingcpp
from PIL import Image

from devices.printer import EscPosPrinter
from devices.printer.escpos_render import render
from devices.sim.printer import PrinterSim

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]
PAY_URL = "https://pay.example.cn/e/3100000001"
VERIFY_URL = "https://verify.example.cn/r?d=T0001&n=100023&a=15000&c=3f9a0c1b2d4e5f60"


@pytest.fixture
def reference():
    return json.loads((FIXTURES / "receipt_collection.json").read_text("utf-8"))


def test_reference_receipt_png_decodes_to_both_payloads(tmp_path, reference):
    with PrinterSim(tmp_path) as sim:
        printer = EscPosPrinter(sim.serve_pty())
        printer.print_document(reference)
        job = sim.wait_for_jobs(1)[0]
        printer.close()
    img = Image.open(job.path)
    assert img.width == 384
    decoded = [r.text for r in zxingcpp.read_barcodes(img)]
    assert sorted(decoded) == sorted([PAY_URL, VERIFY_URL])
    assert job.qr == [PAY_URL, VERIFY_URL]
    assert job.lines[0] == "示范供电公司" and "  杭州市西湖区幸福路12号3单元201" in job.lines


def dark_pixels(img, box):
    return sum(1 for v in img.crop(box).getdata() if v < 128)


def test_rare_character_line_reaches_paper_as_an_image(tmp_path, reference):
    reference["blocks"][6]["v"] = "王𠮷"
    with PrinterSim(tmp_path) as sim:
        printer = EscPosPrinter(sim.serve_pty())
        printer.print_document(reference)
        job = sim.wait_for_jobs(1)[0]
        printer.close()
    assert job.rasters == 1 and not any("王" in line for line in job.lines)
    assert not any("?" in line for line in job.lines)
    img = Image.open(job.path).convert("L")
    assert len([r.text for r in zxingcpp.read_barcodes(img)]) == 2
    # find the image strip: between the account line and the address line, the right
    # edge holds two dark 24-dot cells (王 and 𠮷)
    rows = [y for y in range(img.height) if dark_pixels(img, (336, y, 384, y + 1)) > 0]
    assert rows, "no ink at the right edge"
    assert any(dark_pixels(img, (360, y, 384, y + 24)) > 30 for y in rows)


def test_style_commands_and_job_end_on_idle_gap(tmp_path):
    sim = PrinterSim(tmp_path, idle_gap=0.1)
    data = (b"\x1b@\x1b!\x38WIDE\n\x1b!\x00\x1c&" + "中文".encode("gbk") + b"\n\x1c."
            + b"\x1ba\x02right\n\x1bd\x01")
    assert sim.feed(data) == b""
    jobs = sim.wait_for_jobs(1, timeout=5)  # no cut: the idle gap ends the job
    assert jobs[0].lines == ["WIDE", "中文", "right"]
    assert sim.feed(b"\x10\x04\x01\x10\x04\x03\x1dr\x01") == b"\x12\x12\x00"
    sim.close()


def test_answers_status_while_out_of_paper_and_prints_after_refill(tmp_path):
    sim = PrinterSim(tmp_path)
    sim.run_out_of_paper()
    assert sim.feed(b"\x10\x04\x02\x10\x04\x04\x10\x04\x01") == b"\x32\x7e\x1a"
    sim.feed(b"lost line\n\x1dVB\x00")
    assert sim.jobs == []  # nothing reached paper: no PNG
    sim.refill()
    sim.feed(b"kept line\n\x1dVB\x00")
    assert [j.lines for j in sim.jobs] == [["kept line"]]
    sim.close()


def test_tcp_transport_and_control_port(tmp_path, reference):
    with PrinterSim(tmp_path) as sim:
        host, port = sim.serve_tcp(0)
        chost, cport = sim.serve_control(0)
        with socket.create_connection((chost, cport), timeout=5) as ctl:
            f = ctl.makefile("rw")
            f.write("paper near\n")
            f.flush()
            assert f.readline().startswith("ok paper=near_end")
            f.write("frobnicate\n")
            f.flush()
            assert f.readline().startswith("error:")
        printer = EscPosPrinter(f"socket://{host}:{port}")
        assert printer.status()["paper"] == "near_end"
        printer.print_document(reference)
        assert sim.wait_for_jobs(1)[0].qr == [PAY_URL, VERIFY_URL]
        printer.close()


def test_command_line_serves_a_pty_and_writes_pngs(tmp_path, reference):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "devices.sim.printer", "--pty",
                             "--out", str(tmp_path), "--idle-gap", "0.2"], cwd=REPO, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "simulator printed no pty path"
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/")
        port = serial.Serial(path, 9600, timeout=2)
        port.write(render(reference))
        port.write(b"\x10\x04\x04")
        assert port.read(1) == b"\x12"
        port.close()
        proc.stdin.write("paper out\nstatus\nquit\n")
        proc.stdin.flush()
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "ok paper=out" in out and "job-0001.png" in out
    assert (tmp_path / "job-0001.png").is_file()


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from devices.printer.layout import Line, layout, text_width, wrap  # noqa: E402

TEXT = st.text(st.one_of(st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                         st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)),
               max_size=80)


@given(TEXT)
def test_wrap_never_overflows_and_keeps_every_visible_character(text):
    lines = wrap(text, 32)
    assert all(text_width(line) <= 32 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(TEXT, TEXT, st.sampled_from(["normal", "double", "tall", "wide"]))
def test_what_is_rendered_is_what_the_simulator_prints(tmp_path, key, text, size):
    doc = {"kind": "test", "blocks": [{"t": "text", "text": text, "size": size},
                                      {"t": "kv", "k": key, "v": text}, {"t": "cut"}]}
    expected = [item.text for item in layout(doc) if isinstance(item, Line)]
    sim = PrinterSim(tmp_path / "hyp")
    sim.feed(render(doc))
    assert sim.jobs[-1].lines == expected


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_simulator_survives_arbitrary_bytes(tmp_path, data):
    sim = PrinterSim(tmp_path / "fuzz")
    reply = sim.feed(data)  # garbage never crashes the parser …
    sim.close()  # … nor drawing what it printed
    # … and every answer is a well-formed status byte (DLE EOT) or a GS r paper status
    assert all(b & 0x93 == 0x12 or b in (0x00, 0x03, 0x0F) for b in reply)
