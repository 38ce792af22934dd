"""The messages of an ops upload (POST /v1/ops, docs/contracts.md §2), one typed pydantic
model each: the batch, the op envelope and the payload of every op type the gateway
applies. Ingest validates with them (validators built once, at import) and the OpenAPI
document's request body is generated from them (`ops_schema`), so the two cannot differ.

Strict, as the protocol is: no booleans or fractions as integers (`True`, `1.0`), no
numbers as text. Unknown keys are allowed everywhere: a device of another version may send
fields this gateway does not know, and the stored raw payload keeps them. A field the
gateway does not check (it keeps it as sent, or a bad value puts a payment in suspense
rather than rejecting it) is declared without a type, with its meaning as description.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

import fieldrules

MAX_INT = 2 ** 53

Int = Annotated[int, Field(ge=-MAX_INT, le=MAX_INT)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class _Message(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


def _kept(description: str) -> Any:
    """A field kept as sent (not checked here)."""
    return Field(default=None, description=description)


_GPS = ('the receiver\'s last fix as of the save: {"lat", "lon", "accuracy_m", "age_s", '
        '"state": "good"|"stale"|"inaccurate"}, or null (no fix at all)')


class ReadingPayload(_Message):
    """A meter reading (or a skipped meter); a correction names the op_id it replaces."""
    model_config = ConfigDict(json_schema_extra={   # what the after-validator checks
        "if": {"properties": {"status": {"const": "read"}}, "required": ["status"]},
        "then": {"properties": {"value": {"type": "integer"}}, "required": ["value"]}})

    account_no: Annotated[str, Field(min_length=1, max_length=32)]
    status: Literal["read", "skipped"]
    value: Count | None = Field(None, description="all the dial digits; required for a read")
    consumption: Int | None = Field(None, description="meter units, after rollover")
    kwh_e3: Int | None = None
    meter_no: Text | None = None
    route_id: Text | None = None
    cycle: Text | None = Field(None, description="billing cycle; null: the route's current")
    skip_code: Text | None = None
    trouble_code: Text | None = None
    corrects: Annotated[str, Field(min_length=1, max_length=100)] | None = Field(
        None, description="op_id of the reading this corrects")
    rollover: Any = _kept("bool: the meter went past its top value")
    note: Any = _kept("captured text (docs/contracts.md §0)")
    warnings: Any = _kept("[str]: plausibility warnings shown at capture")
    entries: Any = _kept("[int]: every keyed value, first to last")
    reentry_ms: Any = _kept("int|null")
    gps: Any = _kept(_GPS)
    bill_estimate_fen: Any = _kept("int|null")
    photo: Any = _kept("lower-case hex SHA-256 of the JPEG, sent afterwards as a blob")

    @model_validator(mode="after")
    def _read_has_value(self):
        if self.status == "read" and self.value is None:
            raise ValueError("a read needs a value")
        return self


class PaymentPayload(_Message):
    """A cash or card collection. Only `amount_fen` is refused when malformed; any other
    problem (method, account, agent, allocations) keeps the payment in suspense."""
    amount_fen: Int = Field(description="fen; not positive: held in suspense")
    account_no: Any = _kept("str|null: the account paid for (unknown: suspense)")
    agent_id: Any = _kept("str|null: an agent paying for the accounts in `allocations`")
    method: Any = _kept('"cash"|"card" (anything else: suspense)')
    tendered_fen: Any = _kept("int|null (cash)")
    change_fen: Any = _kept("int|null (cash); tendered - change != amount goes to review")
    shift_id: Any = _kept("str")
    allocations: Any = _kept('[{"account_no", "amount_fen"}] adding up to amount_fen '
                             "(malformed: suspense)")
    card: Any = _kept('{"result_code", "trace", "terminal_receipt_no", "masked_pan", '
                      '"card_type", "terminal_id"}|null')
    receipt: Any = _kept('{"receipt_no", "content", "prev_hash", "hash", "verify_code"} '
                         "(missing or malformed: review)")
    gps: Any = _kept(_GPS)


class VoidPayload(_Message):
    """The reversal of a payment."""
    payment_op_id: Annotated[str, Field(min_length=1, max_length=100)]
    amount_fen: Int = Field(description="must equal the payment's (else a conflict)")
    receipt_no: Any = _kept("the voided payment's receipt number")
    reason: Any = _kept("captured text (docs/contracts.md §0)")
    approved_by: Any = _kept("captured text: the supervisor who approved")
    shift_id: Any = _kept("str")
    receipt: Any = _kept("the void's receipt, same chain fields as a payment's")
    card: Any = _kept("the card terminal's reversal, for a card payment")


class ShiftOpenPayload(_Message):
    shift_id: Annotated[str, Field(min_length=1, max_length=64)]
    float_fen: Count | None = None


class ShiftClosePayload(_Message):
    shift_id: Annotated[str, Field(min_length=1, max_length=64)]
    counted_fen: Int | None = None
    expected_fen: Int | None = None
    variance_fen: Int | None = Field(None, description="not zero: goes to review")
    z_no: Any = _kept("int: the Z report's number")
    summary: Any = _kept("the closeout summary (docs/contracts.md §3)")


PAYLOADS: dict[str, type[BaseModel]] = {
    "reading": ReadingPayload, "payment": PaymentPayload, "void": VoidPayload,
    "shift_open": ShiftOpenPayload, "shift_close": ShiftClosePayload}
# Kept as sent, nothing checked or applied (docs/contracts.md §2).
RECORD_ONLY_TYPES = ("card_unknown_resolved", "refund")


class OpEnvelope(_Message):
    """One op as the device's outbox holds it. `type` is any short text here: an op of a
    type this gateway does not know is rejected on its own (unknown_type), its seq held."""
    op_id: Annotated[str, Field(min_length=1, max_length=100)]
    seq: Annotated[int, Field(ge=1, le=MAX_INT - 1)]
    type: Annotated[str, Field(min_length=1, max_length=40)]
    payload: dict[str, Any]
    payload_sha256: Annotated[str, Field(max_length=128, description=
                                         "lower-case hex SHA-256 of the canonical payload")]
    device_time: Annotated[str, Field(max_length=64)] | None = None
    operator_id: Annotated[str, Field(max_length=64)] | None = None


class OpsBatch(_Message):
    ops: list[OpEnvelope]


BATCH = TypeAdapter(OpsBatch)
_VALIDATORS = {name: model.__pydantic_validator__ for name, model in PAYLOADS.items()}


# -- ValidationError -> one clear English sentence naming the field

def describe(schema: dict) -> str:
    """What a JSON Schema node accepts, in words ("an integer in [0, 10]")."""
    if "anyOf" in schema:
        return " or ".join(describe(s) for s in schema["anyOf"])
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    kind = schema.get("type")
    if kind == "integer":
        return f"an integer in [{schema.get('minimum', '')}, {schema.get('maximum', '')}]"
    if kind == "string":
        lo, hi = schema.get("minLength", 0), schema.get("maxLength")
        if hi is None:
            return "a string"
        return f"a string of at most {hi} characters" if lo == 0 else \
            f"a string of {lo}..{hi} characters"
    return {"null": "null", "object": "an object", "array": "an array"}.get(kind, "valid")


def _field_words(model: type[BaseModel]) -> dict[str, str]:
    return {k: describe(v) for k, v in model.model_json_schema()["properties"].items()}


_WORDS = {model: _field_words(model) for model in (*PAYLOADS.values(), OpEnvelope)}


def problem(error: dict, model: type[BaseModel]) -> str:
    """The message of one pydantic error of `model`, naming the field."""
    loc = error["loc"]
    if not loc:   # the model's own rule (after-validator) or not an object at all
        if error["type"] == "value_error":
            return str(error["ctx"]["error"])
        return "must be an object"
    key = str(loc[0])
    words = _WORDS[model].get(key, "valid")
    if error["type"] == "missing":
        return f"{key} is required: {words}"
    if error["type"] == "string_unicode":   # a lone surrogate: say so as the devices do
        found = fieldrules.unstorable(error.get("input"), key)
        if found:
            return found.message_en
    return f"{key} must be {words}"


def payload_problem(op_type: str, payload: dict) -> str | None:
    """None if the payload of a known op type is well-formed, else what is wrong."""
    validator = _VALIDATORS.get(op_type)
    if validator is None:
        return None
    try:
        validator.validate_python(payload)
    except ValidationError as exc:
        return problem(exc.errors(include_url=False)[0], PAYLOADS[op_type])
    return None


def first_bad_op(doc) -> tuple[int | None, str | None]:
    """(index, problem) of the first malformed envelope of a decoded body; (None, problem)
    when the body is not {"ops": [...]}; (None, None) when every envelope is well-formed."""
    try:
        BATCH.validate_python(doc)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        shaped = [e for e in errors if len(e["loc"]) >= 2]
        if len(shaped) < len(errors):
            return None, 'body must be {"ops": [envelope, ...]}'
        first = min(shaped, key=lambda e: e["loc"][1])
        return first["loc"][1], problem(dict(first, loc=first["loc"][2:]), OpEnvelope)
    return None, None


# -- the OpenAPI request body, generated from the models

def _inline(node, defs: dict):
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(defs[node["$ref"].rsplit("/", 1)[1]], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def ops_schema() -> dict:
    """The request body of POST /v1/ops: the batch and envelope models, each op's payload
    given by its `type` (one of the payload models; any other type: any object, answered
    per op). Marked `x-checked-per-op`: a malformed payload is rejected per op, seq held."""
    batch = OpsBatch.model_json_schema()
    schema = _inline(batch, batch.get("$defs", {}))
    item = schema["properties"]["ops"]["items"]
    variants = [{"title": f"{name} op", "properties": {
        "type": {"const": name}, "payload": model.model_json_schema()}}
        for name, model in PAYLOADS.items()]
    variants.append({"title": "other op", "description": "record-only types ("
                     + ", ".join(RECORD_ONLY_TYPES) + ") kept as sent; an unknown type "
                     "is rejected per op (unknown_type)",
                     "properties": {"type": {"not": {"enum": sorted(PAYLOADS)}}}})
    item["oneOf"] = variants
    schema["x-checked-per-op"] = True
    return schema
