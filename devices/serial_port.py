"""Serial transport facade: open a port by URL, list ports, log traffic in hex.

Every device driver opens its line here. On Linux (and in tests) ports are opened through
pyserial's `serial_for_url`: a device path (`/dev/ttyUSB0`), a pseudo-terminal path,
`socket://host:port` or `loop://`. On Android (detected by the environment python-for-android
sets) a USB device name is opened through usbserial4a, imported lazily so that nothing else
ever imports Android modules; URLs with a scheme still go through pyserial there.

A pty ignores baud rate and modem lines; pyserial already tolerates the failing DTR/RTS
ioctls on open, and this module never sets them itself.

The optional traffic log (`HexLog`) writes hex lines to `logging`, and masks every run of
13 or more decimal digits (packed BCD nibbles, or ASCII digits, which in hex read `3x3x…`),
keeping at most the first 6 and last 4 digits — so it never holds a full PAN.
"""
from __future__ import annotations

import logging
import os
import re
import socket
from dataclasses import dataclass

import serial

__all__ = ["open_port", "list_ports", "on_android", "HexLog", "LoggedPort", "PortInfo",
           "mask_digits_hex"]

_MIN_PAN_DIGITS = 13


def on_android() -> bool:
    """True when running inside an Android app (python-for-android sets these)."""
    return "ANDROID_ARGUMENT" in os.environ or "ANDROID_ROOT" in os.environ


def open_port(url: str, *, baudrate: int, bytesize: int = 8, parity: str = "N",
              stopbits: float = 1, timeout: float | None = 1.0,
              write_timeout: float | None = 5.0, log: "HexLog | None" = None):
    """Open `url` with the given line settings and return a pyserial-compatible port.

    `parity` is "N", "E", "O", "M" or "S"; `stopbits` 1, 1.5 or 2; `timeout` is the read
    timeout in seconds (None = block). With `log`, reads and writes are logged in hex
    (PAN-masked) through a `LoggedPort` wrapper.
    Raises `serial.SerialException` (an OSError) if the port cannot be opened.
    """
    if parity not in ("N", "E", "O", "M", "S"):
        raise ValueError(f"parity must be one of N/E/O/M/S, got {parity!r}")
    if bytesize not in (5, 6, 7, 8):
        raise ValueError(f"bytesize must be 5..8, got {bytesize!r}")
    if stopbits not in (1, 1.5, 2):
        raise ValueError(f"stopbits must be 1, 1.5 or 2, got {stopbits!r}")
    settings = dict(baudrate=baudrate, bytesize=bytesize, parity=parity, stopbits=stopbits,
                    timeout=timeout, write_timeout=write_timeout)
    if on_android() and "://" not in url:
        port = _open_android_usb(url, **settings)
    else:
        port = serial.serial_for_url(url, **settings)
        _no_delay(port)
    return LoggedPort(port, log) if log is not None else port


def _no_delay(port) -> None:
    """A network device (`socket://`) gets each write at once: device messages are small
    and answered one by one, which Nagle's algorithm would hold back for a delayed ACK."""
    sock = getattr(port, "_socket", None)  # pyserial's socket:// handler keeps it there
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _open_android_usb(device_name: str, *, baudrate, bytesize, parity, stopbits, timeout,
                      write_timeout):
    # Imported here only: these modules exist only inside the Android build.
    from usb4a import usb  # type: ignore[import-not-found]
    from usbserial4a import serial4a  # type: ignore[import-not-found]

    device = usb.get_usb_device(device_name)
    if device is None:
        raise serial.SerialException(f"USB serial device not found: {device_name}")
    if not usb.has_usb_permission(device):
        usb.request_usb_permission(device)
        raise serial.SerialException(f"no permission yet for {device_name}; asked the user")
    return serial4a.get_serial_port(device_name, baudrate, bytesize, parity, stopbits,
                                    timeout=timeout, write_timeout=write_timeout)


@dataclass(frozen=True)
class PortInfo:
    """One port for a settings screen: the URL to open and a human description."""
    url: str
    description: str
    hwid: str = ""


def list_ports() -> list[PortInfo]:
    """The serial ports present now (USB devices on Android, pyserial's list elsewhere)."""
    if on_android():
        from usb4a import usb  # type: ignore[import-not-found]
        return [PortInfo(d.getDeviceName(), str(d.getProductName() or d.getDeviceName()),
                         f"USB VID:PID={d.getVendorId():04X}:{d.getProductId():04X}")
                for d in usb.get_usb_device_list()]
    from serial.tools import list_ports as _lp
    return [PortInfo(p.device, p.description or p.device, p.hwid or "")
            for p in sorted(_lp.comports(), key=lambda p: p.device)]


_DIGIT_RUN = re.compile(r"[0-9]{%d,}" % _MIN_PAN_DIGITS)


def mask_digits_hex(data: bytes) -> str:
    """Hex text of `data` ("10 02 06 …") with every run of ≥13 decimal nibbles masked.

    The first 6 and last 4 nibbles of such a run stay visible, the rest become `*`.
    ASCII digits are 0x30..0x39, whose hex is itself all decimal nibbles, so ASCII PANs
    are caught by the same rule.
    """
    text = list(data.hex().upper())
    for m in _DIGIT_RUN.finditer("".join(text)):
        for i in range(m.start() + 6, m.end() - 4):
            text[i] = "*"
    flat = "".join(text)
    return " ".join(flat[i:i + 2] for i in range(0, len(flat), 2))


class HexLog:
    """Hex traffic log, one line per direction burst, PAN-masked.

    Bytes are buffered per direction and written when the direction changes, on
    `flush()`, or when a burst grows past `max_line` bytes. A burst is only cut where no
    digit run spans the cut, so a PAN can never be split across lines to escape masking.
    """

    def __init__(self, logger: logging.Logger | None = None, level: int = logging.DEBUG,
                 max_line: int = 256, hard_limit: int = 4096):
        self.logger = logger or logging.getLogger("chaoshou.serial.traffic")
        self.level = level
        self.max_line = max_line
        self.hard_limit = hard_limit
        self._dir: str | None = None
        self._buf = bytearray()
        self.lines: list[str] = []  # the last lines written, for a diagnostics screen
        self.keep_lines = 200

    def tx(self, data: bytes) -> None:
        self._add("TX", data)

    def rx(self, data: bytes) -> None:
        self._add("RX", data)

    def _add(self, direction: str, data: bytes) -> None:
        if not data:
            return
        if self._dir != direction:
            self.flush()
            self._dir = direction
        self._buf += data
        if len(self._buf) > self.max_line:
            self._flush_safe_prefix()

    def _flush_safe_prefix(self) -> None:
        # Cut after the last byte that holds a non-decimal nibble.
        hexed = self._buf.hex()
        last = max((i for i, c in enumerate(hexed) if c not in "0123456789"), default=-1)
        # A non-decimal low nibble ends its byte's runs; a non-decimal high nibble starts a
        # byte whose low digit may begin a new run, so that byte goes to the next line.
        cut = 0 if last < 0 else (last // 2 + 1 if last % 2 else last // 2)
        if cut == 0 and len(self._buf) < self.hard_limit:
            return
        if cut == 0:  # an absurdly long digit run: mask it all
            self._emit("*" * 2 * len(self._buf), raw=True)
            self._buf.clear()
            return
        chunk, rest = bytes(self._buf[:cut]), bytes(self._buf[cut:])
        self._emit(chunk)
        self._buf = bytearray(rest)

    def flush(self) -> None:
        if self._buf:
            self._emit(bytes(self._buf))
            self._buf.clear()

    def _emit(self, chunk, raw: bool = False) -> None:
        text = chunk if raw else mask_digits_hex(chunk)
        line = f"{self._dir} {text}"
        self.lines.append(line)
        del self.lines[:-self.keep_lines]
        self.logger.log(self.level, "%s", line)


class LoggedPort:
    """A port wrapper that logs what is read and written; everything else is delegated."""

    def __init__(self, port, log: HexLog):
        self._port = port
        self.log = log

    def read(self, size: int = 1) -> bytes:
        data = self._port.read(size)
        self.log.rx(data)
        return data

    def read_until(self, *args, **kwargs) -> bytes:
        data = self._port.read_until(*args, **kwargs)
        self.log.rx(data)
        return data

    def write(self, data) -> int | None:
        self.log.tx(bytes(data))
        return self._port.write(data)

    def close(self) -> None:
        self.log.flush()
        self._port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getattr__(self, name):
        return getattr(self._port, name)

    def __setattr__(self, name, value):
        if name in ("_port", "log"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._port, name, value)
