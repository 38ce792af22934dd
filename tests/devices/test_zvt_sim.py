"""The ZVT simulator's own surface: script words, receipt text blocks, journal numbering."""
import pytest

from devices.sim.zvt import Script, ZvtSimulator
from devices.zvt import TerminalTimeout, ZvtTerminal

FAST = dict(ack_timeout=0.2, reply_timeout=2.0, overall_timeout=10.0, inter_byte_timeout=0.1)


def test_script_words():
    assert Script.parse("decline:51") == Script(outcome="decline", result_code=51)
    s = Script.parse("slow:0.5+nak:2+crc:12+drop-after")
    assert (s.customer_delay, s.nak_first, s.corrupt_crc, s.drop) == (0.5, 2, 12, "after_status")
    t = Script.parse("timeout:3")
    assert (t.outcome, t.statuses, t.customer_delay) == ("abort", (0x0A,), 3.0)
    assert Script.parse("silent").silent and Script.parse("garble:1").garble == 1
    assert Script.parse("drop-before").drop == "before_status"
    with pytest.raises(ValueError):
        Script.parse("explode")
    with pytest.raises(ValueError):
        Script(outcome="maybe")


def test_receipt_as_text_block_and_increasing_numbers():
    with ZvtSimulator(print_block=True, first_trace=41, first_receipt=7) as sim:
        sim.serve_pty()
        with ZvtTerminal(sim.path, **FAST) as term:
            first = term.authorize(100)
            second = term.authorize(200)
    assert (first.trace, first.receipt_no) == (41, 7)
    assert (second.trace, second.receipt_no) == (42, 8)
    assert first.receipt_lines[2] == "SALE" and first.receipt_lines[-1] == "APPROVED"
    assert any(l.endswith(first.masked_pan[-4:]) for l in first.receipt_lines)
    assert not any(first.masked_pan[:6] in l for l in first.receipt_lines)  # last 4 only


def test_silent_terminal_raises_the_timeout_subclass():
    with ZvtSimulator(quiet=0.8, default=Script(silent=True)) as sim:
        sim.serve_pty()
        with ZvtTerminal(sim.path, **FAST) as term:
            with pytest.raises(TerminalTimeout) as exc:
                term.authorize(100)
    assert isinstance(exc.value, OSError) and exc.value.result is None
