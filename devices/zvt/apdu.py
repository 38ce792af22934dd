"""ZVT APDU codec: class/instruction/length (1-byte and `FF lo hi` forms), BMP fields, TLV.

An APDU is `class instr length data`. The data holds a command's fixed fields followed by
tagged BMP fields (`04` amount, `49` currency, `22` masked PAN, …) and an optional `06`
BER-TLV container. Card data a semi-integrated terminal must never hand over (tracks, CVV,
chip data) is decoded only as `Redacted(length)`, so its bytes never leave this module.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from devices.serial_port import mask_digits_hex

from .bcd import (decode_bcd, decode_digits, decode_var_len, encode_bcd, encode_digits,
                  encode_var_len)

__all__ = ["Apdu", "ApduError", "Tlv", "Redacted", "FIELDS", "encode_bmps", "decode_bmps",
           "encode_tlv", "decode_tlv", "encode_length", "decode_length"]


log = logging.getLogger("chaoshou.zvt")


class ApduError(ValueError):
    """A malformed APDU or field."""


@dataclass(frozen=True)
class Redacted:
    """Sensitive card data that was present on the line; only its length is kept."""
    length: int


@dataclass(frozen=True)
class Tlv:
    """One BER-TLV element; `value` is bytes, or a list of Tlv for constructed tags."""
    tag: int
    value: bytes | list = field(default=b"")

    @property
    def constructed(self) -> bool:
        return _tag_constructed(self.tag)


def encode_length(n: int) -> bytes:
    """APDU length: one byte below 255, else `FF` + 2 bytes little-endian."""
    if n < 0 or n > 0xFFFF:
        raise ApduError(f"APDU data length {n} out of range")
    return bytes([n]) if n < 0xFF else b"\xff" + n.to_bytes(2, "little")


def decode_length(raw: bytes, offset: int) -> tuple[int, int]:
    """(length, offset of the data) for the length field at `offset`."""
    if offset >= len(raw):
        raise ApduError("APDU too short for its length field")
    if raw[offset] != 0xFF:
        return raw[offset], offset + 1
    if offset + 3 > len(raw):
        raise ApduError("APDU too short for its extended length field")
    return int.from_bytes(raw[offset + 1:offset + 3], "little"), offset + 3


@dataclass(frozen=True)
class Apdu:
    """A ZVT application data unit."""
    cls: int
    instr: int
    data: bytes = b""

    @property
    def command(self) -> tuple[int, int]:
        return (self.cls, self.instr)

    def encode(self) -> bytes:
        return bytes([self.cls, self.instr]) + encode_length(len(self.data)) + bytes(self.data)

    @classmethod
    def decode(cls, raw: bytes) -> "Apdu":
        raw = bytes(raw)
        if len(raw) < 3:
            raise ApduError(f"APDU too short: {raw.hex().upper()}")
        length, start = decode_length(raw, 2)
        if len(raw) != start + length:
            raise ApduError(f"APDU length {length} does not match {len(raw) - start} data bytes")
        return cls(raw[0], raw[1], raw[start:])

    def fields(self, offset: int = 0) -> dict:
        """The BMP fields after `offset` bytes of fixed fields (see `decode_bmps`)."""
        return decode_bmps(self.data[offset:])

    def __repr__(self) -> str:  # short and safe for logs: the data may hold a masked PAN only
        return f"Apdu({self.cls:02X} {self.instr:02X}, {len(self.data)} bytes)"


# Field kinds: ("bcd", n) -> int; ("digits", n) -> str of fixed BCD digits; ("bin", 1) -> int;
# ("bytes", n) -> bytes; ("ascii", n) -> str; ("llvar"/"lllvar", kind) variable length with
# kind "digits" (BCD, E = masked), "bytes", "ascii" or "secret" (-> Redacted); ("tlv",).
FIELDS: dict[int, tuple[str, tuple]] = {
    0x01: ("timeout", ("bin", 1)),
    0x02: ("max_status_infos", ("bin", 1)),
    0x03: ("service_byte", ("bin", 1)),
    0x04: ("amount", ("bcd", 6)),
    0x05: ("pump_no", ("bin", 1)),
    0x06: ("tlv", ("tlv",)),
    0x0B: ("trace", ("bcd", 3)),
    0x0C: ("time", ("digits", 3)),
    0x0D: ("date", ("digits", 2)),
    0x0E: ("expiry", ("digits", 2)),
    0x17: ("card_seq", ("bcd", 2)),
    0x19: ("payment_type", ("bin", 1)),
    0x22: ("pan", ("llvar", "digits")),
    0x23: ("track2", ("llvar", "secret")),
    0x24: ("track3", ("lllvar", "secret")),
    0x27: ("result_code", ("bin", 1)),
    0x29: ("terminal_id", ("digits", 4)),
    0x2A: ("vu_number", ("ascii", 15)),
    0x2D: ("track1", ("llvar", "secret")),
    0x2E: ("sync_chip", ("lllvar", "secret")),
    0x37: ("original_trace", ("bcd", 3)),
    0x3A: ("cvv", ("secret", 2)),
    0x3B: ("aid", ("bytes", 8)),
    0x3C: ("text", ("lllvar", "ascii")),
    0x3D: ("password", ("bcd", 3)),
    0x49: ("currency", ("bcd", 2)),
    0x60: ("totals", ("lllvar", "bytes")),
    0x87: ("receipt_no", ("bcd", 2)),
    0x88: ("turnover_no", ("bcd", 3)),
    0x8A: ("card_type", ("bin", 1)),
    0x8B: ("card_name", ("llvar", "ascii")),
    0x8C: ("card_type_id", ("bin", 1)),
    0x9A: ("geldkarte", ("lllvar", "secret")),
    0xA0: ("result_code_as", ("bin", 1)),
    0xA7: ("chip_data", ("llvar", "secret")),
    0xAA: ("date_full", ("digits", 3)),
    0xAF: ("ef_info", ("lllvar", "bytes")),
    0xBA: ("aid_param", ("bytes", 5)),
    # Fields of commands this driver does not use, known so that a message carrying them
    # is still read to its end (lengths from the spec's summary of bitmaps).
    0x92: ("text_ecr", ("lllvar", "ascii")),
    0xD0: ("key_algorithm", ("bin", 1)),
    0xD1: ("offset", ("llvar", "bytes")),
    0xD2: ("direction", ("bin", 1)),
    0xD3: ("key_position", ("bin", 1)),
    0xE0: ("input_min", ("bin", 1)),
    **{0xE0 + n: (f"display_line_{n}", ("llvar", "ascii")) for n in range(1, 9)},
    0xE9: ("input_max", ("bin", 1)),
    0xEA: ("echo", ("bin", 1)),
    0xEB: ("mac", ("bytes", 8)),
    0xF0: ("display_duration", ("bin", 1)),
    **{0xF0 + n: (f"text_line_{n}", ("llvar", "ascii")) for n in range(1, 9)},
    0xF9: ("beeps", ("bin", 1)),
    0xFA: ("card_status", ("bin", 1)),
    0xFB: ("ok_required", ("bin", 1)),
    0xFC: ("dialog_control", ("bin", 1)),
}

_TEXT_ENCODING = "cp437"  # ZVT texts are 8-bit; ASCII for everything this project sends


def _encode_value(tag: int, kind: tuple, value) -> bytes:
    k = kind[0]
    if k == "bcd":
        return encode_bcd(value, kind[1])
    if k == "digits":
        out = bytes.fromhex(value) if isinstance(value, str) and value.isdigit() else None
        if out is None or len(out) != kind[1]:
            raise ApduError(f"field {tag:02X} needs {2 * kind[1]} digits, got {value!r}")
        return out
    if k == "bin":
        if not 0 <= value <= 0xFF:
            raise ApduError(f"field {tag:02X} needs a byte value, got {value!r}")
        return bytes([value])
    if k in ("bytes", "ascii"):
        raw = value.encode(_TEXT_ENCODING) if isinstance(value, str) else bytes(value)
        if len(raw) != kind[1]:
            raise ApduError(f"field {tag:02X} needs {kind[1]} bytes, got {len(raw)}")
        return raw
    if k in ("llvar", "lllvar"):
        body = _encode_var_body(tag, kind[1], value)
        return encode_var_len(len(body), 2 if k == "llvar" else 3) + body
    if k == "tlv":
        body = encode_tlv(value)
        return _ber_length(len(body)) + body
    raise ApduError(f"field {tag:02X} cannot be sent by this codec")


def _encode_var_body(tag: int, kind: str, value) -> bytes:
    if kind == "digits":
        return encode_digits(value)
    if kind == "ascii":
        return value.encode(_TEXT_ENCODING) if isinstance(value, str) else bytes(value)
    if kind == "bytes":
        return bytes(value)
    raise ApduError(f"field {tag:02X} holds card data this codec never sends")


def encode_bmps(fields) -> bytes:
    """Encode BMP fields given as a dict or a list of (tag, value) pairs, in that order."""
    items = fields.items() if isinstance(fields, dict) else fields
    out = bytearray()
    for tag, value in items:
        if tag not in FIELDS:
            raise ApduError(f"unknown BMP field {tag:02X}")
        out.append(tag)
        out += _encode_value(tag, FIELDS[tag][1], value)
    return bytes(out)


def decode_bmps(data: bytes, *, strict: bool = False) -> dict:
    """Decode tagged BMP fields into {tag: value}, by the spec's length rules.

    A field whose length is known (fixed, LLVAR/LLLVAR, BER-TLV) but whose content is not
    what the spec allows (a BCD amount with a nibble above 9, a TLV that does not nest) is
    skipped by its length; its tag is listed under `"malformed"`. Decoding stops at a tag
    this codec does not know, or at a field that runs past the end of the data (neither
    leaves a way to find the next field): the remaining bytes are kept under `"unparsed"`.
    What is skipped is logged with its digits masked. With `strict=True` every such case
    raises ApduError instead (the encoder's round-trip checks use it).
    """
    data = bytes(data)
    out: dict = {}
    i = 0
    while i < len(data):
        tag = data[i]
        if tag not in FIELDS:
            if strict:
                raise ApduError(f"unknown BMP field {tag:02X}")
            _skipped("unknown field", tag, data[i:])
            out["unparsed"] = data[i:]
            break
        kind = FIELDS[tag][1]
        try:
            body, end = _field_extent(tag, kind, data, i + 1)
        except ApduError:
            if strict:
                raise
            _skipped("truncated field", tag, data[i:])
            out["unparsed"] = data[i:]
            break
        try:
            value = _parse_body(tag, kind, body)
        except ValueError as exc:
            if strict:
                raise exc if isinstance(exc, ApduError) else ApduError(
                    f"field {tag:02X}: {exc}") from None
            _skipped("malformed field", tag, data[i:end])
            out.setdefault("malformed", []).append(tag)
        else:
            out.setdefault(tag, value)
        i = end
    return out


def _skipped(what: str, tag: int, raw: bytes) -> None:
    log.warning("ZVT %s %02X skipped (%d bytes): %s", what, tag, len(raw), masked_hex(raw))


def masked_hex(raw: bytes) -> str:
    """Hex of bytes that may hold card data in any form (masking nibbles, separators):
    only the first 3 and last 2 bytes are shown, and those through the PAN mask."""
    raw = bytes(raw)
    if len(raw) <= 5:
        return mask_digits_hex(raw)
    return f"{mask_digits_hex(raw[:3])} … {mask_digits_hex(raw[-2:])}"


def _take(data: bytes, i: int, n: int, tag: int) -> tuple[bytes, int]:
    if i + n > len(data):
        raise ApduError(f"field {tag:02X} truncated: needs {n} bytes, {len(data) - i} left")
    return data[i:i + n], i + n


def _field_extent(tag: int, kind: tuple, data: bytes, i: int) -> tuple[bytes, int]:
    """(the field's body, offset after it) by the field's length rule alone."""
    k = kind[0]
    if k in ("llvar", "lllvar"):
        raw_len, i = _take(data, i, 2 if k == "llvar" else 3, tag)
        try:
            n = decode_var_len(raw_len)
        except ValueError as exc:  # the length itself is unreadable: no way past it
            raise ApduError(f"field {tag:02X}: {exc}") from None
        return _take(data, i, n, tag)
    if k == "tlv":
        length, i = _read_ber_length(data, i)
        return _take(data, i, length, tag)
    return _take(data, i, 1 if k == "bin" else kind[1], tag)


def _parse_body(tag: int, kind: tuple, body: bytes):
    """The value of one field from its body; ValueError if the content breaks the spec."""
    k = kind[0]
    if k == "bcd":
        return decode_bcd(body)
    if k == "digits":
        text = body.hex()
        if not text.isdigit():
            raise ApduError(f"field {tag:02X} is not BCD")
        return text
    if k == "bin":
        return body[0]
    if k == "bytes":
        return body
    if k == "ascii":
        return body.decode(_TEXT_ENCODING)
    if k == "secret":
        return Redacted(len(body))
    if k in ("llvar", "lllvar"):
        sub = kind[1]
        if sub == "digits":
            return decode_digits(body)
        if sub == "ascii":
            return body.decode(_TEXT_ENCODING)
        if sub == "secret":
            return Redacted(len(body))
        return body
    if k == "tlv":
        return decode_tlv(body)
    raise ApduError(f"field {tag:02X} has an unknown kind")


# --- BER-TLV (the `06` container) -------------------------------------------------------

def _tag_constructed(tag: int) -> bool:
    first = tag
    while first > 0xFF:
        first >>= 8
    return bool(first & 0x20)


def _ber_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n <= 0xFF:
        return bytes([0x81, n])
    if n <= 0xFFFF:
        return b"\x82" + n.to_bytes(2, "big")
    raise ApduError(f"TLV length {n} too large")


def _read_ber_length(data: bytes, i: int) -> tuple[int, int]:
    raw, i = _take(data, i, 1, 0x06)
    first = raw[0]
    if first < 0x80:
        return first, i
    if first in (0x81, 0x82):
        more, i = _take(data, i, first - 0x80, 0x06)
        return int.from_bytes(more, "big"), i
    raise ApduError(f"bad TLV length byte {first:02X}")


def _tag_bytes(tag: int) -> bytes:
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")


def encode_tlv(items) -> bytes:
    """Encode a list of Tlv (nested lists for constructed tags)."""
    out = bytearray()
    for item in items:
        body = encode_tlv(item.value) if isinstance(item.value, list) else bytes(item.value)
        out += _tag_bytes(item.tag) + _ber_length(len(body)) + body
    return bytes(out)


def decode_tlv(data: bytes) -> list:
    """Decode BER-TLV into a list of Tlv; constructed tags are decoded recursively (a
    constructed tag whose content does not nest as TLV keeps its bytes)."""
    items = []
    i = 0
    while i < len(data):
        first = data[i]
        tag, i = first, i + 1
        if first & 0x1F == 0x1F:
            while True:
                b, i = _take(data, i, 1, 0x06)
                tag = (tag << 8) | b[0]
                if not b[0] & 0x80:
                    break
        length, i = _read_ber_length(data, i)
        body, i = _take(data, i, length, 0x06)
        value = body
        if _tag_constructed(tag):
            try:
                value = decode_tlv(body)
            except ApduError:
                log.warning("ZVT TLV tag %X is constructed but does not nest; kept as bytes",
                            tag)
        items.append(Tlv(tag, value))
    return items


# --- BMP 60 individual totals (end of day) ----------------------------------------------

TOTALS_GROUPS = ("girocard", "JCB", "Eurocard", "Amex", "Visa", "Diners", "others")


def encode_totals(first_receipt: int, last_receipt: int, groups: dict) -> bytes:
    """Body of BMP 60: receipt range, then (count, amount) for each card group in order."""
    out = bytearray(encode_bcd(first_receipt, 2) + encode_bcd(last_receipt, 2))
    for name in TOTALS_GROUPS:
        count, fen = groups.get(name, (0, 0))
        if not 0 <= count <= 0xFF:
            raise ApduError(f"total count {count} does not fit one byte")
        out.append(count)
        out += encode_bcd(fen, 6)
    return bytes(out)


def decode_totals(body: bytes) -> tuple[int, int, dict]:
    """(first receipt, last receipt, {group: (count, fen)}) from a BMP 60 body."""
    if len(body) < 4 + 7 * len(TOTALS_GROUPS):
        raise ApduError(f"BMP 60 totals too short: {len(body)} bytes")
    first, last = decode_bcd(body[0:2]), decode_bcd(body[2:4])
    groups = {}
    for n, name in enumerate(TOTALS_GROUPS):
        at = 4 + 7 * n
        groups[name] = (body[at], decode_bcd(body[at + 1:at + 7]))
    return first, last, groups
