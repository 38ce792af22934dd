"""The sandbox platform's own HTTP face: what a customer's wallet and a test drive.

- `POST /pay {"account_no", "amount_fen"}`: a customer pays; the platform notifies the
  gateway (signed, retried with back-off) and answers `{"trade_no", ...}`;
  `?wait=1` answers once the notification is delivered (or refused/given up).
- `GET /checkout?account_no=&amount_fen=&return_url=`: the checkout page the customer pages
  send a phone to; its Pay button pays and returns to `return_url?trade_no=…`.
- `POST /refund {"trade_no", "amount_fen"}`: a refund, notified like a payment.
- `GET /trades`: every trade with its delivery state.
- `GET /statement?day=` the daily statement file (sync/statement_csv.py);
  `POST /statement/send?day=` sends it to the gateway (signed).
Sandbox-only faults for tests and drills (documented in docs/channels.md): `/pay` takes
`"notify": false` (the notification is lost), `"in_statement": false` (the statement misses
the trade) and `"statement_amount_fen"` (the statement shows another amount).
"""
from __future__ import annotations

import html
import secrets
import threading
from datetime import date, datetime, timedelta, timezone
from typing import Annotated
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from pydantic import BaseModel, Field

from sync import statement_csv
from sync.sandbox_platform.notifier import Notifier

BEIJING = timezone(timedelta(hours=8))


class PayIn(BaseModel):
    account_no: Annotated[str, Field(min_length=1, max_length=32)]
    amount_fen: Annotated[int, Field(ge=1, le=10 ** 11)]
    bill_id: str | None = None
    notify: bool = True
    in_statement: bool = True
    statement_amount_fen: int | None = None


class RefundIn(BaseModel):
    trade_no: str
    amount_fen: Annotated[int, Field(ge=1, le=10 ** 11)]
    notify: bool = True


def create_app(notifier: Notifier, fee_bp: int = 60, trade_day: date | None = None) -> FastAPI:
    """`trade_day`: book every trade on that business day (drills and tests that must not
    straddle midnight); by default the day of the platform's clock (Beijing time)."""
    app = FastAPI(title="Sandbox payment platform")
    platform = notifier.signer.platform
    trades: dict[str, dict] = {}
    lock = threading.Lock()

    def _now() -> datetime:
        now = datetime.now(BEIJING).replace(microsecond=0)
        if trade_day is not None:
            now = now.replace(year=trade_day.year, month=trade_day.month, day=trade_day.day)
        return now

    def _trade_no() -> str:
        return _now().strftime("%Y%m%d") + secrets.token_hex(8)

    def _answer(t: dict) -> dict:
        d = t["delivery"]
        return {k: v for k, v in t.items() if k != "delivery"} | {
            "delivery": None if d is None else {"status": d.status, "attempts": d.attempts,
                                                "answer": d.answer}}

    def pay(body: PayIn) -> dict:
        now = _now()
        t = {"trade_no": _trade_no(), "account_no": body.account_no, "kind": "payment",
             "amount_fen": body.amount_fen, "bill_id": body.bill_id,
             "paid_at": now.isoformat(), "time": now.strftime("%Y-%m-%d %H:%M:%S"),
             "fee_fen": body.amount_fen * fee_bp // 10_000, "in_statement": body.in_statement,
             "statement_amount_fen": body.statement_amount_fen, "delivery": None}
        with lock:
            trades[t["trade_no"]] = t
        if body.notify:
            t["delivery"] = notifier.send("/v1/channels/payments", {
                "platform": platform, "trade_no": t["trade_no"], "account_no": body.account_no,
                "bill_id": body.bill_id, "amount_fen": body.amount_fen,
                "paid_at": t["paid_at"]})
        return t

    @app.post("/pay")
    def pay_endpoint(body: PayIn, wait: bool = False):
        t = pay(body)
        if wait and t["delivery"] is not None:
            t["delivery"].done.wait(120)
        return _answer(t)

    @app.post("/refund")
    def refund(body: RefundIn, wait: bool = False):
        now = _now()
        paid = trades[body.trade_no]
        t = {"trade_no": body.trade_no, "refund_no": "R" + _trade_no(),
             "account_no": paid["account_no"], "kind": "refund", "amount_fen": body.amount_fen,
             "bill_id": paid["bill_id"], "time": now.strftime("%Y-%m-%d %H:%M:%S"),
             "fee_fen": 0, "in_statement": True, "statement_amount_fen": None}
        t["delivery"] = notifier.send("/v1/channels/reversals", {
            "platform": platform, "refund_no": t["refund_no"], "trade_no": body.trade_no,
            "amount_fen": body.amount_fen, "reversed_at": now.isoformat()}) if body.notify \
            else None
        with lock:
            trades[t["refund_no"]] = t
        if wait and t["delivery"] is not None:
            t["delivery"].done.wait(120)
        return _answer(t)

    @app.get("/trades")
    def list_trades():
        with lock:
            return [_answer(t) for t in trades.values()]

    def statement(day: str) -> str:
        with lock:
            rows = [t for t in trades.values() if t["time"].startswith(day) and t["in_statement"]]
        return statement_csv.write(platform, day, [
            {**t, "amount_fen": t["statement_amount_fen"] or t["amount_fen"]} for t in rows])

    @app.get("/statement", response_class=PlainTextResponse)
    def get_statement(day: Annotated[str, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")]):
        return statement(day)

    @app.post("/statement/send")
    def send_statement(day: Annotated[str, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")]):
        r = notifier.signer.request("POST", "/v1/channels/statements", statement(day),
                                    content_type="text/csv; charset=utf-8", timeout=60)
        return {"status": r.status_code, "answer": r.json(),
                "answer_signed": notifier.signer.answer_ok(r)}

    @app.get("/checkout", response_class=HTMLResponse)
    def checkout(account_no: Annotated[str, Query(min_length=1, max_length=32)],
                 amount_fen: Annotated[int, Query(ge=1, le=10 ** 11)],
                 return_url: Annotated[str, Query(max_length=500)]):
        esc = html.escape
        return f"""<!doctype html><html lang="zh"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{esc(platform)} checkout</title></head><body style="font-family:sans-serif;margin:1em">
<h1>{esc(platform)} 收银台 · checkout (sandbox)</h1>
<p>电费 Electricity bill · <span id="amount">{statement_csv.yuan(amount_fen)}</span> 元</p>
<form method="post" action="/checkout">
<input type="hidden" name="account_no" value="{esc(account_no)}">
<input type="hidden" name="amount_fen" value="{amount_fen}">
<input type="hidden" name="return_url" value="{esc(return_url)}">
<button id="pay" type="submit" style="font-size:1.4em;padding:.5em 2em">确认付款 Pay</button>
</form></body></html>"""

    @app.post("/checkout")
    async def checkout_pay(request: Request):
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        try:
            body = PayIn(account_no=form.get("account_no", ""),
                         amount_fen=int(form.get("amount_fen", "0")))
        except ValueError:
            return PlainTextResponse("bad checkout form", status_code=400)
        t = pay(body)
        await run_in_threadpool(t["delivery"].done.wait, 60)
        return_url = form.get("return_url", "/")
        sep = "&" if "?" in return_url else "?"
        return RedirectResponse(return_url + sep + urlencode(
            {"platform": platform, "trade_no": t["trade_no"]}), status_code=303)

    return app
