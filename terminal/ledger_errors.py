"""Bilingual errors of the money side of the core (tariffs, payments, receipts, shifts).

Every refusal carries a machine `code` for the UI and tests and an English message. A moved
refusal is `refusal(code, msgid, **params)`: the English `msgid` with `{name}` placeholders
is the source text, its Chinese lives in the `chaoshou_core` catalog (assets/locale) and the
UI shows it through `terminal.ui.i18n.error_text`. A value filled in that is itself words (a
field's name, a role, a wait) is a `Term`, translated with the message. An error built from
a message that came with both languages (fieldrules' `payload_problem`) carries its own
Chinese (`zh`); `str(err)` shows what the error has.
"""


class Term(str):
    """A value filled into a message that is itself words: its English text (so `en` and
    logs read right) plus its `msgid` and `params`, translated with the message by
    `terminal.ui.i18n.error_text`. `given` holds words that came as data in both languages
    (e.g. the office's reason for blocking an agent, {"zh": …, "en": …}): shown as given."""

    msgid: str
    params: dict
    given: dict | None

    def __new__(cls, msgid: str, *, given: dict | None = None, **params):
        if given is not None:
            text = str(given.get("en") or "")
        else:
            text = msgid.format(**params) if params else msgid
        term = super().__new__(cls, text)
        term.msgid, term.params, term.given = msgid, params, given
        return term


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


def require_int(value, what: str) -> int:
    """`value` as a plain int (bool and float refused: money is integer fen); `what`: the
    field's English name, a msgid of the chaoshou_core catalog."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise refusal("not_integer", "{what} must be a whole number of fen, got {value!r}",
                      what=Term(what), value=value)
    return value


def fen_text(fen: int) -> str:
    """Fen as yuan text with two decimals, exact (no float): 12345 → '123.45'."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"
