"""What the customer pages read: a bill found by account number and the meter's last four
digits (both on the printed notice — a wrong pair says nothing about which accounts exist),
an e-receipt's verification code, and the check of any receipt (docs/channels.md)."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets

from sqlalchemy import select

from sync.gateway import db, money
from sync.gateway.channels import auth, biller
from sync.gateway.context import ApiError, Context
from sync.gateway.ledger import AccountCache

KEY = "customer_receipt_key"


def mask_account(account_no: str) -> str:
    return account_no[:4] + "*" * max(len(account_no) - 6, 0) + account_no[-2:]


def mask_address(address: str) -> str:
    """The road and area stay; house and room numbers go (号, 室, 单元 …)."""
    return "".join("*" if ch.isdigit() else ch for ch in address)


def find_bill(ctx: Context, account_no: str, meter4: str) -> dict | None:
    """The bill of the account whose meter number ends in `meter4`, else None (the same
    None for an unknown account and a wrong meter number)."""
    with ctx.read() as conn:
        acc = AccountCache(conn).get(account_no)
        if acc is None or not acc["active"]:
            return None
        doc = acc["doc"]
        meter_no = str((doc.get("meter") or {}).get("meter_no", ""))
        if len(meter4) != 4 or not hmac.compare_digest(meter_no[-4:], meter4):
            return None
        tariffs = json.loads(ctx.kv_get(conn, "tariffs") or "[]")
        platforms = auth.names(conn)
        checkout = {p: ctx.kv_get(conn, f"checkout_url:{p}") for p in platforms}
    tariff = next((t for t in tariffs if t.get("tariff_id") == doc.get("tariff_id")), {})
    bill = biller.bill(ctx, account_no)
    return {**bill, "account_masked": mask_account(account_no),
            "address_masked": mask_address(doc.get("address", "")),
            "due_date": doc.get("arrears_due_date"), "tariff": tariff,
            "platforms": [{"id": p, **n} for p, n in platforms.items() if checkout.get(p)],
            "checkout": checkout}


def _key(ctx: Context) -> bytes:
    with ctx.read() as conn:
        key = ctx.kv_get(conn, KEY)
    if key is None:
        with ctx.write() as conn:
            key = ctx.kv_get(conn, KEY)
            if key is None:
                key = secrets.token_hex(32)
                ctx.kv_set(conn, KEY, key)
    return bytes.fromhex(key)


def receipt_code(ctx: Context, platform: str, trade_no: str, amount_fen: int) -> str:
    return hmac.new(_key(ctx), f"{platform}|{trade_no}|{amount_fen}".encode(),
                    hashlib.sha256).hexdigest()[:16]


def e_receipt(ctx: Context, platform: str, trade_no: str) -> dict | None:
    p = db.channel_payments.c
    with ctx.read() as conn:
        row = conn.execute(select(db.channel_payments).where(
            p.platform == platform, p.trade_no == trade_no)).first()
        names = auth.names(conn)
    if row is None:
        return None
    try:
        now_due = biller.bill(ctx, row.account_no)["amount_due_fen"]
    except ApiError:            # an unknown (suspense) or closed account
        now_due = None
    return {"platform": platform, "platform_name": names.get(platform, {}), "trade_no": trade_no,
            "account_masked": mask_account(row.account_no), "amount_fen": row.amount_fen,
            "paid_at": row.paid_at, "now_due_fen": now_due,
            "code": receipt_code(ctx, platform, trade_no, row.amount_fen)}


def check(ctx: Context, q: dict) -> dict:
    """valid | voided | not_ours, with amount, date and masked account when it is ours.
    `q`: a handheld receipt (d, n, a, c) or an e-receipt (p, t, a, c)."""
    a = q.get("a", "")
    if not a.isdigit() or len(a) > 12 or not q.get("c"):
        return {"status": "not_ours"}
    amount = int(a)
    if q.get("p") and q.get("t"):
        return _check_platform(ctx, q["p"], q["t"], amount, q["c"])
    if q.get("d") and q.get("n"):
        return _check_device(ctx, q["d"], q["n"], amount, q["c"])
    return {"status": "not_ours"}


def _check_platform(ctx, platform, trade_no, amount, code) -> dict:
    p = db.channel_payments.c
    with ctx.read() as conn:
        row = conn.execute(select(db.channel_payments).where(
            p.platform == platform, p.trade_no == trade_no)).first()
    if row is None or row.amount_fen != amount or not hmac.compare_digest(
            receipt_code(ctx, platform, trade_no, amount), code.lower()):
        return {"status": "not_ours"}
    return {"status": "voided" if row.reversed_fen >= row.amount_fen else "valid",
            "amount_fen": amount, "date": row.paid_at[:10],
            "account_masked": mask_account(row.account_no)}


def _check_device(ctx, device_id, receipt_no, amount, code) -> dict:
    if len(device_id) > 64 or len(receipt_no) > 32 or len(code) > 64:
        return {"status": "not_ours"}
    if not money.receipt_is_valid(ctx, device_id, receipt_no, amount, code):
        return {"status": "not_ours"}
    r, pay = db.receipts.c, db.payments.c
    with ctx.read() as conn:
        op_id = conn.execute(select(r.op_id).where(r.device_id == device_id,
                                                   r.receipt_no == receipt_no)).scalar()
        row = conn.execute(select(pay.account_no, pay.agent_id, pay.voided_by,
                                  pay.received_at).where(pay.op_id == op_id)).first()
    if row is None:            # a void's own receipt, not a payment's
        return {"status": "valid", "amount_fen": amount, "date": None, "account_masked": ""}
    return {"status": "voided" if row.voided_by else "valid", "amount_fen": amount,
            "date": row.received_at[:10],
            "account_masked": mask_account(row.account_no or row.agent_id or "")}
