"""A terminal still finishing an earlier transaction when a fresh driver sends its command
(the app was killed mid-payment and restarted at once): the driver acknowledges the earlier
transaction's messages, sends its command again, and recovery reads the earlier result.
Real driver and simulator over a pseudo-terminal; the abandoned ECR is a raw link."""
import logging
import os
import threading
import tty

import pytest

from devices.serial_port import open_port
from devices.sim.zvt import ZvtSimulator
from devices.sim.zvt_wire import FdChannel
from devices.zvt import TerminalLinkError, ZvtTerminal
from devices.zvt.apdu import Apdu, encode_bmps
from devices.zvt.framing import Link, SerialChannel

FAST = dict(ack_timeout=0.2, reply_timeout=2.0, overall_timeout=20.0, inter_byte_timeout=0.1)
ANSWER = Apdu(0x80, 0x00).encode()


def abandon_payment(path, amount_fen, stop_at, nth, answer_last):
    """Start a payment as an ECR would, then go away at the `nth` message `stop_at` from
    the terminal: without acknowledging it, or (answer_last False) acknowledged on the link
    but never answered with 80 00 00."""
    port = open_port(path, baudrate=9600, stopbits=2, timeout=0.05)
    try:
        link = Link(SerialChannel(port), ack_timeout=2.0, inter_byte_timeout=0.1)
        link.send(Apdu(0x06, 0x01, encode_bmps([(0x04, amount_fen), (0x49, 156)])).encode())
        assert link.receive(5.0).command == (0x80, 0x00)
        seen = 0
        while True:
            msg = link.receive(5.0, ack=False)
            seen += msg.command == stop_at
            if seen == nth:
                if not answer_last:
                    link.ack()
                return
            link.ack()
            link.send(ANSWER)
    finally:
        port.close()


@pytest.mark.parametrize("stop_at, nth, ack_it", [
    ((0x04, 0xFF), 1, False),   # customer still at the terminal, status never acknowledged
    ((0x04, 0xFF), 2, True),    # status acknowledged, never answered
    ((0x06, 0xD1), 3, False),   # in the middle of the receipt lines
    ((0x04, 0x0F), 1, False),   # the result itself never acknowledged
])
def test_recovery_while_the_terminal_finishes_an_earlier_payment(stop_at, nth, ack_it,
                                                                   caplog):
    caplog.set_level(logging.WARNING, logger="chaoshou.zvt")
    # Long PT timeouts: the earlier transaction is surely still running when the fresh
    # driver sends its command.
    with ZvtSimulator(ack_timeout=2.5, reply_timeout=10.0, quiet=0.8) as sim:
        sim.serve_pty()
        abandon_payment(sim.path, 3300, stop_at, nth, not ack_it)
        assert (0x04, 0x0F) not in sim.acked
        with ZvtTerminal(sim.path, password=123456, **FAST) as fresh:
            last = fresh.last_result()
            status = fresh.status()
        [entry] = sim.approved_sales()
    assert any("earlier transaction" in r.getMessage() for r in caplog.records)
    assert (0x04, 0x0F) in sim.acked  # the fresh driver let the earlier payment finish
    assert last.approved and last.amount_fen == 3300
    assert (last.trace, last.receipt_no, last.masked_pan) == (entry.trace, entry.receipt_no,
                                                               entry.masked_pan)
    assert last.receipt_lines and last.receipt_lines[2] == "SALE (COPY)"
    assert status["ready"]
    assert sim.received.count((0x06, 0x01)) == 1  # the earlier payment was never repeated


def test_a_payment_is_never_sent_twice_while_the_terminal_is_busy():
    """A new payment meeting the earlier transaction's messages: the earlier one is let
    finish, the new one fails as a link error (outcome unknown) and is not resent."""
    with ZvtSimulator(ack_timeout=2.5, reply_timeout=10.0, quiet=0.8) as sim:
        sim.serve_pty()
        abandon_payment(sim.path, 3300, (0x06, 0xD1), 2, False)
        with ZvtTerminal(sim.path, password=123456, **FAST) as fresh:
            with pytest.raises(TerminalLinkError) as exc:
                fresh.authorize(1800)
            assert exc.value.result is None
            last = fresh.last_result()
            again = fresh.authorize(1800)
        assert [e.amount_fen for e in sim.approved_sales()] == [3300, 1800]
    assert last.amount_fen == 3300 and last.trace == sim.approved_sales()[0].trace
    assert again.approved and again.trace == sim.approved_sales()[1].trace
    # Charged once each: the refused command was never run (the terminal took it, while
    # waiting for the answer to its print line, as that answer).
    assert [(e.kind, e.amount_fen) for e in sim.journal] == [("sale", 3300), ("sale", 1800)]


def test_command_answer_kept_when_the_terminal_ack_is_lost():
    """The terminal's ACK for a command never arrives but its `80 00 00` does: that frame
    proves the command arrived, so it is the answer, not a repeat to drop."""
    master, slave = os.openpty()
    tty.setraw(slave)
    stop = threading.Event()
    seen = []

    def terminal():  # a PT whose ACK byte for the command is lost on the line
        link = Link(FdChannel(master, stop), ack_timeout=2.0, inter_byte_timeout=0.1)
        seen.append(Apdu.decode(link.read_frame(5.0)).command)  # not acknowledged
        link.send(ANSWER)
        link.send(Apdu(0x04, 0x0F, encode_bmps([(0x27, 0x00), (0x29, "52000009")])).encode())
        seen.append(Apdu.decode(link.read_frame(5.0)).command)
        link.ack()
        link.send(Apdu(0x06, 0x0F).encode())
        seen.append(Apdu.decode(link.read_frame(5.0)).command)
        link.ack()

    worker = threading.Thread(target=terminal, daemon=True)
    worker.start()
    try:
        with ZvtTerminal(os.ttyname(slave), **FAST) as term:
            status = term.status()
        worker.join(10)
    finally:
        stop.set()
        os.close(master)
        os.close(slave)
    assert status == {"ready": True, "result_code": 0, "text": "终端就绪 Terminal ready",
                      "terminal_id": "52000009", "software_version": None}
    assert seen == [(0x05, 0x01), (0x80, 0x00), (0x80, 0x00)]
