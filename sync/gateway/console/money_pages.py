"""The cashier office's pages: exceptions (resolve with an action and a reason), voids
requested by handhelds (approve or refuse), shifts (float, counted, expected, variance,
Z report; mark a variance explained). Every decision is audited with who and when."""
from __future__ import annotations

import json

from fastapi import APIRouter, Request
from sqlalchemy import and_, select
from starlette.concurrency import run_in_threadpool

from sync.gateway import db, settlement
from sync.gateway.console import auth, forms
from sync.gateway.console.web import Console, Denied, back, render
from sync.gateway.context import ApiError, Context, now_iso

ACTIONS = forms.ACTIONS


def exception_rows(ctx: Context, status: str, kind: str = "", limit: int = 100) -> list[dict]:
    """The newest exceptions, open or resolved, optionally of one kind; a settled one with
    what its settlement moved (`settled_fen`, `moved_fen`, `target_account_no`)."""
    e, st = db.exceptions, db.settlements
    q = (select(e, st.c.amount_fen.label("settled_fen"), st.c.balance_fen.label("moved_fen"),
                st.c.target_account_no)
         .select_from(e.outerjoin(st, st.c.exception_id == e.c.id))
         .order_by(e.c.id.desc()).limit(limit))
    if kind:
        q = q.where(e.c.kind == kind)
    q = q.where(e.c.resolved_at.is_(None)) if status == "open" else \
        q.where(e.c.resolved_at.is_not(None))
    with ctx.read() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def resolve(ctx: Context, user: dict, exception_id: int, form: forms.Resolve) -> None:
    """Settle the exception with its money and audit it with the balances before and after,
    in one transaction (sync/gateway/settlement.py)."""
    with ctx.write() as conn:
        settlement.settle(conn, f"office:{user['username']}", exception_id, form.action,
                          form.reason, form.target_account or None, audit_as=user["username"])


def void_rows(ctx: Context, limit: int = 200) -> list[dict]:
    v, p, rv, o = db.voids, db.payments, db.void_reviews, db.sync_ops
    with ctx.read() as conn:
        return [dict(r) for r in conn.execute(
            select(v.c.op_id, v.c.device_id, v.c.payment_op_id, v.c.amount_fen, v.c.reason,
                   v.c.approved_by, v.c.received_at, p.c.account_no, p.c.method,
                   o.c.operator_id, rv.c.decision, rv.c.by_user, rv.c.at.label("decided_at"),
                   rv.c.reason.label("decision_reason"))
            .select_from(v.outerjoin(p, p.c.op_id == v.c.payment_op_id)
                         .outerjoin(rv, rv.c.void_op_id == v.c.op_id)
                         .outerjoin(o, and_(o.c.device_id == v.c.device_id,
                                            o.c.op_id == v.c.op_id)))
            .order_by(rv.c.decision.is_not(None), v.c.received_at.desc()).limit(limit))
            .mappings()]


def review_void(ctx: Context, user: dict, void_op_id: str, decision: str, reason: str) -> None:
    """Approve or refuse a handheld's void; a refusal opens a `void_refused` exception for
    the cashier office (the voided cash is still to be accounted for)."""
    if decision not in ("approved", "refused"):
        raise ApiError(400, "unknown_decision", "approve or refuse")
    if decision == "refused" and not reason:
        raise ApiError(400, "reason_required", "a refusal needs a reason")
    v = db.voids
    with ctx.write() as conn:
        row = conn.execute(select(v).where(v.c.op_id == void_op_id)).mappings().first()
        if row is None:
            raise ApiError(404, "unknown_void", f"no void {void_op_id}")
        if conn.execute(select(db.void_reviews.c.decision).where(
                db.void_reviews.c.void_op_id == void_op_id)).first():
            raise ApiError(409, "already_reviewed", "this void has been decided")
        conn.execute(db.void_reviews.insert().values(
            void_op_id=void_op_id, decision=decision, reason=reason or None,
            by_user=user["username"], at=now_iso()))
        account_no = conn.execute(select(db.payments.c.account_no).where(
            db.payments.c.op_id == row["payment_op_id"])).scalar()
        if decision == "refused":
            conn.execute(db.exceptions.insert().values(
                kind="void_refused", code="void_refused", device_id=row["device_id"],
                op_id=void_op_id, account_no=account_no, amount_fen=row["amount_fen"],
                message=f"void refused by the office: {reason}", created_at=now_iso()))
        auth.audit(conn, user["username"], f"void_{decision}", account_no,
                   before={"void_op_id": void_op_id, "decision": None},
                   after={"void_op_id": void_op_id, "decision": decision, "reason": reason})


def shift_rows(ctx: Context, limit: int = 200) -> list[dict]:
    """The newest shifts (by their ops' arrival): float, count, expected, variance, Z
    report, reconciled or not, and the office's note."""
    s, o, c, rv = db.shift_events, db.sync_ops, db.closeouts, db.shift_reviews
    with ctx.read() as conn:
        rows = conn.execute(
            select(s.c.device_id, s.c.shift_id, s.c.type, s.c.payload, o.c.operator_id,
                   o.c.received_at)
            .select_from(s.outerjoin(o, and_(o.c.device_id == s.c.device_id,
                                             o.c.op_id == s.c.op_id)))
            .order_by(o.c.received_at.desc()).limit(2 * limit)).all()
        devices = sorted({r.device_id for r in rows})   # only these shifts' devices
        closeouts = {(r.device_id, r.shift_id): r.ok for r in conn.execute(
            select(c.c.device_id, c.c.shift_id, c.c.ok).where(c.c.device_id.in_(devices)))}
        reviews = {(r.device_id, r.shift_id): dict(r._mapping) for r in conn.execute(
            select(rv).where(rv.c.device_id.in_(devices)))}
    shifts: dict[tuple, dict] = {}
    for r in rows:
        entry = shifts.setdefault((r.device_id, r.shift_id), {
            "device_id": r.device_id, "shift_id": r.shift_id, "operator_id": r.operator_id,
            "opened_at": None, "float_fen": None, "counted_fen": None, "expected_fen": None,
            "variance_fen": None, "z_no": None, "closed": False})
        p = json.loads(r.payload)
        if r.type == "shift_open":
            entry.update(float_fen=p.get("float_fen"), opened_at=r.received_at,
                         operator_id=r.operator_id)
        else:
            entry.update(closed=True, **{k: p.get(k) for k in (
                "counted_fen", "expected_fen", "variance_fen", "z_no")})
    for key, entry in shifts.items():
        entry["reconciled"] = closeouts.get(key)
        entry["review"] = reviews.get(key)
    return list(shifts.values())[:limit]


def explain_shift(ctx: Context, user: dict, device_id: str, shift_id: str, note: str) -> None:
    rv = db.shift_reviews
    with ctx.write() as conn:
        if conn.execute(select(db.shift_events.c.op_id).where(
                db.shift_events.c.device_id == device_id,
                db.shift_events.c.shift_id == shift_id).limit(1)).first() is None:
            raise ApiError(404, "unknown_shift", "no such shift")
        before = conn.execute(select(rv.c.note).where(rv.c.device_id == device_id,
                                                      rv.c.shift_id == shift_id)).scalar()
        conn.execute(rv.delete().where(rv.c.device_id == device_id, rv.c.shift_id == shift_id))
        conn.execute(rv.insert().values(device_id=device_id, shift_id=shift_id, note=note,
                                        by_user=user["username"], at=now_iso()))
        auth.audit(conn, user["username"], "shift_explained", None,
                   before={"note": before}, after={"note": note},
                   device_id=device_id, shift_id=shift_id)


def router(console: Console) -> APIRouter:
    r = APIRouter()
    ctx = console.ctx

    async def act(fn, *args):
        try:
            await run_in_threadpool(fn, ctx, *args)
        except ApiError as exc:
            raise Denied(exc.status, exc.code) from None

    @r.get("/console/exceptions")
    async def exceptions_page(request: Request, status: str = "open", kind: str = ""):
        await console.user(request)
        rows = await run_in_threadpool(exception_rows, ctx, status, kind[:32])
        return render(request, "exceptions.html", page="exceptions", rows=rows,
                      status=status, actions=ACTIONS)

    @r.post("/console/exceptions/{exception_id}/resolve")
    async def resolve_post(request: Request, exception_id: int):
        user, form = await console.form(request, "exception", forms.Resolve)
        try:
            await run_in_threadpool(resolve, ctx, user, exception_id, form)
        except ApiError as exc:   # e.g. an unknown target account: named on the page
            raise Denied(exc.status, exc.code, form.target_account
                         if exc.code == "unknown_account" else "") from None
        return back("/console/exceptions")

    console.listing(r, "voids", void_rows)

    @r.post("/console/voids/{void_op_id}/{decision}")
    async def void_post(request: Request, void_op_id: str, decision: str):
        user, form = await console.form(request, "void_review", forms.Review)
        await act(review_void, user, void_op_id[:100],
                  {"approve": "approved", "refuse": "refused"}.get(decision, decision),
                  form.reason)
        return back("/console/voids")

    console.listing(r, "shifts", shift_rows)

    @r.post("/console/shifts/{device_id}/{shift_id}/explain")
    async def explain_post(request: Request, device_id: str, shift_id: str):
        user, form = await console.form(request, "shift_review", forms.Explain)
        await act(explain_shift, user, device_id[:64], shift_id[:64], form.note)
        return back("/console/shifts")

    return r
