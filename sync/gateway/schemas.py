"""The HTTP documents of the gateway's API (docs/contracts.md §4): one typed model per
request body, strict (no booleans or floats as numbers, no numbers as text), and the one
error model `{"error", "message"}` with the statuses each operation may answer — so the
OpenAPI document at /openapi.json says what the gateway does."""
from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, Field

from sync.gateway.ingest.models import ops_schema
from sync.gateway.office import Account, Meter
from sync.gateway.office import Office as Strict   # strict, unknown fields refused

Id = Annotated[str, Field(min_length=1, max_length=64)]
Fen = Annotated[int, Field(ge=0, le=10 ** 12)]
SeqNo = Annotated[int, Field(ge=1, le=2 ** 53)]


class ErrorOut(BaseModel):
    """Every refusal: a machine code and a human message."""
    error: str = Field(description="machine code, e.g. unauthenticated, invalid_request")
    message: str


_WHY = {400: "malformed request (bad JSON, gzip, cursor, NUL character, nesting)",
        401: "missing, unknown or expired credentials",
        403: "credentials valid but not allowed here (revoked device, wrong kind of token)",
        404: "the resource named in the path does not exist",
        409: "conflicts with the current state", 410: "expired (snapshot, change cursor)",
        413: "body too large, inflates too much or holds too many values",
        415: "unsupported Content-Encoding (only gzip)",
        422: "a field is missing or has the wrong type or value (the message names it)",
        426: "client version too old", 429: "too many attempts (Retry-After)",
        503: "busy: too many requests in flight, or the database is unavailable "
             "(Retry-After)"}
FRONT = (400, 413, 415, 422, 426, 503)  # any operation: the front door and validation
AUTH = (401, 403)


def errors(*statuses: int) -> dict:
    """OpenAPI `responses` for these statuses (plus the front door's), one error model."""
    return {s: {"model": ErrorOut, "description": _WHY[s]}
            for s in sorted(set(FRONT) | set(statuses))}


class EnrolIn(Strict):
    code: Id
    device_name: Annotated[str, Field(min_length=1, max_length=100)]


class TokenIn(Strict):
    device_id: Id
    ts: Annotated[int, Field(ge=0, le=2 ** 53, description="unix seconds")]
    nonce: Annotated[str, Field(pattern=r"^[0-9a-f]{16,64}$", description=
                                "fresh random hex chosen by the device for this request")]
    proof: Annotated[str, Field(min_length=1, max_length=128, description=
                                'hex HMAC-SHA256(device_key, f"{device_id}|{ts}|{nonce}")')]


class BlockIn(Strict):
    size: Annotated[int, Field(ge=1, le=100_000)] = 1000


class DownloadedIn(Strict):
    snapshot_id: Id


class CloseoutIn(Strict):
    shift_id: Id
    device_id: Id
    seq_from: SeqNo
    seq_to: SeqNo
    counts: dict[Annotated[str, Field(max_length=40)], Annotated[int, Field(ge=0, le=10 ** 9)]]
    sums_fen: dict[Annotated[str, Field(max_length=40)], Annotated[int, Field(ge=-10 ** 12,
                                                                             le=10 ** 12)]]
    digest: Annotated[str, Field(max_length=128)]


class ThirdPartyIn(Strict):
    platform: Annotated[str, Field(min_length=1, max_length=32)]
    txn_id: Annotated[str, Field(min_length=1, max_length=100)]
    account_no: Annotated[str, Field(min_length=1, max_length=32)]
    amount_fen: Annotated[int, Field(ge=1, le=10 ** 11)]
    paid_at: Annotated[str, Field(min_length=1, max_length=40)]


class VerifyIn(Strict):
    device_id: Id
    receipt_no: Annotated[str, Field(min_length=1, max_length=32)]
    amount_fen: Fen
    verify_code: Annotated[str, Field(min_length=1, max_length=64)]


class VerifyOut(BaseModel):
    valid: bool = Field(description="the gateway holds this receipt with this amount, its "
                                    "content is unaltered and the code is genuine")


class LoginIn(Strict):
    operator_id: Id
    pin: Annotated[str, Field(min_length=1, max_length=32)]


class AssignIn(Strict):
    operator_id: Id
    device_id: Id | None = None
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class ResolveIn(Strict):
    note: Annotated[str, Field(min_length=1, max_length=2000)]


class HazardIn(Strict):
    hazard: Annotated[str, Field(max_length=500)] | None


class MoveIn(Strict):
    route_id: Id
    seq: Annotated[int, Field(ge=0, le=2 ** 31)]


class UpsertIn(Strict):
    route_id: Id
    account: Account


class MeterExchangeIn(Strict):
    meter: Meter = Field(description="the meter installed in place of the account's meter")
    reason: Annotated[str, Field(min_length=1, max_length=500)]


# The body of POST /v1/ops, generated from the ingest models (docs/contracts.md §2)
OPS_SCHEMA = ops_schema()


def document_errors(schema: dict, public: frozenset) -> None:
    """Operations added elsewhere (payment channels) answer the front door's statuses too:
    list them, with 401/403 where the operation is not public (a bearer token or a
    platform's signature) and 404 where its path names a resource, in the one error model."""
    ref = {"content": {"application/json": {"schema": {"$ref":
                                                       "#/components/schemas/ErrorOut"}}}}
    for path, methods in schema.get("paths", {}).items():
        for op in methods.values():
            wanted = set(FRONT) | (set(AUTH) if path not in public else set()) | \
                ({404} if "{" in path else set())
            responses = op.setdefault("responses", {})
            if "HTTPValidationError" in json.dumps(responses.get("422", {})):
                responses["422"] = {"description": _WHY[422], **ref}   # our handler's model
            for status in sorted(wanted):
                responses.setdefault(str(status), {"description": _WHY[status], **ref})


NO_NUL = "^[^\\x00]*$"


def forbid_nul(node) -> None:
    """Every string in the API refuses NUL (400 nul_character): say so in the document."""
    if isinstance(node, dict):
        if node.get("x-checked-per-op"):   # an op with a NUL is rejected, its seq held
            return
        types = node.get("type")
        if (types == "string" or isinstance(types, list) and "string" in types) \
                and "pattern" not in node and "format" not in node and "enum" not in node \
                and "const" not in node:
            node["pattern"] = NO_NUL
        if node.get("type") == "object" or "properties" in node:
            node.setdefault("propertyNames", {}).setdefault("pattern", NO_NUL)
        for value in node.values():
            forbid_nul(value)
    elif isinstance(node, list):
        for value in node:
            forbid_nul(value)
