"""Shared pieces of op ingest: the outcomes an op handler can raise (rejections carry a
code and a message) and small helpers. Payload fields are checked by the payload models
(ingest/models.py) before a handler runs."""
from __future__ import annotations

import re

from sync.gateway.ingest.models import MAX_INT

__all__ = ["HEX64", "MAX_INT", "Invalid", "Retry", "clip", "result"]
HEX64 = re.compile(r"^[0-9a-f]{64}$")


class Invalid(Exception):
    """The op's payload is malformed: rejected (and kept in the exception queue)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


class Retry(Exception):
    """This op cannot be applied yet (e.g. a void whose payment is in a seq gap)."""


def clip(value):
    """A string short enough for an indexed column, else None (the raw payload keeps it)."""
    return value if isinstance(value, str) and len(value) <= 200 else None


def result(op, status, code=None, message=None) -> dict:
    return {"op_id": op["op_id"], "seq": op["seq"], "status": status, "code": code,
            "message": message}
