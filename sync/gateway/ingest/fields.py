"""Shared pieces of op ingest: the outcomes an op handler can raise and payload field
checks (rejections carry a code and a message)."""
from __future__ import annotations

import re

MAX_INT = 2 ** 53
HEX64 = re.compile(r"^[0-9a-f]{64}$")


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


def result(op, status, code=None, message=None) -> dict:
    return {"op_id": op["op_id"], "seq": op["seq"], "status": status, "code": code,
            "message": message}
