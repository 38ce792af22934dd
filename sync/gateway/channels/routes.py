"""HTTP routes of the channels (docs/channels.md): signed platform endpoints and the
office's endpoints (supervisor token). Mounted by sync/gateway/app.py."""

import json
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError

from sync import platform_sign
from sync.gateway.channels import agents, auth, biller, models, recon
from sync.gateway.context import ApiError, Context

Platform = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
TradeNo = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
AgentId = Annotated[str, Path(min_length=1, max_length=64)]
Channel = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
Day = Annotated[date, Query(description="YYYY-MM-DD")]


def day_range(day_from: Day, day_to: Day) -> tuple[str, str]:
    """[day_from, day_to] of a statement or a report, as ISO days; a range that ends before
    it starts is refused 422 naming `day_to`."""
    if day_to < day_from:
        raise ApiError(422, "invalid_request", "query.day_to: must not be before day_from")
    return day_from.isoformat(), day_to.isoformat()


DayRange = Annotated[tuple[str, str], Depends(day_range)]
CSV_BODY = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "description": "daily statement file, "
                                                            "docs/channels.md"}}}}}


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_statement", "the statement file must be UTF-8") from None


def _body_schema(model: type[BaseModel]) -> dict:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}


def _parse(model: type[BaseModel], body: bytes) -> BaseModel:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise ApiError(400, "invalid_request", f"{where}: {first['msg']}"[:300]) from None


async def signed(ctx: Context, request: Request, model: type[BaseModel] | None = None):
    """(platform row, parsed body) of a signed platform request."""
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    row = await run_in_threadpool(auth.authenticate, ctx, request.headers, request.method,
                                  path, body)
    if model is None:
        return row, None
    msg = _parse(model, body)
    if msg.platform != row["platform"]:
        raise ApiError(403, "platform_mismatch", "the message names another platform")
    return row, msg


async def answer(ctx: Context, row: dict, fn, *args) -> Response:
    """Run `fn(*args)` and send its result signed for the calling platform."""
    body = json.dumps(await run_in_threadpool(fn, *args), ensure_ascii=False).encode()
    headers = await run_in_threadpool(auth.signed_answer_headers, ctx, row, body)
    return Response(body, media_type="application/json", headers=headers)


def platform_router(ctx: Context) -> APIRouter:
    r = APIRouter(prefix="/v1/channels", tags=["platform"])

    async def signer(request: Request) -> dict:
        """The signing platform's row: a dependency, so that an unsigned request is refused
        401 before its query is read (never 422 to a caller that did not sign)."""
        row, _ = await signed(ctx, request)
        return row

    @r.get("/bills", response_model=models.BillOut)
    async def bill_query(row: Annotated[dict, Depends(signer)],
                         account_no: Annotated[str, Query(min_length=1, max_length=32)]):
        """Bill query by account number (signed; the signed path includes the query)."""
        return await answer(ctx, row, biller.bill, ctx, account_no)

    @r.post("/payments", response_model=models.NoticeResult,
            openapi_extra=_body_schema(models.PaymentNotice))
    async def payment_notice(request: Request):
        """Payment notification (signed); a repeat answers the first result."""
        row, msg = await signed(ctx, request, models.PaymentNotice)
        return await answer(ctx, row, biller.notify, ctx, msg.model_dump())

    @r.post("/reversals", response_model=models.ReversalResult,
            openapi_extra=_body_schema(models.ReversalNotice))
    async def reversal_notice(request: Request):
        """Refund/reversal of (part of) an earlier payment (signed)."""
        row, msg = await signed(ctx, request, models.ReversalNotice)
        return await answer(ctx, row, biller.reverse, ctx, msg.model_dump())

    @r.post("/statements", openapi_extra=CSV_BODY)
    async def statement_push(request: Request):
        """The platform sends its daily statement file (signed); answers the report."""
        row, _ = await signed(ctx, request)
        text = _text(await request.body())
        return await answer(ctx, row, recon.import_statement, ctx, row["platform"], text)

    return r


def office_router(ctx: Context, supervisor) -> APIRouter:
    """`supervisor`: the app's dependency type that yields the signed-in operator id."""
    r = APIRouter(prefix="/v1/supervisor", tags=["channels"])

    @r.get("/biller-key")
    def biller_key(op: supervisor):
        """The gateway's public key: rsa platforms check its answers' signatures with it."""
        return {"public_key": platform_sign.public_pem(auth.biller_key(ctx))}

    @r.put("/platforms/{platform}")
    def put_platform(platform: Platform, body: models.PlatformIn, op: supervisor):
        return auth.register(ctx, platform, body.model_dump())

    @r.get("/channels/payments")
    def channel_payments(op: supervisor,
                         account_no: Annotated[str, Query(min_length=1, max_length=32)]):
        return biller.payments_of(ctx, account_no)

    @r.post("/channels/payments/{platform}/{trade_no}/settle")
    def settle(platform: Platform, trade_no: TradeNo, body: models.SettleIn, op: supervisor):
        return biller.settle(ctx, op, platform, trade_no, body.action, body.note)

    @r.post("/channels/statements/{platform}", openapi_extra=CSV_BODY)
    async def statement_upload(platform: Platform, request: Request, op: supervisor):
        """The office imports a statement file it downloaded from the platform."""
        text = _text(await request.body())
        return await run_in_threadpool(recon.import_statement, ctx, platform, text)

    @r.get("/channels/statements/{platform}/{day}")
    def statement_report(platform: Platform, op: supervisor,
                         day: Annotated[str, Path(pattern=r"^\d{4}-\d{2}-\d{2}$")]):
        return recon.report_of(ctx, platform, day)

    @r.put("/channels/fees/{channel}")
    def put_fee(channel: Channel, body: models.FeeRule, op: supervisor):
        return recon.set_fee(ctx, channel, body.model_dump())

    @r.get("/channels/daily")
    def daily(op: supervisor, days: DayRange):
        """Gross, fees and net per channel and day."""
        return recon.daily(ctx, *days)

    @r.put("/agents/{agent_id}/agreement")
    def put_agreement(agent_id: AgentId, body: models.AgreementIn, op: supervisor):
        return agents.set_agreement(ctx, agent_id, body.model_dump())

    @r.get("/agents/{agent_id}/agreement")
    def get_agreement(agent_id: AgentId, op: supervisor):
        """Collected vs remitted, limit, remit-by date, blocked or not."""
        return agents.position(ctx, agent_id)

    @r.post("/agents/{agent_id}/remittances")
    def post_remittance(agent_id: AgentId, body: models.RemittanceIn, op: supervisor):
        return agents.remit(ctx, agent_id, body.model_dump(), op)

    @r.post("/agents/{agent_id}/lift")
    def lift_block(agent_id: AgentId, body: models.LiftIn, op: supervisor):
        return agents.lift(ctx, agent_id, body.days, body.note, op)

    @r.get("/agents/{agent_id}/statement")
    def agent_statement(agent_id: AgentId, op: supervisor, days: DayRange):
        """Collections and remittances of one agent from day_from to day_to (UTC days)."""
        return agents.statement(ctx, agent_id, *days)

    return r
