"""Supervisor services: route progress, (re)assignment with a reason, download requests,
the exception queue, devices, and account edits that reach devices via the change feed."""
from __future__ import annotations

import json

from sqlalchemy import distinct, func, select

from sync.gateway import db
from sync.gateway.context import ApiError, Context, now_iso
from sync.gateway.ledger import AccountCache, keep_booked


def progress(ctx: Context, collected: bool = True) -> list[dict]:
    """Per route: accounts, read, skipped, unread, per reader; with `collected`, the
    payments and fen booked to the route's accounts too (else reported as 0)."""
    r, a, p = db.readings, db.accounts, db.payments
    with ctx.read() as conn:
        routes = conn.execute(select(db.routes).order_by(db.routes.c.route_id)).mappings().all()
        totals = dict(conn.execute(select(a.c.route_id, func.count()).where(
            a.c.active.is_(True)).group_by(a.c.route_id)).all())
        # Driven by the readings and payments, not by 100,000 accounts: a current reading
        # names the route it was read on (else its account's route is looked up).
        account_route = select(a.c.route_id).where(a.c.account_no == r.c.account_no) \
            .scalar_subquery()
        on_route = func.coalesce(r.c.route_id, account_route)
        reads = conn.execute(
            select(db.routes.c.route_id, r.c.operator_id, r.c.status,
                   func.count(distinct(r.c.account_no)))
            .select_from(r.join(db.routes, (db.routes.c.route_id == on_route)
                                & (db.routes.c.cycle == r.c.cycle)))
            .where(r.c.state == "current", r.c.superseded_by.is_(None))
            .group_by(db.routes.c.route_id, r.c.operator_id, r.c.status)).all()
        paid_route = select(a.c.route_id).where(a.c.account_no == p.c.account_no) \
            .scalar_subquery().label("route_id")
        collected = {row[0]: (row[1], row[2]) for row in conn.execute(
            select(paid_route, func.count(), func.coalesce(func.sum(p.c.amount_fen), 0))
            .where(p.c.voided_by.is_(None), p.c.suspense.is_(False))
            .group_by(paid_route)).all()} if collected else {}
    out = []
    for route in routes:
        rid = route["route_id"]
        readers: dict[str, dict] = {}
        read = skipped = 0
        for route_id, operator_id, status, n in reads:
            if route_id != rid:
                continue
            entry = readers.setdefault(operator_id or "", {"operator_id": operator_id,
                                                           "read": 0, "skipped": 0})
            entry[status] += n
            if status == "read":
                read += n
            else:
                skipped += n
        total = totals.get(rid, 0)
        payments, amount = collected.get(rid, (0, 0))
        out.append({"route_id": rid, "name": route["name"], "cycle": route["cycle"],
                    "operator_id": route["operator_id"], "device_id": route["device_id"],
                    "download_requested": bool(route["download_requested"]),
                    "total": total, "read": read, "skipped": skipped,
                    "unread": max(0, total - read - skipped), "payments": payments,
                    "collected_fen": amount, "readers": list(readers.values())})
    return out


def assign(ctx: Context, by: str, route_id: str, operator_id: str, device_id: str | None,
           reason: str) -> dict:
    with ctx.write() as conn:
        return assign_in(conn, by, route_id, operator_id, device_id, reason)


def assign_in(conn, by: str, route_id: str, operator_id: str, device_id: str | None,
              reason: str) -> dict:
    """`assign` inside the caller's write transaction (the console audits in the same one)."""
    if conn.execute(select(db.routes.c.route_id).where(
            db.routes.c.route_id == route_id)).first() is None:
        raise ApiError(404, "unknown_route", f"no route {route_id!r}")
    op = conn.execute(select(db.operators.c.roles).where(
        db.operators.c.operator_id == operator_id)).first()
    if op is None:
        raise ApiError(404, "unknown_operator", f"no operator {operator_id!r}")
    if not {"reader", "collector"} & set(json.loads(op[0])):
        raise ApiError(400, "operator_role", "the operator is not a reader or collector")
    if device_id is not None:
        dev = conn.execute(select(db.devices.c.revoked_at).where(
            db.devices.c.device_id == device_id)).first()
        if dev is None:
            raise ApiError(404, "unknown_device", f"no device {device_id!r}")
        if dev[0]:
            raise ApiError(400, "device_revoked", "the device is revoked")
    conn.execute(db.routes.update().where(db.routes.c.route_id == route_id).values(
        operator_id=operator_id, device_id=device_id, download_requested=True))
    conn.execute(db.route_assignments.insert().values(
        route_id=route_id, operator_id=operator_id, device_id=device_id, reason=reason,
        by_operator=by, at=now_iso()))
    return {"route_id": route_id, "operator_id": operator_id, "device_id": device_id,
            "download_requested": True}


def request_download(ctx: Context, route_id: str) -> dict:
    with ctx.write() as conn:
        n = conn.execute(db.routes.update().where(db.routes.c.route_id == route_id)
                         .values(download_requested=True)).rowcount
    if not n:
        raise ApiError(404, "unknown_route", f"no route {route_id!r}")
    return {"route_id": route_id, "download_requested": True}


def list_exceptions(ctx: Context, status: str, kind: str | None, limit: int) -> list[dict]:
    e = db.exceptions
    q = select(e).order_by(e.c.id).limit(limit)
    if status == "open":
        q = q.where(e.c.resolved_at.is_(None))
    elif status == "resolved":
        q = q.where(e.c.resolved_at.is_not(None))
    if kind:
        q = q.where(e.c.kind == kind)
    with ctx.read() as conn:
        rows = conn.execute(q).mappings().all()
    return [{**dict(r), "detail": json.loads(r["detail"]) if r["detail"] else None}
            for r in rows]


def resolve_exception(ctx: Context, by: str, exception_id: int, note: str) -> dict:
    with ctx.write() as conn:
        resolve_exception_in(conn, by, exception_id, note)
    return {"id": exception_id, "resolved": True}


def resolve_exception_in(conn, by: str, exception_id: int, note: str) -> dict:
    """Resolve inside the caller's write transaction; returns the exception as it was."""
    e = db.exceptions
    row = conn.execute(select(e).where(e.c.id == exception_id)).mappings().first()
    if row is None:
        raise ApiError(404, "unknown_exception", f"no exception {exception_id}")
    if row["resolved_at"]:
        raise ApiError(409, "already_resolved", "this exception is already resolved")
    conn.execute(e.update().where(e.c.id == exception_id).values(
        resolved_at=now_iso(), resolved_by=by, resolution_note=note))
    return dict(row)


def list_devices(ctx: Context) -> list[dict]:
    d = db.devices
    with ctx.read() as conn:
        rows = conn.execute(select(d.c.device_id, d.c.name, d.c.enrolled_at, d.c.revoked_at,
                                   d.c.last_seen, d.c.contiguous_seq, d.c.max_seq)
                            .order_by(d.c.enrolled_at)).mappings().all()
    return [{**dict(r), "revoked": r["revoked_at"] is not None} for r in rows]


# -- account edits (each reaches devices through the change feed)

def _account(cache: AccountCache, account_no: str) -> dict:
    acc = cache.get(account_no)
    if acc is None:
        raise ApiError(404, "unknown_account", f"no account {account_no!r}")
    return acc


def set_hazard(ctx: Context, account_no: str, hazard: str | None) -> dict:
    with ctx.write() as conn:
        cache = AccountCache(conn)
        acc = _account(cache, account_no)
        acc["doc"]["hazard"] = hazard
        cache.dirty.add(account_no)
        cache.emit(acc["route_id"], account_no,
                   {"kind": "hazard", "account_no": account_no, "hazard": hazard})
        cache.flush()
    return {"account_no": account_no, "hazard": hazard}


def move_account(ctx: Context, account_no: str, route_id: str, seq: int) -> dict:
    with ctx.write() as conn:
        if conn.execute(select(db.routes.c.route_id).where(
                db.routes.c.route_id == route_id)).first() is None:
            raise ApiError(404, "unknown_route", f"no route {route_id!r}")
        cache = AccountCache(conn)
        acc = _account(cache, account_no)
        old = acc["route_id"]
        acc["doc"]["seq"] = seq
        conn.execute(db.accounts.update().where(db.accounts.c.account_no == account_no)
                     .values(route_id=route_id, seq=seq, active=True, doc=db.dumps(acc["doc"])))
        if old != route_id:
            cache.emit(old, account_no, {"kind": "remove", "account_no": account_no})
        cache.emit(route_id, account_no, {"kind": "upsert", "account": acc["doc"]})
        cache.flush()
    return {"account_no": account_no, "route_id": route_id, "seq": seq}


def upsert_account(ctx: Context, route_id: str, account: dict) -> dict:
    with ctx.write() as conn:
        if conn.execute(select(db.routes.c.route_id).where(
                db.routes.c.route_id == route_id)).first() is None:
            raise ApiError(404, "unknown_route", f"no route {route_id!r}")
        cache = AccountCache(conn)
        acc = cache.get(account["account_no"])
        account = keep_booked(acc and acc["doc"], account)
        values = {"route_id": route_id, "seq": account["seq"], "active": True,
                  "agent_id": account.get("agent_id"), "doc": db.dumps(account)}
        if acc is None:
            conn.execute(db.accounts.insert().values(account_no=account["account_no"],
                                                     bill_fen=account["arrears_fen"], **values))
        else:
            conn.execute(db.accounts.update().where(
                db.accounts.c.account_no == account["account_no"]).values(**values))
            if acc["route_id"] != route_id:
                cache.emit(acc["route_id"], account["account_no"],
                           {"kind": "remove", "account_no": account["account_no"]})
        cache.emit(route_id, account["account_no"], {"kind": "upsert", "account": account})
        cache.flush()
    return {"account_no": account["account_no"], "route_id": route_id}


def close_account(ctx: Context, account_no: str) -> dict:
    with ctx.write() as conn:
        cache = AccountCache(conn)
        acc = _account(cache, account_no)
        conn.execute(db.accounts.update().where(db.accounts.c.account_no == account_no)
                     .values(active=False))
        cache.emit(acc["route_id"], account_no, {"kind": "remove", "account_no": account_no})
        cache.flush()
    return {"account_no": account_no, "active": False}
