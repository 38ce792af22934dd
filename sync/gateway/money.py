"""Money-side endpoints: third-party payment notifications, shift closeout reconciliation
and receipt verification (content, verification code and the device's hash chain)."""
from __future__ import annotations

import hmac
import json

from sqlalchemy import delete, func, select

from sync import protocol
from sync.gateway import db
from sync.gateway.context import ApiError, Context, now_iso
from sync.gateway.ingest import held_ranges, missing_ranges
from sync.gateway.ledger import AccountCache, apply_payment


def thirdparty_payment(ctx: Context, body: dict) -> dict:
    """Idempotent by (platform, txn_id); updates the balance and feeds the change stream."""
    body_hash = protocol.sha256hex(body)
    with ctx.write() as conn:
        prior = conn.execute(select(db.thirdparty.c.body_sha256).where(
            db.thirdparty.c.platform == body["platform"],
            db.thirdparty.c.txn_id == body["txn_id"])).first()
        if prior is not None:
            if prior[0] != body_hash:
                raise ApiError(409, "txn_mismatch",
                               "this platform transaction id was notified with other data")
            return {"status": "duplicate"}
        cache = AccountCache(conn)
        account_no, amount = body["account_no"], body["amount_fen"]
        acc = cache.get(account_no)
        suspense = acc is None or not acc["active"]
        now = now_iso()
        conn.execute(db.thirdparty.insert().values(
            platform=body["platform"], txn_id=body["txn_id"], account_no=account_no,
            amount_fen=amount, paid_at=body["paid_at"], body_sha256=body_hash,
            suspense=suspense, received_at=now))
        if suspense:
            _exception(conn, "suspense", "unknown_account",
                       f"third-party payment for unknown account {account_no}", account_no,
                       amount, None, body)
            return {"status": "accepted", "suspense": True}
        doc = acc["doc"]
        _to_arrears, to_credit, _due = apply_payment(doc, amount)
        doc["last_third_party"] = {"platform": body["platform"], "amount_fen": amount,
                                   "paid_at": body["paid_at"]}
        cache.emit_balance(account_no)
        on_site = conn.execute(select(func.coalesce(func.sum(db.payments.c.amount_fen), 0))
                               .where(db.payments.c.account_no == account_no,
                                      db.payments.c.voided_by.is_(None),
                                      db.payments.c.suspense.is_(False))).scalar()
        if to_credit > 0 and on_site > 0 and acc["bill_fen"] > 0:
            credit = min(to_credit, on_site)
            _exception(conn, "double_collection", "double_collection",
                       f"third-party payment after an on-site collection; {credit} fen credited",
                       account_no, amount, credit, body)
        cache.flush()
    return {"status": "accepted", "suspense": False}


def _exception(conn, kind, code, message, account_no, amount, credit, detail):
    conn.execute(db.exceptions.insert().values(
        kind=kind, code=code, message=message, device_id=None, op_id=None, seq=None,
        account_no=account_no, amount_fen=amount, credit_fen=credit, detail=db.dumps(detail),
        created_at=now_iso()))


def closeout_net(sums_fen: dict) -> int:
    """The money a closeout's sums say the shift kept: cash + card − void (fen)."""
    return sum(sums_fen.get(k, 0) for k in ("cash", "card")) - sums_fen.get("void", 0)


def closeout(ctx: Context, device_id: str, summary: dict) -> dict:
    """Reconcile a device's shift summary with the ops the server holds (contracts §3)."""
    if summary["device_id"] != device_id:
        raise ApiError(403, "device_mismatch", "summary is for another device")
    lo, hi = summary["seq_from"], summary["seq_to"]
    if hi < lo or hi - lo > 1_000_000:
        raise ApiError(422, "invalid_range", "seq_to: must be >= seq_from (at most 10^6 apart)")
    with ctx.read() as conn:
        rows = conn.execute(select(db.sync_ops.c.seq, db.sync_ops.c.type,
                                   db.sync_ops.c.payload_sha256, db.sync_ops.c.payload)
                            .where(db.sync_ops.c.device_id == device_id,
                                   db.sync_ops.c.seq >= lo, db.sync_ops.c.seq <= hi)
                            .order_by(db.sync_ops.c.seq)).all()
        held = held_ranges(conn, device_id, lo, hi)
        pattern = "%" + json.dumps(summary["shift_id"], ensure_ascii=False) + "%"
        # The shift_close op carries the summary, so it lies outside its own range.
        outside = conn.execute(select(db.sync_ops.c.seq, db.sync_ops.c.payload).where(
            db.sync_ops.c.type != "shift_close",
            db.sync_ops.c.device_id == device_id,
            (db.sync_ops.c.seq < lo) | (db.sync_ops.c.seq > hi),
            db.sync_ops.c.payload.like(pattern)).order_by(db.sync_ops.c.seq)).all()
    counts: dict[str, int] = {}
    sums = {"cash": 0, "card": 0, "void": 0}
    for _seq, type_, _h, payload in rows:
        counts[type_] = counts.get(type_, 0) + 1
        p = json.loads(payload)
        amount = p.get("amount_fen") if type(p.get("amount_fen")) is int else 0
        if type_ == "payment" and p.get("method") in ("cash", "card"):
            sums[p["method"]] += amount
        elif type_ == "void":
            sums["void"] += amount
    server = {"seq_from": lo, "seq_to": hi, "counts": counts, "sums_fen": sums,
              "digest": protocol.closeout_digest(h for _s, _t, h, _p in rows), "held": held}
    missing = missing_ranges(held, lo, hi)
    extra = [s for s, p in outside if json.loads(p).get("shift_id") == summary["shift_id"]]
    device = {k: summary[k] for k in ("seq_from", "seq_to", "counts", "sums_fen", "digest")}
    dev_counts = {k: v for k, v in summary["counts"].items() if v}
    dev_sums = {k: summary["sums_fen"].get(k, 0) for k in sums}
    ok = (not missing and not extra and dev_counts == counts and dev_sums == sums
          and summary["digest"] == server["digest"])
    report = {"ok": ok, "missing_seqs": missing, "extra_seqs": extra, "server": server,
              "device": device}
    with ctx.write() as conn:
        conn.execute(delete(db.closeouts).where(db.closeouts.c.device_id == device_id,
                                                db.closeouts.c.shift_id == summary["shift_id"]))
        conn.execute(db.closeouts.insert().values(device_id=device_id,
                                                  shift_id=summary["shift_id"], ok=ok,
                                                  report=db.dumps(report), at=now_iso()))
        if not ok:
            expected, counted = closeout_net(dev_sums), closeout_net(sums)
            _exception(conn, "closeout", "closeout_mismatch",
                       f"shift {summary['shift_id']} does not reconcile; variance "
                       f"{expected - counted} fen", None, expected - counted, None,
                       {"device_id": device_id, "shift_id": summary["shift_id"],
                        "missing_seqs": missing, "extra_seqs": extra,
                        "expected_fen": expected, "counted_fen": counted})
    return report


def receipt_is_valid(ctx: Context, device_id: str, receipt_no: str, amount_fen: int,
                     code: str) -> bool:
    """Does the server hold this receipt with this amount, unaltered, linked to genesis or
    to a receipt it holds, with a genuine code? The public answer is this one bit: nothing
    about the device or its other receipts (docs/contracts.md §4)."""
    r, d = db.receipts, db.devices
    with ctx.read() as conn:
        row = conn.execute(select(r.c.content, r.c.prev_hash, r.c.hash, r.c.amount_fen,
                                  d.c.device_key)
                           .select_from(r.join(d, d.c.device_id == r.c.device_id))
                           .where(r.c.device_id == device_id, r.c.receipt_no == receipt_no)
                           ).first()
        linked = row is not None and (row.prev_hash == protocol.GENESIS_HASH or conn.execute(
            select(r.c.receipt_no).where(r.c.device_id == device_id,
                                         r.c.hash == row.prev_hash)).first() is not None)
    if not linked or row.amount_fen != amount_fen:
        return False
    if protocol.receipt_hash(row.prev_hash, json.loads(row.content)) != row.hash:
        return False
    expected = protocol.verify_code(row.device_key, device_id, receipt_no, amount_fen, row.hash)
    return hmac.compare_digest(code.lower().encode("utf-8", "replace"), expected.encode())


