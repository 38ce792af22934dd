"""The Accounts page's edit form (supervisors): the account's office fields checked by the
same typed office model the API uses (`office.Account`, sync/gateway/office.py) and stored
by the same write (`supervisor.upsert_account`: audited with each field's before and after,
sent to the handhelds through the change feed, docs/contracts.md §4). A refusal is the page
again with 422, the field named in the user's language and what was typed kept.

The form carries the version of the document it was shown from and the values it showed:
when the account changed meanwhile (a payment booked, another edit), the edit is refused
(409) rather than putting back the arrears the page showed, and the form is shown again
with the stored values and this user's changes on top.

The form only turns posted text into the model's input: a blank optional field (phone,
due date, agent, hazard) is none; numbers and dates are read by the model in its lax
(form) mode, so "12.5" or "2026/10/25" are refused by the model itself.
"""
from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from sync.gateway import office, supervisor
from sync.gateway.console.pages import account_detail
from sync.gateway.console.web import Console, Denied, back, render
from sync.gateway.context import ApiError

FIELDS = ("name", "address", "phone", "tariff_id", "arrears_fen", "arrears_due_date",
          "agent_id", "hazard")


def edited(doc: dict, form: dict) -> dict:
    """The account document with the form's fields in (office fields only: what the gateway
    adds, e.g. `booked`, is kept by the write itself)."""
    out = {k: doc[k] for k in office.Account.model_fields if k in doc}
    for name in FIELDS:
        text = str(form.get(name, ""))
        blank_is_none = office.Account.model_fields[name].default is None
        out[name] = None if blank_is_none and not text.strip() else text
    return out


def shown(doc: dict) -> dict:
    """The form's fields as the page shows them (none as blank)."""
    return {k: "" if doc.get(k) is None else str(doc[k]) for k in FIELDS}


def refused_field(exc: Exception) -> tuple[str, str]:
    """(field, message) of a refusal by the model or by the write (`account.<field> …`)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return ".".join(str(p) for p in first["loc"]), first["msg"]
    head, _, rest = exc.message.partition(" ")
    return head.rstrip(":").removeprefix("account."), rest


def stale(request: Request, detail: dict, form: dict):
    """409: the stored values again, with what this user changed on top (nothing lost)."""
    mine = {k: form[k] for k in FIELDS if k in form and form[k] != form.get("was_" + k)}
    return render(request, "account.html", http_status=409, page="accounts", **detail,
                  form=edited(detail["doc"], {**shown(detail["doc"]), **mine}), stale=True)


def router(console: Console) -> APIRouter:
    r = APIRouter()
    ctx = console.ctx

    @r.post("/console/accounts/{account_no}/edit")
    async def edit_account(request: Request, account_no: str):
        user, _ = await console.form(request, "account")
        form = dict(await request.form())
        detail = await run_in_threadpool(account_detail, ctx, account_no[:64])
        if detail is None:
            raise Denied(404, "not_found")
        doc = edited(detail["doc"], form)
        if form.get("version") != detail["version"]:
            return stale(request, detail, form)
        try:
            account = office.Account.model_validate(doc, strict=False)
            await run_in_threadpool(supervisor.upsert_account, ctx, user["username"],
                                    detail["account"]["route_id"], account, detail["doc"])
        except (ValidationError, ApiError) as exc:
            if isinstance(exc, ApiError) and exc.code == "account_changed":
                detail = await run_in_threadpool(account_detail, ctx, account_no[:64])
                return stale(request, detail, form)
            if isinstance(exc, ApiError) and exc.status != 422:
                raise Denied(exc.status, "not_saved", exc.message) from None
            field, message = refused_field(exc)
            return render(request, "account.html", http_status=422, page="accounts",
                          **detail, form=doc, error_field=field, error_message=message)
        return back(f"/console/accounts/{account_no}#edit")

    return r
