"""ESC/POS receipt printer driver (the `ReceiptPrinter` of contracts §6) over a serial URL.

`EscPosPrinter(url)` opens the port through `devices.serial_port.open_port` (a device path,
a pty path, `socket://host:port`, …). Status comes from the real-time queries
`DLE EOT 2` (offline cause: bit 2 cover open, bit 5 stopped by paper end) and `DLE EOT 4`
(roll paper sensor: bits 2–3 near end, bits 5–6 paper end). A query left unanswered is
asked again (`STATUS_ATTEMPTS` in all: a byte lost on the line or a busy handheld must not
send the collector to check a printer that is on); no answer to any of them means offline.

`print_document(doc)` renders the whole job first (a bad document raises ValueError and
sends nothing), checks status (not ready → `PrinterNotReady(reason, partial=False)`),
sends, and checks again — waiting for the job's wire time (bytes × 10 / baud) plus a
margin, since the status answer queues behind the job on the line: paper that ran out or a
cover opened during the job raise `PrinterNotReady(reason, partial=True)` — the receipt
must be printed again as a COPY. No answer after the job is `PrinterNotReady("unknown")`:
the job may well be on paper; the collector checks and decides whether to reprint a COPY.
"""
from __future__ import annotations

import time

import serial
from escpos.escpos import Escpos

from devices.printer.escpos_render import render
from devices.serial_port import open_port

__all__ = ["EscPosPrinter", "PrinterNotReady", "parse_status", "DLE_EOT_OFFLINE_CAUSE",
           "DLE_EOT_PAPER"]

DLE_EOT_OFFLINE_CAUSE = b"\x10\x04\x02"
DLE_EOT_PAPER = b"\x10\x04\x04"
STATUS_ATTEMPTS = 3


class PrinterNotReady(OSError):
    """The printer cannot print (or could not finish): `.reason` is `paper_out`,
    `cover_open`, `offline`, or `unknown` (the job went out but the printer did not
    answer after it: check the paper); `.partial` is True when the job was cut short."""

    def __init__(self, reason: str, partial: bool = False, detail: str = ""):
        self.reason = reason
        self.partial = partial
        text = ("printer did not answer after the job: check the paper" if reason == "unknown"
                else f"printer not ready: {reason}" + (" (job cut short)" if partial else ""))
        super().__init__(text + (f"; {detail}" if detail else ""))


def _valid(byte: int) -> bool:
    # Every real-time status byte has bits 1 and 4 set and bits 0 and 7 clear.
    return byte & 0x93 == 0x12


def parse_status(offline_cause: int | None, paper: int | None) -> dict:
    """The contracts §6 status dict from the two status bytes (None = no answer)."""
    if offline_cause is None or paper is None or not (_valid(offline_cause) and _valid(paper)):
        return {"online": False, "paper": "ok", "cover_open": False}
    cover_open = bool(offline_cause & 0x04)
    if paper & 0x60 or offline_cause & 0x20:
        level = "out"
    elif paper & 0x0C:
        level = "near_end"
    else:
        level = "ok"
    return {"online": True, "paper": level, "cover_open": cover_open}


class _PortEscpos(Escpos):
    """python-escpos printer whose commands go to an already open pyserial-like port."""

    def __init__(self, port, **kwargs):
        super().__init__(**kwargs)
        self.port = port

    def _raw(self, msg: bytes) -> None:
        self.port.write(msg)

    def _read(self) -> bytes:
        return self.port.read(1)


class EscPosPrinter:
    """A 58 mm ESC/POS printer on a serial URL (9600 8N1 by default).

    `timeout` bounds each status answer; `settle_s` waits after the last byte before the
    after-job status check (a real printer may still be printing from its buffer);
    `charset` is the printer font's charset (`gbk` or `gb2312`).
    """

    def __init__(self, url: str, baudrate: int = 9600, *, timeout: float = 1.0,
                 settle_s: float = 0.0, charset: str = "gbk", port=None, log=None):
        self.url = url
        self.charset = charset
        self.settle_s = settle_s
        self.timeout = timeout
        self.port = port if port is not None else open_port(
            url, baudrate=baudrate, timeout=timeout, write_timeout=None, log=log)
        self.baudrate = baudrate
        self._esc = _PortEscpos(self.port)

    # -- status ---------------------------------------------------------------------------
    def _query(self, command: bytes) -> int | None:
        try:
            self.port.reset_input_buffer()  # drop stray bytes (e.g. an earlier late answer)
            answer = self._esc.query_status(command)
        except (OSError, serial.SerialException):
            return None
        return answer[0] if answer else None

    def status(self, wait: float | None = None) -> dict:
        """`{"online", "paper": "ok"|"near_end"|"out", "cover_open"}`; `wait` bounds the
        first answer of each attempt (default: the port's timeout); offline only when
        `STATUS_ATTEMPTS` queries in a row went unanswered."""
        for attempt in range(STATUS_ATTEMPTS):  # the first waits longest (behind a job)
            st = self._status_once(wait if attempt == 0 else None)
            if st["online"]:
                break
        return st

    def _status_once(self, wait: float | None) -> dict:
        if wait is None:
            cause = self._query(DLE_EOT_OFFLINE_CAUSE)
        else:
            old, self.port.timeout = self.port.timeout, wait
            try:
                cause = self._query(DLE_EOT_OFFLINE_CAUSE)
            finally:
                self.port.timeout = old
        paper = self._query(DLE_EOT_PAPER) if cause is not None else None
        return parse_status(cause, paper)

    @staticmethod
    def _not_ready(st: dict) -> str | None:
        if not st["online"]:
            return "offline"
        if st["cover_open"]:
            return "cover_open"
        if st["paper"] == "out":
            return "paper_out"
        return None

    # -- printing -------------------------------------------------------------------------
    def print_document(self, doc: dict) -> int:
        """Print `doc`; returns the number of bytes sent. Raises PrinterNotReady."""
        data = render(doc, charset=self.charset)
        reason = self._not_ready(self.status())
        if reason:
            raise PrinterNotReady(reason, partial=False)
        # the wire takes bytes × 10 / baud seconds (8N1); allow twice that plus slack
        self.port.write_timeout = 2.0 + 2 * len(data) * 10 / self.baudrate
        try:
            self._esc._raw(data)
            self.port.flush()
        except (OSError, serial.SerialException) as exc:
            raise PrinterNotReady("offline", partial=True, detail=str(exc)) from exc
        if self.settle_s:
            time.sleep(self.settle_s)
        # The status query travels behind the job: allow its wire time plus the margin.
        after = self.status(wait=self.wire_seconds(len(data)) + self.timeout)
        if not after["online"]:
            raise PrinterNotReady("unknown", partial=False)
        reason = self._not_ready(after)
        if reason:
            raise PrinterNotReady(reason, partial=True)
        return len(data)

    def wire_seconds(self, nbytes: int) -> float:
        """Time `nbytes` take on the line: 10 bits a byte (8N1) at the port's baud rate."""
        return nbytes * 10 / self.baudrate

    def close(self) -> None:
        self.port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
