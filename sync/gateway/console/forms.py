"""One typed model per console form: what a write takes, checked before anything is done
(a refusal is a 400 page naming the field)."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import (BaseModel, ConfigDict, Field, StringConstraints, ValidationError,
                      ValidationInfo, field_validator)

from sync.gateway import settlement

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class Form(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Assign(Form):
    operator_id: Id
    device_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""
    read_date: date | Literal[""] = ""
    reason: Text


class Resolve(Form):
    """Settle an exception (sync/gateway/settlement.py); a re-assignment names the account
    the money goes to (its existence is checked when it is booked)."""
    action: Literal[settlement.ACTIONS]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=500)]
    target_account: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64,
                                                     pattern=r"^[0-9A-Za-z-]*$")] = \
        Field("", validate_default=True)

    @field_validator("target_account")
    @classmethod
    def _target_for_reassign(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("action") == "reassign" and not value:
            raise ValueError("a re-assignment needs the target account")
        return value


class Review(Form):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class Explain(Form):
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=500)]


class Revoke(Form):
    reason: Text


class Invalid(ValueError):
    def __init__(self, field: str):
        super().__init__(field)
        self.field = field


def parse(model: type[Form], data: dict) -> Form:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Invalid(".".join(str(p) for p in exc.errors()[0]["loc"])) from None


ACTIONS = Resolve.model_fields["action"].annotation.__args__   # as the page offers them
