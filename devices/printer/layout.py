"""Lay a receipt document (contracts §5) out as printer lines for a 58 mm printer.

The paper is 384 dots wide: 32 columns of 12-dot ASCII characters; a Chinese (any
non-ASCII) character takes two columns, as it does on the printer, where every GBK
character is a 24×24 glyph. `double`/`wide` sizes halve the columns. Text wraps by this
display width: ASCII words stay whole where they fit, CJK breaks anywhere.

`layout(doc)` validates the document (clear `ValueError` on bad input) and returns a list
of `Line`, `Qr`, `Feed` and `Cut` items that the ESC/POS renderer turns into bytes.

Printable or not: a character is printable by the printer's own font when it is printable
ASCII or encodes to a two-byte code in the printer's charset (`gbk` by default; `gb2312`
for printers with the smaller font). Anything else — characters outside GBK, including
those outside the Basic Multilingual Plane such as 𠮷 and 𬌗 — is not, and the renderer
prints its whole line as a raster image instead. Before that, a few characters with an
exact look-alike in GBK are mapped to it (`¥` → `￥`, no-break space → space).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["COLUMNS", "DOTS", "KINDS", "Line", "Qr", "Feed", "Cut", "layout", "wrap",
           "char_width", "text_width", "printable", "SIZES"]

DOTS = 384
COLUMNS = 32
KINDS = ("collection", "void", "bill_notice", "agent_statement", "x_report", "z_report", "test")
ALIGNS = ("left", "center", "right")
SIZES = {"normal": (1, 1), "double": (2, 2), "tall": (1, 2), "wide": (2, 1)}
BLOCK_TYPES = ("text", "kv", "rule", "qr", "feed", "cut")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
# Characters the printer's charset lacks but has a look-alike for, printed as that one
# (¥ U+00A5 is not in GBK; its full-width form ￥ U+FFE5 is).
_EQUIVALENTS = str.maketrans({"¥": "￥", "\u00a0": " ", "\u3000": "  "})


@dataclass(frozen=True)
class Line:
    """One printed line; `text` is already padded/wrapped to fit `COLUMNS // width`."""
    text: str
    align: str = "left"
    bold: bool = False
    width: int = 1
    height: int = 1


@dataclass(frozen=True)
class Qr:
    data: str


@dataclass(frozen=True)
class Feed:
    n: int


@dataclass(frozen=True)
class Cut:
    pass


def char_width(ch: str) -> int:
    return 1 if ord(ch) < 0x80 else 2


def text_width(text: str) -> int:
    return sum(char_width(c) for c in text)


def printable(ch: str, charset: str = "gbk") -> bool:
    """Whether the printer's font can print `ch` (see the module docstring)."""
    if " " <= ch <= "~":
        return True
    try:
        return len(ch.encode(charset)) == 2
    except UnicodeEncodeError:
        return False


def _tokens(text: str):
    # ASCII words stay together; spaces and non-ASCII characters are tokens of their own.
    return re.findall(r"[!-~]+| |[^\x00-\x7f]", text)


def wrap(text: str, cols: int) -> list[str]:
    """Wrap one paragraph (no newlines) to lines of at most `cols` display columns."""
    lines: list[str] = []
    cur, width = "", 0
    for tok in _tokens(text):
        w = text_width(tok)
        if tok == " " and width == 0 and lines:
            continue  # no leading space on a continuation line
        if width + w <= cols:
            cur, width = cur + tok, width + w
            continue
        if cur.strip():
            lines.append(cur.rstrip())
        cur, width = "", 0
        if tok == " ":
            continue
        while text_width(tok) > cols:  # a word longer than a line: hard split
            cut = 0
            while text_width(tok[:cut + 1]) <= cols:
                cut += 1
            lines.append(tok[:cut])
            tok = tok[cut:]
        cur, width = tok, text_width(tok)
    if cur.strip() or not lines:
        lines.append(cur.rstrip())
    return lines


def _clean(value, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {type(value).__name__}")
    value = value.replace("\r\n", "\n").replace("\r", "\n").translate(_EQUIVALENTS)
    return _CONTROL.sub(" ", value)


def _text_lines(text: str, cols: int) -> list[str]:
    out: list[str] = []
    for para in text.split("\n"):
        out.extend(wrap(para, cols))
    return out


def _kv_lines(key: str, value: str) -> list[str]:
    kw, vw = text_width(key), text_width(value)
    if "\n" not in key + value and kw + 1 + vw <= COLUMNS:
        return [key + " " * (COLUMNS - kw - vw) + value]
    lines = _text_lines(key, COLUMNS)
    for v in _text_lines(value, COLUMNS):
        lines.append(" " * (COLUMNS - text_width(v)) + v)
    return lines


def layout(doc: dict) -> list:
    """Validate `doc` and lay it out; raises ValueError naming the offending block."""
    if not isinstance(doc, dict):
        raise ValueError("a receipt document must be a dict")
    if doc.get("kind") not in KINDS:
        raise ValueError(f"unknown receipt kind {doc.get('kind')!r}; expected one of {KINDS}")
    blocks = doc.get("blocks")
    if not isinstance(blocks, list):
        raise ValueError("a receipt document needs a list of blocks")
    items: list = []
    for i, block in enumerate(blocks):
        where = f"block {i}"
        if not isinstance(block, dict) or block.get("t") not in BLOCK_TYPES:
            raise ValueError(f"{where}: unknown block {block!r}; types are {BLOCK_TYPES}")
        t = block["t"]
        if t == "text":
            align = block.get("align", "left")
            if align not in ALIGNS:
                raise ValueError(f"{where}: align must be one of {ALIGNS}, got {align!r}")
            size = block.get("size", "normal")
            if size not in SIZES:
                raise ValueError(f"{where}: size must be one of {tuple(SIZES)}, got {size!r}")
            w, h = SIZES[size]
            bold = bool(block.get("bold", False))
            for text in _text_lines(_clean(block.get("text", ""), f"{where}.text"), COLUMNS // w):
                items.append(Line(text, align, bold, w, h))
        elif t == "kv":
            key = _clean(block.get("k", ""), f"{where}.k")
            value = _clean(block.get("v", ""), f"{where}.v")
            bold = bool(block.get("bold", False))
            items.extend(Line(text, "left", bold) for text in _kv_lines(key, value))
        elif t == "rule":
            items.append(Line("-" * COLUMNS))
        elif t == "qr":
            data = block.get("data")
            if not isinstance(data, str) or not data:
                raise ValueError(f"{where}: a qr block needs non-empty string data")
            if len(data.encode("utf-8")) > 2000:
                raise ValueError(f"{where}: qr data too long for a receipt QR code")
            items.append(Qr(data))
            if block.get("caption"):
                cap = _clean(block["caption"], f"{where}.caption")
                items.extend(Line(text, "center") for text in _text_lines(cap, COLUMNS))
        elif t == "feed":
            n = block.get("n", 1)
            if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 255:
                raise ValueError(f"{where}: feed n must be an integer 0..255, got {n!r}")
            items.append(Feed(n))
        else:
            items.append(Cut())
    return items
