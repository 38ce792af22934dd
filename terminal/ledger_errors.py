"""Bilingual errors of the money side of the core (tariffs, payments, receipts, shifts).

Every refusal carries a machine `code` for the UI and tests and an English message. A moved
refusal is `refusal(code, msgid, **params)`: the English `msgid` with `{name}` placeholders
is the source text, its Chinese lives in the `chaoshou_core` catalog (assets/locale) and the
UI shows it through `terminal.ui.i18n.error_text`. Refusals not yet moved still carry their
own Chinese (`zh`); `str(err)` shows what the error has.
"""


class LedgerError(ValueError):
    """A refused money operation; nothing was written."""

    def __init__(self, code: str, zh: str | None, en: str, **params):
        self.code = code
        self.msgid = None if zh else en          # translated by the UI through the catalogs
        self.params = params
        self.en = en.format(**params) if params else en
        self.zh = zh
        super().__init__(f"{zh} / {self.en}" if zh else self.en)


def refusal(code: str, msgid: str, **params) -> LedgerError:
    """A refusal whose English `msgid` is translated through the catalogs."""
    return LedgerError(code, None, msgid, **params)


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
