"""Bilingual errors of the money side of the core (tariffs, payments, receipts, shifts).

Every refusal carries a machine `code` for the UI and tests, a Chinese and an English
message; `str(err)` shows both, so a log or a dialog is readable to either reader.
"""


class LedgerError(ValueError):
    """A refused money operation; nothing was written."""

    def __init__(self, code: str, zh: str, en: str):
        super().__init__(f"{zh} / {en}")
        self.code = code
        self.zh = zh
        self.en = en


def require_int(value, what_zh: str, what_en: str) -> int:
    """`value` as a plain int (bool and float refused: money is integer fen)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise LedgerError("not_integer", f"{what_zh}必须是整数（分）",
                          f"{what_en} must be a whole number of fen, got {value!r}")
    return value


def fen_text(fen: int) -> str:
    """Fen as yuan text with two decimals, exact (no float): 12345 → '123.45'."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"
