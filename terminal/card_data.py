"""The core's boundary with a card terminal: what it keeps of a result and a status line.

Every string a payment terminal hands us (result code, trace, receipt number, card type,
terminal id, display text, status texts) passes `fieldrules.scrub` here before anything
stores, prints, logs or uploads it: control characters become spaces and any card number
(a 13–19 digit Luhn-valid run, with or without separators) is masked but its last four
digits. The `masked_pan` field is kept only if it holds no full card number (the payment
then validates its first-6/last-4 form). Payments, agents' payments and voids take card
results only through `card_result` and pass status callbacks through `status_sink`.
"""
from __future__ import annotations

import dataclasses

import fieldrules


@dataclasses.dataclass(frozen=True)
class CardResult:
    """A terminal result with the attributes of docs/contracts.md §6, safe to keep."""
    approved: bool
    result_code: object = None
    amount_fen: object = None
    trace: object = None
    receipt_no: object = None
    masked_pan: object = None
    card_type: object = None
    terminal_id: object = None
    text: object = None


def card_result(result) -> CardResult | None:
    """The scrubbed copy of a terminal's result (None stays None)."""
    if result is None:
        return None
    if isinstance(result, CardResult):
        return result
    pan = getattr(result, "masked_pan", None)
    if isinstance(pan, str) and (fieldrules.find_pans(pan) or fieldrules.scrub(pan) != pan):
        pan = None
    elif not isinstance(pan, str):
        pan = None
    return CardResult(
        approved=bool(getattr(result, "approved", False)),
        amount_fen=getattr(result, "amount_fen", None), masked_pan=pan,
        **{key: fieldrules.scrub(getattr(result, key, None))
           for key in ("result_code", "trace", "receipt_no", "card_type", "terminal_id",
                       "text")})


def status_sink(on_status):
    """An `on_status(code, text)` callback that only ever sees scrubbed text."""
    if on_status is None:
        return lambda code, text: None
    return lambda code, text: on_status(code, fieldrules.scrub(text))
