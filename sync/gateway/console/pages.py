"""Today, Accounts and Devices pages."""
from __future__ import annotations

import hashlib
import io
import json

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Request
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from sync import protocol
from sync.gateway import access, db
from sync.gateway.console import auth, forms, photos, today as today_q
from sync.gateway.console.web import Console, Denied, back, render
from sync.gateway.context import ApiError, Context

SEARCH_LIMIT = 50


def search_accounts(ctx: Context, q: str) -> list[dict]:
    """Account number prefix, or any text of the account (name, address: one or two
    Chinese characters are enough, as on the handheld)."""
    a = db.accounts
    q = q.strip()[:40]
    if not q:
        return []
    with ctx.read() as conn:
        if q.isdigit():
            rows = conn.execute(select(a.c.account_no, a.c.route_id, a.c.doc).where(
                a.c.account_no >= q, a.c.account_no < q + "\uffff")
                .order_by(a.c.account_no).limit(SEARCH_LIMIT)).all()
        else:
            pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = conn.execute(select(a.c.account_no, a.c.route_id, a.c.doc).where(
                a.c.doc.like(pattern, escape="\\")).order_by(a.c.account_no)
                .limit(SEARCH_LIMIT * 4)).all()
    out = []
    for no, route_id, doc in rows:
        d = json.loads(doc)
        if q.isdigit() or q in (d.get("name") or "") or q in (d.get("address") or ""):
            out.append({"account_no": no, "route_id": route_id, "name": d.get("name"),
                        "address": d.get("address"), "arrears_fen": d.get("arrears_fen")})
    return out[:SEARCH_LIMIT]


def account_detail(ctx: Context, account_no: str) -> dict | None:
    a, r, p, t, rc = db.accounts, db.readings, db.payments, db.thirdparty, db.receipts
    with ctx.read() as conn:
        row = conn.execute(select(a).where(a.c.account_no == account_no)).mappings().first()
        if row is None:
            return None
        readings = [dict(x) for x in conn.execute(
            select(r.c.cycle, r.c.status, r.c.value, r.c.consumption, r.c.skip_code,
                   r.c.trouble_code, r.c.operator_id, r.c.received_at, r.c.state, r.c.payload)
            .where(r.c.account_no == account_no).order_by(r.c.received_at.desc()).limit(24))
            .mappings()]
        payments = [dict(x) for x in conn.execute(
            select(p.c.op_id, p.c.method, p.c.agent_id, p.c.amount_fen, p.c.receipt_no,
                   p.c.device_id, p.c.voided_by, p.c.received_at)
            .where(p.c.account_no == account_no).order_by(p.c.received_at.desc()).limit(50))
            .mappings()]
        platform = [dict(x) for x in conn.execute(
            select(t.c.platform, t.c.txn_id, t.c.amount_fen, t.c.paid_at)
            .where(t.c.account_no == account_no).order_by(t.c.paid_at.desc()).limit(50))
            .mappings()]
        op_ids = [x["op_id"] for x in payments]
        receipts = conn.execute(
            select(rc, db.devices.c.device_key)
            .select_from(rc.join(db.devices, db.devices.c.device_id == rc.c.device_id))
            .where(rc.c.op_id.in_(op_ids))).mappings().all() if op_ids else []
        audit_rows = conn.execute(
            select(db.supervisor_audit).where(db.supervisor_audit.c.account_no == account_no)
            .order_by(db.supervisor_audit.c.id.desc()).limit(20)).mappings().all()
    for x in readings:
        x["photo"] = photos.photo_of(json.loads(x.pop("payload")))
        x["photo_arrived"] = photos.arrived(ctx, x["photo"])
    return {"account": row, "doc": json.loads(row["doc"]), "version": doc_version(row["doc"]),
            "readings": readings,
            "payments": payments, "platform": platform,
            "receipts": [_receipt_status(x) for x in receipts],
            "audit": [{**dict(x), "detail": json.loads(x["detail"])} for x in audit_rows]}


def doc_version(stored: str) -> str:
    """A short digest of the stored account document (with what the gateway booked on it):
    the edit form carries it, so an edit of a document that changed meanwhile is refused."""
    return hashlib.sha256(stored.encode("utf-8")).hexdigest()[:32]


def _receipt_status(r) -> dict:
    """Verified when its hash recomputes and its code is the device's (as /v1/receipts/verify)."""
    content = json.loads(r["content"])
    ok = protocol.receipt_hash(r["prev_hash"], content) == r["hash"] and \
        protocol.verify_code(r["device_key"], r["device_id"], r["receipt_no"],
                             r["amount_fen"], r["hash"]) == r["verify_code"].lower()
    return {"receipt_no": r["receipt_no"], "device_id": r["device_id"], "kind": r["kind"],
            "amount_fen": r["amount_fen"], "verified": ok}


DEVICES_SHOWN = 200


def device_rows(ctx: Context, q: str = "", limit: int = DEVICES_SHOWN) -> tuple[list[dict], int]:
    """Devices longest unseen first (those need a look), optionally by id or name prefix;
    and how many there are in all."""
    d, c = db.devices, db.closeouts
    last_close = (select(c.c.device_id, func.max(c.c.at).label("last_closeout"))
                  .group_by(c.c.device_id).subquery())
    query = (select(d.c.device_id, d.c.name, d.c.enrolled_at, d.c.revoked_at, d.c.last_seen,
                    (d.c.max_seq - d.c.contiguous_seq).label("missing"),
                    last_close.c.last_closeout)
             .select_from(d.outerjoin(last_close, last_close.c.device_id == d.c.device_id))
             .order_by(d.c.revoked_at.is_not(None), d.c.last_seen, d.c.device_id).limit(limit))
    count = select(func.count()).select_from(d)
    if q:
        match = d.c.device_id.startswith(q, autoescape=True) | d.c.name.contains(
            q, autoescape=True)
        query, count = query.where(match), count.where(match)
    with ctx.read() as conn:
        return [dict(x) for x in conn.execute(query).mappings()], conn.execute(count).scalar()


def qr_svg(text: str) -> str:
    out = io.BytesIO()
    qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage).save(out)
    svg = out.getvalue().decode("utf-8")
    return svg[svg.index("<svg"):]


def router(console: Console) -> APIRouter:
    r = APIRouter()
    ctx = console.ctx

    @r.get("/console/")
    async def today_page(request: Request):
        await console.user(request)
        data = await run_in_threadpool(today_q.today, ctx)
        top = max([c["amount_fen"] for c in data["channels"]] + [1])
        return render(request, "today.html", page="today", top=top, **data)

    @r.get("/console/accounts")
    async def accounts_page(request: Request, q: str = ""):
        await console.user(request)
        found = await run_in_threadpool(search_accounts, ctx, q)
        return render(request, "accounts.html", page="accounts", q=q, found=found)

    @r.get("/console/accounts/{account_no}")
    async def account_page(request: Request, account_no: str):
        await console.user(request)
        detail = await run_in_threadpool(account_detail, ctx, account_no[:64])
        if detail is None:
            raise Denied(404, "not_found")
        return render(request, "account.html", page="accounts", **detail)

    @r.get("/console/devices")
    async def devices_page(request: Request, code: str | None = None, q: str = ""):
        await console.user(request, "devices")
        rows, total = await run_in_threadpool(device_rows, ctx, q.strip()[:64])
        qr = qr_svg(json.dumps({"gateway": str(request.base_url).rstrip("/"),
                                "code": code[:32]}, separators=(",", ":"))) if code else None
        return render(request, "devices.html", page="devices", rows=rows, total=total, q=q,
                      code=code, qr=qr)

    @r.post("/console/devices/enrol-code")
    async def enrol_code(request: Request):
        user, _form = await console.form(request, "enrol_code")

        made = await run_in_threadpool(
            access.new_enrol_code, ctx, f"office:{user['username']}",
            lambda conn, code: auth.audit(conn, user["username"], "enrol_code", None,
                                          after={"code": code}))
        return back(f"/console/devices?code={made['code']}")

    @r.post("/console/devices/{device_id}/revoke")
    async def revoke(request: Request, device_id: str):
        user, form = await console.form(request, "revoke", forms.Revoke)

        def audit(conn):
            auth.audit(conn, user["username"], "revoke_device", None,
                       before={"device_id": device_id, "revoked": False},
                       after={"device_id": device_id, "revoked": True},
                       reason=form.reason)
        try:
            await run_in_threadpool(access.revoke, ctx, device_id[:64], audit)
        except ApiError:
            raise Denied(404, "not_found") from None
        return back("/console/devices")

    return r
