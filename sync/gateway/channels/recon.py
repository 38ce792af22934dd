"""Daily reconciliation (对账) of a platform's statement file against the notifications the
gateway booked, and channel fees (docs/channels.md §Daily reconciliation, §Channel fees).

Each payment row of the statement and each payment notified for that platform and day is
one of: matched; missing on our side (the platform took the money, we were never told: the
payment is booked now — the account is credited — and flagged); missing on theirs (we were
told, the platform's books do not hold it: the payment is held and flagged); amount
mismatch (flagged). One exception queue item per difference; the report is kept per
(platform, day, file) so importing the same file again answers the same report.
"""
from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta

from sqlalchemy import select

from sync import statement_csv
from sync.gateway import db
from sync.gateway.observe import log
from sync.gateway.channels import biller
from sync.gateway.context import ApiError, Context, now_iso

ON_SITE = ("handheld_cash", "handheld_card", "agent")


def fee_for(rule: dict | None, amount_fen: int) -> int:
    """A fee by the channel's schedule: percent (basis points, half up, within min/max) or
    a fixed fee per item."""
    if not rule or rule["kind"] == "none":
        return 0
    if rule["kind"] == "per_item":
        return rule["per_item_fen"]
    fee = (amount_fen * rule["rate_bp"] + 5_000) // 10_000
    fee = max(fee, rule["min_fen"])
    return fee if rule.get("max_fen") is None else min(fee, rule["max_fen"])


def set_fee(ctx: Context, channel: str, rule: dict) -> dict:
    with ctx.write() as conn:
        conn.execute(db.channel_fees.delete().where(db.channel_fees.c.channel == channel))
        conn.execute(db.channel_fees.insert().values(channel=channel, rule=json.dumps(rule)))
    return {"channel": channel, "rule": rule}


def _fees(conn) -> dict[str, dict]:
    return {c: json.loads(r) for c, r in conn.execute(select(db.channel_fees))}


def import_statement(ctx: Context, platform: str, text: str) -> dict:
    """Reconcile one daily statement file of `platform`; returns the report."""
    try:
        head, rows = statement_csv.parse(text)
    except statement_csv.StatementError as exc:
        raise ApiError(400, "invalid_statement", str(exc)) from None
    if head["platform"] != platform:
        raise ApiError(400, "invalid_statement", f"the file is {head['platform']}'s statement")
    day, sha = head["day"], hashlib.sha256(text.encode()).hexdigest()
    r = db.recon_runs.c
    with ctx.read() as conn:
        done = conn.execute(select(r.report).where(r.platform == platform, r.day == day,
                                                   r.file_sha256 == sha)).scalar()
    if done is not None:
        return json.loads(done)
    theirs = {row.trade_no: row for row in rows if row.kind == "payment"}
    p = db.channel_payments.c
    with ctx.read() as conn:
        ours = {x.trade_no: x for x in conn.execute(select(db.channel_payments).where(
            p.platform == platform, p.day == day))}
        elsewhere = {x.trade_no: x for x in conn.execute(select(db.channel_payments).where(
            p.platform == platform, p.trade_no.in_(set(theirs) - set(ours))))} if theirs else {}
        rule = _fees(conn).get(platform)
    diffs, matched = [], 0
    for trade_no, row in theirs.items():
        mine = ours.get(trade_no) or elsewhere.get(trade_no)
        if mine is None:
            diffs.append(("missing_ours", trade_no, row.account_no, None, row.amount_fen, row))
        elif mine.amount_fen != row.amount_fen:
            diffs.append(("amount_mismatch", trade_no, mine.account_no, mine.amount_fen,
                          row.amount_fen, row))
        else:
            matched += 1
    for trade_no, mine in ours.items():
        if trade_no not in theirs and mine.source != "statement":
            diffs.append(("missing_theirs", trade_no, mine.account_no, mine.amount_fen, None,
                          None))
    for kind, trade_no, account_no, ours_fen, theirs_fen, row in diffs:
        if kind == "missing_ours":   # book it: the customer paid, the account is credited
            biller.notify(ctx, {"platform": platform, "trade_no": trade_no,
                                "account_no": account_no, "bill_id": row.bill_id or None,
                                "amount_fen": theirs_fen,
                                "paid_at": row.time.replace(" ", "T") + "+08:00"},
                          source="statement")
    refunds, refund_diffs = _refunds(ctx, platform, day, rows)
    statement_fee = sum(x.fee_fen for x in rows if x.kind == "payment")
    report = {
        "platform": platform, "day": day, "file_sha256": sha, "rows": len(rows),
        "counts": {"matched": matched, **{k: sum(1 for d in diffs if d[0] == k) for k in
                                          ("missing_ours", "missing_theirs",
                                           "amount_mismatch")}},
        "totals": {"statement_fen": sum(x.amount_fen for x in theirs.values()),
                   "notified_fen": sum(x.amount_fen for x in ours.values()
                                       if x.source != "statement")},
        "fees": {"statement_fen": statement_fee,
                 "schedule_fen": sum(fee_for(rule, x.amount_fen) for x in theirs.values())},
        "refunds": refunds,
        "differences": [{"kind": k, "trade_no": t, "account_no": a, "ours_fen": o,
                         "theirs_fen": th} for k, t, a, o, th, _row in diffs] + refund_diffs}
    log.info("statement %s %s: %s, refunds %s", platform, day, report["counts"], refunds)
    with ctx.write() as conn:
        for d in report["differences"]:
            ref = f"{platform}:{d.get('refund_no') or d['trade_no']}"
            e = db.exceptions.c
            if conn.execute(select(e.id).where(   # a corrected file of the same day
                    e.kind == "reconciliation", e.code == d["kind"], e.op_id == ref,
                    e.resolved_at.is_(None))).first() is not None:
                continue
            if d["kind"] == "missing_theirs":
                conn.execute(db.channel_payments.update().where(
                    p.platform == platform, p.trade_no == d["trade_no"]).values(status="held"))
            biller.exception(conn, "reconciliation", d["kind"], _message(day, d), ref,
                             d["account_no"], d["theirs_fen"] or d["ours_fen"], None, d)
        conn.execute(db.recon_runs.insert().values(platform=platform, day=day, file_sha256=sha,
                                                   report=json.dumps(report),
                                                   created_at=now_iso()))
    return report


def _refunds(ctx: Context, platform: str, day: str, rows) -> tuple[dict, list[dict]]:
    """Refund rows against the reversals notified: matched, missing on our side (booked
    now from the statement: the customer has the money back), missing on theirs, amount
    mismatch."""
    theirs = {x.refund_no: x for x in rows if x.kind == "refund"}
    v = db.channel_reversals.c
    lo = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
    hi = (date.fromisoformat(day) + timedelta(days=2)).isoformat()
    with ctx.read() as conn:
        ours = {x.refund_no: x for x in conn.execute(select(db.channel_reversals).where(
            v.platform == platform, (v.reversed_at >= lo) & (v.reversed_at < hi)
            | v.refund_no.in_(list(theirs))))
            if x.refund_no in theirs or biller.day_of(x.reversed_at) == day}
    counts = {"matched": 0, "missing_ours": 0, "missing_theirs": 0, "amount_mismatch": 0}
    diffs = []
    for refund_no in sorted(set(theirs) | set(ours)):
        mine, row = ours.get(refund_no), theirs.get(refund_no)
        kind = ("missing_ours" if mine is None else "missing_theirs" if row is None else
                "amount_mismatch" if mine.amount_fen != row.amount_fen else "matched")
        counts[kind] += 1
        if kind == "matched":
            continue
        if kind == "missing_ours":
            try:
                biller.reverse(ctx, {"platform": platform, "refund_no": refund_no,
                                     "trade_no": row.trade_no, "amount_fen": row.amount_fen,
                                     "reversed_at": row.time.replace(" ", "T") + "+08:00"})
            except ApiError as exc:       # its payment unknown here, or over-reversed
                kind = f"missing_ours ({exc.code})"
        diffs.append({"kind": f"refund_{kind.split()[0]}", "refund_no": refund_no,
                      "trade_no": (row or mine).trade_no, "account_no": row.account_no if row
                      else None, "ours_fen": mine and mine.amount_fen,
                      "theirs_fen": row and row.amount_fen})
    return counts, diffs


def _message(day: str, d: dict) -> str:
    if d["kind"].startswith("refund_"):
        return (f"{day}: refund {d['refund_no']} of trade {d['trade_no']}: {d['kind']} "
                f"(ours {d['ours_fen']} fen, the statement's {d['theirs_fen']} fen)")
    return {"missing_ours": f"{day}: trade {d['trade_no']} is on the platform's statement but "
                            "was never notified; booked from the statement",
            "missing_theirs": f"{day}: trade {d['trade_no']} was notified but is not on the "
                              "platform's statement; held",
            "amount_mismatch": f"{day}: trade {d['trade_no']} notified as {d['ours_fen']} fen, "
                               f"the statement says {d['theirs_fen']} fen"}[d["kind"]]


def report_of(ctx: Context, platform: str, day: str) -> dict:
    r = db.recon_runs.c
    with ctx.read() as conn:
        text = conn.execute(select(r.report).where(r.platform == platform, r.day == day)
                            .order_by(r.id.desc()).limit(1)).scalar()
    if text is None:
        raise ApiError(404, "no_statement", "no statement imported for that platform and day")
    return json.loads(text)


def daily(ctx: Context, day_from: str, day_to: str) -> list[dict]:
    """Gross, fees and net per channel and day: platforms by their payments' day (UTC+8),
    less reversals; the handheld's cash, card and agent payments by the day they reached
    the gateway (UTC+8), less voids."""
    p, h = db.channel_payments.c, db.payments.c
    items: dict[tuple[str, str], list[int]] = {}
    with ctx.read() as conn:
        fees = _fees(conn)
        for plat, day, amount, reversed_fen in conn.execute(
                select(p.platform, p.day, p.amount_fen, p.reversed_fen).where(
                    p.day >= day_from, p.day <= day_to)):
            items.setdefault((plat, day), []).append((amount, amount - reversed_fen))
        for method, agent_id, amount, voided, received in conn.execute(select(
                h.method, h.agent_id, h.amount_fen, h.voided_by, h.received_at)):
            day = biller.day_of(received)
            if day_from <= day <= day_to:
                channel = "agent" if agent_id else f"handheld_{method}"
                items.setdefault((channel, day), []).append((amount, 0 if voided else amount))
    out = []
    for (channel, day), pays in sorted(items.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        gross = sum(kept for _a, kept in pays)
        fee = sum(fee_for(fees.get(channel), a) for a, kept in pays if kept)
        out.append({"day": day, "channel": channel, "count": len(pays), "gross_fen": gross,
                    "fees_fen": fee, "net_fen": gross - fee})
    return out
