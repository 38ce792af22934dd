"""ZVT payment terminal simulator (the PT side) on a pseudo-terminal or a TCP port.

Usable in-process (`ZvtSimulator().serve_pty()` runs a thread and returns the slave path
for `devices.serial_port.open_port`) and as a module:

    python -m devices.sim.zvt --pty                # prints the slave pty path
    python -m devices.sim.zvt --tcp 20007          # ECR connects to socket://127.0.0.1:20007
    python -m devices.sim.zvt --pty --default slow:2 --script decline:51 --script abort

On a pty it speaks the serial transport (DLE framing, CRC, ACK/NAK). On TCP it speaks
the ZVT TCP/IP transport (bare APDUs, `devices.zvt.tcp`) by default; `--framing serial`
serves serial framing over TCP (a serial-to-network adapter), `--framing auto` tells the
two apart by each connection's first byte (DLE or not).

It talks as real terminals do: intermediate status `04 FF <status> <timeout> [06 TLV]`,
status information `04 0F` with the transaction's fields, an empty completion `06 0F`
after a payment, a status enquiry answered by `80 00 00` and a completion carrying the
software version and terminal status, amounts in the currency registered (`06 00`) or
sent with the command, and end-of-day totals in BMP 60's layout.

Every card transaction (`06 01` payment, `06 31` refund, `06 30` reversal) takes the next
queued `Script` (or the default one): approve, decline with a result code, customer abort,
unreadable card, a slow customer, silence, NAKing the first N frames, a corrupted CRC, a
garbled or truncated frame, and dropping the line before or after the status information.
The simulator keeps a journal (trace and receipt numbers increase; PANs are only ever held
masked, first 6 / last 4) from which it answers Repeat Receipt (`06 20`, used for
recovery), reversals and end of day (`06 50`) totals.
"""
from __future__ import annotations

import copy
import datetime as dt
import logging
import socket
import sys
import threading
from collections import deque

from devices.zvt.apdu import Apdu, ApduError, Tlv, encode_bmps, encode_totals
from devices.zvt.bcd import encode_var_len
from devices.zvt.errors import FrameError, TerminalTimeout
from devices.zvt.framing import ACK, DLE, Link, encode_frame
from devices.zvt.tcp import BareLink

from .zvt_script import CARDS, JournalEntry, Script, day_report_lines, receipt_lines, status_words
from .zvt_wire import Closed, EcrGone, FdChannel, SimServer, is_reply, now

__all__ = ["ZvtSimulator", "Script", "JournalEntry", "CARDS", "SOFTWARE_VERSION"]

log = logging.getLogger("chaoshou.sim.zvt")

ACK_APDU = Apdu(0x80, 0x00).encode()
SOFTWARE_VERSION = "SIM 2.1"  # reported in the status enquiry's completion
STATUS_TIMEOUT = 0x05         # 04 FF timeout byte: seconds the ECR shows the status

class ZvtSimulator(SimServer):
    """The PT side. Times are seconds; `quiet` is how long the line must stay silent before
    a muted (silent / dropped) simulator listens again."""

    def __init__(self, *, terminal_id: str = "52000001", ack_timeout: float = 5.0,
                 reply_timeout: float = 15.0, inter_byte_timeout: float = 0.2,
                 max_tries: int = 3, quiet: float = 0.5, first_trace: int = 1,
                 first_receipt: int = 1, default: Script | None = None,
                 print_block: bool = False, status_variant: str = "completion"):
        self.terminal_id = terminal_id
        self.ack_timeout = ack_timeout
        self.reply_timeout = reply_timeout
        self.inter_byte_timeout = inter_byte_timeout
        self.max_tries = max_tries
        self.quiet = quiet
        self.default = default or Script()
        self.print_block = print_block  # receipts as one 06 D3 text block, not 06 D1 lines
        # status enquiry answer: "completion" (06 0F with version and status, as real
        # terminals send) or "status_info" (04 0F with 27/29, then an empty 06 0F)
        if status_variant not in ("completion", "status_info"):
            raise ValueError(f"status_variant must be completion or status_info, "
                             f"got {status_variant!r}")
        self.status_variant = status_variant
        self.terminal_status = 0x00     # what the status enquiry reports (00 = ready)
        self.framing = "serial"         # of the connection being served
        self.scripts: deque[Script] = deque()
        self.journal: list[JournalEntry] = []
        self.batch: list[JournalEntry] = []
        self.received: list[tuple[int, int]] = []   # commands accepted from the ECR
        self.acked: list[tuple[int, int]] = []      # PT messages the ECR acknowledged
        self.statuses_sent = 0
        self.currency = 156
        self.registered_config: int | None = None
        self._trace = first_trace - 1
        self._receipt = first_receipt - 1
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread: threading.Thread | None = None
        self._fds: list[int] = []
        self._server: socket.socket | None = None
        self._tcp_framing = "tcp"
        self._conn: socket.socket | None = None
        self._current: Script | None = None
        self._idle_default: Script | None = None  # copy of the default while idle
        self._frame_idx = 0
        self._lock = threading.Lock()
        self.link: Link | None = None
        self.path: str | None = None
        self.address: tuple[str, int] | None = None

    # -- scripting -------------------------------------------------------------------------
    def queue(self, *scripts: Script) -> "ZvtSimulator":
        """Scripts for the next card transactions, in order."""
        with self._lock:
            self.scripts.extend(scripts)
        return self

    def clear_scripts(self) -> None:
        with self._lock:
            self.scripts.clear()

    def approved_sales(self) -> list[JournalEntry]:
        return [e for e in self.journal if e.kind == "sale" and e.approved and not e.reversed]

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until the simulator waits for a new command (True) or timeout (False)."""
        return self._idle.wait(timeout)

    def _serve_fd(self, fd: int, framing: str = "serial") -> None:
        self.framing = framing
        link_cls = BareLink if framing == "tcp" else Link
        self.link = link_cls(FdChannel(fd, self._stop), ack_timeout=self.ack_timeout,
                             inter_byte_timeout=self.inter_byte_timeout,
                             max_tries=self.max_tries)
        try:
            while not self._stop.is_set():
                self._idle.set()
                try:
                    apdu = self._recv(0.2)
                except TerminalTimeout:
                    continue
                self._idle.clear()
                try:
                    self._handle(apdu)
                except EcrGone as exc:
                    log.info("ECR stopped answering: %s", exc)
                finally:
                    self._current = None
        except Closed:
            pass
        except Exception:
            log.exception("ZVT simulator crashed")
        finally:
            self._idle.set()

    # -- link helpers ----------------------------------------------------------------------
    def _script_for_naks(self) -> Script:
        if self._current is not None:
            return self._current
        with self._lock:
            if self.scripts:
                return self.scripts[0]
        if self._idle_default is None:
            self._idle_default = copy.deepcopy(self.default)
        return self._idle_default

    def _recv(self, timeout: float) -> Apdu:
        """The next good frame from the ECR, ACKed (NAKs the damaged and the scripted)."""
        link = self.link
        end = now() + timeout
        while True:
            try:
                raw = link.read_frame(max(0.0, end - now()))
                apdu = Apdu.decode(raw)
            except (FrameError, ApduError) as exc:
                if self.framing == "tcp":  # a byte stream cannot be resynchronised
                    raise Closed(f"broken APDU: {exc}") from exc
                link.drain()
                link.nak()
                continue
            script = self._script_for_naks()
            if script.nak_first > 0 and self.framing != "tcp":
                script.nak_first -= 1
                link.nak()
                continue
            return apdu

    def _mute(self) -> None:
        """Play dead: discard everything until the line has been quiet for `quiet` s."""
        self.link.drain(self.quiet)

    def _send(self, apdu: bytes) -> None:
        """Send one PT frame (with the script's damage on its first try) until ACKed."""
        link = self.link
        idx, self._frame_idx = self._frame_idx, self._frame_idx + 1
        s = self._current or Script()
        if self.framing == "tcp":
            if s.truncate == idx:  # half an APDU, then nothing: the ECR's link error
                link.write(apdu[:max(3, len(apdu) // 2)])
                self._mute()
                raise EcrGone("APDU cut short on purpose")
            link.send(apdu)
            self.acked.append(tuple(apdu[:2]))
            return
        for attempt in range(self.max_tries):
            frame = encode_frame(apdu)
            if attempt == 0 and s.corrupt_crc == idx:
                frame = frame[:-2] + bytes([frame[-2] ^ 0x5A, frame[-1]])
            elif attempt == 0 and s.garble == idx:
                cut = max(3, len(frame) // 2)
                frame = frame[:cut] + bytes([DLE, 0x41]) + frame[cut:]
            elif attempt == 0 and s.truncate == idx:
                frame = frame[:max(3, len(frame) // 2)]
            link.frames_out += 1
            link.write(frame)
            if link.wait_ack(self.ack_timeout, is_reply) == ACK:
                self.acked.append(tuple(apdu[:2]))
                return
        raise EcrGone(f"no ACK for {apdu[:2].hex().upper()}")

    def _reply(self) -> Apdu:
        """The ECR's answer to a PT message (80 00 00, or 06 B0 to abort), ACKed."""
        try:
            apdu = self._recv(self.reply_timeout)
        except TerminalTimeout as exc:
            raise EcrGone("no answer from the ECR") from exc
        self.link.ack()
        self.received.append(apdu.command)
        return apdu

    def _exchange(self, apdu: Apdu) -> Apdu:
        self._send(apdu.encode())
        return self._reply()

    # -- commands --------------------------------------------------------------------------
    def _handle(self, apdu: Apdu) -> None:
        cmd = apdu.command
        self._frame_idx = 0
        if cmd in ((0x06, 0x01), (0x06, 0x31), (0x06, 0x30)):
            with self._lock:
                self._current = self.scripts.popleft() if self.scripts else None
            if self._current is None:
                self._current = self._idle_default or copy.deepcopy(self.default)
            self._idle_default = None
            if self._current.silent:
                self._mute()
                return
            self.link.ack()
            self.received.append(cmd)
            kind = {0x01: "sale", 0x31: "refund", 0x30: "reversal"}[apdu.instr]
            self._card_transaction(apdu, kind)
            return
        self._idle_default = None
        self.link.ack()
        self.received.append(cmd)
        if cmd == (0x05, 0x01):
            self._send(ACK_APDU)
            if self.status_variant == "status_info":
                self._exchange(Apdu(0x04, 0x0F, encode_bmps([(0x27, self.terminal_status),
                                                              (0x29, self.terminal_id)])))
                self._exchange(Apdu(0x06, 0x0F))
            else:
                version = SOFTWARE_VERSION.encode("ascii")
                self._exchange(Apdu(0x06, 0x0F, encode_var_len(len(version), 3) + version
                                    + bytes([self.terminal_status])))
        elif cmd == (0x06, 0x00):
            if len(apdu.data) >= 4:
                self.registered_config = apdu.data[3]
            if len(apdu.data) >= 6:
                self.currency = int(apdu.data[4:6].hex())
            self._send(ACK_APDU)
            self._exchange(Apdu(0x06, 0x0F, encode_bmps([(0x19, 0x00),
                                                         (0x29, self.terminal_id),
                                                         (0x49, self.currency)])))
        elif cmd in ((0x06, 0x02), (0x06, 0xB0)):
            self._send(ACK_APDU)
        elif cmd == (0x06, 0x20):
            self._repeat_receipt()
        elif cmd == (0x06, 0x50):
            self._end_of_day()
        elif cmd == (0x80, 0x00):
            pass  # a late acknowledgement from an interrupted transaction
        else:
            self._send(Apdu(0x84, 0x83).encode())

    def _card_transaction(self, apdu: Apdu, kind: str) -> None:
        s = self._current
        offset = 0 if kind == "sale" else 3
        try:
            fields = apdu.fields(offset)
        except ApduError:
            self._send(Apdu(0x84, 0x9A).encode())
            return
        original = None
        if kind == "reversal":
            original = next((e for e in self.batch if e.receipt_no == fields.get(0x87)
                             and e.kind == "sale" and e.approved and not e.reversed), None)
            if original is None:
                self._send(ACK_APDU)
                self._exchange(Apdu(0x06, 0x1E, bytes([0xB5])))
                return
        amount = original.amount_fen if original else fields.get(0x04, 0)
        currency = original.currency if original else fields.get(0x49, self.currency)
        self._send(ACK_APDU)
        for code in s.statuses:
            if s.customer_delay and self._stop.wait(s.customer_delay):
                raise Closed("stopping")
            self.statuses_sent += 1
            answer = self._exchange(self._intermediate(code))
            if answer.command == (0x06, 0xB0):
                self._exchange(Apdu(0x06, 0x1E, bytes([0x6C])))
                return
        if s.outcome == "abort":
            self._exchange(Apdu(0x06, 0x1E, bytes([0x6C])))
            return
        if s.outcome == "unreadable":
            self._exchange(self._intermediate(0x0C))
            self._exchange(Apdu(0x06, 0x1E, bytes([0x64])))
            return
        entry = self._record(kind, amount, s, original, currency)
        if s.drop == "before_status":
            self._mute()
            return
        if entry.approved:
            self._print(receipt_lines(entry, self.terminal_id))
        status = self._status_info(entry)
        if s.drop == "after_status":
            self.link.frames_out += 1
            self.link.write(encode_frame(status.encode()))
            self._mute()
            return
        self._exchange(status)
        if entry.approved:
            self._exchange(Apdu(0x06, 0x0F))  # real terminals: an empty completion
        else:
            self._exchange(Apdu(0x06, 0x1E, bytes([entry.result_code])))

    def _print(self, lines: list[str]) -> None:
        """Receipt lines for the ECR to print: `06 D1` per line, or one `06 D3` block
        (TLV 06 → 25 print texts → 07 one per line)."""
        if self.print_block:
            block = [Tlv(0x25, [Tlv(0x07, line.encode("ascii")) for line in lines])]
            self._exchange(Apdu(0x06, 0xD3, encode_bmps([(0x06, block)])))
            return
        for line in lines:
            self._exchange(Apdu(0x06, 0xD1, b"\x00" + line.encode("ascii")))

    def _record(self, kind, amount, s: Script, original, currency: int) -> JournalEntry:
        self._trace += 1
        approved = s.outcome == "approve"
        if original is not None:
            pan, name, ctype, group = (original.masked_pan, original.card_name,
                                       original.card_type, original.group)
        else:
            pan, name, ctype, group = CARDS[(s.card if s.card is not None
                                             else self._trace) % len(CARDS)]
        receipt = None
        if approved:
            self._receipt += 1
            receipt = self._receipt
        entry = JournalEntry(kind, amount, approved, 0 if approved else s.result_code,
                             self._trace, receipt, pan, name, ctype, group,
                             dt.datetime.now().replace(microsecond=0), currency,
                             original_receipt=original.receipt_no if original else None,
                             pan_field=original.pan_field if original else s.pan_field)
        if approved and original is not None:
            original.reversed = True
        self.journal.append(entry)
        if approved:
            self.batch.append(entry)
        return entry

    def _status_info(self, e: JournalEntry) -> Apdu:
        fields = [(0x27, e.result_code), (0x04, e.amount_fen), (0x49, e.currency),
                  (0x0B, e.trace), (0x0C, e.when.strftime("%H%M%S")),
                  (0x0D, e.when.strftime("%m%d"))]
        pan = e.pan_field if e.pan_field is not None else encode_bmps([(0x22, e.masked_pan)])
        tail = [(0x29, self.terminal_id)]
        if e.receipt_no is not None:
            tail.append((0x87, e.receipt_no))
        tail += [(0x8A, e.card_type), (0x8B, e.card_name)]
        return Apdu(0x04, 0x0F, encode_bmps(fields) + pan + encode_bmps(tail))

    def _intermediate(self, code: int) -> Apdu:
        """`04 FF`: status byte, timeout byte, TLV with the display text (24 → 07)."""
        text = [Tlv(0x24, [Tlv(0x07, status_words(code).encode("ascii"))])]
        return Apdu(0x04, 0xFF, bytes([code, STATUS_TIMEOUT]) + encode_bmps([(0x06, text)]))

    def _repeat_receipt(self) -> None:
        if not self.journal:
            self._send(Apdu(0x84, 0x83).encode())
            return
        entry = self.journal[-1]
        self._send(ACK_APDU)
        if entry.approved:
            self._print(receipt_lines(entry, self.terminal_id, copy=True))
        self._exchange(self._status_info(entry))
        self._exchange(Apdu(0x06, 0x0F))

    def _end_of_day(self) -> None:
        """Totals of the batch: approved sales not reversed (reversals cancel their sale;
        refunds are settled separately and listed only in the print lines)."""
        self._send(ACK_APDU)
        self._exchange(self._intermediate(0x0E))
        sales = [e for e in self.batch if e.kind == "sale" and not e.reversed]
        refunds = [e for e in self.batch if e.kind == "refund"]
        groups: dict = {}
        for e in sales:
            c, a = groups.get(e.group, (0, 0))
            groups[e.group] = (c + 1, a + e.amount_fen)
        receipts = [e.receipt_no for e in self.batch] or [0]
        self._trace += 1
        total = sum(e.amount_fen for e in sales)
        stamp = dt.datetime.now()
        status = Apdu(0x04, 0x0F, encode_bmps([
            (0x27, 0x00), (0x04, total), (0x0B, self._trace),
            (0x0C, stamp.strftime("%H%M%S")), (0x0D, stamp.strftime("%m%d")),
            (0x60, encode_totals(min(receipts), max(receipts), groups))]))
        self._print(day_report_lines(self.terminal_id, self.currency, sales, refunds))
        self._exchange(status)
        self._exchange(Apdu(0x06, 0x0F))
        self.batch.clear()


if __name__ == "__main__":
    from devices.sim.zvt_cli import main
    sys.exit(main())
