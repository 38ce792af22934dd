"""Card numbers (PANs) found and masked in any text or JSON document (PCI DSS 3.4).

A PAN-like run is 13–19 decimal digits (any script's decimal digits, full-width included)
that pass the Luhn check, written together or in groups joined by up to three separator
characters (white space, dashes, dots, slashes, underscores): `4111111111111111`,
`4111 1111 1111 1111`, `4111-1111-1111-1111`. A run may be followed or preceded by other
groups (an expiry date, a trace number): every window of consecutive groups is tried,
the longest first. Masking keeps the separators and the last four digits:
`VISA 4111 1111 1111 1111` → `VISA **** **** **** 1111`; masking is idempotent.

Digits inside a lowercase hex token of 16 characters or more (a hash, a verification
code) or inside a UUID (an op id) are not card numbers and are left alone.
"""
from __future__ import annotations

import re

# white space (the same set as `\s`, spelt out: faster to test) and dashes, dots, slashes
_SPACES = r" \t\n\r\f\v\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_SEPARATORS = "[" + _SPACES + r"\-\u2010-\u2015\u2212./_]"
_CHUNK = re.compile(r"\d+")
_HEX_TOKEN = re.compile(r"(?<![0-9A-Za-z])(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                        r"[0-9a-f]{12}|(?=[0-9a-f]*[a-f])[0-9a-f]{16,})(?![0-9A-Za-z])")
_JOIN = re.compile(_SEPARATORS + r"{1,3}")
# cheap first look: a stretch of 13+ digits and separators holding 13 joined digits (in JSON
# text written with ensure_ascii=False, white space may also appear as an escape)
_CANDIDATE = re.compile(r"\d" + _SEPARATORS.replace("[", "[\\d", 1) + "{12,}")
_MAYBE = re.compile(r"\d(?:" + _SEPARATORS + r"{0,3}\d){12}")
_ESCAPE = re.compile(r"\\(?:[nrtfb]|u00[01][0-9a-fA-F])")


def _may_hold(text: str) -> bool:
    return any(_MAYBE.search(m.group()) for m in _CANDIDATE.finditer(text))


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _runs(text: str) -> list[list[re.Match]]:
    """Digit groups joined by separators, outside hex tokens."""
    hexes = [m.span() for m in _HEX_TOKEN.finditer(text)]
    runs: list[list[re.Match]] = []
    for m in _CHUNK.finditer(text):
        if any(a <= m.start() < b for a, b in hexes):
            continue
        prev = runs[-1][-1] if runs else None
        if prev is not None and _JOIN.fullmatch(text, prev.end(), m.start()):
            runs[-1].append(m)
        else:
            runs.append([m])
    return runs


def find_pans(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the PAN-like runs in `text`."""
    if not _may_hold(text):
        return []
    spans = []
    for run in _runs(text):
        i = 0
        while i < len(run):
            for j in range(len(run), i, -1):
                digits = "".join(m.group() for m in run[i:j])
                if 13 <= len(digits) <= 19 and luhn_ok(digits):
                    spans.append((run[i].start(), run[j - 1].end()))
                    i = j
                    break
            else:
                i += 1
    return spans


def mask_pans(text: str) -> str:
    """`text` with every PAN-like run masked but its last four digits."""
    spans = find_pans(text)
    if not spans:
        return text
    chars = list(text)
    for start, end in spans:
        positions = [k for k in range(start, end) if chars[k].isdecimal()]
        for k in positions[:-4]:
            chars[k] = "*"
    return "".join(chars)


def mask_doc(doc, json_text: str | None = None):
    """(masked copy, number of strings changed) of a JSON document, keys included.
    `json_text`, the document as JSON (`json.dumps` with ensure_ascii=False), lets a
    document without any long digit run pass at the cost of one regex search."""
    if json_text is not None and not _may_hold(
            _ESCAPE.sub(" ", json_text) if "\\" in json_text else json_text):
        return doc, 0
    if isinstance(doc, str):
        masked = mask_pans(doc)
        return masked, int(masked != doc)
    if isinstance(doc, dict):
        out, n = {}, 0
        for key, value in doc.items():
            k, a = mask_doc(key)
            v, b = mask_doc(value)
            out[k] = v
            n += a + b
        return (out, n) if n else (doc, 0)
    if isinstance(doc, (list, tuple)):
        items = [mask_doc(v) for v in doc]
        n = sum(c for _v, c in items)
        return ([v for v, _c in items], n) if n else (doc, 0)
    return doc, 0
