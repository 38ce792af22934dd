"""ZVT as real terminals speak it: messages captured from real terminals (the public corpus
in tests/devices/vectors/), the status enquiry's variants, the TCP/IP transport with bare
APDUs, and the simulator talking like a real terminal (docs/contracts.md §6)."""
import json
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from devices.sim.zvt import SOFTWARE_VERSION, STATUS_TIMEOUT, Script, ZvtSimulator
from devices.zvt import TerminalLinkError, ZvtTerminal
from devices.zvt.apdu import Apdu, decode_bmps, decode_totals, encode_bmps
from devices.zvt.errors import ZvtProtocolError
from devices.zvt.framing import Link, encode_frame
from devices.zvt.results import (Tx, card_result, content, intermediate,
                                 parse_status_completion, print_line, status_reply,
                                 text_block_lines)
from zvt_peer import ScriptedTerminal

VECTORS = json.loads((Path(__file__).parent / "vectors" / "zvt_apdus.json")
                     .read_text("utf-8"))["vectors"]
FAST = dict(ack_timeout=0.5, reply_timeout=3.0, overall_timeout=15.0, inter_byte_timeout=0.2)
MASKED_PAN_04_0F = next(v for v in VECTORS if "masking nibbles" in v["name"])["hex"]
STATUS_06_0F = next(v for v in VECTORS if "software version" in v["name"])["hex"]


def vector(name_part: str) -> bytes:
    return bytes.fromhex(next(v for v in VECTORS if name_part in v["name"])["hex"])


# --- the corpus -------------------------------------------------------------------------

@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_codec_reads_every_public_vector(v):
    apdu = Apdu.decode(bytes.fromhex(v["hex"]))
    assert " ".join(f"{b:02X}" for b in apdu.command) == v["kind"]
    expect = v["expect"]
    if v["kind"] == "04 FF":
        code, timeout, display = intermediate(apdu)
        assert code == expect["status"]
        assert timeout == expect.get("timeout") and display == expect.get("display")
    elif v["kind"] == "06 D1":
        assert print_line(apdu) == expect["line"]
    elif v["kind"] == "06 D3":
        lines = text_block_lines(apdu)
        assert lines[0] == expect["first_line"] and expect["contains"] in lines
    elif "software_version" in expect:
        version, status, _ = parse_status_completion(apdu.data)
        assert (version, status) == (expect["software_version"], expect["terminal_status"])
    else:
        fields = apdu.fields()
        for tag, value in expect.items():
            assert fields[int(tag, 16)] == value, tag
        # a field the codec keeps is re-encoded exactly as it came
        kept = [(t, fields[t]) for t in fields if isinstance(t, int) and t != 0x06]
        assert decode_bmps(encode_bmps(kept), strict=True) == dict(kept)


def test_every_frame_the_driver_builds_round_trips():
    done = Apdu(0x06, 0x0F).encode()
    paid = [vector("approved 20.40 EUR, PAN"), done]
    answers = {(0x06, 0x00): [vector("registration completion")],
               (0x05, 0x01): [bytes.fromhex(STATUS_06_0F)], (0x06, 0x02): [],
               (0x06, 0x01): paid, (0x06, 0x31): paid, (0x06, 0x30): paid, (0x06, 0x20): paid,
               (0x06, 0x50): [vector("approved 20.40 EUR (second"), done]}
    with ScriptedTerminal(answers) as pt:
        with ZvtTerminal(pt.serve_pty(), password=123456, **FAST) as term:
            term.register(currency=978)
            term.authorize(2040)
            term.refund(500)
            term.reverse(470)
            term.status()
            term.last_result()
            term.end_of_day()
            term.log_off()
        sent = pt.raw_received + pt.replies
    assert len({raw[:2] for raw in sent}) == 9  # 8 commands and the 80 00 00 answers
    for raw in sent:
        apdu = Apdu.decode(raw)
        assert apdu.encode() == raw
        offset = {(0x06, 0x01): 0, (0x06, 0x31): 3, (0x06, 0x30): 3}.get(apdu.command)
        if offset is not None:
            fields = decode_bmps(apdu.data[offset:], strict=True)
            assert apdu.data[:offset] + encode_bmps(list(fields.items())) == apdu.data


# --- 1. status information with masking nibbles -----------------------------------------

@pytest.mark.parametrize("transport", ["pty", "tcp"])
def test_masked_nibbles_in_the_card_number_settle_the_payment(transport):
    status = bytes.fromhex(MASKED_PAN_04_0F)
    done = Apdu(0x06, 0x0F).encode()
    answers = {(0x06, 0x01): [status, done], (0x06, 0x20): [status, done]}
    delivered = []
    with ScriptedTerminal(answers) as pt:
        url = pt.serve_pty() if transport == "pty" else pt.serve_tcp()
        with ZvtTerminal(url, **FAST) as term:
            result = term.authorize(1234, None, delivered.append)
            again = term.last_result()
        replies = list(pt.replies)
    assert result.approved and result.amount_fen == 1234 and result.receipt_no == 7
    assert delivered == [result]
    assert sum(c.isdigit() for c in result.masked_pan) <= 10
    assert replies[0] == Apdu(0x80, 0x00).encode()  # the 04 0F was acknowledged
    assert again.approved and again.receipt_no == 7 and again.trace == result.trace


def test_a_status_information_without_result_code_is_unknown_then_recovered():
    answers = {(0x06, 0x01): [vector("only field is not a BMP")],
               (0x06, 0x20): [vector("approved 20.40 EUR, PAN"), Apdu(0x06, 0x0F).encode()]}
    with ScriptedTerminal(answers) as pt:
        with ZvtTerminal(pt.serve_pty(), **FAST) as term:
            with pytest.raises(TerminalLinkError):
                term.authorize(2040)
            assert term.last_result().approved


# --- 2. status enquiry -------------------------------------------------------------------

def test_status_enquiry_answered_by_a_completion_with_terminal_status():
    with ScriptedTerminal({(0x05, 0x01): [bytes.fromhex(STATUS_06_0F)]}) as pt:
        with ZvtTerminal(pt.serve_pty(), **FAST) as term:
            st = term.status()
    assert st["ready"] is True and st["result_code"] == 0
    assert st["software_version"] == "V01.02A"


def test_status_enquiry_not_ready_and_refused():
    not_ready = bytes.fromhex(STATUS_06_0F)[:-1] + b"\x51"  # 51: initialisation required
    with ScriptedTerminal({(0x05, 0x01): [not_ready]}) as pt:
        with ZvtTerminal(pt.serve_pty(), **FAST) as term:
            st = term.status()
    assert st["ready"] is False and st["result_code"] == 0x51
    with ScriptedTerminal({}) as pt:  # 84 83: function not possible
        with ZvtTerminal(pt.serve_pty(), **FAST) as term:
            st = term.status()
    assert st["ready"] is False and st["result_code"] == 0x83


@pytest.mark.parametrize("variant", ["completion", "status_info"])
def test_status_enquiry_variants_of_the_simulator(variant):
    with ZvtSimulator(status_variant=variant) as sim:
        with ZvtTerminal(sim.serve_pty(), **FAST) as term:
            st = term.status()
    assert st["ready"] is True
    assert st["software_version"] == (SOFTWARE_VERSION if variant == "completion" else None)
    assert (0x04, 0x0F) in sim.acked if variant == "status_info" else (0x04, 0x0F) not in sim.acked


# --- 3. TCP/IP: bare APDUs ----------------------------------------------------------------

def _bare_exchange(sock: socket.socket, apdu: bytes, n_replies: int) -> list[bytes]:
    sock.sendall(apdu)
    out, buf = [], b""
    while len(out) < n_replies:
        while len(buf) < 3 or len(buf) < 3 + buf[2]:
            chunk = sock.recv(4096)
            assert chunk, "simulator closed the connection"
            buf += chunk
        n = 3 + buf[2]
        out.append(buf[:n])
        buf = buf[n:]
        if out[-1][:2] not in (b"\x80\x00", b"\x84\x00") and len(out) < n_replies:
            sock.sendall(b"\x80\x00\x00")
    return out


def test_simulator_answers_bare_apdus_over_tcp():
    with ZvtSimulator() as sim:
        host, port = sim.serve_tcp()
        with socket.create_connection((host, port), timeout=5) as sock:
            replies = _bare_exchange(sock, bytes.fromhex("05 01 03 00 00 00"), 2)
            sock.sendall(b"\x80\x00\x00")
    assert replies[0] == b"\x80\x00\x00"
    version, status, _ = parse_status_completion(Apdu.decode(replies[1]).data)
    assert replies[1][:2] == b"\x06\x0f" and (version, status) == (SOFTWARE_VERSION, 0)
    assert b"\x10\x02" not in b"".join(replies)  # no serial framing on TCP/IP


def test_transport_follows_url_and_setting():
    with ZvtSimulator() as sim:
        host, port = sim.serve_tcp(framing="auto")
        for choice in (None, "serial"):
            with ZvtTerminal(f"socket://{host}:{port}", transport=choice, **FAST) as term:
                assert term.transport == (choice or "tcp")
                assert term.status()["ready"]
            assert sim.framing == term.transport
    with pytest.raises(ValueError):
        ZvtTerminal("socket://127.0.0.1:9", transport="usb")


@pytest.fixture(params=["pty", "tcp"])
def live(request):
    sim = ZvtSimulator(ack_timeout=0.5, reply_timeout=3.0, quiet=0.5)
    if request.param == "pty":
        url = sim.serve_pty()
    else:
        host, port = sim.serve_tcp()
        url = f"socket://{host}:{port}"
    term = ZvtTerminal(url, password=123456, **FAST)
    yield sim, term
    term.close()
    sim.close()


def test_live_registration_payment_decline_abort_reversal_end_of_day_status(live):
    sim, term = live
    reg = term.register(currency=978)
    assert reg["ok"] and reg["currency"] == 978 and sim.currency == 978
    paid = term.authorize(1500)
    assert paid.approved and paid.currency == 978 and paid.receipt_no is not None
    assert any("EUR 15.00" in line for line in paid.receipt_lines)
    sim.queue(Script(outcome="decline", result_code=51))
    declined = term.authorize(700)
    assert not declined.approved and declined.result_code == 51
    sim.queue(Script(outcome="abort"))
    aborted = term.authorize(800)
    assert not aborted.approved and aborted.result_code == 0x6C
    second = term.authorize(2500)
    reversal = term.reverse(second.receipt_no)
    assert reversal.approved and reversal.amount_fen == 2500
    totals = term.end_of_day()
    assert totals.ok and totals.total_fen == 1500 and totals.count == 1
    assert any(line == "SALES 1 EUR 15.00" for line in totals.receipt_lines)
    assert term.status()["ready"]
    assert sim.received.count((0x06, 0x01)) == 4


# --- 4. the simulator speaks like a real terminal ----------------------------------------

def _ecr_run(link: Link, command: Apdu) -> list[Apdu]:
    """Send `command` as an ECR would and collect the terminal's messages to its end."""
    link.send(command.encode())
    out = [link.receive(3.0)]
    while out[-1].command not in ((0x06, 0x0F), (0x06, 0x1E)) and out[-1].cls != 0x84:
        out.append(link.receive(3.0))
        link.send(Apdu(0x80, 0x00).encode())
    return out


def test_simulator_messages_are_shaped_as_real_terminals_send_them():
    from devices.serial_port import open_port
    from devices.zvt.framing import SerialChannel
    with ZvtSimulator() as sim:
        port = open_port(sim.serve_pty(), baudrate=9600, stopbits=2, timeout=0.05)
        try:
            link = Link(SerialChannel(port), ack_timeout=1.0)
            _ecr_run(link, Apdu(0x06, 0x00, bytes.fromhex("000000BA0978")))
            pay = _ecr_run(link, Apdu(0x06, 0x01, encode_bmps([(0x04, 1234)])))
            day = _ecr_run(link, Apdu(0x06, 0x50, bytes(3)))
        finally:
            port.close()
    statuses = [m for m in pay if m.command == (0x04, 0xFF)]
    assert statuses and all(m.data[1] == STATUS_TIMEOUT for m in statuses)
    assert all(set(decode_bmps(m.data[2:], strict=True)) == {0x06} for m in statuses)
    [info] = [m for m in pay if m.command == (0x04, 0x0F)]
    assert info.fields()[0x49] == 978 and info.fields()[0x04] == 1234
    assert pay[-1] == Apdu(0x06, 0x0F)  # an empty completion after the payment
    lines = [print_line(m) for m in pay if m.command == (0x06, 0xD1)]
    assert "AMOUNT EUR 12.34" in lines and not any("CNY" in line for line in lines)
    [totals] = [m for m in day if m.command == (0x04, 0x0F)]
    body = totals.fields()[0x60]
    assert len(body) == 2 + 2 + 7 * (1 + 6)  # receipt range, then count + amount per group
    first, last, groups = decode_totals(body)
    assert first == last == 1 and sum(c for c, _ in groups.values()) == 1
    assert sum(a for _, a in groups.values()) == totals.fields()[0x04] == 1234


def test_sim_module_serves_bare_tcp():
    import subprocess
    import sys
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "devices.sim.zvt", "--tcp", "0"], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("socket://") and not url.endswith(":0")
        with ZvtTerminal(url, **FAST) as term:
            assert term.authorize(100).approved
    finally:
        proc.terminate()
        proc.wait(5)


# --- 5. whatever a terminal sends: the driver's own errors only --------------------------


KINDS = {"04 0F": (0x04, 0x0F), "06 0F": (0x06, 0x0F), "04 FF": (0x04, 0xFF),
         "06 D3": (0x06, 0xD3), "06 D1": (0x06, 0xD1)}
SEEDS = [bytes.fromhex(v["hex"]) for v in VECTORS if v["kind"] in KINDS]


def _read_as_the_driver_does(apdu: Apdu) -> None:
    """Every reader the driver runs over a terminal message, as it runs them."""
    for parse, args in ((card_result, (apdu, 0, ())), (intermediate, (apdu,)),
                        (text_block_lines, (apdu,)), (print_line, (apdu,))):
        try:
            content(parse, *args)
        except ZvtProtocolError:
            pass
    status_reply(Tx(completion=apdu))
    status_reply(Tx(status_info=apdu))


@st.composite
def mutated(draw):
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    start = 5 if raw[2] == 0xFF else 3
    body = bytearray(raw[start:])
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(0, len(body) - 1)))
        if op == "flip" and body:
            body[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete" and body:
            del body[at]
        elif op == "truncate":
            del body[at:]
    return Apdu(raw[0], raw[1], bytes(body))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(KINDS)), st.binary(max_size=300))
def test_random_bytes_never_raise_out_of_the_driver(kind, data):
    _read_as_the_driver_does(Apdu(*KINDS[kind], data))


@settings(max_examples=300, deadline=None)
@given(mutated())
def test_mutated_real_messages_never_raise_out_of_the_driver(apdu):
    _read_as_the_driver_does(apdu)


class _Bytes:
    def __init__(self, data: bytes):
        self.data, self.written = bytearray(data), bytearray()

    def read_some(self, timeout: float) -> bytes:
        out, self.data = bytes(self.data[:7]), self.data[7:]
        return out

    def write(self, data: bytes) -> None:
        self.written += data


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_on_the_line_are_only_link_errors(noise):
    link = Link(_Bytes(noise + encode_frame(noise[:40])), ack_timeout=0.0,
                inter_byte_timeout=0.0)
    try:
        link.receive(0.0)
    except TerminalLinkError:
        pass


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutated().filter(lambda a: a.command == (0x04, 0x0F)))
def test_a_payment_ends_approved_declined_or_unknown_then_recovered(status):
    good = vector("approved 20.40 EUR, PAN")
    done = Apdu(0x06, 0x0F).encode()
    answers = {(0x06, 0x01): [status.encode(), done], (0x06, 0x20): [good, done]}
    with ScriptedTerminal(answers) as pt:
        with ZvtTerminal(pt.serve_pty(), **FAST) as term:
            try:
                result = term.authorize(2040)
            except TerminalLinkError:
                recovered = term.last_result()
                assert recovered is not None and recovered.approved
            else:
                assert result.approved is (result.result_code == 0)


def test_skipped_card_data_is_logged_masked(caplog):
    # a card number field whose LLVAR length runs past the message: skipped, logged
    raw = bytes.fromhex("27 00 22 F1 F9 62 12 34 56 78 90 12 34 56 7F")
    fields = decode_bmps(raw)
    assert fields[0x27] == 0 and fields["unparsed"] == raw[2:]
    [message] = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert "22" in message and "62 12" not in message and "78 90" not in message
