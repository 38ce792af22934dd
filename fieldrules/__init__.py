"""Content rules shared by the handheld's capture API and the gateway (docs/contracts.md §0).

A small package with no dependencies, so that the core (`terminal/`) and the gateway
(`sync/gateway/`) apply the very same rules without importing each other:

- `fieldrules.text`: what a captured text field may hold (no NUL, no control or bidi
  override characters, no lone surrogates, no noncharacters, a length in characters after
  NFC normalisation) and what any stored string may hold (no NUL, no lone surrogates);
- `fieldrules.pan`: finding and masking card numbers (PAN-like digit runs) in text and in
  whole JSON documents.
"""
from fieldrules.pan import find_pans, luhn_ok, mask_doc, mask_pans
from fieldrules.text import (CAPTURED, REASONS, Field, Problem, check, field, normalise,
                             payload_problem, scrub, unstorable)

__all__ = ["CAPTURED", "REASONS", "Field", "Problem", "check", "field", "find_pans", "luhn_ok",
           "mask_doc", "mask_pans", "normalise", "payload_problem", "scrub", "unstorable"]
