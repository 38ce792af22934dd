"""ZVT codec: known-good frames (docs/contracts.md §6, "ZVT on the wire"; built and put on
the wire by the driver), APDU length forms, BMP fields, BCD and TLV, and property tests for stuffing + CRC."""
import os
import random
import threading

import pytest
from hypothesis import given, settings, strategies as st

from devices.serial_port import open_port
from devices.zvt import ZvtTerminal
from devices.zvt.apdu import (Apdu, ApduError, Redacted, Tlv, decode_bmps, decode_tlv,
                              decode_totals, encode_bmps, encode_tlv, encode_totals)
from devices.zvt.bcd import (decode_bcd, decode_digits, decode_var_len, encode_bcd,
                             encode_digits, encode_var_len)
from devices.zvt.errors import FrameError, TerminalTimeout
from devices.zvt.framing import Link, crc16_kermit, decode_frame, encode_frame, stuff

VECTORS = {
    "authorisation 12.34 CNY": "10 02 06 01 0A 04 00 00 00 00 12 34 49 01 56 10 03 51 EE",
    "authorisation 10.00": "10 02 06 01 07 04 00 00 00 00 10 10 00 10 03 62 91",
    "registration": "10 02 06 00 06 12 34 56 BA 09 78 10 03 24 C3",
    "ack apdu": "10 02 80 00 00 10 03 F5 1F",
    "completion": "10 02 06 0F 00 10 03 C6 33",
    "reversal of receipt 0012": "10 02 06 30 06 12 34 56 87 00 12 10 03 CF 08",
    "status enquiry": "10 02 05 01 03 12 34 56 10 03 E0 43",
}

APDUS = {
    "authorisation 12.34 CNY": Apdu(0x06, 0x01, encode_bmps([(0x04, 1234), (0x49, 156)])),
    "authorisation 10.00": Apdu(0x06, 0x01, encode_bmps([(0x04, 1000)])),
    "registration": Apdu(0x06, 0x00, encode_bcd(123456, 3) + b"\xba" + encode_bcd(978, 2)),
    "ack apdu": Apdu(0x80, 0x00),
    "completion": Apdu(0x06, 0x0F),
    "reversal of receipt 0012": Apdu(0x06, 0x30, encode_bcd(123456, 3)
                                     + encode_bmps([(0x87, 12)])),
    "status enquiry": Apdu(0x05, 0x01, encode_bcd(123456, 3)),
}


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_known_good_frame_encodes_and_decodes(name):
    frame = bytes.fromhex(VECTORS[name])
    assert encode_frame(APDUS[name].encode()) == frame
    assert Apdu.decode(decode_frame(frame)) == APDUS[name]


def test_crc16_kermit_check_value():
    assert crc16_kermit(b"123456789") == 0x2189
    assert crc16_kermit(b"") == 0


class _CapturePeer:
    """A bare PT on a pty master: records the ECR's first frame, ACKs it and refuses the
    command with `84 83`, then ACKs whatever frame the ECR sends next."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.frames = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _read_frame(self):
        buf = b""
        while not (len(buf) >= 4 and buf[-4:-2] == b"\x10\x03"
                   and buf[:-4].replace(b"\x10\x10", b"").count(b"\x10") == 1):
            buf += os.read(self.master, 1)
        return buf

    def _run(self):
        self.frames.append(self._read_frame())
        os.write(self.master, b"\x06" + encode_frame(Apdu(0x84, 0x83).encode()))
        assert os.read(self.master, 1) == b"\x06"

    def close(self):
        self.thread.join(5)
        os.close(self.master)
        os.close(self.slave)


@pytest.mark.parametrize("name, call", [
    ("authorisation 12.34 CNY", lambda t: t.authorize(1234)),
    ("authorisation 10.00", lambda t: ZvtTerminal(t.port, currency=None).authorize(1000)),
    ("registration", lambda t: t.register(123456, config_byte=0xBA, currency=978)),
    ("reversal of receipt 0012", lambda t: t.reverse(12)),
    ("status enquiry", lambda t: t.status()),
])
def test_driver_puts_the_known_good_frame_on_the_wire(name, call):
    peer = _CapturePeer()
    try:
        with ZvtTerminal(peer.path, password=123456, ack_timeout=1, reply_timeout=2) as term:
            outcome = call(term)
    finally:
        peer.close()
    assert peer.frames == [bytes.fromhex(VECTORS[name])]
    # 84 83 = "function not possible": a clear refusal, never an approval.
    if isinstance(outcome, dict):
        assert outcome.get("ok", outcome.get("ready")) is False
    else:
        assert outcome.approved is False and outcome.result_code == 0x83


# --- APDU length forms ------------------------------------------------------------------

@pytest.mark.parametrize("n, length_bytes", [(0, "00"), (254, "FE"), (255, "FF FF 00"),
                                             (300, "FF 2C 01"), (65535, "FF FF FF")])
def test_apdu_length_forms(n, length_bytes):
    apdu = Apdu(0x06, 0xD3, bytes(n))
    raw = apdu.encode()
    assert raw[:2] == b"\x06\xd3"
    assert raw[2:2 + len(bytes.fromhex(length_bytes))] == bytes.fromhex(length_bytes)
    assert Apdu.decode(raw) == apdu


def test_apdu_length_mismatch_is_an_error():
    with pytest.raises(ApduError, match="length"):
        Apdu.decode(bytes.fromhex("06 01 0A 04 00"))
    with pytest.raises(ApduError):
        Apdu.decode(b"\x06\x01")
    with pytest.raises(ApduError):
        Apdu.decode(b"\x06\x01\xff\x01")


# --- BMP fields ---------------------------------------------------------------------------

def test_status_information_fields_decode():
    data = bytes.fromhex(
        "27 00"                       # result approved
        "04 00 00 00 00 12 34"        # amount 12.34
        "49 01 56"                    # CNY
        "0B 00 00 42"                 # trace 42
        "0C 10 32 05 0D 11 27"        # 10:32:05, 27 Nov
        "22 F0 F8 62 12 34 EE EE EE 12 34"  # PAN, E-masked
        "29 52 00 00 01"              # terminal id
        "87 00 07"                    # receipt no 7
        "8A 2F"                       # card type
        "8B F0 F8 55 6E 69 6F 6E 50 61 79"  # card name "UnionPay"
        "3C F0 F0 F5 48 65 6C 6C 6F")  # text "Hello"
    f = decode_bmps(data)
    assert f == {0x27: 0, 0x04: 1234, 0x49: 156, 0x0B: 42, 0x0C: "103205", 0x0D: "1127",
                 0x22: "621234******1234", 0x29: "52000001", 0x87: 7, 0x8A: 0x2F,
                 0x8B: "UnionPay", 0x3C: "Hello"}
    assert encode_bmps(list(f.items())) == data


def test_pan_field_e_masking_and_odd_length():
    assert encode_bmps([(0x22, "621234******1234")]) == bytes.fromhex(
        "22 F0 F8 62 12 34 EE EE EE 12 34")
    # 19-digit PAN: padded with F, which is dropped again on decode.
    odd = "6212345*********1234"[:19]
    raw = encode_bmps([(0x22, odd)])
    assert raw[1:3] == b"\xf1\xf0" and raw[-1] & 0x0F == 0x0F
    assert decode_bmps(raw) == {0x22: odd}


def test_track_and_cvv_data_never_leave_the_codec():
    f = decode_bmps(bytes.fromhex("23 F0 F3 41 11 11 3A 12 34 27 00"))
    assert f == {0x23: Redacted(3), 0x3A: Redacted(2), 0x27: 0}
    with pytest.raises(ApduError, match="never sends"):
        encode_bmps([(0x23, b"\x41\x11")])


def test_unknown_tag_stops_decoding_and_keeps_the_rest():
    f = decode_bmps(bytes.fromhex("27 00 7F 01 02 03"))
    assert f == {0x27: 0, "unparsed": bytes.fromhex("7F 01 02 03")}


@pytest.mark.parametrize("bad", ["04 00 00 00", "0B 00 0A 00", "22 F0 F5 12", "22 F1 0A",
                                 "29 52 00 00 0A", "06 85 00", "3C F0 F0"])
def test_truncated_or_invalid_fields_are_errors_when_strict(bad):
    with pytest.raises(ApduError):
        decode_bmps(bytes.fromhex(bad), strict=True)


@pytest.mark.parametrize("bad, expected", [
    # content against the spec, length known: skipped by its length, decoding goes on
    ("0B 00 0A 00 27 00", {"malformed": [0x0B], 0x27: 0}),
    ("29 52 00 00 0A 27 05", {"malformed": [0x29], 0x27: 5}),
    ("04 00 00 00 00 1A 34 49 09 78", {"malformed": [0x04], 0x49: 978}),
    # no way past the field: the rest is kept unparsed
    ("27 00 04 00 00 00", {0x27: 0, "unparsed": bytes.fromhex("04 00 00 00")}),
    ("27 00 22 F0 F5 12", {0x27: 0, "unparsed": bytes.fromhex("22 F0 F5 12")}),
    ("27 00 22 F1 0A", {0x27: 0, "unparsed": bytes.fromhex("22 F1 0A")}),
    ("27 00 06 85 00", {0x27: 0, "unparsed": bytes.fromhex("06 85 00")}),
])
def test_malformed_fields_are_skipped_by_their_length_rules(bad, expected, caplog):
    assert decode_bmps(bytes.fromhex(bad)) == expected
    assert "skipped" in caplog.text


def test_pan_with_masking_nibbles_decodes_masked():
    # LLVAR 11 bytes; nibbles above 9 (D here) are masked digits, F is padding
    f = decode_bmps(bytes.fromhex("22 F1 F1 59 66 66 66 66 D2 00 21 22 01 00 27 00"))
    assert f[0x27] == 0 and f[0x22] == "5966666666*20021220100"
    assert decode_bmps(bytes.fromhex("22 F0 F8 EE EE EE EE EE EE 47 71")) == {
        0x22: "************4771"}


def test_constructed_tlv_tags_nest_and_unnested_content_is_kept():
    raw = bytes.fromhex("06 0A 2F 08 1F 12 01 02 1F 10 01 00")
    assert decode_bmps(raw) == {0x06: [Tlv(0x2F, [Tlv(0x1F12, b"\x02"), Tlv(0x1F10, b"\x00")])]}
    # 0x60 is constructed but its content here is not TLV: kept as bytes, nothing raised
    assert decode_bmps(bytes.fromhex("06 04 60 02 FF FF")) == {
        0x06: [Tlv(0x60, b"\xff\xff")]}


def test_encode_rejects_bad_values():
    with pytest.raises(ValueError):
        encode_bmps([(0x04, -1)])
    with pytest.raises(ValueError):
        encode_bmps([(0x04, 10 ** 12)])
    with pytest.raises(ApduError):
        encode_bmps([(0x29, "1234")])
    with pytest.raises(ApduError):
        encode_bmps([(0x7F, 1)])


def test_tlv_container_nested_and_long():
    items = [Tlv(0x24, [Tlv(0x07, b"Insert card"), Tlv(0x07, b"x" * 200)]),
             Tlv(0x1F10, b"\x01"), Tlv(0x40, b"")]
    raw = encode_bmps([(0x06, items)])
    assert raw[0] == 0x06 and raw[1] == 0x81  # container longer than 127 bytes
    assert decode_bmps(raw) == {0x06: items}
    assert decode_tlv(encode_tlv(items)) == items


def test_totals_round_trip():
    groups = {"Visa": (2, 3000), "others": (1, 1234), "Eurocard": (0, 0)}
    first, last, out = decode_totals(encode_totals(3, 9, groups))
    assert (first, last) == (3, 9)
    assert out["Visa"] == (2, 3000) and out["others"] == (1, 1234) and out["JCB"] == (0, 0)


# --- BCD --------------------------------------------------------------------------------

def test_bcd_examples_and_errors():
    assert encode_bcd(1234, 6) == bytes.fromhex("000000001234")
    assert decode_bcd(bytes.fromhex("0156")) == 156
    with pytest.raises(ValueError):
        decode_bcd(b"\x1a")
    with pytest.raises(ValueError):
        encode_bcd(1000, 1)
    with pytest.raises(TypeError):
        encode_bcd(12.5, 6)
    assert encode_var_len(17, 2) == b"\xf1\xf7" and decode_var_len(b"\xf1\xf7") == 17
    with pytest.raises(ValueError):
        decode_var_len(b"\x01\x07")


@given(st.integers(min_value=1, max_value=12).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(min_value=0, max_value=10 ** (2 * n) - 1))))
def test_bcd_round_trip(n_value):
    n, value = n_value
    raw = encode_bcd(value, n)
    assert len(raw) == n and decode_bcd(raw) == value
    assert raw.hex() == str(value).zfill(2 * n)


@given(st.text(alphabet="0123456789*", min_size=1, max_size=40))
def test_bcd_digit_strings_round_trip(digits):
    assert decode_digits(encode_digits(digits)) == digits


# --- framing properties -----------------------------------------------------------------

apdus = st.builds(Apdu, st.integers(0, 255), st.integers(0, 255), st.binary(max_size=600))


@given(apdus)
def test_frame_round_trip_over_arbitrary_apdus(apdu):
    raw = apdu.encode()
    frame = encode_frame(raw)
    body = frame[2:-4]
    # Stuffing: every DLE of the body is doubled, so no lone DLE can end the frame early.
    assert body.replace(b"\x10\x10", b"").count(b"\x10") == 0
    assert body == stuff(raw) and frame[-4:-2] == b"\x10\x03"
    assert Apdu.decode(decode_frame(frame)) == apdu


@given(apdus, st.data())
def test_any_single_bit_error_is_detected(apdu, data):
    frame = bytearray(encode_frame(apdu.encode()))
    bit = data.draw(st.integers(0, 8 * len(frame) - 1))
    frame[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(FrameError):
        decode_frame(bytes(frame))


class _ChunkChannel:
    """Feeds prepared bytes in given chunk sizes; b"" once exhausted (a quiet line)."""

    def __init__(self, data: bytes, sizes):
        self.data, self.sizes, self.written = bytearray(data), list(sizes), bytearray()

    def read_some(self, timeout):
        if not self.data:
            return b""
        n = self.sizes.pop(0) if self.sizes else len(self.data)
        out, self.data = bytes(self.data[:n]), self.data[n:]
        return out

    def write(self, data):
        self.written += data


@settings(max_examples=60)
@given(st.lists(apdus, min_size=1, max_size=4), st.binary(max_size=8),
       st.lists(st.integers(1, 17), max_size=200))
def test_link_reads_frames_split_anyhow_after_noise(frames, noise, sizes):
    noise = noise.replace(b"\x10", b"")
    stream = noise + b"".join(encode_frame(a.encode()) for a in frames)
    link = Link(_ChunkChannel(stream, sizes), ack_timeout=0.01, inter_byte_timeout=0.01)
    got = [link.receive(0.01) for _ in frames]
    assert got == frames
    assert bytes(link.channel.written) == b"\x06" * len(frames)


def test_link_naks_a_damaged_frame_and_takes_the_resend():
    good = encode_frame(Apdu(0x04, 0x0F, b"\x27\x00").encode())
    bad = bytearray(good)
    bad[5] ^= 0x01

    class Resender(_ChunkChannel):
        """Sends the damaged frame; the good one only after it was NAKed."""
        def write(self, data):
            super().write(data)
            if data == b"\x15":
                self.data += good

    link = Link(Resender(bytes(bad), []), inter_byte_timeout=0.01)
    assert link.receive(0.01) == Apdu(0x04, 0x0F, b"\x27\x00")
    assert bytes(link.channel.written) == b"\x15\x06"


def test_link_send_resends_on_nak_and_gives_up_after_max_tries():
    ch = _ChunkChannel(b"\x15\x06", [1, 1])
    link = Link(ch, ack_timeout=0.01, max_tries=3)
    link.send(b"\x80\x00\x00")
    assert bytes(ch.written) == encode_frame(b"\x80\x00\x00") * 2
    link = Link(_ChunkChannel(b"\x15\x15\x15", [1, 1, 1]), ack_timeout=0.01, max_tries=3)
    with pytest.raises(OSError, match="NAK"):
        link.send(b"\x80\x00\x00")
    link = Link(_ChunkChannel(b"", []), ack_timeout=0.01, max_tries=3)
    with pytest.raises(TerminalTimeout):
        link.send(b"\x80\x00\x00")
    assert link.frames_out == 3


def test_link_drops_a_repeat_but_keeps_a_new_frame_that_comes_instead_of_the_ack():
    status = Apdu(0x04, 0xFF, b"\x0a")
    line = Apdu(0x06, 0xD1, b"\x00SALE")
    # We got `status`, ACKed it and answer 80 00 00: the terminal repeats `status` (our
    # ACK was late), then sends `line` (it got our answer; its ACK was lost).
    stream = encode_frame(status.encode()) * 2 + encode_frame(line.encode())
    ch = _ChunkChannel(stream, [])
    link = Link(ch, ack_timeout=0.01, inter_byte_timeout=0.01)
    assert link.receive(0.01) == status
    link.send(b"\x80\x00\x00")
    assert link.frames_out == 1  # `line` stood for the ACK: no resend
    assert link.receive(0.01) == line
    assert bytes(ch.written) == b"\x06" + encode_frame(b"\x80\x00\x00") + b"\x06\x06"
    # A frame that the caller's predicate does not accept is acknowledged and dropped.
    ch = _ChunkChannel(encode_frame(b"\x06\x01\x00") + b"\x06", [])
    link = Link(ch, ack_timeout=0.01, inter_byte_timeout=0.01)
    link.send(b"\x04\xff\x00", implies_ack=lambda raw: raw[:2] == b"\x80\x00")
    assert bytes(ch.written) == encode_frame(b"\x04\xff\x00") + b"\x06"
    with pytest.raises(TerminalTimeout):
        link.receive(0.01)


def test_link_over_a_real_pty_with_random_splits():
    master, slave = os.openpty()
    port = open_port(os.ttyname(slave), baudrate=9600, stopbits=2, timeout=0.05)
    try:
        from devices.zvt.framing import SerialChannel
        link = Link(SerialChannel(port), inter_byte_timeout=0.5)
        rnd = random.Random(7)
        apdu = Apdu(0x06, 0xD1, bytes(rnd.randrange(256) for _ in range(300)))
        frame = encode_frame(apdu.encode())

        def feed():
            i = 0
            while i < len(frame):
                n = rnd.randint(1, 40)
                os.write(master, frame[i:i + n])
                i += n
        t = threading.Thread(target=feed)
        t.start()
        assert link.receive(2.0) == apdu
        t.join()
        assert os.read(master, 1) == b"\x06"
    finally:
        port.close()
        os.close(master)
        os.close(slave)


def test_driver_never_passes_on_more_than_first6_last4():
    from devices.zvt.results import safe_masked_pan
    assert safe_masked_pan("6212345678901234") == "621234******1234"
    assert safe_masked_pan("621234******1234") == "621234******1234"
    assert safe_masked_pan("****1234") == "****1234"
    assert safe_masked_pan("123456789") == "*****6789"
    assert safe_masked_pan(None) is None and safe_masked_pan("") is None


@given(st.text(alphabet="0123456789*", min_size=1, max_size=19))
def test_masked_pan_shows_at_most_ten_digits(pan):
    from devices.zvt.results import safe_masked_pan
    out = safe_masked_pan(pan)
    assert len(out) == len(pan) and sum(c.isdigit() for c in out) <= 10
