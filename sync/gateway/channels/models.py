"""One pydantic model per message of the channels API (docs/channels.md); the same models
validate requests and make the OpenAPI schema."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

PlatformId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
TradeNo = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
AccountNo = Annotated[str, Field(min_length=1, max_length=32)]
Amount = Annotated[int, Field(ge=1, le=10 ** 11, description="integer fen")]
Fen = Annotated[int, Field(ge=0, le=10 ** 12)]
Day = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]


def _aware(value: str) -> str:
    at = datetime.fromisoformat(value)
    if at.tzinfo is None or not 2000 <= at.year <= 2999:
        raise ValueError("a time (years 2000-2999) with its UTC offset, e.g. "
                         "2026-12-04T10:32:00+08:00")
    return value


AwareTime = Annotated[str, Field(max_length=40), AfterValidator(_aware)]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlatformIn(Message):
    """Office registration of a platform and its credentials."""
    name_zh: Annotated[str, Field(min_length=1, max_length=40)]
    name_en: Annotated[str, Field(min_length=1, max_length=40)]
    scheme: Literal["rsa", "hmac"]
    public_key: Annotated[str, Field(max_length=4000)] | None = None
    secret: Annotated[str, Field(pattern=r"^([0-9a-f]{2}){16,64}$")] | None = None
    checkout_url: Annotated[str, Field(pattern=r"^https?://[^\s\x00]{1,300}$")] | None = Field(
        None, description="the platform's checkout page for the customer pages")


class BillOut(Message):
    """Bill query answer: what the platform shows the customer before paying."""
    account_no: str
    masked_name: str
    bill_id: str
    amount_due_fen: int
    breakdown: dict[str, int]
    cycle: str


class PaymentNotice(Message):
    """A platform's payment notification."""
    platform: PlatformId
    trade_no: TradeNo
    account_no: AccountNo
    bill_id: Annotated[str, Field(max_length=100)] | None = None
    amount_fen: Amount
    paid_at: AwareTime


class NoticeResult(Message):
    status: Literal["booked", "credited", "double_collection", "suspense"]
    platform: str
    trade_no: str
    account_no: str
    amount_fen: int
    to_arrears_fen: int
    to_credit_fen: int
    double_collection_fen: int


class ReversalNotice(Message):
    """A platform's refund/reversal of an earlier payment (whole or part)."""
    platform: PlatformId
    refund_no: TradeNo
    trade_no: TradeNo
    amount_fen: Amount
    reversed_at: AwareTime


class ReversalResult(Message):
    status: Literal["reversed"]
    platform: str
    refund_no: str
    trade_no: str
    amount_fen: int
    payment_left_fen: int


class SettleIn(Message):
    """Office decision on a double collection: keep it as credit or refund it."""
    action: Literal["keep_credit", "refund"]
    note: Annotated[str, Field(min_length=1, max_length=500)]


class FeeRule(Message):
    """Fee schedule of a channel: a percentage (basis points) with min/max, or per item."""
    kind: Literal["percent", "per_item", "none"]
    rate_bp: Annotated[int, Field(ge=0, le=10_000)] = 0
    min_fen: Fen = 0
    max_fen: Fen | None = None
    per_item_fen: Fen = 0


class AgreementIn(Message):
    """A regional agent's agreement (区域代管)."""
    deposit_fen: Fen = 0
    credit_limit_fen: Fen = 0
    remit_days: Annotated[int, Field(ge=1, le=366)]


class RemittanceIn(Message):
    amount_fen: Amount
    reference: Annotated[str, Field(min_length=1, max_length=100)]
    remitted_at: AwareTime


class LiftIn(Message):
    days: Annotated[int, Field(ge=1, le=366)]
    note: Annotated[str, Field(min_length=1, max_length=500)]
