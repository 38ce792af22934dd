"""The biller side of a payment platform (docs/channels.md §Biller interface): bill query,
payment notification, reversal, and the office's settlement of a double collection.

Idempotent by (platform, trade_no): a repeat answers the first result; the same trade number
with another account or amount is refused (409) and queued as an exception. A payment pays
arrears first, the rest becomes credit (sync/gateway/ledger.py); a payment for a bill the
handheld already collected on site is a double collection: credited, flagged, and settled
by the office (keep as credit or refund). Every booking feeds the route change feed, so
devices see it (`last_third_party`) within one pull.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from sync import protocol
from sync.gateway import db, settlement
from sync.gateway.observe import log
from sync.gateway.channels.models import NoticeResult, ReversalResult
from sync.gateway.context import ApiError, Context, now_iso
from sync.gateway.ledger import AccountCache, apply_payment, reverse_payment

BEIJING = timezone(timedelta(hours=8))   # platforms' statements count days in UTC+8


def mask_name(name: str) -> str:
    """All but the last character hidden, as platforms show a payee (张三 → *三)."""
    return "*" * min(len(name) - 1, 3) + name[-1:] if name else ""


def day_of(paid_at: str) -> str:
    return datetime.fromisoformat(paid_at).astimezone(BEIJING).date().isoformat()


def _cycle(conn, route_id: str) -> str:
    return conn.execute(select(db.routes.c.cycle).where(db.routes.c.route_id == route_id)
                        ).scalar() or ""


def bill(ctx: Context, account_no: str) -> dict:
    """Bill query: masked name, amount due, breakdown, bill id (404 for no such account)."""
    with ctx.read() as conn:
        acc = AccountCache(conn).get(account_no)
        if acc is None or not acc["active"]:
            raise ApiError(404, "unknown_account", "no such account")
        doc, cycle = acc["doc"], _cycle(conn, acc["route_id"])
    due = max(0, doc["arrears_fen"] - doc["credit_fen"])
    return {"account_no": account_no, "masked_name": mask_name(doc.get("name", "")),
            "bill_id": f"{account_no}:{cycle}", "amount_due_fen": due, "cycle": cycle,
            "breakdown": {"arrears_fen": doc["arrears_fen"], "credit_fen": doc["credit_fen"]}}


def exception(conn, kind: str, code: str, message: str, ref: str, account_no, amount,
              credit, detail) -> None:
    """An exception queue item; `op_id` carries the channel reference (platform:trade_no)."""
    conn.execute(db.exceptions.insert().values(
        kind=kind, code=code, message=message, device_id=None, op_id=ref, seq=None,
        account_no=account_no, amount_fen=amount, credit_fen=credit, detail=db.dumps(detail),
        created_at=now_iso()))


def _on_site_fen(conn, account_no: str) -> int:
    return int(conn.execute(select(func.coalesce(func.sum(db.payments.c.amount_fen), 0)).where(
        db.payments.c.account_no == account_no, db.payments.c.voided_by.is_(None),
        db.payments.c.suspense.is_(False))).scalar())   # PostgreSQL: numeric


def _prior(conn, table, platform: str, key_col, key: str):
    return conn.execute(select(table.c.body_sha256, table.c.result).where(
        table.c.platform == platform, key_col == key)).first()


def notify(ctx: Context, notice: dict, source: str = "notify") -> dict:
    """Book a payment notification once; answers `NoticeResult`. Two gateway processes
    booking the same trade at once: the loser's insert fails and it answers the winner's."""
    try:
        return _notify_once(ctx, notice, source)
    except IntegrityError:
        return _notify_once(ctx, notice, source)


def _notify_once(ctx: Context, notice: dict, source: str) -> dict:
    body_hash = protocol.sha256hex(notice)
    ref = f"{notice['platform']}:{notice['trade_no']}"
    with ctx.write() as conn:
        prior = _prior(conn, db.channel_payments, notice["platform"],
                       db.channel_payments.c.trade_no, notice["trade_no"])
        if prior is None:
            return _book(conn, notice, body_hash, ref, source)
        if prior.body_sha256 == body_hash:
            return json.loads(prior.result)
        exception(conn, "channel", "trade_mismatch", f"trade {ref} notified again with "
                  "another account or amount; refused", ref, notice["account_no"],
                  notice["amount_fen"], None, notice)
    log.warning("platform payment %s refused: notified again with other data", ref)
    # raised after the commit, so the exception queue item is kept
    raise ApiError(409, "trade_mismatch", "this trade number was notified with other data")


def _book(conn, notice: dict, body_hash: str, ref: str, source: str) -> dict:
    cache = AccountCache(conn)
    account_no, amount = notice["account_no"], notice["amount_fen"]
    acc = cache.get(account_no)
    applied, double = None, 0
    if acc is None or not acc["active"]:
        status, to_arrears, to_credit = "suspense", 0, 0
        exception(conn, "suspense", "unknown_account", f"platform payment {ref} for unknown "
                  f"account {account_no}", ref, account_no, amount, None, notice)
    else:
        doc = acc["doc"]
        applied = apply_payment(doc, amount)
        to_arrears, to_credit = applied[0], applied[1]
        on_site = _on_site_fen(conn, account_no)
        if to_credit > 0 and on_site > 0 and acc["bill_fen"] > 0:
            double = min(to_credit, on_site)
            exception(conn, "double_collection", "double_collection",
                      f"platform payment {ref} for a bill already paid on site; {double} fen "
                      "credited (keep as credit or refund)", ref, account_no, amount, double,
                      notice)
        status = "double_collection" if double else "credited" if to_credit else "booked"
        doc["last_third_party"] = {"platform": notice["platform"], "amount_fen": amount,
                                   "paid_at": notice["paid_at"], "trade_no": notice["trade_no"],
                                   "double_collection_fen": double}
        cache.emit_balance(account_no)
        cache.flush()
    result = NoticeResult(status=status, platform=notice["platform"],
                          trade_no=notice["trade_no"], account_no=account_no,
                          amount_fen=amount, to_arrears_fen=to_arrears,
                          to_credit_fen=to_credit, double_collection_fen=double).model_dump()
    log.info("platform payment %s: %s %d fen to %s (%s)", ref, status, amount, account_no,
             source)
    conn.execute(db.channel_payments.insert().values(
        platform=notice["platform"], trade_no=notice["trade_no"], account_no=account_no,
        bill_id=notice.get("bill_id"), amount_fen=amount, paid_at=notice["paid_at"],
        day=day_of(notice["paid_at"]), body_sha256=body_hash, status=status, source=source,
        applied=None if applied is None else json.dumps(applied), double_fen=double,
        result=json.dumps(result), received_at=now_iso()))
    return result


def reverse(ctx: Context, notice: dict) -> dict:
    """Book a platform's refund of (part of) a payment once; answers `ReversalResult`."""
    body_hash = protocol.sha256hex(notice)
    p = db.channel_payments.c
    with ctx.write() as conn:
        prior = _prior(conn, db.channel_reversals, notice["platform"],
                       db.channel_reversals.c.refund_no, notice["refund_no"])
        if prior is not None:
            if prior.body_sha256 != body_hash:
                raise ApiError(409, "refund_mismatch", "this refund number was notified with "
                                                       "other data")
            return json.loads(prior.result)
        pay = conn.execute(select(db.channel_payments).where(   # locked before the balance,
            p.platform == notice["platform"], p.trade_no == notice["trade_no"])  # as a refund
            .with_for_update()).first()
        if pay is None:
            raise ApiError(404, "unknown_trade", "no payment with this trade number")
        left = pay.amount_fen - pay.reversed_fen
        if notice["amount_fen"] > left:
            raise ApiError(409, "over_reversal", f"only {left} fen of this payment is left")
        values = {"reversed_fen": pay.reversed_fen + notice["amount_fen"]}
        if pay.applied:
            values["applied"] = _reverse_booked(AccountCache(conn), pay, notice["amount_fen"],
                                                left)
        conn.execute(db.channel_payments.update().where(
            p.platform == pay.platform, p.trade_no == pay.trade_no).values(**values))
        result = ReversalResult(status="reversed", platform=notice["platform"],
                                refund_no=notice["refund_no"], trade_no=notice["trade_no"],
                                amount_fen=notice["amount_fen"],
                                payment_left_fen=left - notice["amount_fen"]).model_dump()
        conn.execute(db.channel_reversals.insert().values(
            platform=notice["platform"], refund_no=notice["refund_no"],
            trade_no=notice["trade_no"], amount_fen=notice["amount_fen"],
            reversed_at=notice["reversed_at"], body_sha256=body_hash,
            result=json.dumps(result), received_at=now_iso()))
    return result


def _reverse_booked(cache: AccountCache, pay, amount: int, left: int) -> str:
    """Take `amount` back from where the payment is booked: its own account first (credit
    first, then arrears), then the shares the office re-assigned to other accounts
    (`applied[3]`, sync/gateway/settlement.py), each from its target, credit first; the
    shares taken shrink. Returns the payment's `applied` as it is afterwards."""
    applied = json.loads(pay.applied)
    to_arrears, to_credit, due = applied[:3]
    moved = applied[3] if len(applied) > 3 else {}
    elsewhere = sum(a + c for a, c, _d in moved.values())
    own = min(amount, max(0, left - elsewhere))
    rest = amount - own
    acc = cache.get(pay.account_no)
    if own and acc is not None:
        from_credit = min(own, to_credit)
        reverse_payment(acc["doc"], [own - from_credit, from_credit, due])
        cache.emit_balance(pay.account_no)
    for target in sorted(moved):
        a, c, target_due = moved[target]
        take = min(rest, a + c)
        acc = cache.get(target)
        if take and acc is not None:
            from_credit = min(take, c)
            reverse_payment(acc["doc"], [take - from_credit, from_credit, target_due])
            cache.emit_balance(target)
            moved[target] = [a - (take - from_credit), c - from_credit, target_due]
        rest -= take
    cache.flush()
    return json.dumps(applied[:3] + [moved] if moved else applied[:3])


def settle(ctx: Context, operator_id: str, platform: str, trade_no: str, action: str,
           note: str) -> dict:
    """The office settles a double collection: keep it as credit, or refund it (the credit
    is taken back; the money is paid to the customer outside this system) — the same
    settlement as the console's (sync/gateway/settlement.py): once, audited, seen by devices."""
    p, e = db.channel_payments.c, db.exceptions.c
    with ctx.write() as conn:
        pay = conn.execute(select(db.channel_payments).where(
            p.platform == platform, p.trade_no == trade_no)).first()
        if pay is None or pay.double_fen == 0:
            raise ApiError(404, "no_double_collection", "no double collection on this trade")
        exception_id = conn.execute(select(e.id).where(
            e.kind == "double_collection", e.op_id == f"{platform}:{trade_no}")
            .order_by(e.id.desc())).scalar()
        done = settlement.settle(conn, operator_id, exception_id,
                                 "refund" if action == "refund" else "credit", note)
    refund = done["balance_fen"] if action == "refund" else 0
    return {"platform": platform, "trade_no": trade_no, "action": action,
            "refunded_fen": refund, "kept_credit_fen": pay.double_fen - refund}


def payments_of(ctx: Context, account_no: str) -> list[dict]:
    """The platform payments of one account, newest first (office and customer pages)."""
    p = db.channel_payments.c
    with ctx.read() as conn:
        rows = conn.execute(select(db.channel_payments).where(p.account_no == account_no)
                            .order_by(p.received_at.desc())).all()
    return [{"platform": r.platform, "trade_no": r.trade_no, "amount_fen": r.amount_fen,
             "paid_at": r.paid_at, "status": r.status, "source": r.source,
             "double_collection_fen": r.double_fen,
             "refunded_fen": r.refunded_fen, "reversed_fen": r.reversed_fen} for r in rows]
