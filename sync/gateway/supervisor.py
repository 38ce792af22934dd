"""Supervisor services: route progress, (re)assignment with a reason, download requests,
the exception queue, devices, and account edits that reach devices via the change feed."""
from __future__ import annotations

import json

from sqlalchemy import distinct, func, select

from sync.gateway import db, office
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
    """Resolve inside the caller's write transaction; returns the exception as it was.
    The UPDATE is conditional on the exception being open: of two processes resolving it at
    once, the second waits for the first one's row lock and then updates nothing (refused),
    so whatever the caller books with the resolution is booked once."""
    e = db.exceptions
    row = conn.execute(select(e).where(e.c.id == exception_id)).mappings().first()
    if row is None:
        raise ApiError(404, "unknown_exception", f"no exception {exception_id}")
    done = conn.execute(e.update().where(e.c.id == exception_id, e.c.resolved_at.is_(None))
                        .values(resolved_at=now_iso(), resolved_by=by, resolution_note=note))
    if row["resolved_at"] or done.rowcount != 1:
        raise ApiError(409, "already_resolved",
                       "该异常已处理 / this exception is already resolved")
    return dict(row)


def list_devices(ctx: Context) -> list[dict]:
    d = db.devices
    with ctx.read() as conn:
        rows = conn.execute(select(d.c.device_id, d.c.name, d.c.enrolled_at, d.c.revoked_at,
                                   d.c.last_seen, d.c.contiguous_seq, d.c.max_seq)
                            .order_by(d.c.enrolled_at)).mappings().all()
    return [{**dict(r), "revoked": r["revoked_at"] is not None} for r in rows]


# -- account edits (each reaches devices through the change feed; each is audited)

def _audit(conn, by: str, action: str, account_no: str | None, **detail) -> None:
    conn.execute(db.supervisor_audit.insert().values(
        at=now_iso(), operator_id=by, action=action, account_no=account_no,
        detail=db.dumps(detail)))


def _diff(before: dict | None, after: dict) -> dict:
    """{field: [from, to]} of the account fields a write changes (meter fields dotted)."""
    def flat(doc):
        out = {k: v for k, v in (doc or {}).items() if k != "meter"}
        out.update({f"meter.{k}": v for k, v in ((doc or {}).get("meter") or {}).items()})
        return out
    old, new = flat(before), flat(after)
    return {k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k)}


def audit_log(ctx: Context, account_no: str | None, limit: int) -> list[dict]:
    a = db.supervisor_audit
    q = select(a).order_by(a.c.id.desc()).limit(limit)
    if account_no:
        q = q.where(a.c.account_no == account_no)
    with ctx.read() as conn:
        rows = conn.execute(q).mappings().all()
    return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]


def _account(cache: AccountCache, account_no: str) -> dict:
    acc = cache.get(account_no)
    if acc is None:
        raise ApiError(404, "unknown_account", f"no account {account_no!r}")
    return acc


def _require_route(conn, route_id: str) -> None:
    if conn.execute(select(db.routes.c.route_id).where(
            db.routes.c.route_id == route_id)).first() is None:
        raise ApiError(404, "unknown_route", f"no route {route_id!r}")


def _meter_owner(conn, meter_no: str) -> str | None:
    return conn.execute(select(db.meters.c.account_no).where(
        db.meters.c.meter_no == meter_no)).scalar()


def set_hazard(ctx: Context, by: str, account_no: str, hazard: str | None) -> dict:
    with ctx.write() as conn:
        cache = AccountCache(conn)
        acc = _account(cache, account_no)
        _audit(conn, by, "hazard", account_no, changes={"hazard": [acc["doc"].get("hazard"),
                                                                   hazard]})
        acc["doc"]["hazard"] = hazard
        cache.dirty.add(account_no)
        cache.emit(acc["route_id"], account_no,
                   {"kind": "hazard", "account_no": account_no, "hazard": hazard})
        cache.flush()
    return {"account_no": account_no, "hazard": hazard}


def move_account(ctx: Context, by: str, account_no: str, route_id: str, seq: int) -> dict:
    with ctx.write() as conn:
        _require_route(conn, route_id)
        cache = AccountCache(conn)
        acc = _account(cache, account_no)
        old = acc["route_id"]
        meter_no = acc["doc"]["meter"]["meter_no"]
        owner = _meter_owner(conn, meter_no)
        if owner not in (None, account_no):
            raise ApiError(409, "meter_in_use", f"meter {meter_no} of this closed account "
                                                f"now belongs to account {owner}")
        if owner is None:
            conn.execute(db.meters.insert().values(meter_no=meter_no, account_no=account_no))
        _audit(conn, by, "move", account_no, changes={"route_id": [old, route_id],
                                                      "seq": [acc["doc"].get("seq"), seq]})
        acc["doc"]["seq"] = seq
        conn.execute(db.accounts.update().where(db.accounts.c.account_no == account_no)
                     .values(route_id=route_id, seq=seq, active=True, doc=db.dumps(acc["doc"])))
        if old != route_id:
            cache.emit(old, account_no, {"kind": "remove", "account_no": account_no})
        cache.emit(route_id, account_no, {"kind": "upsert", "account": acc["doc"]})
        cache.flush()
    return {"account_no": account_no, "route_id": route_id, "seq": seq}


def _check_references(ctx: Context, conn, account: office.Account) -> None:
    tariffs = {t["tariff_id"] for t in json.loads(ctx.kv_get(conn, "tariffs", "[]"))}
    agents = {a for (a,) in conn.execute(select(db.agents.c.agent_id))}
    problem = office.references_problem(account, tariffs, agents)
    if problem:
        raise ApiError(422, "unknown_reference", f"account.{problem}")


def upsert_account(ctx: Context, by: str, route_id: str, account: office.Account,
                   unchanged_from: dict | None = None) -> dict:
    """Create or replace an account (validated by `office.Account`). Its meter must be
    free or already its own: a meter moves between accounts only by a meter exchange.
    With `unchanged_from` (the stored document an edit was made on), refused with 409
    `account_changed` if the account is no longer that document (checked in the write)."""
    doc = account.model_dump()
    no, meter_no = account.account_no, account.meter.meter_no
    with ctx.write() as conn:
        _require_route(conn, route_id)
        _check_references(ctx, conn, account)
        cache = AccountCache(conn)
        acc = cache.get(no)
        if unchanged_from is not None and (acc is None or acc["doc"] != unchanged_from):
            raise ApiError(409, "account_changed", f"account {no} changed since it was read")
        doc = keep_booked(acc and acc["doc"], doc)
        owner = _meter_owner(conn, meter_no)
        if owner not in (None, no):
            raise ApiError(409, "meter_in_use", f"account.meter.meter_no: meter {meter_no} "
                           f"belongs to account {owner}; exchange it off that account first")
        if acc is not None and acc["doc"]["meter"]["meter_no"] != meter_no:
            raise ApiError(409, "meter_changed", "account.meter.meter_no: another meter on "
                           f"this account is a meter exchange: POST /v1/supervisor/accounts/"
                           f"{no}/meter-exchange")
        values = {"route_id": route_id, "seq": account.seq, "active": True,
                  "agent_id": account.agent_id, "doc": db.dumps(doc)}
        if acc is None:
            conn.execute(db.accounts.insert().values(account_no=no,
                                                     bill_fen=account.arrears_fen, **values))
            conn.execute(db.meters.insert().values(meter_no=meter_no, account_no=no))
        else:
            conn.execute(db.accounts.update().where(
                db.accounts.c.account_no == no).values(**values))
            if acc["route_id"] != route_id:
                cache.emit(acc["route_id"], no, {"kind": "remove", "account_no": no})
        _audit(conn, by, "upsert" if acc else "create", no, route_id=route_id,
               changes=_diff(acc and acc["doc"], doc))
        cache.emit(route_id, no, {"kind": "upsert", "account": doc})
        cache.flush()
    return {"account_no": no, "route_id": route_id}


def exchange_meter(ctx: Context, by: str, account_no: str, meter: office.Meter,
                   reason: str) -> dict:
    """Replace an account's meter by another (free) one; devices receive a
    `meter_exchange` change (docs/contracts.md §4) and the old meter is retired."""
    new = meter.model_dump()
    with ctx.write() as conn:
        cache = AccountCache(conn)
        acc = _account(cache, account_no)
        if not acc["active"]:
            raise ApiError(409, "account_closed", f"account {account_no} is closed")
        old_no = acc["doc"]["meter"]["meter_no"]
        owner = _meter_owner(conn, meter.meter_no)
        if owner is not None:
            raise ApiError(409, "meter_in_use", f"meter.meter_no: meter {meter.meter_no} "
                                                f"belongs to account {owner}")
        conn.execute(db.meters.delete().where(db.meters.c.meter_no == old_no))
        conn.execute(db.meters.insert().values(meter_no=meter.meter_no, account_no=account_no))
        before = dict(acc["doc"])
        acc["doc"]["meter"] = new
        cache.dirty.add(account_no)
        _audit(conn, by, "meter_exchange", account_no, reason=reason,
               changes=_diff(before, acc["doc"]))
        cache.emit(acc["route_id"], account_no, {
            "kind": "meter_exchange", "account_no": account_no, "old_meter_no": old_no,
            "reason": reason, "account": acc["doc"]})
        cache.flush()
    return {"account_no": account_no, "old_meter_no": old_no, "meter_no": meter.meter_no}


def close_account(ctx: Context, by: str, account_no: str) -> dict:
    with ctx.write() as conn:
        cache = AccountCache(conn)
        acc = _account(cache, account_no)
        conn.execute(db.accounts.update().where(db.accounts.c.account_no == account_no)
                     .values(active=False))
        conn.execute(db.meters.delete().where(db.meters.c.account_no == account_no))
        _audit(conn, by, "close", account_no, changes={"active": [acc["active"], False]})
        cache.emit(acc["route_id"], account_no, {"kind": "remove", "account_no": account_no})
        cache.flush()
    return {"account_no": account_no, "active": False}
