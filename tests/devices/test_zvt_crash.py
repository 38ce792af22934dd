"""SIGKILL of the app between the terminal's approval and its acknowledgement, then
recovery by a fresh driver: the payment ends `approved` with the terminal's trace, once."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from devices.sim.zvt import ZvtSimulator
from devices.zvt import ZvtTerminal
from test_zvt_records import PaymentBook, resolve_unknown
from tests.deadline import seconds, wait_until

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

CHILD = r"""
import sys, time
db, port, marker, mode = sys.argv[1:5]
from test_zvt_records import PaymentBook
from devices.zvt import ZvtTerminal

book = PaymentBook(db)
term = ZvtTerminal(port, password=123456, ack_timeout=0.2, reply_timeout=2.0,
                   overall_timeout=30.0)
book.write_intent("op-k", 4200)

def on_result(result):
    if mode == "after_commit":
        book.record_result("op-k", result)
    with open(marker, "w") as f:
        f.write("in on_result")
    time.sleep(60)  # killed here: the result is never acknowledged

term.authorize(4200, None, on_result)
"""


@pytest.mark.parametrize("mode, state_after_kill", [("after_commit", "approved"),
                                                    ("before_commit", "sent")])
def test_sigkill_between_result_and_ack_then_recovery(tmp_path, mode, state_after_kill):
    db, marker = tmp_path / "payments.db", tmp_path / "marker"
    sim = ZvtSimulator(ack_timeout=0.5, reply_timeout=2.0, quiet=0.8)
    sim.serve_pty()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), sim.path, str(marker),
                              mode], cwd=REPO, env=env)
    try:
        wait_until(lambda: marker.exists() or child.poll() is not None, 30,
                   "the terminal's result in the payment process")
        assert marker.exists(), "payment process ended before the result arrived"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(seconds(10)) == -signal.SIGKILL
        assert (0x04, 0x0F) not in sim.acked  # the app died before acknowledging

        book = PaymentBook(db)
        assert [r["state"] for r in book.rows()] == [state_after_kill]
        assert sim.wait_idle(seconds(10))

        with ZvtTerminal(sim.path, password=123456, ack_timeout=0.2, reply_timeout=2.0,
                         overall_timeout=10.0) as fresh:
            assert resolve_unknown(book, fresh, "op-k") == "approved"
            confirmed = fresh.last_result()
            assert resolve_unknown(book, fresh, "op-k") == "approved"  # idempotent

        [entry] = sim.approved_sales()
        [rec] = book.rows()
        assert rec["state"] == "approved" and rec["amount_fen"] == 4200
        assert rec["trace"] == entry.trace == confirmed.trace
        assert rec["receipt_no"] == entry.receipt_no and rec["masked_pan"] == entry.masked_pan
        assert sim.received.count((0x06, 0x01)) == 1  # charged once, never retried
        book.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)
        sim.close()
