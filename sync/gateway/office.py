"""Office documents: one typed model per document the gateway takes from the office —
accounts (with their meter), tariffs, routes, codes, operators and settings — checked before
anything is stored, so a device can never receive what it cannot import, bill or take cash
for (docs/contracts.md §1, §4). Strict types: no booleans or floats as numbers, no numbers
as text, dates `YYYY-MM-DD`, unknown fields refused; a refusal is 422 naming the field.

`validate_utility(utility)` checks a whole utility (the demo seed goes through it too).
"""
from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

MAX_FEN = 10 ** 12


def _iso_date(text: str) -> str:
    if len(text) != 10 or date.fromisoformat(text).isoformat() != text:
        raise ValueError("must be a date YYYY-MM-DD")
    return text


def Text(max_length: int, min_length: int = 0):
    return Annotated[str, Field(min_length=min_length, max_length=max_length)]


Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s\x00]+$")]  # no NUL
IsoDate = Annotated[str, AfterValidator(_iso_date)]
Fen = Annotated[int, Field(ge=0, le=MAX_FEN)]
Count = Annotated[int, Field(ge=0, le=10 ** 12)]


def whole_numbers(data):
    """JSON Schema counts 5200.0 as an integer: take it as 5200. A fraction (5200.5), a
    boolean or a numeric text is still refused by the strict models."""
    if isinstance(data, dict):
        return {k: int(v) if isinstance(v, float) and v.is_integer() and abs(v) < 2 ** 63
                else v for k, v in data.items()}
    return data


class Office(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    _whole = model_validator(mode="before")(whole_numbers)


class Meter(Office):
    meter_no: Id
    dials: Annotated[int, Field(ge=1, le=12)]
    decimals: Annotated[int, Field(ge=0, le=4)] = 0
    multiplier: Annotated[int, Field(ge=1, le=100_000)] = 1
    prev_value: Count | None = None
    prev_date: IsoDate | None = None
    avg_daily_wh: Annotated[int, Field(ge=0, le=10 ** 9)] | None = None
    limit_low: Count | None = None
    limit_high: Count | None = None

    @model_validator(mode="after")
    def _fits(self):
        if self.decimals >= self.dials:
            raise ValueError("decimals must be fewer than dials")
        if self.prev_value is not None and self.prev_value >= 10 ** self.dials:
            raise ValueError(f"prev_value has more digits than the meter's {self.dials} dials")
        if None not in (self.limit_low, self.limit_high) and self.limit_low > self.limit_high:
            raise ValueError("limit_low is above limit_high")
        return self


class ThirdPartyPaid(Office):
    platform: Text(32, 1)
    amount_fen: Annotated[int, Field(ge=1, le=MAX_FEN)]
    paid_at: Text(40, 1)


class Account(Office):
    account_no: Id
    seq: Annotated[int, Field(ge=0, le=2 ** 31)]
    name: Text(200, 1)
    address: Text(500) = ""
    phone: Text(40) | None = None
    tariff_id: Id
    arrears_fen: Fen = 0
    arrears_due_date: IsoDate | None = None
    credit_fen: Fen = 0
    agent_id: Id | None = None
    hazard: Text(500) | None = None
    last_third_party: ThirdPartyPaid | None = None
    meter: Meter


class Band(Office):
    upto_kwh: Annotated[int, Field(ge=1, le=10 ** 9)] | None
    price_e4: Annotated[int, Field(ge=0, le=10 ** 7)]


class Tariff(Office):
    tariff_id: Id
    name: Text(100, 1)
    kind: Literal["flat", "tiered"]
    bands: Annotated[list[Band], Field(min_length=1, max_length=10)]
    late_fee_ppm_per_day: Annotated[int, Field(ge=0, le=100_000)] = 0

    @model_validator(mode="after")
    def _bands(self):
        limits = [b.upto_kwh for b in self.bands]
        if limits[-1] is not None or None in limits[:-1]:
            raise ValueError("only the last band is open (upto_kwh null)")
        if limits[:-1] != sorted(set(limits[:-1])):
            raise ValueError("band limits must rise")
        return self


class SkipCode(Office):
    code: Id
    zh: Text(100, 1)
    en: Text(100, 1)
    reading: Literal["required", "forbidden", "optional"]
    note_required: bool = False
    photo_required: bool = False


class TroubleCode(Office):
    code: Id
    zh: Text(100, 1)
    en: Text(100, 1)
    urgent: bool = False


class HazardCode(Office):
    code: Id
    zh: Text(100, 1)
    en: Text(100, 1)


class Codes(Office):
    skip: list[SkipCode] = []
    trouble: list[TroubleCode] = []
    hazard: list[HazardCode] = []


class Operator(Office):
    operator_id: Id
    name: Text(100, 1)
    roles: Annotated[list[Literal["reader", "collector", "supervisor"]],
                     Field(min_length=1, max_length=3)]
    pin_hash: Annotated[str, Field(pattern=r"^[a-z0-9_]+\$\d+\$[0-9a-f]+\$[0-9a-f]+$",
                                   max_length=300)]


class Route(Office):
    route_id: Id
    name: Text(100, 1)
    cycle: Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
    read_date: IsoDate
    hide_previous: bool = False
    operator_id: Id | None = None


class CardLimits(Office):
    """Offline card limits the office sets for every device (terminal/payments.py reads
    them; a device may lower but never raise them): per payment `min_fen`..`max_fen`, and
    over the card payments not yet acknowledged `max_total_fen`, `max_count`, `max_age_hours`."""
    min_fen: Annotated[int, Field(ge=1, le=MAX_FEN)] = 1
    max_fen: Fen = 500_000
    max_total_fen: Fen = 2_000_000
    max_count: Annotated[int, Field(ge=0, le=10_000)] = 50
    max_age_hours: Annotated[int, Field(ge=0, le=24 * 90)] = 72

    @model_validator(mode="after")
    def _consistent(self):
        if self.min_fen > self.max_fen:
            raise ValueError("min_fen is above max_fen")
        if self.max_fen > self.max_total_fen:
            raise ValueError("max_fen (per payment) is above max_total_fen (in total)")
        return self


class Settings(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    pay_url_template: Text(500) | None = None
    verify_url_template: Text(500) | None = None
    card_limits: CardLimits | None = None


def validate_utility(utility: dict) -> None:
    """Raise pydantic.ValidationError unless every office document of `utility` is valid
    and consistent (accounts name known tariffs and agents; a meter is on one account)."""
    tariffs = {Tariff.model_validate(t).tariff_id for t in utility["tariffs"]}
    Codes.model_validate(utility["codes"])
    for o in utility["operators"]:
        Operator.model_validate(o)
    Settings.model_validate(utility.get("settings") or {})
    agents = {a["agent_id"] for a in utility["agents"]}
    meters: set[str] = set()
    for route in utility["routes"]:
        Route.model_validate({k: route[k] for k in Route.model_fields if k in route})
        for doc in utility["route_accounts"][route["route_id"]]:
            account = Account.model_validate(doc)
            problem = references_problem(account, tariffs, agents) or \
                (f"meter {account.meter.meter_no} is on two accounts"
                 if account.meter.meter_no in meters else None)
            if problem:
                raise ValueError(f"account {account.account_no}: {problem}")
            meters.add(account.meter.meter_no)


def references_problem(account: Account, tariffs: set, agents: set) -> str | None:
    if account.tariff_id not in tariffs:
        return f"tariff_id {account.tariff_id!r} is not a known tariff"
    if account.agent_id is not None and account.agent_id not in agents:
        return f"agent_id {account.agent_id!r} is not a known agent"
    return None
