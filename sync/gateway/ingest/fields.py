"""Shared pieces of op ingest: the outcomes an op handler can raise and payload field
checks (rejections carry a code and a message)."""
from __future__ import annotations

import re

MAX_INT = 2 ** 53
HEX64 = re.compile(r"^[0-9a-f]{64}$")
PAN_RUN = re.compile(r"\d{12,19}")


class Invalid(Exception):
    """The op's payload is malformed: rejected (and kept in the exception queue)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


class Retry(Exception):
    """This op cannot be applied yet (e.g. a void whose payment is in a seq gap)."""


def int_field(p: dict, key: str, lo: int = -MAX_INT, hi: int = MAX_INT, null: bool = True):
    v = p.get(key)
    if v is None and null:
        return None
    if type(v) is not int or not lo <= v <= hi:
        raise Invalid("invalid_payload", f"{key} must be an integer in [{lo}, {hi}]")
    return v


def str_field(p: dict, key: str, null: bool = True, maxlen: int = 200):
    v = p.get(key)
    if v is None and null:
        return None
    if not isinstance(v, str) or not 0 < len(v) <= maxlen:
        raise Invalid("invalid_payload", f"{key} must be a non-empty string")
    return v


def clip(value):
    """A string short enough for an indexed column, else None (the raw payload keeps it)."""
    return value if isinstance(value, str) and len(value) <= 200 else None


def mask_card(payload: dict) -> dict:
    """Never store a full card number: mask any long digit run in the card block."""
    card = payload.get("card")
    if isinstance(card, dict) and any(isinstance(v, str) and PAN_RUN.search(v)
                                      for v in card.values()):
        payload = dict(payload)
        payload["card"] = {k: PAN_RUN.sub(lambda m: m[0][:6] + "*" * (len(m[0]) - 10)
                                          + m[0][-4:], v) if isinstance(v, str) else v
                           for k, v in card.items()}
    return payload


def result(op, status, code=None, message=None) -> dict:
    return {"op_id": op["op_id"], "seq": op["seq"], "status": status, "code": code,
            "message": message}
