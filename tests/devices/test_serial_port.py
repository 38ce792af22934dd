"""Serial facade: opening by URL (pty, loop, socket), line settings, PAN-masked hex log."""
import logging
import os
import re
import socket
import threading

import pytest
import serial
from hypothesis import given, strategies as st

from devices import serial_port
from devices.serial_port import HexLog, LoggedPort, list_ports, mask_digits_hex, open_port


def test_pty_round_trip_with_zvt_line_settings():
    master, slave = os.openpty()
    try:
        port = open_port(os.ttyname(slave), baudrate=9600, bytesize=8, parity="N", stopbits=2,
                         timeout=1.0)
        try:
            assert port.baudrate == 9600 and port.stopbits == 2 and port.parity == "N"
            os.write(master, b"\x10\x02\x80\x00\x00\x10\x03\xf5\x1f")
            assert port.read(9) == b"\x10\x02\x80\x00\x00\x10\x03\xf5\x1f"
            port.write(b"\x06")
            assert os.read(master, 10) == b"\x06"
        finally:
            port.close()
    finally:
        os.close(master)
        os.close(slave)


def test_loop_url():
    port = open_port("loop://", baudrate=9600, timeout=0.5)
    port.write(b"\x10\x04\x02")
    assert port.read(3) == b"\x10\x04\x02"
    port.close()


def test_socket_url():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    got = []

    def serve():
        conn, _ = server.accept()
        got.append(conn.recv(10))
        conn.sendall(b"\x06")
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    port = open_port(f"socket://127.0.0.1:{server.getsockname()[1]}", baudrate=9600,
                     timeout=2.0)
    port.write(b"\x15")
    assert port.read(1) == b"\x06"
    port.close()
    t.join(5)
    server.close()
    assert got == [b"\x15"]


def test_bad_settings_and_missing_device_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="parity"):
        open_port("loop://", baudrate=9600, parity="X")
    with pytest.raises(ValueError, match="stopbits"):
        open_port("loop://", baudrate=9600, stopbits=3)
    with pytest.raises(serial.SerialException) as exc:
        open_port(str(tmp_path / "no-such-tty"), baudrate=9600)
    assert isinstance(exc.value, OSError)


def test_android_detection_and_scheme_urls_still_use_pyserial(monkeypatch):
    monkeypatch.delenv("ANDROID_ARGUMENT", raising=False)
    monkeypatch.delenv("ANDROID_ROOT", raising=False)
    assert not serial_port.on_android()
    monkeypatch.setenv("ANDROID_ROOT", "/system")
    assert serial_port.on_android()
    # A URL with a scheme is opened by pyserial even on Android (no Android import needed).
    port = open_port("loop://", baudrate=9600, timeout=0.2)
    port.close()
    # A bare device name would need usbserial4a, which only exists in the Android build.
    with pytest.raises(ImportError):
        open_port("/dev/bus/usb/001/002", baudrate=9600)


def test_list_ports_returns_port_infos():
    ports = list_ports()
    assert all(isinstance(p, serial_port.PortInfo) and p.url for p in ports)


def test_mask_keeps_first6_last4_of_bcd_pan():
    pan_bcd = bytes.fromhex("4111111111111111")
    text = mask_digits_hex(b"\x22\xf8" + pan_bcd + b"\xaa\x10\x03")
    # The LLVAR length nibble 8 is a digit too: the run is 8 + 16 PAN digits.
    assert text == "22 F8 41 11 1* ** ** ** 11 11 AA 10 03"


def test_mask_ascii_pan():
    text = mask_digits_hex(b"PAN=6212345678901234567;")
    digits_visible = re.findall(r"3([0-9])", text.replace(" ", ""))
    assert "6212345678901234567" not in "".join(digits_visible)
    assert "*" in text


def test_short_digit_runs_are_not_masked():
    assert mask_digits_hex(b"\x0a\x00\x00\x00\x00\x12\x34\xaa") == "0A 00 00 00 00 12 34 AA"


def _visible_digit_count(line: str) -> int:
    best = cur = 0
    for c in line.split(" ", 1)[1].replace(" ", ""):
        cur = cur + 1 if c.isdigit() else 0
        best = max(best, cur)
    return best


@given(st.binary(max_size=80), st.integers(1, 19), st.binary(max_size=80),
       st.integers(1, 40))
def test_log_never_shows_13_consecutive_digits_however_chunked(prefix, n, suffix, chunk):
    data = prefix + bytes.fromhex("41" * 10)[:n] + suffix
    log = HexLog(logger=logging.getLogger("test.hexlog"), max_line=16)
    for i in range(0, len(data), chunk):
        log.rx(data[i:i + chunk])
    log.tx(b"\x06")
    log.flush()
    assert all(_visible_digit_count(line) < 13 for line in log.lines)
    # Nothing is lost: every byte appears (masked or not) in the lines.
    rx_nibbles = sum(len(l.split(" ", 1)[1].replace(" ", "")) for l in log.lines
                     if l.startswith("RX"))
    assert rx_nibbles == 2 * len(data)


def test_logged_port_logs_both_directions(caplog):
    master, slave = os.openpty()
    log = HexLog()
    with caplog.at_level(logging.DEBUG, logger="chaoshou.serial.traffic"):
        port = open_port(os.ttyname(slave), baudrate=9600, timeout=1.0, log=log)
        assert isinstance(port, LoggedPort)
        port.write(b"\x10\x02\x05\x01\x03\x12\x34\x56\x10\x03\xe0\x43")
        os.read(master, 64)
        os.write(master, b"\x06")
        assert port.read(1) == b"\x06"
        port.timeout = 0.3  # settings reach the real port
        assert port.timeout == 0.3
        port.close()
    os.close(master)
    os.close(slave)
    # The frame's own bytes form a 19-digit run, so its middle is masked: the log errs
    # on the side of hiding (here the password) rather than risk showing a PAN.
    assert log.lines == ["TX 10 02 05 ** ** ** ** ** 10 03 E0 43", "RX 06"]
    assert "RX 06" in caplog.text
