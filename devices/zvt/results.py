"""What the ZVT driver hands out: card results, end-of-day totals, the status enquiry's
answer — built from terminal messages by the spec's rules, never failing on their content
(`content` turns any unreadable content into the driver's own protocol error)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .apdu import Apdu, ApduError, decode_bmps
from .bcd import decode_var_len
from .errors import TerminalLinkError, ZvtProtocolError
from .messages import result_text

__all__ = ["CardResult", "DayTotals", "safe_masked_pan", "content", "status_reply",
           "parse_status_completion", "card_result", "intermediate", "print_line",
           "text_block_lines"]

log = logging.getLogger("chaoshou.zvt")


@dataclass(frozen=True)
class CardResult:
    """The terminal's answer to a card transaction; no card data beyond a masked PAN."""
    approved: bool
    result_code: int
    amount_fen: int
    trace: int | None = None
    receipt_no: int | None = None
    masked_pan: str | None = None
    card_type: str | None = None
    terminal_id: str | None = None
    text: str = ""
    currency: int | None = None
    time: str | None = None  # terminal clock "HH:MM:SS"
    date: str | None = None  # "MM-DD"
    receipt_lines: tuple = ()


@dataclass(frozen=True)
class DayTotals:
    """End-of-day result: what the terminal settled since the previous end of day."""
    ok: bool
    result_code: int
    total_fen: int
    count: int
    trace: int | None = None
    first_receipt: int | None = None
    last_receipt: int | None = None
    by_card: dict = field(default_factory=dict)  # group -> (count, fen)
    text: str = ""
    receipt_lines: tuple = ()


def safe_masked_pan(pan: str | None) -> str | None:
    """At most the first 6 and last 4 digits of a PAN, whatever the terminal sent."""
    if not pan:
        return None
    keep_head = 6 if len(pan) >= 13 else 0
    out = [c if (i < keep_head or i >= len(pan) - 4) else "*" for i, c in enumerate(pan)]
    return "".join(out)


@dataclass
class Tx:
    result: CardResult | None = None
    status_info: Apdu | None = None
    completion: Apdu | None = None
    refused: int | None = None  # 84 xx or 06 1E code
    lines: list = field(default_factory=list)


def content(parse, *args):
    """Run a parser over terminal content. Whatever the content, the outcome is a result
    or the driver's own protocol error (a link error: the payment goes to recovery),
    never a ValueError out of the driver."""
    try:
        return parse(*args)
    except TerminalLinkError:
        raise
    except (ValueError, IndexError, KeyError, TypeError, UnicodeError) as exc:
        raise ZvtProtocolError(f"unreadable terminal message: {exc}") from None


def clock(value, digits: int) -> str | None:
    """A time (HHMMSS) or date (MMDD) field as sent, or None if it is not that."""
    return value if isinstance(value, str) and len(value) == digits and value.isdigit() else None


def status_reply(tx: Tx) -> dict:
    """The status enquiry's answer from what the terminal sent (see `ZvtTerminal.status`)."""
    out = {"ready": False, "result_code": 0xFF, "text": "", "terminal_id": None,
           "software_version": None}
    if tx.refused is not None:
        out["result_code"] = tx.refused
    elif tx.status_info is not None:
        f = tx.status_info.fields()
        out.update(result_code=f.get(0x27, 0xFF), terminal_id=f.get(0x29))
        out["text"] = f.get(0x3C, "")
    elif tx.completion is not None:
        version, code, f = parse_status_completion(tx.completion.data)
        out.update(software_version=version, terminal_id=f.get(0x29))
        if code is not None:
            out["result_code"] = code
    code = out["result_code"]
    out["ready"] = code == 0
    out["text"] = out["text"] or ("终端就绪 Terminal ready" if code == 0 else result_text(code))
    return out


def parse_status_completion(data: bytes) -> tuple[str | None, int | None, dict]:
    """(software version, terminal status byte, BMP fields) of the completion that ends a
    status enquiry: `<LLLVAR software version> <terminal status> [06 TLV…]`; a terminal
    that sends BMP fields instead (19 status byte, 29 terminal id) is read as that."""
    data = bytes(data)
    if len(data) >= 4 and all(b >> 4 == 0xF for b in data[:3]):
        try:
            n = decode_var_len(data[:3])
        except ValueError:
            n = None
        if n is not None and len(data) >= 3 + n + 1:
            version = data[3:3 + n].decode("cp437").strip()
            return version, data[3 + n], decode_bmps(data[4 + n:])
    f = decode_bmps(data)
    return None, f.get(0x19), f


def card_result(msg: Apdu, amount_fen: int, lines=()) -> CardResult:
    """The result in a status information (`04 0F`, or a completion carrying 27); fields
    the codec had to skip are left out. No result code at all: the outcome is unknown."""
    f = msg.fields()
    if not isinstance(f.get(0x27), int):
        raise ZvtProtocolError("status information without a result code (27)")
    code = f[0x27]
    card_type = f.get(0x8B) or (f"ZVT card type {f[0x8A]}" if 0x8A in f else None)
    t, d = clock(f.get(0x0C), 6), clock(f.get(0x0D), 4)
    amount = f.get(0x04, amount_fen)
    return CardResult(
        approved=code == 0, result_code=code, amount_fen=amount,
        trace=f.get(0x0B), receipt_no=f.get(0x87),
        masked_pan=safe_masked_pan(f.get(0x22)),
        card_type=card_type.rstrip("\x00") if card_type else None,
        terminal_id=f.get(0x29), text=(f.get(0x3C) or result_text(code)).rstrip("\x00"),
        currency=f.get(0x49), time=f"{t[0:2]}:{t[2:4]}:{t[4:6]}" if t else None,
        date=f"{d[0:2]}-{d[2:4]}" if d else None, receipt_lines=tuple(lines))


def intermediate(msg: Apdu) -> tuple[int, int | None, str | None]:
    """(status, timeout in seconds or None, display text or None) of an intermediate
    status `04 FF <status> [<timeout> [06 TLV]]`; status FF means "show the text"."""
    data = msg.data
    code = data[0] if data else 0
    timeout = data[1] if len(data) > 1 else None
    display = None
    if len(data) > 2:
        lines = text_block_lines(Apdu(msg.cls, msg.instr, data[2:]))
        display = " ".join(line for line in lines if line) or None
    return code, timeout, display


def text_block_lines(msg: Apdu, encoding: str = "cp437") -> list:
    """Lines of a TLV text block (`06 D3`, or a `04 FF` display): 06 → 25/24 → 07 lines."""
    lines = []

    def walk(items):
        for item in items:
            if isinstance(item.value, list):
                walk(item.value)
            elif item.tag == 0x07:
                lines.append(item.value.decode(encoding, "replace").rstrip())
    tlv = msg.fields().get(0x06, [])
    walk(tlv if isinstance(tlv, list) else [])
    return lines


def print_line(msg: Apdu, encoding: str = "cp437") -> str:
    """The text of a print line `06 D1 <attribute> <text> [06 TLV]` (the TLV, which some
    terminals append with the receipt type, is not text)."""
    text = msg.data[1:]
    for at in range(len(text) - 1, -1, -1):  # a TLV container that ends the data exactly
        if text[at] != 0x06:
            continue
        try:
            if decode_bmps(text[at:], strict=True).keys() == {0x06}:
                text = text[:at]
                break
        except ApduError:
            continue
    return text.decode(encoding, "replace").rstrip()
