"""What the ZVT simulator plays: scripts for card transactions, its journal, and the texts
it prints (receipt lines and the end-of-day report), in the registered currency."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from devices.zvt.messages import INTERMEDIATE

__all__ = ["Script", "JournalEntry", "CARDS", "OUTCOMES", "CURRENCY_CODES", "receipt_lines",
           "day_report_lines", "status_words"]

# (masked PAN, card name, ZVT card type byte, end-of-day group)
CARDS = (
    ("621234******1234", "UnionPay", 0x2F, "others"),
    ("411111******1111", "Visa", 0x0A, "Visa"),
    ("545454******5454", "Mastercard", 0x06, "Eurocard"),
)

OUTCOMES = ("approve", "decline", "abort", "unreadable")


@dataclass
class Script:
    """What the simulated customer and line do during one card transaction."""
    outcome: str = "approve"          # approve | decline | abort | unreadable
    result_code: int = 0x05           # for decline (issuer code)
    statuses: tuple = (0x0A, 0x01, 0x04)  # insert card, watch PIN pad, waiting for host
    customer_delay: float = 0.0       # seconds before each 04 FF (slow customer / timeout)
    silent: bool = False              # never answer the command, not even with an ACK
    nak_first: int = 0                # NAK the first N frames from the ECR
    corrupt_crc: int | None = None    # index of the PT frame (0 = its 80 00 00) sent with a bad CRC once
    garble: int | None = None         # index of a PT frame sent once with a broken DLE sequence
    truncate: int | None = None       # index of a PT frame sent once cut in half, then silence
    drop: str | None = None           # "before_status" | "after_status": line goes dead
    card: int | None = None           # index into CARDS (default: rotates with the trace)
    pan_field: bytes | None = None    # field 22 exactly as a real terminal sent it (tag,
                                      # LLVAR, masking nibbles) instead of the simulator's

    def __post_init__(self):
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")
        if self.drop not in (None, "before_status", "after_status"):
            raise ValueError(f"drop must be before_status or after_status, got {self.drop!r}")

    @classmethod
    def parse(cls, spec: str) -> "Script":
        """From a CLI word: approve, decline[:CODE], abort, unreadable, timeout[:S], slow[:S],
        silent, nak[:N], crc[:I], garble[:I], truncate[:I], drop-before, drop-after; several
        joined with `+` (e.g. `slow:1+nak:1`)."""
        s = cls()
        for word in spec.split("+"):
            name, _, arg = word.strip().partition(":")
            if name in ("approve", "abort", "unreadable"):
                s.outcome = name
            elif name == "decline":
                s.outcome, s.result_code = "decline", int(arg or "5")
            elif name == "timeout":  # the customer never acts; the PT gives up
                s.outcome, s.statuses, s.customer_delay = "abort", (0x0A,), float(arg or "2")
            elif name == "slow":
                s.customer_delay = float(arg or "1")
            elif name == "silent":
                s.silent = True
            elif name == "nak":
                s.nak_first = int(arg or "1")
            elif name in ("crc", "garble", "truncate"):
                setattr(s, "corrupt_crc" if name == "crc" else name, int(arg or "0"))
            elif name in ("drop-before", "drop-after"):
                s.drop = "before_status" if name == "drop-before" else "after_status"
            else:
                raise ValueError(f"unknown script word {word!r}")
        return s


@dataclass
class JournalEntry:
    kind: str                  # sale | refund | reversal
    amount_fen: int
    approved: bool
    result_code: int
    trace: int
    receipt_no: int | None
    masked_pan: str
    card_name: str
    card_type: int
    group: str
    when: dt.datetime
    currency: int = 156
    reversed: bool = False
    original_receipt: int | None = None
    pan_field: bytes | None = None  # raw field 22 (see Script.pan_field)



# ISO 4217 numeric codes the simulator prints by name (ZVT sends them as 2 BCD bytes).
CURRENCY_CODES = {156: "CNY", 978: "EUR"}


def currency_name(code: int) -> str:
    return CURRENCY_CODES.get(code, f"{code:03d}")


def _amount(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def status_words(code: int) -> str:
    return INTERMEDIATE.get(code, ("", f"Status {code:02X}"))[1]


def receipt_lines(e: JournalEntry, tid: str, copy: bool = False) -> list[str]:
    title = {"sale": "SALE", "refund": "REFUND", "reversal": "REVERSAL"}[e.kind]
    lines = ["CHAOSHOU SIM TERMINAL", f"TID {tid}", title + (" (COPY)" if copy else ""),
             f"CARD {e.card_name} ************{e.masked_pan[-4:]}",
             f"AMOUNT {currency_name(e.currency)} {_amount(e.amount_fen)}",
             f"TRACE {e.trace:06d}  RECEIPT {e.receipt_no or 0:04d}",
             e.when.strftime("%Y-%m-%d %H:%M:%S"), "APPROVED"]
    return lines


def day_report_lines(tid: str, currency: int, sales: list, refunds: list) -> list[str]:
    """The end-of-day report the terminal prints: its sales and refunds since the last one."""
    name = currency_name(currency)
    return ["END OF DAY", f"TID {tid}",
            f"SALES {len(sales)} {name} {_amount(sum(e.amount_fen for e in sales))}",
            f"REFUNDS {len(refunds)} {name} {_amount(sum(e.amount_fen for e in refunds))}"]
