"""Routes of the customer pages (docs/channels.md §Customer pages), Jinja2, mobile first:

    GET  /pay?acct=&amt=          the form (the notice's QR code fills the account in)
    POST /pay                      account number + meter's last 4 digits → the bill
    POST /pay/checkout             → 303 to the chosen platform's checkout page
    GET  /pay/done?platform=&trade_no=   the e-receipt (or "not told yet", refreshing)
    GET  /verify?d=&n=&a=&c=  |  ?p=&t=&a=&c=    valid / voided / not ours

Look-ups and checks are rate-limited per client address (`RATE`, per gateway process).
"""
import collections
import threading
import time
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sync.gateway.context import Context
from sync.gateway.customer import data
from sync.gateway.customer.text import words

env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                  autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
env.filters["yuan"] = lambda fen: "—" if fen is None else f"{fen // 100:,}.{fen % 100:02d}"
RATE = (30, 600.0)     # look-ups and checks per client address per 10 minutes


class RateLimit:
    def __init__(self, limit: int, window_s: float):
        self.limit, self.window_s = limit, window_s
        self.hits: dict[str, collections.deque] = {}
        self.lock = threading.Lock()

    def allow(self, who: str) -> bool:
        now = time.monotonic()
        with self.lock:
            q = self.hits.setdefault(who, collections.deque())
            while q and q[0] < now - self.window_s:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(now)
            return True


def router(ctx: Context) -> APIRouter:
    r = APIRouter(tags=["customer"], include_in_schema=False)
    limit = RateLimit(*RATE)

    def page(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
        lang = "en" if request.query_params.get("lang") == "en" else "zh"
        html = env.get_template(template).render(t=words(lang), lang=lang,
                                                 path=request.url.path, **context)
        return HTMLResponse(html, status_code=status,
                            headers={"Cache-Control": "no-store",
                                     "Referrer-Policy": "no-referrer"})

    def limited(request: Request) -> HTMLResponse | None:
        if limit.allow(request.client.host if request.client else "?"):
            return None
        return page(request, "message.html", 429, key="too_many")

    @r.get("/pay", response_class=HTMLResponse)
    def pay_form(request: Request, acct: Annotated[str, Query(max_length=32)] = ""):
        return page(request, "pay.html", account_no=acct, error=None)

    @r.post("/pay", response_class=HTMLResponse)
    async def pay_lookup(request: Request, account_no: Annotated[str, Form(max_length=32)],
                         meter4: Annotated[str, Form(max_length=8)]):
        if (refused := limited(request)) is not None:
            return refused
        bill = await run_in_threadpool(data.find_bill, ctx, account_no.strip(), meter4.strip())
        if bill is None:
            return page(request, "pay.html", account_no=account_no, error="no_match")
        return page(request, "bill.html", bill=bill, meter4=meter4.strip())

    @r.post("/pay/checkout")
    async def checkout(request: Request, account_no: Annotated[str, Form(max_length=32)],
                       meter4: Annotated[str, Form(max_length=8)],
                       platform: Annotated[str, Form(max_length=32)]):
        if (refused := limited(request)) is not None:
            return refused
        bill = await run_in_threadpool(data.find_bill, ctx, account_no.strip(), meter4.strip())
        if bill is None or not bill["checkout"].get(platform) or not bill["amount_due_fen"]:
            return page(request, "pay.html", account_no=account_no, error="no_match")
        back = str(request.url_for("pay_done")) + ("?lang=en" if "lang=en" in
                                                   str(request.headers.get("referer")) else "")
        target = bill["checkout"][platform] + "?" + urlencode({
            "account_no": bill["account_no"], "amount_fen": bill["amount_due_fen"],
            "return_url": back})
        return RedirectResponse(target, status_code=303)

    @r.get("/pay/done", response_class=HTMLResponse, name="pay_done")
    def pay_done(request: Request, platform: Annotated[str, Query(max_length=32)] = "",
                 trade_no: Annotated[str, Query(max_length=64)] = ""):
        receipt = data.e_receipt(ctx, platform, trade_no)
        if receipt is None:
            return page(request, "message.html", key="pending", refresh=True)
        return page(request, "receipt.html", r=receipt, verify="/verify?" + urlencode(
            {"p": platform, "t": trade_no, "a": receipt["amount_fen"], "c": receipt["code"]}))

    @r.get("/verify", response_class=HTMLResponse)
    async def verify(request: Request):
        if (refused := limited(request)) is not None:
            return refused
        q = {k: v[:64] for k, v in request.query_params.items() if k in "dnpatc"}
        result = await run_in_threadpool(data.check, ctx, q)
        return page(request, "verify.html", v=result)

    return r
