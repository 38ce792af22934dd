"""ZVT payment terminal simulator (the PT side) on a pseudo-terminal or a TCP port.

Usable in-process (`ZvtSimulator().serve_pty()` runs a thread and returns the slave path
for `devices.serial_port.open_port`) and as a module:

    python -m devices.sim.zvt --pty                # prints the slave pty path
    python -m devices.sim.zvt --tcp 20007          # ECR connects to socket://127.0.0.1:20007
    python -m devices.sim.zvt --pty --default slow:2 --script decline:51 --script abort

Every card transaction (`06 01` payment, `06 31` refund, `06 30` reversal) takes the next
queued `Script` (or the default one): approve, decline with a result code, customer abort,
unreadable card, a slow customer, silence, NAKing the first N frames, a corrupted CRC, a
garbled or truncated frame, and dropping the line before or after the status information.
The simulator keeps a journal (trace and receipt numbers increase; PANs are only ever held
masked, first 6 / last 4) from which it answers Repeat Receipt (`06 20`, used for
recovery), reversals and end of day (`06 50`) totals.
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import logging
import os
import select
import socket
import sys
import threading
import time
import tty
from collections import deque
from dataclasses import dataclass

from devices.zvt.apdu import Apdu, ApduError, Tlv, encode_bmps, encode_totals
from devices.zvt.errors import FrameError, TerminalTimeout
from devices.zvt.framing import ACK, DLE, Link, encode_frame

__all__ = ["ZvtSimulator", "Script", "JournalEntry", "CARDS"]

log = logging.getLogger("chaoshou.sim.zvt")

ACK_APDU = Apdu(0x80, 0x00).encode()

# (masked PAN, card name, ZVT card type byte, end-of-day group)
CARDS = (
    ("621234******1234", "UnionPay", 0x2F, "others"),
    ("411111******1111", "Visa", 0x0A, "Visa"),
    ("545454******5454", "Mastercard", 0x06, "Eurocard"),
)

OUTCOMES = ("approve", "decline", "abort", "unreadable")


@dataclass
class Script:
    """What the simulated customer and line do during one card transaction."""
    outcome: str = "approve"          # approve | decline | abort | unreadable
    result_code: int = 0x05           # for decline (issuer code)
    statuses: tuple = (0x0A, 0x01, 0x04)  # insert card, watch PIN pad, waiting for host
    customer_delay: float = 0.0       # seconds before each 04 FF (slow customer / timeout)
    silent: bool = False              # never answer the command, not even with an ACK
    nak_first: int = 0                # NAK the first N frames from the ECR
    corrupt_crc: int | None = None    # index of the PT frame (0 = its 80 00 00) sent with a bad CRC once
    garble: int | None = None         # index of a PT frame sent once with a broken DLE sequence
    truncate: int | None = None       # index of a PT frame sent once cut in half, then silence
    drop: str | None = None           # "before_status" | "after_status": line goes dead
    card: int | None = None           # index into CARDS (default: rotates with the trace)

    def __post_init__(self):
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")
        if self.drop not in (None, "before_status", "after_status"):
            raise ValueError(f"drop must be before_status or after_status, got {self.drop!r}")

    @classmethod
    def parse(cls, spec: str) -> "Script":
        """From a CLI word: approve, decline[:CODE], abort, unreadable, timeout[:S], slow[:S],
        silent, nak[:N], crc[:I], garble[:I], truncate[:I], drop-before, drop-after; several
        joined with `+` (e.g. `slow:1+nak:1`)."""
        s = cls()
        for word in spec.split("+"):
            name, _, arg = word.strip().partition(":")
            if name in ("approve", "abort", "unreadable"):
                s.outcome = name
            elif name == "decline":
                s.outcome, s.result_code = "decline", int(arg or "5")
            elif name == "timeout":  # the customer never acts; the PT gives up
                s.outcome, s.statuses, s.customer_delay = "abort", (0x0A,), float(arg or "2")
            elif name == "slow":
                s.customer_delay = float(arg or "1")
            elif name == "silent":
                s.silent = True
            elif name == "nak":
                s.nak_first = int(arg or "1")
            elif name in ("crc", "garble", "truncate"):
                setattr(s, "corrupt_crc" if name == "crc" else name, int(arg or "0"))
            elif name in ("drop-before", "drop-after"):
                s.drop = "before_status" if name == "drop-before" else "after_status"
            else:
                raise ValueError(f"unknown script word {word!r}")
        return s


@dataclass
class JournalEntry:
    kind: str                  # sale | refund | reversal
    amount_fen: int
    approved: bool
    result_code: int
    trace: int
    receipt_no: int | None
    masked_pan: str
    card_name: str
    card_type: int
    group: str
    when: dt.datetime
    reversed: bool = False
    original_receipt: int | None = None


class _EcrGone(Exception):
    """The ECR stopped answering; the transaction ends on the PT side."""


class _Closed(Exception):
    """The connection went away (TCP client closed)."""


class _FdChannel:
    """Channel over a raw file descriptor (pty master or socket), stoppable."""

    def __init__(self, fd: int, stop: threading.Event):
        self.fd = fd
        self.stop = stop

    def read_some(self, timeout: float) -> bytes:
        end = _now() + max(0.0, timeout)
        while not self.stop.is_set():
            wait = min(0.05, max(0.0, end - _now()))
            ready, _, _ = select.select([self.fd], [], [], wait)
            if ready:
                try:
                    data = os.read(self.fd, 4096)
                except OSError as exc:
                    raise _Closed(str(exc)) from exc
                if not data:
                    raise _Closed("peer closed")
                return data
            if _now() >= end:
                return b""
        raise _Closed("simulator stopping")

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.stop.is_set():  # after close() the fd number may belong to someone else
                raise _Closed("simulator stopping")
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                select.select([], [self.fd], [], 0.05)
                continue
            except OSError as exc:
                raise _Closed(str(exc)) from exc
            view = view[n:]


def _now() -> float:
    return time.monotonic()


def _is_reply(raw: bytes) -> bool:
    """An ECR frame that answers a PT message (so it proves the message arrived); any
    other frame while the PT is master is acknowledged and ignored, as a PT does."""
    return raw[:2] in (b"\x80\x00", b"\x06\xB0") or raw[:1] == b"\x84"


class ZvtSimulator:
    """The PT side. Times are seconds; `quiet` is how long the line must stay silent before
    a muted (silent / dropped) simulator listens again."""

    def __init__(self, *, terminal_id: str = "52000001", ack_timeout: float = 5.0,
                 reply_timeout: float = 15.0, inter_byte_timeout: float = 0.2,
                 max_tries: int = 3, quiet: float = 0.5, first_trace: int = 1,
                 first_receipt: int = 1, default: Script | None = None,
                 print_block: bool = False):
        self.terminal_id = terminal_id
        self.ack_timeout = ack_timeout
        self.reply_timeout = reply_timeout
        self.inter_byte_timeout = inter_byte_timeout
        self.max_tries = max_tries
        self.quiet = quiet
        self.default = default or Script()
        self.print_block = print_block  # receipts as one 06 D3 text block, not 06 D1 lines
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

    # -- transports ------------------------------------------------------------------------
    def serve_pty(self) -> str:
        """Serve one end of a new pseudo-terminal in a thread; return the slave path.

        The simulator keeps the slave fd open too, so the master never sees EIO while no
        driver has the port open (drivers come and go; a killed app leaves no hole)."""
        master, slave = os.openpty()
        tty.setraw(slave)
        self._fds += [master, slave]
        self.path = os.ttyname(slave)
        self._start(lambda: self._serve_fd(master))
        return self.path

    def serve_tcp(self, port: int = 0, host: str = "127.0.0.1") -> tuple[str, int]:
        """Serve TCP clients one at a time in a thread; return (host, port)."""
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((host, port))
        server.listen(1)
        server.settimeout(0.1)
        self._server = server
        self.address = server.getsockname()[:2]
        self._start(self._serve_tcp)
        return self.address

    def _start(self, target) -> None:
        self._thread = threading.Thread(target=target, name="zvt-sim", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        if self._server:
            self._server.close()
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._conn = conn
                try:
                    self._serve_fd(conn.fileno())
                finally:
                    self._conn = None

    def disconnect(self) -> None:
        """TCP only: cut the current connection, as a network drop or cable pull would."""
        conn = self._conn
        if conn is not None:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _serve_fd(self, fd: int) -> None:
        self.link = Link(_FdChannel(fd, self._stop), ack_timeout=self.ack_timeout,
                         inter_byte_timeout=self.inter_byte_timeout, max_tries=self.max_tries)
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
                except _EcrGone as exc:
                    log.info("ECR stopped answering: %s", exc)
                finally:
                    self._current = None
        except _Closed:
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
        end = _now() + timeout
        while True:
            try:
                raw = link.read_frame(max(0.0, end - _now()))
                apdu = Apdu.decode(raw)
            except (FrameError, ApduError):
                link.drain()
                link.nak()
                continue
            script = self._script_for_naks()
            if script.nak_first > 0:
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
            if link.wait_ack(self.ack_timeout, _is_reply) == ACK:
                self.acked.append(tuple(apdu[:2]))
                return
        raise _EcrGone(f"no ACK for {apdu[:2].hex().upper()}")

    def _reply(self) -> Apdu:
        """The ECR's answer to a PT message (80 00 00, or 06 B0 to abort), ACKed."""
        try:
            apdu = self._recv(self.reply_timeout)
        except TerminalTimeout as exc:
            raise _EcrGone("no answer from the ECR") from exc
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
            self._exchange(Apdu(0x04, 0x0F, encode_bmps([(0x27, 0x00),
                                                          (0x29, self.terminal_id)])))
            self._exchange(Apdu(0x06, 0x0F))
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
        self._send(ACK_APDU)
        for code in s.statuses:
            if s.customer_delay and self._stop.wait(s.customer_delay):
                raise _Closed("stopping")
            text = [Tlv(0x24, [Tlv(0x07, _status_words(code).encode("ascii"))])]
            self.statuses_sent += 1
            answer = self._exchange(Apdu(0x04, 0xFF, bytes([code]) + encode_bmps([(0x06, text)])))
            if answer.command == (0x06, 0xB0):
                self._exchange(Apdu(0x06, 0x1E, bytes([0x6C])))
                return
        if s.outcome == "abort":
            self._exchange(Apdu(0x06, 0x1E, bytes([0x6C])))
            return
        if s.outcome == "unreadable":
            self._exchange(Apdu(0x04, 0xFF, bytes([0x0C])))
            self._exchange(Apdu(0x06, 0x1E, bytes([0x64])))
            return
        entry = self._record(kind, amount, s, original)
        if s.drop == "before_status":
            self._mute()
            return
        if entry.approved:
            self._print(_receipt_lines(entry, self.terminal_id))
        status = self._status_info(entry)
        if s.drop == "after_status":
            self.link.frames_out += 1
            self.link.write(encode_frame(status.encode()))
            self._mute()
            return
        self._exchange(status)
        if entry.approved:
            self._exchange(Apdu(0x06, 0x0F, encode_bmps([(0x27, 0x00),
                                                         (0x29, self.terminal_id)])))
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

    def _record(self, kind, amount, s: Script, original) -> JournalEntry:
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
                             dt.datetime.now().replace(microsecond=0),
                             original_receipt=original.receipt_no if original else None)
        if approved and original is not None:
            original.reversed = True
        self.journal.append(entry)
        if approved:
            self.batch.append(entry)
        return entry

    def _status_info(self, e: JournalEntry) -> Apdu:
        fields = [(0x27, e.result_code), (0x04, e.amount_fen), (0x49, self.currency),
                  (0x0B, e.trace), (0x0C, e.when.strftime("%H%M%S")),
                  (0x0D, e.when.strftime("%m%d")), (0x22, e.masked_pan),
                  (0x29, self.terminal_id)]
        if e.receipt_no is not None:
            fields.append((0x87, e.receipt_no))
        fields += [(0x8A, e.card_type), (0x8B, e.card_name)]
        return Apdu(0x04, 0x0F, encode_bmps(fields))

    def _repeat_receipt(self) -> None:
        if not self.journal:
            self._send(Apdu(0x84, 0x83).encode())
            return
        entry = self.journal[-1]
        self._send(ACK_APDU)
        if entry.approved:
            self._print(_receipt_lines(entry, self.terminal_id, copy=True))
        self._exchange(self._status_info(entry))
        self._exchange(Apdu(0x06, 0x0F))

    def _end_of_day(self) -> None:
        """Totals of the batch: approved sales not reversed (reversals cancel their sale;
        refunds are settled separately and listed only in the print lines)."""
        self._send(ACK_APDU)
        self._exchange(Apdu(0x04, 0xFF, bytes([0x0E])))
        sales = [e for e in self.batch if e.kind == "sale" and not e.reversed]
        refunds = [e for e in self.batch if e.kind == "refund"]
        groups: dict = {}
        for e in sales:
            c, a = groups.get(e.group, (0, 0))
            groups[e.group] = (c + 1, a + e.amount_fen)
        receipts = [e.receipt_no for e in self.batch] or [0]
        self._trace += 1
        total = sum(e.amount_fen for e in sales)
        now = dt.datetime.now()
        status = Apdu(0x04, 0x0F, encode_bmps([
            (0x27, 0x00), (0x04, total), (0x0B, self._trace),
            (0x0C, now.strftime("%H%M%S")), (0x0D, now.strftime("%m%d")),
            (0x60, encode_totals(min(receipts), max(receipts), groups))]))
        lines = ["END OF DAY", f"TID {self.terminal_id}", f"SALES {len(sales)} CNY {_yuan(total)}",
                 f"REFUNDS {len(refunds)} CNY {_yuan(sum(e.amount_fen for e in refunds))}"]
        self._print(lines)
        self._exchange(status)
        self._exchange(Apdu(0x06, 0x0F))
        self.batch.clear()


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _status_words(code: int) -> str:
    from devices.zvt.messages import INTERMEDIATE
    return INTERMEDIATE.get(code, ("", f"Status {code:02X}"))[1]


def _receipt_lines(e: JournalEntry, tid: str, copy: bool = False) -> list[str]:
    title = {"sale": "SALE", "refund": "REFUND", "reversal": "REVERSAL"}[e.kind]
    lines = ["CHAOSHOU SIM TERMINAL", f"TID {tid}", title + (" (COPY)" if copy else ""),
             f"CARD {e.card_name} ************{e.masked_pan[-4:]}",
             f"AMOUNT CNY {_yuan(e.amount_fen)}",
             f"TRACE {e.trace:06d}  RECEIPT {e.receipt_no or 0:04d}",
             e.when.strftime("%Y-%m-%d %H:%M:%S"), "APPROVED"]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devices.sim.zvt",
                                     description="ZVT payment terminal simulator")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="serve a new pty; print its path")
    where.add_argument("--tcp", type=int, metavar="PORT", help="serve TCP on 127.0.0.1:PORT")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--default", default="approve", metavar="SPEC",
                        help="script for every transaction (see Script.parse)")
    parser.add_argument("--script", action="append", default=[], metavar="SPEC",
                        help="script for the next transaction (repeatable, in order)")
    parser.add_argument("--terminal-id", default="52000001")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        stream=sys.stderr)
    sim = ZvtSimulator(terminal_id=args.terminal_id, default=Script.parse(args.default))
    sim.queue(*(Script.parse(s) for s in args.script))
    if args.pty:
        print(sim.serve_pty(), flush=True)
    else:
        host, port = sim.serve_tcp(args.tcp, args.host)
        print(f"socket://{host}:{port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
