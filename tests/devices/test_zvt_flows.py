"""ZVT driver ↔ simulator over real pseudo-terminals: every scripted behaviour, with the
card payment record (a real SQLite file, test_zvt_records.PaymentBook) asserted each time."""
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from devices.sim.zvt import SOFTWARE_VERSION, Script, ZvtSimulator
from devices.zvt import CardResult, TerminalLinkError, ZvtTerminal
from test_zvt_records import PaymentBook, pay, resolve_unknown

REPO = Path(__file__).resolve().parents[2]
FAST = dict(ack_timeout=0.2, reply_timeout=2.0, overall_timeout=10.0, inter_byte_timeout=0.1)


@pytest.fixture
def term(sim):
    t = ZvtTerminal(sim.path, password=123456, **FAST)
    yield t
    t.close()


@pytest.fixture
def book(tmp_path):
    b = PaymentBook(tmp_path / "payments.db")
    yield b
    b.close()


MASKED = re.compile(r"^\d{6}\*+\d{4}$")


def assert_approved_record(rec, entry):
    assert rec["state"] == "approved" and rec["result_code"] == 0
    assert rec["trace"] == entry.trace and rec["receipt_no"] == entry.receipt_no
    assert rec["masked_pan"] == entry.masked_pan and MASKED.match(rec["masked_pan"])
    assert rec["terminal_id"] == "52000001" and rec["card_type"] == entry.card_name


def test_approved_payment_records_the_terminal_result(sim, term, book, tmp_path):
    seen_status = []
    intent_seen_by_other_connection = []

    def on_status(code, text):
        seen_status.append((code, text))
        other = PaymentBook(tmp_path / "payments.db")
        intent_seen_by_other_connection.append(other.get("op-1")["state"])
        other.close()

    assert pay(book, term, "op-1", 1234, on_status) == "approved"
    [entry] = sim.approved_sales()
    assert entry.amount_fen == 1234
    assert_approved_record(book.get("op-1"), entry)
    assert [c for c, _ in seen_status] == [0x0A, 0x01, 0x04]
    assert seen_status[0][1] == "请插卡 Insert card"
    assert intent_seen_by_other_connection == ["sent"] * 3
    assert sim.received.count((0x06, 0x01)) == 1


def test_on_result_runs_before_the_result_is_acknowledged(sim, term):
    acked_when_called = []

    def on_result(result):
        acked_when_called.append(list(sim.acked))

    result = term.authorize(500, None, on_result)
    assert result.approved and result.receipt_lines[-1] == "APPROVED"
    [acked] = acked_when_called
    assert (0x04, 0x0F) not in acked and (0x04, 0xFF) in acked
    assert (0x04, 0x0F) in sim.acked and (0x06, 0x0F) in sim.acked


@pytest.mark.parametrize("script, code, state", [
    (Script(outcome="decline", result_code=51), 51, "declined"),
    (Script(outcome="abort"), 0x6C, "declined"),
    (Script(outcome="unreadable"), 0x64, "declined"),
    (Script.parse("timeout:0.3"), 0x6C, "declined"),
])
def test_declines_and_aborts_are_recorded_as_not_paid(sim, term, book, script, code, state):
    sim.queue(script)
    assert pay(book, term, "op-d", 800) == state
    rec = book.get("op-d")
    assert rec["result_code"] == code
    assert sim.approved_sales() == []
    assert book.rows() == [rec]


def test_customer_abort_from_the_app(sim, term, book):
    sim.queue(Script(customer_delay=0.05))
    statuses = []

    def on_status(code, text):
        statuses.append(code)
        term.abort()  # e.g. the collector presses Cancel on the first prompt

    assert pay(book, term, "op-a", 900, on_status) == "declined"
    assert book.get("op-a")["result_code"] == 0x6C
    assert statuses == [0x0A] and (0x06, 0xB0) in sim.received
    assert sim.approved_sales() == []


def test_slow_customer_longer_than_the_reply_timeout(sim, book):
    # 3 prompts, 0.6 s apart, with a 0.4 s reply timeout: only the overall timeout applies
    # while the PT is master.
    sim.queue(Script(customer_delay=0.6))
    with ZvtTerminal(sim.path, **{**FAST, "reply_timeout": 0.4}) as t:
        assert pay(book, t, "op-slow", 4321) == "approved"
    assert_approved_record(book.get("op-slow"), sim.approved_sales()[0])


def test_silent_terminal_leaves_unknown_then_resolves_not_charged(sim, term, book):
    assert pay(book, term, "op-0", 100) == "approved"
    sim.queue(Script(silent=True))
    assert pay(book, term, "op-1", 200) == "unknown"
    assert sim.wait_idle()
    # The terminal's last transaction is op-0 (a trace this book knows): op-1 never happened.
    assert resolve_unknown(book, term, "op-1") == "failed"
    assert len(sim.approved_sales()) == 1
    assert book.get("op-0")["state"] == "approved"


def test_silent_terminal_through_the_record_helper(sim, term, book):
    sim.queue(Script(silent=True))
    assert pay(book, term, "op-s", 300) == "unknown"
    assert sim.wait_idle()
    assert resolve_unknown(book, term, "op-s") == "failed"
    assert sim.approved_sales() == [] and sim.received.count((0x06, 0x01)) == 0


def test_nak_first_two_frames_then_approved(sim, term, book):
    sim.queue(Script(nak_first=2))
    assert pay(book, term, "op-n", 1500) == "approved"
    assert term.stats["frames_out"] >= 3
    assert sim.received.count((0x06, 0x01)) == 1
    assert_approved_record(book.get("op-n"), sim.approved_sales()[0])


def test_nak_every_try_gives_unknown_and_never_a_blind_retry(sim, term, book):
    sim.queue(Script(nak_first=3))
    assert pay(book, term, "op-n3", 1500) == "unknown"
    assert sim.wait_idle()
    assert resolve_unknown(book, term, "op-n3") == "failed"
    assert sim.approved_sales() == [] and sim.received.count((0x06, 0x01)) == 0


@pytest.mark.parametrize("fault", ["corrupt_crc", "garble", "truncate"])
@pytest.mark.parametrize("index", [0, 1, 12])  # 80 00 00, first 04 FF, the 04 0F
def test_damaged_frames_from_the_terminal_are_naked_and_resent(sim, term, book, fault,
                                                               index):
    sim.queue(Script(**{fault: index}))
    assert pay(book, term, "op-f", 2000) == "approved"
    entry = sim.approved_sales()[0]
    assert_approved_record(book.get("op-f"), entry)
    # exactly one status information was taken, however often it crossed the line
    assert term.last_result().trace == entry.trace


def test_line_dropped_after_status_information(sim, term, book):
    sim.queue(Script(drop="after_status"))
    delivered = []
    book.write_intent("op-x", 3000)
    with pytest.raises(TerminalLinkError) as exc:
        term.authorize(3000, None, lambda r: (book.record_result("op-x", r),
                                              delivered.append(r)))
    # The result had been committed before the line went dead; the error carries it.
    assert exc.value.result == delivered[0] and delivered[0].approved
    book.set_state("op-x", "unknown", only_from=("sent",))
    entry = sim.approved_sales()[0]
    assert_approved_record(book.get("op-x"), entry)
    assert sim.wait_idle()
    assert term.last_result().trace == entry.trace
    assert resolve_unknown(book, term, "op-x") == "approved"
    assert len(book.rows()) == 1


def test_line_dropped_before_status_information_is_recovered(sim, term, book):
    sim.queue(Script(drop="before_status"))
    # The PT is master and silent: only the overall timeout ends the wait.
    term.overall_timeout = 1.5
    assert pay(book, term, "op-y", 3100) == "unknown"
    assert sim.wait_idle()
    assert resolve_unknown(book, term, "op-y") == "approved"
    assert_approved_record(book.get("op-y"), sim.approved_sales()[0])
    assert sim.received.count((0x06, 0x01)) == 1


def test_on_result_failure_is_not_acknowledged_and_recovered_later(sim, term, book):
    book.write_intent("op-r", 1800)

    def on_result(result):
        raise RuntimeError("storage full")

    with pytest.raises(RuntimeError, match="storage full"):
        term.authorize(1800, None, on_result)
    assert (0x04, 0x0F) not in sim.acked
    assert book.get("op-r")["state"] == "sent"
    assert sim.wait_idle(10)
    assert resolve_unknown(book, term, "op-r") == "approved"
    assert_approved_record(book.get("op-r"), sim.approved_sales()[0])


def test_reversal_refund_and_end_of_day_totals(sim, term, book):
    assert pay(book, term, "p1", 1000) == "approved"
    assert pay(book, term, "p2", 2345) == "approved"
    sim.queue(Script(outcome="decline"))
    assert pay(book, term, "p3", 999) == "declined"
    assert pay(book, term, "p4", 500) == "approved"
    rev = term.reverse(book.get("p2")["receipt_no"])
    assert rev.approved and rev.amount_fen == 2345
    again = term.reverse(book.get("p2")["receipt_no"])
    assert not again.approved and again.result_code == 0xB5
    refund = term.refund(300)
    assert refund.approved and refund.amount_fen == 300
    totals = term.end_of_day()
    assert totals.ok and totals.total_fen == 1000 + 500 and totals.count == 2
    assert sum(fen for _, fen in totals.by_card.values()) == totals.total_fen
    assert any(line.startswith("REFUNDS 1") for line in totals.receipt_lines)
    # a new batch starts empty
    assert term.end_of_day().total_fen == 0


def test_status_register_log_off_and_idle_abort(sim, term):
    assert term.register(123456) == {"ok": True, "result_code": 0, "terminal_id": "52000001",
                                     "currency": 156}
    assert sim.registered_config == 0xBA and sim.currency == 156
    st = term.status()
    assert st["ready"] and st["terminal_id"] == "52000001"
    assert st["software_version"] == SOFTWARE_VERSION
    term.log_off()
    term.abort()
    assert (0x06, 0x02) in sim.received and (0x06, 0xB0) in sim.received


def test_last_result_on_a_fresh_terminal_is_none(sim, term):
    assert term.last_result() is None


def test_amount_validation(term):
    for bad in (0, -5, 10 ** 12):
        with pytest.raises(ValueError):
            term.authorize(bad)
    with pytest.raises(TypeError):
        term.authorize(12.34)


def test_closed_line_raises_link_error(tmp_path):
    with pytest.raises(TerminalLinkError):
        ZvtTerminal(str(tmp_path / "no-such-port"))


def test_over_tcp(book):
    with ZvtSimulator(quiet=0.8) as s:
        host, port = s.serve_tcp()
        with ZvtTerminal(f"socket://{host}:{port}", **FAST) as t:
            assert pay(book, t, "op-t", 777) == "approved"
        assert_approved_record(book.get("op-t"), s.approved_sales()[0])


def test_simulator_module_on_a_pty(book):
    proc = subprocess.Popen([sys.executable, "-m", "devices.sim.zvt", "--pty",
                             "--script", "decline:51"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/")
        with ZvtTerminal(path, **FAST) as t:
            assert pay(book, t, "m1", 100) == "declined"
            assert pay(book, t, "m2", 200) == "approved"
            result = t.last_result()
        assert isinstance(result, CardResult) and result.amount_fen == 200
        assert book.get("m2")["trace"] == result.trace
    finally:
        proc.terminate()
        proc.wait(5)


def test_concurrent_abort_from_another_thread(sim, term, book):
    sim.queue(Script(customer_delay=0.3, statuses=(0x0A, 0x0A, 0x0A, 0x0A)))
    first_prompt = threading.Event()
    t = threading.Thread(target=lambda: (first_prompt.wait(5), term.abort()))
    t.start()
    state = pay(book, term, "op-c", 1200, lambda c, s: first_prompt.set())
    t.join()
    assert state == "declined" and book.get("op-c")["result_code"] == 0x6C


def test_traffic_log_of_a_payment_never_shows_a_pan(sim, book):
    from devices.serial_port import HexLog
    log = HexLog()
    with ZvtTerminal(sim.path, log_traffic=log, **FAST) as t:
        assert pay(book, t, "op-l", 1234) == "approved"
    assert log.lines[0].startswith("TX 10 02 06 01 0A 04 00 00 **")  # a long digit run
    assert any(line.startswith("RX 06") for line in log.lines)
    for line in log.lines:
        run = max((len(m) for m in re.findall(r"[0-9]+", line[3:].replace(" ", ""))),
                  default=0)
        assert run < 13, line


def test_connection_cut_then_the_driver_reconnects(book):
    with ZvtSimulator(quiet=0.8) as s:
        host, port = s.serve_tcp()
        with ZvtTerminal(f"socket://{host}:{port}", **FAST) as t:
            assert pay(book, t, "c1", 100) == "approved"
            s.disconnect()
            assert pay(book, t, "c2", 200) == "unknown"  # the line was gone
            assert resolve_unknown(book, t, "c2") == "failed"  # reopened; c1 was the last
            assert pay(book, t, "c3", 300) == "approved"
        assert [e.amount_fen for e in s.approved_sales()] == [100, 300]
