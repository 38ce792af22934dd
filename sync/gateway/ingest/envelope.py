"""Envelope checks of an ops request (POST /v1/ops): JSON, the batch shape, and each
op's envelope fields; raises ApiError 400/413 before anything is applied."""
from __future__ import annotations

import json

import fieldrules
from sync.gateway.context import ApiError
from sync.gateway.ingest.fields import MAX_INT


def parse_batch(body: bytes, max_ops: int) -> list[dict]:
    """Decode and validate the batch envelope; raises ApiError 400/413."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "request body is not valid JSON")
    if not isinstance(doc, dict) or not isinstance(doc.get("ops"), list):
        raise ApiError(400, "invalid_envelope", 'body must be {"ops": [envelope, ...]}')
    ops = doc["ops"]
    if len(ops) > max_ops:
        raise ApiError(413, "batch_too_large", f"at most {max_ops} ops per batch")
    for i, op in enumerate(ops):
        problem = _envelope_problem(op)
        if problem:
            raise ApiError(400, "invalid_envelope", f"ops[{i}]: {problem}")
    return ops


def _envelope_problem(op) -> str | None:
    if not isinstance(op, dict):
        return "must be an object"
    if not isinstance(op.get("op_id"), str) or not 1 <= len(op["op_id"]) <= 100:
        return "op_id must be a string of 1..100 characters"
    seq = op.get("seq")
    if type(seq) is not int or not 1 <= seq < MAX_INT:
        return "seq must be an integer >= 1"
    if not isinstance(op.get("type"), str) or not 1 <= len(op["type"]) <= 40:
        return "type must be a string of 1..40 characters"
    if not isinstance(op.get("payload"), dict):
        return "payload must be an object"
    if not isinstance(op.get("payload_sha256"), str) or len(op["payload_sha256"]) > 128:
        return "payload_sha256 must be a hex string"
    for key in ("device_time", "operator_id"):
        if op.get(key) is not None and (not isinstance(op[key], str) or len(op[key]) > 64):
            return f"{key} must be a string or null"
    for key in ("op_id", "type", "device_time", "operator_id", "payload_sha256"):
        problem = fieldrules.unstorable(op.get(key), key)
        if problem:
            return problem.message_en
    return None
