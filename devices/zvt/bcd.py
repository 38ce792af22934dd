"""Packed BCD helpers for ZVT: fixed-width numbers, digit strings with masked digits, LLVAR."""
from __future__ import annotations

__all__ = ["encode_bcd", "decode_bcd", "encode_digits", "decode_digits", "encode_var_len",
           "decode_var_len"]


def encode_bcd(value: int, nbytes: int) -> bytes:
    """`value` as `nbytes` bytes of packed BCD, zero-padded on the left."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"BCD value must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"BCD value must not be negative, got {value}")
    digits = str(value)
    if len(digits) > 2 * nbytes:
        raise ValueError(f"{value} does not fit in {nbytes} BCD bytes")
    return bytes.fromhex(digits.zfill(2 * nbytes))


def decode_bcd(data: bytes) -> int:
    """The number held in packed BCD `data`; ValueError if a nibble is not 0-9."""
    text = bytes(data).hex()
    if not text.isdigit():
        raise ValueError(f"not packed BCD: {text.upper()}")
    return int(text) if text else 0


def encode_digits(digits: str) -> bytes:
    """A digit string (with `*` or `E` for masked digits) as BCD nibbles, `F`-padded.

    Used for field 22 (PAN), where a terminal sends masked digits as the nibble E.
    """
    nibbles = digits.upper().replace("*", "E")
    if not nibbles or any(c not in "0123456789E" for c in nibbles):
        raise ValueError(f"not a digit string: {digits!r}")
    if len(nibbles) % 2:
        nibbles += "F"
    return bytes.fromhex(nibbles)


def decode_digits(data: bytes) -> str:
    """Inverse of `encode_digits`, by the spec's rule for masked card numbers: trailing F
    nibbles are padding; any other nibble above 9 (E, and whatever a terminal uses for
    masking) is a masked digit and comes back as `*`."""
    nibbles = bytes(data).hex().upper().rstrip("F")
    return "".join(c if c.isdigit() else "*" for c in nibbles)


def encode_var_len(length: int, width: int) -> bytes:
    """ZVT LLVAR/LLLVAR length: `width` bytes `Fx`, each carrying one decimal digit."""
    if not 0 <= length < 10 ** width:
        raise ValueError(f"length {length} does not fit in {width} digits")
    return bytes(0xF0 | int(d) for d in str(length).zfill(width))


def decode_var_len(data: bytes) -> int:
    """Inverse of `encode_var_len`."""
    value = 0
    for b in data:
        if b >> 4 != 0xF or (b & 0x0F) > 9:
            raise ValueError(f"bad LLVAR length byte {b:02X}")
        value = value * 10 + (b & 0x0F)
    return value
