"""ZVT card payment terminal driver (ECR side), implementing PaymentTerminal (contracts §6).

Flow of a transaction: the ECR sends the command (`06 01` …) and waits for the link ACK;
the PT answers `80 00 00` and from then on is master: intermediate status `04 FF`, print
lines `06 D1`/`06 D3`, status information `04 0F`, and finally completion `06 0F` or abort
`06 1E`. The ECR answers each with ACK + `80 00 00`.

Crash rule: when the result arrives (`04 0F`, or `06 1E`/`84 xx` without one) it is handed
to `on_result` *before* the driver sends the link ACK for it; if `on_result` raises, nothing
is acknowledged and the exception propagates. Recovery of an interrupted transaction:
`last_result()` sends Repeat Receipt (`06 20`), to which the PT answers with the status
information of its last transaction (or `84 xx` / `06 1E` when it has none).

Busy terminal: after a crash the PT may still be finishing the interrupted transaction when
the next command goes out. Its messages are acknowledged until it ends; then repeat receipt
and the other commands that charge nothing are sent again, while a payment fails as a link
error (outcome unknown) rather than risk a second charge (see `_command`).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

from devices.serial_port import open_port

from .apdu import Apdu, decode_totals, encode_bmps
from .bcd import encode_bcd
from .errors import TerminalLinkError, TerminalTimeout, ZvtProtocolError
from .framing import Link, SerialChannel
from .results import (CardResult, DayTotals, Tx, card_result, content, intermediate,
                      print_line, status_reply, text_block_lines)
from .tcp import BareLink, transport_for
from .messages import result_text, status_text

__all__ = ["ZvtTerminal", "CardResult", "DayTotals", "CURRENCY_CNY", "MAX_AMOUNT_FEN"]

log = logging.getLogger("chaoshou.zvt")

CURRENCY_CNY = 156
MAX_AMOUNT_FEN = 10 ** 12 - 1  # 6 BCD bytes
ACK_APDU = Apdu(0x80, 0x00).encode()
ABORT_APDU = Apdu(0x06, 0xB0).encode()
# What the terminal sends while it is master (during a transaction), and how one ends.
_PT_MESSAGES = frozenset({(0x04, 0xFF), (0x06, 0xD1), (0x06, 0xD3), (0x04, 0x0F),
                          (0x06, 0x0F), (0x06, 0x1E)})
_PT_ENDS = frozenset({(0x06, 0x0F), (0x06, 0x1E)})
# Commands that charge nothing and close nothing: safe to send again after silence.
_IDEMPOTENT = frozenset({(0x06, 0x20), (0x05, 0x01), (0x06, 0x00), (0x06, 0x02),
                         (0x06, 0xB0)})


class ZvtTerminal:
    """A ZVT payment terminal on a serial line (9600 8N2) or on the network.

    `port` is a URL for `devices.serial_port.open_port` or an already open
    pyserial-compatible port. `transport` is "serial" (DLE framing, CRC, ACK/NAK) or
    "tcp" (bare APDUs, the ZVT TCP/IP transport); by default `socket://host:port` means
    "tcp" and anything else "serial" (see `devices.zvt.tcp.transport_for`). Timeouts are
    in seconds. `poll_interval` switches reading to naive sleep-and-poll (kept for the
    benchmark's baseline).
    """

    def __init__(self, port, *, password: int = 0, currency: int | None = CURRENCY_CNY,
                 config_byte: int = 0xBA, ack_timeout: float = 5.0,
                 reply_timeout: float = 15.0, overall_timeout: float = 180.0,
                 inter_byte_timeout: float = 0.2, max_tries: int = 3,
                 poll_interval: float | None = None, log_traffic=None,
                 text_encoding: str = "cp437", transport: str | None = None):
        self._url = port if isinstance(port, str) else None
        self.transport = transport_for(self._url, transport)
        self._open_options = dict(write_timeout=ack_timeout, log=log_traffic)
        self._poll_interval = poll_interval
        self._stale = False  # reopen the port before the next command (after a link error)
        self.port = self._open() if self._url else port
        self.password = password
        self.currency = currency
        self.config_byte = config_byte
        self.reply_timeout = reply_timeout
        self.overall_timeout = overall_timeout
        self.text_encoding = text_encoding
        link_cls = BareLink if self.transport == "tcp" else Link
        self.link = link_cls(SerialChannel(self.port, poll_interval=poll_interval),
                             ack_timeout=ack_timeout, inter_byte_timeout=inter_byte_timeout,
                             max_tries=max_tries)
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self._busy = False
        self.terminal_id: str | None = None  # as the terminal last reported it

    # -- PaymentTerminal -------------------------------------------------------------------
    def authorize(self, amount_fen: int, on_status=None, on_result=None) -> CardResult:
        """Take a card payment of `amount_fen`. Returns the result (also given to on_result)."""
        _check_amount(amount_fen)
        apdu = Apdu(0x06, 0x01, encode_bmps(self._amount_fields(amount_fen)))
        return self._card_transaction(apdu, amount_fen, on_status, on_result)

    def refund(self, amount_fen: int, on_status=None, on_result=None) -> CardResult:
        """Refund `amount_fen` to a card (`06 31`)."""
        _check_amount(amount_fen)
        apdu = Apdu(0x06, 0x31, self._pw() + encode_bmps(self._amount_fields(amount_fen)))
        return self._card_transaction(apdu, amount_fen, on_status, on_result)

    def reverse(self, receipt_no: int, on_status=None, on_result=None) -> CardResult:
        """Reverse (void) the payment with terminal receipt number `receipt_no` (`06 30`)."""
        apdu = Apdu(0x06, 0x30, self._pw() + encode_bmps([(0x87, receipt_no)]))
        return self._card_transaction(apdu, 0, on_status, on_result)

    def last_result(self) -> CardResult | None:
        """The terminal's last transaction result via Repeat Receipt (`06 20`); None if the
        terminal has none. Used to resolve a payment left `unknown` by a link failure."""
        tx = self._run(Apdu(0x06, 0x20, self._pw()))
        if tx.status_info is None:
            return None
        return content(card_result, tx.status_info, 0, tx.lines)

    def end_of_day(self) -> DayTotals:
        """Close the terminal's batch (`06 50`) and return its totals."""
        tx = self._run(Apdu(0x06, 0x50, self._pw()))
        if tx.status_info is None:
            code = tx.refused if tx.refused is not None else 0xFF
            return DayTotals(False, code, 0, 0, text=result_text(code),
                             receipt_lines=tuple(tx.lines))
        f = tx.status_info.fields()
        code = f.get(0x27, 0xFF)
        first = last = None
        by_card = {}
        if 0x60 in f:
            try:
                first, last, by_card = decode_totals(f[0x60])
            except ValueError as exc:  # totals the terminal printed anyway; keep the sum
                log.warning("end-of-day totals (BMP 60) not readable: %s", exc)
        return DayTotals(ok=code == 0, result_code=code, total_fen=f.get(0x04, 0),
                         count=sum(c for c, _ in by_card.values()), trace=f.get(0x0B),
                         first_receipt=first, last_receipt=last, by_card=by_card,
                         text=f.get(0x3C) or result_text(code), receipt_lines=tuple(tx.lines))

    def status(self) -> dict:
        """Status enquiry (`05 01`): {"ready", "result_code", "text", "terminal_id",
        "software_version"}. The terminal answers `80 00 00` and then, as the spec allows,
        either a completion `06 0F` carrying its software version (LLLVAR) and terminal
        status byte (00 = ready), or a status information `04 0F` (result code 27,
        terminal id 29) followed by an empty `06 0F`; or it refuses with `84 xx`."""
        tx = self._run(Apdu(0x05, 0x01, self._pw()))
        out = content(status_reply, tx)
        # The completion variant names no terminal id: the one the terminal gave last.
        out["terminal_id"] = out["terminal_id"] or self.terminal_id
        self.terminal_id = out["terminal_id"]
        return out

    def register(self, password: int | None = None, config_byte: int | None = None,
                 currency: int | None = None) -> dict:
        """Registration (`06 00`): password, config byte, currency. Returns
        {"ok", "result_code", "terminal_id"} from the terminal's completion."""
        if password is not None:
            self.password = password
        if config_byte is not None:
            self.config_byte = config_byte
        if currency is not None:
            self.currency = currency
        data = self._pw() + bytes([self.config_byte])
        if self.currency is not None:
            data += encode_bcd(self.currency, 2)
        tx = self._run(Apdu(0x06, 0x00, data))
        if tx.refused is not None:
            return {"ok": False, "result_code": tx.refused, "terminal_id": None}
        f = tx.completion.fields() if tx.completion and tx.completion.data else {}
        self.terminal_id = f.get(0x29, self.terminal_id)
        return {"ok": True, "result_code": 0, "terminal_id": f.get(0x29),
                "currency": f.get(0x49, self.currency)}

    def abort(self) -> None:
        """Abort the running transaction (answered to the next `04 FF` with `06 B0`), or,
        when idle, send `06 B0` on its own."""
        if self._busy:
            self._abort.set()
            return
        self._run(Apdu(0x06, 0xB0), simple=True)

    def log_off(self) -> None:
        """Log off (`06 02`)."""
        self._run(Apdu(0x06, 0x02), simple=True)

    def close(self) -> None:
        if self._url:
            try:
                self.port.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def stats(self) -> dict:
        """Frames and bytes exchanged so far, both directions."""
        l = self.link
        return {"frames_out": l.frames_out, "frames_in": l.frames_in,
                "bytes_out": l.bytes_out, "bytes_in": l.bytes_in}

    # -- internals -------------------------------------------------------------------------
    def _open(self):
        """Open the port by URL with the ZVT line settings (9600 8N2)."""
        try:
            return open_port(self._url, baudrate=9600, bytesize=8, parity="N", stopbits=2,
                             timeout=0.05, **self._open_options)
        except OSError as exc:
            raise TerminalLinkError(f"cannot open payment terminal port: {exc}") from exc

    def _reopen(self) -> None:
        """A USB adapter unplugged and replugged, or a socket dropped: start afresh."""
        try:
            self.port.close()
        except OSError:
            pass
        self.port = self._open()
        self.link.channel = SerialChannel(self.port, poll_interval=self._poll_interval)
        self.link.discard_input()
        self._stale = False

    def _amount_fields(self, amount_fen: int) -> list:
        fields = [(0x04, amount_fen)]
        if self.currency is not None:  # None: leave the currency to the terminal's setting
            fields.append((0x49, self.currency))
        return fields

    def _pw(self) -> bytes:
        return encode_bcd(self.password, 3)

    def _card_transaction(self, apdu, amount_fen, on_status, on_result) -> CardResult:
        tx = self._run(apdu, on_status=on_status, on_result=on_result, amount_fen=amount_fen,
                       card=True)
        return replace(tx.result, receipt_lines=tuple(tx.lines))

    def _run(self, apdu: Apdu, *, on_status=None, on_result=None, amount_fen: int = 0,
             simple: bool = False, card: bool = False) -> Tx:
        with self._lock:
            if self._stale:
                self._reopen()
            self._busy = True
            self._abort.clear()
            tx = Tx()
            try:
                self._exchange(apdu, tx, on_status, on_result, amount_fen, simple, card)
            except TerminalLinkError as exc:
                if exc.result is None and tx.result is not None:
                    exc.result = tx.result
                self._stale = self._url is not None
                raise
            finally:
                self._busy = False
            return tx

    def _exchange(self, apdu, tx: Tx, on_status, on_result, amount_fen, simple,
                  card) -> None:
        deliver = on_result or (lambda result: None)
        link = self.link
        deadline = time.monotonic() + self.overall_timeout
        first = self._command(apdu, deadline)
        if first.cls == 0x84:
            tx.refused = first.instr
            if card:
                # The terminal refused the command: definitely no payment.
                tx.result = CardResult(False, first.instr, amount_fen,
                                       text=result_text(first.instr))
                deliver(tx.result)
            return
        if first.command != (0x80, 0x00):
            raise ZvtProtocolError(f"expected 80 00 or 84 xx, got {first.cls:02X} "
                                   f"{first.instr:02X}")
        if simple:
            return
        abort_sent = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TerminalTimeout(f"transaction not finished in {self.overall_timeout:g} s")
            msg = link.receive(remaining, ack=False)
            cmd = msg.command
            if cmd == (0x04, 0xFF):  # status byte [timeout byte [06 TLV]]
                link.ack()
                code = msg.data[0] if msg.data else 0
                self._report_status(on_status, code, content(intermediate, msg)[2])
                if self._abort.is_set() and not abort_sent:
                    abort_sent = True
                    link.send(ABORT_APDU)
                else:
                    link.send(ACK_APDU)
            elif cmd == (0x06, 0xD1):
                link.ack()
                tx.lines.append(content(print_line, msg, self.text_encoding))
                link.send(ACK_APDU)
            elif cmd == (0x06, 0xD3):
                link.ack()
                tx.lines.extend(content(text_block_lines, msg, self.text_encoding))
                link.send(ACK_APDU)
            elif cmd == (0x04, 0x0F):
                if tx.status_info is None:
                    tx.status_info = msg
                    if card:
                        tx.result = content(card_result, msg, amount_fen, tx.lines)
                        deliver(tx.result)  # raises -> no ACK, the caller sees it
                link.ack()
                link.send(ACK_APDU)
            elif cmd == (0x06, 0x0F):
                if card and tx.result is None:
                    # No status information before it: the completion's own result code
                    # (27) is the result; without one the outcome cannot be known here.
                    tx.result = content(card_result, msg, amount_fen, tx.lines)
                    deliver(tx.result)
                link.ack()
                tx.completion = msg
                link.send(ACK_APDU)
                return
            elif cmd == (0x06, 0x1E):
                code = msg.data[0] if msg.data else 0xFF
                tx.refused = code
                if card and tx.result is None:
                    tx.result = CardResult(False, code, amount_fen, text=result_text(code),
                                           receipt_lines=tuple(tx.lines))
                    deliver(tx.result)
                elif tx.result is not None and tx.result.approved:
                    log.warning("terminal aborted (%02X) after an approved status", code)
                link.ack()
                link.send(ACK_APDU)
                return
            else:
                log.info("ignoring terminal message %02X %02X (%d bytes)", msg.cls, msg.instr,
                         len(msg.data))
                link.ack()
                link.send(ACK_APDU)

    def _command(self, apdu: Apdu, deadline: float) -> Apdu:
        """Send a command; return the terminal's first answer to it (`80 00` or `84 xx`).

        A terminal still finishing an earlier transaction (an ECR that crashed or lost the
        line left it unacknowledged) keeps sending that transaction's messages instead of
        answering. They are acknowledged as usual until it ends or goes quiet. Commands
        that charge and close nothing (repeat receipt, status, registration, log off,
        abort) are then sent again, `max_tries` sends in all, and also when no answer comes
        at all. A payment, refund, reversal or end of day is not: it fails as a link error
        (outcome unknown, to be resolved with `last_result()`), so that no charge can ever
        be sent twice."""
        link = self.link
        tries = link.max_tries
        for attempt in range(1, tries + 1):
            link.discard_input()
            link.send(apdu.encode())
            try:
                first = link.receive(self._left(deadline, self.reply_timeout))
            except TerminalTimeout:
                if apdu.command in _IDEMPOTENT and attempt < tries:
                    log.warning("no answer to %02X %02X; sending it again", *apdu.command)
                    continue
                raise
            if first.command not in _PT_MESSAGES:
                return first
            answer = self._finish_earlier(first, deadline)
            if answer is not None:
                return answer
            if apdu.command not in _IDEMPOTENT:
                raise ZvtProtocolError("terminal was finishing an earlier transaction and "
                                       "did not take the command")
        raise ZvtProtocolError(f"terminal still busy with an earlier transaction after "
                               f"{tries} tries of {apdu.cls:02X} {apdu.instr:02X}")

    def _finish_earlier(self, msg: Apdu, deadline: float) -> Apdu | None:
        """Acknowledge an earlier transaction's messages (already ACKed on the link) until
        it ends. Returns the answer to our command if the terminal had kept the command
        and answers it now, else None (the command must be sent again)."""
        link = self.link
        while True:
            log.warning("terminal still finishing an earlier transaction: %02X %02X",
                        msg.cls, msg.instr)
            link.send(ACK_APDU)
            wait = self.reply_timeout
            if msg.command in _PT_ENDS:
                wait = link.ack_timeout  # it is idle now, or answers a kept command
            try:
                msg = link.receive(self._left(deadline, wait))
            except TerminalTimeout:
                return None
            if msg.command not in _PT_MESSAGES:
                return msg

    @staticmethod
    def _left(deadline: float, limit: float) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TerminalTimeout("transaction not finished in time")
        return min(limit, remaining)

    @staticmethod
    def _report_status(on_status, code: int, display: str | None = None) -> None:
        if on_status is None:
            return
        try:
            on_status(code, display if code == 0xFF and display else status_text(code))
        except Exception:  # a display problem must not break a payment in flight
            log.exception("on_status callback failed")


def _check_amount(amount_fen) -> None:
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise TypeError("amount_fen must be an int (fen)")
    if not 0 < amount_fen <= MAX_AMOUNT_FEN:
        raise ValueError(f"amount_fen must be 1..{MAX_AMOUNT_FEN}, got {amount_fen}")
