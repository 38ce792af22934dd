"""What captured text may hold — one rule set for the capture API and the gateway.

Every captured text field (docs/contracts.md §0, "Captured text") is normalised to NFC and
stripped by the capture API, then checked; the gateway checks the same fields of every op
it receives with the same function (`payload_problem`), so whatever a device accepts, the
gateway accepts. The rules depend only on fixed code point ranges, never on the running
Python's Unicode tables (a character a newer Unicode version assigns — CJK Extension H or
I, say — is text like any other); only the length counts NFC-normalised characters.

Reasons (`REASONS`) a captured field is refused:
- `nul_character`: U+0000 (PostgreSQL cannot store it in text);
- `invalid_text`: a lone UTF-16 surrogate (U+D800–U+DFFF; cannot be encoded as UTF-8);
- `control_character`: C0/C1 controls (U+0001–U+001F, U+007F–U+009F; a newline too) and
  the bidirectional embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069)
  that make a printed or displayed text read differently from what it holds;
- `noncharacter`: U+FDD0–U+FDEF and U+xxFFFE/U+xxFFFF;
- `too_long`: more characters than the field allows (after NFC).
`nul_character` and `invalid_text` hold for every string of every payload, keys included
(`unstorable`): nothing carrying them can be stored on either side.
"""
from __future__ import annotations

import dataclasses
import re
import unicodedata

from fieldrules.pan import mask_pans

REASONS = {
    "nul_character": ("不能包含空字符（NUL）", "must not contain a NUL character"),
    "invalid_text": ("包含无法保存的字符（单独的代理码位）",
                     "holds a character that cannot be stored (a lone UTF-16 surrogate)"),
    "control_character": ("不能包含控制字符（含换行、文字方向控制符）",
                          "must not contain control characters (line breaks and text "
                          "direction controls included)"),
    "noncharacter": ("包含非字符码位", "holds a Unicode noncharacter"),
    "too_long": ("最多 {max} 个字（现 {n} 字）", "at most {max} characters (now {n})"),
}

_BIDI = frozenset(range(0x202A, 0x202F)) | frozenset(range(0x2066, 0x206A))
# every character some reason refuses (a cheap first look before telling which reason)
_SUSPECT = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
                      "\ufdd0-\ufdef" + "".join(f"{chr(p * 0x10000 + 0xFFFE)}"
                                                 f"{chr(p * 0x10000 + 0xFFFF)}"
                                                 for p in range(17)) + "]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclasses.dataclass(frozen=True)
class Field:
    """A captured text field of an op payload: its key, its names and its length limit."""
    key: str
    zh: str
    en: str
    max_chars: int


@dataclasses.dataclass(frozen=True)
class Problem:
    code: str          # one of REASONS
    field: str         # the payload key (or the path, for `unstorable`)
    message_zh: str
    message_en: str

    @property
    def message(self) -> str:
        return f"{self.message_zh} / {self.message_en}"


# The captured text fields per op type (docs/contracts.md §2). Other strings of a payload
# come from office data, the device itself or the card terminal (scrubbed on entry).
CAPTURED: dict[str, tuple[Field, ...]] = {
    "reading": (Field("note", "备注", "Note", 140),
                Field("skip_code", "原因代码", "Skip code", 32),
                Field("trouble_code", "故障代码", "Trouble code", 32)),
    "void": (Field("reason", "作废原因", "Void reason", 140),
             Field("approved_by", "批准人", "Approver", 32)),
}


def field(op_type: str, key: str) -> Field:
    return next(f for f in CAPTURED[op_type] if f.key == key)


def normalise(text: str) -> str:
    """What the capture API keeps of a keyed text: NFC, surrounding white space removed."""
    return unicodedata.normalize("NFC", text).strip()


def _reason(ch: str) -> str | None:
    cp = ord(ch)
    if cp == 0:
        return "nul_character"
    if 0xD800 <= cp <= 0xDFFF:
        return "invalid_text"
    if cp < 0x20 or 0x7F <= cp <= 0x9F or cp in _BIDI:
        return "control_character"
    if 0xFDD0 <= cp <= 0xFDEF or cp & 0xFFFE == 0xFFFE:
        return "noncharacter"
    return None


def _problem(code: str, f: Field, **fmt) -> Problem:
    zh, en = REASONS[code]
    return Problem(code, f.key, f"{f.zh}{zh.format(**fmt)}", f"{f.en} {en.format(**fmt)}")


def check(f: Field, text: str) -> Problem | None:
    """The first problem of `text` as the value of captured field `f`, or None."""
    reasons = {_reason(ch) for ch in _SUSPECT.findall(text)}
    for code in ("nul_character", "invalid_text", "control_character", "noncharacter"):
        if code in reasons:
            return _problem(code, f)
    n = len(unicodedata.normalize("NFC", text))
    if n > f.max_chars:
        return _problem("too_long", f, max=f.max_chars, n=n)
    return None


def unstorable(doc, path: str = "payload") -> Problem | None:
    """A NUL or a lone surrogate anywhere in a JSON document (keys included), or None."""
    if isinstance(doc, str):
        found = _UNSTORABLE.search(doc)
        return None if found is None else _problem(_reason(found.group()),
                                                   Field(path, f"{path} ", path, 0))
    if isinstance(doc, dict):
        for key, value in doc.items():
            found = unstorable(key, path) or unstorable(value, f"{path}.{key}")
            if found:
                return found
    elif isinstance(doc, (list, tuple)):
        for i, value in enumerate(doc):
            found = unstorable(value, f"{path}[{i}]")
            if found:
                return found
    return None


def payload_problem(op_type: str, payload: dict, canonical: bytes | None = None
                    ) -> Problem | None:
    """Why an op payload cannot be accepted as content, or None. Used by the device's outbox
    (refused before it is written) and by the gateway (rejected, seq still held).
    `canonical`, the payload's canonical JSON already encoded as UTF-8 (so it holds no lone
    surrogate), spares the walk for a NUL when it holds no `\u0000` escape."""
    for f in CAPTURED.get(op_type, ()):
        value = payload.get(f.key)
        if isinstance(value, str):
            found = check(f, value)
            if found:
                return found
    if canonical is not None and b"\\u0000" not in canonical:
        return None
    return unstorable(payload)


def scrub(value):
    """A string from outside (a card terminal) made safe to store, show and print: control,
    bidi, noncharacter and NUL characters become spaces, lone surrogates U+FFFD, and
    card numbers are masked. Anything that is not a string is returned unchanged."""
    if not isinstance(value, str):
        return value
    if not _SUSPECT.search(value):
        return mask_pans(value)
    out = []
    for ch in value:
        code = _reason(ch)
        out.append(ch if code is None else "\ufffd" if code == "invalid_text" else " ")
    return mask_pans("".join(out))
