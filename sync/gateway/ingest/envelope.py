"""Envelope checks of an ops request (POST /v1/ops): JSON, the batch shape, and each
op's envelope fields (the batch and envelope models, ingest/models.py); raises ApiError
400/413 before anything is applied."""
from __future__ import annotations

import json

import fieldrules
from sync.gateway.context import ApiError
from sync.gateway.ingest.models import first_bad_op

_SHAPE = 'body must be {"ops": [envelope, ...]}'


def parse_batch(body: bytes, max_ops: int) -> list[dict]:
    """Decode and validate the batch envelope; raises ApiError 400/413."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "request body is not valid JSON")
    if not isinstance(doc, dict) or not isinstance(doc.get("ops"), list):
        raise ApiError(400, "invalid_envelope", _SHAPE)
    ops = doc["ops"]
    if len(ops) > max_ops:
        raise ApiError(413, "batch_too_large", f"at most {max_ops} ops per batch")
    bad, problem = first_bad_op(doc)
    if problem is not None and bad is None:
        raise ApiError(400, "invalid_envelope", problem)
    for i, op in enumerate(ops if bad is None else ops[:bad]):
        text = _unstorable(op)
        if text:
            raise ApiError(400, "invalid_envelope", f"ops[{i}]: {text}")
    if bad is not None:
        raise ApiError(400, "invalid_envelope", f"ops[{bad}]: {problem}")
    return ops


def _unstorable(op: dict) -> str | None:
    """A text field of a well-formed envelope that no database can store (NUL, a lone
    surrogate): the captured-text rules every part follows (fieldrules)."""
    for key in ("op_id", "type", "device_time", "operator_id", "payload_sha256"):
        problem = fieldrules.unstorable(op.get(key), key)
        if problem:
            return problem.message_en
    return None
