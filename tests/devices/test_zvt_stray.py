"""A terminal still finishing an earlier transaction when a fresh driver sends its command
(the app was killed mid-payment and restarted at once): the driver acknowledges the earlier
transaction's messages, sends its command again, and recovery reads the earlier result.
Real driver and simulator over a pseudo-terminal; the abandoned ECR is a raw link."""
import logging

import pytest

from devices.serial_port import open_port
from devices.sim.zvt import ZvtSimulator
from devices.zvt import ZvtTerminal
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
    with ZvtSimulator(ack_timeout=1.5, reply_timeout=10.0, quiet=0.8) as sim:
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
