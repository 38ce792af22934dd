"""The shared content rules and the card-number scan, as pure functions (fieldrules)."""
import re
import unicodedata

from hypothesis import given, strategies as st

import fieldrules
from fieldrules import find_pans, luhn_ok, mask_doc, mask_pans


def luhn_complete(body: str) -> str:
    """`body` plus the check digit that makes it Luhn-valid."""
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


pans = st.integers(12, 18).flatmap(
    lambda n: st.text("0123456789", min_size=n, max_size=n)).map(luhn_complete)
separators = st.sampled_from(["", " ", "-", "  ", " - ", "\u3000"])
filler = st.text(st.characters(blacklist_categories=("Nd", "Cs")), max_size=12)


def written(pan: str, sep: str, group: int) -> str:
    return sep.join(pan[i:i + group] for i in range(0, len(pan), group))


def digits_runs(text: str) -> list[str]:
    """Independent check: digit runs once separators between digits are removed."""
    return re.findall(r"\d+", re.sub(r"(?<=\d)[\s\-]{1,3}(?=\d)", "", text))


@given(pans, separators, st.sampled_from([4, 5, 6]), filler, filler)
def test_a_card_number_in_any_form_is_masked_to_its_last_four(pan, sep, group, before, after):
    text = f"{before} {written(pan, sep, group)} {after}"
    masked = mask_pans(text)
    assert pan not in "".join(digits_runs(masked))
    assert pan[-4:] in "".join(digits_runs(masked))          # the last four stay readable
    assert mask_pans(masked) == masked                       # idempotent
    assert len(masked) == len(text)                          # separators and text kept


@given(pans, separators)
def test_masked_everywhere_in_a_document_keys_included(pan, sep):
    form = written(pan, sep, 4)
    doc = {"card": {"card_type": f"VISA {form}", form: [1, {"t": form}]}, "n": 5}
    masked, n = mask_doc(doc)
    assert n == 3 and pan not in re.sub(r"[\s\-]", "", str(masked))


def test_what_is_not_a_card_number_is_left_alone():
    for text in ("4111111111111112",            # fails the Luhn check
                 "411111******1111",            # already masked
                 "0571-8888 0001",              # a phone number: 12 digits
                 "3100000001",                  # an account number
                 "sha " + "1234567890123452" + "abcdef" * 8,   # digits inside a hex digest
                 "12345678-1234-4234-1234-123456789012",        # an op id (UUID)
                 "41111111111111111111111"):    # 23 digits in one run: not a PAN
        assert find_pans(text) == [] and mask_pans(text) == text


def test_each_reason_of_the_rules():
    note = fieldrules.field("reading", "note")
    cases = {"a\x00b": "nul_character", "a\ud800b": "invalid_text", "a\nb": "control_character",
             "a\x85b": "control_character", "a\u2066b": "control_character",
             "a\uffffb": "noncharacter", "a\U0010fffeb": "noncharacter",
             "字" * 141: "too_long"}
    assert {fieldrules.check(note, t).code for t in cases} == \
        set(fieldrules.REASONS)
    for text, reason in cases.items():
        assert fieldrules.check(note, text).code == reason
    # characters Python's tables may not know (CJK Extension H/I) are text like any other
    for text in ("\U00031350\U0002ebf0 𠮷 堃", "字" * 140, "e\u0301" * 140):
        assert fieldrules.check(note, text) is None
    assert len(fieldrules.normalise(" e\u0301 ")) == 1 == len(unicodedata.normalize("NFC", "é"))


def test_scrub_makes_terminal_text_safe():
    assert fieldrules.scrub("VISA\x004111 1111 1111 1111\u202e\ud800") == \
        "VISA **** **** **** 1111 \ufffd"
    assert fieldrules.scrub(123) == 123
