"""The money collected per day and channel, what went back and what the utility kept: one
query set for the Reports page's daily collection (and its CSV) and the Today page's
collections by channel, so the two show the same figures for a day (docs/ledger.md, "The
daily collection")."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from sync.gateway import db


def by_day_and_channel(conn, since: str) -> list[dict]:
    """Per day (UTC) and channel: what was collected (`amount_fen`, `count`: handheld
    payments not voided, agents, platform payments), what went back (`refunded_fen`: the
    office's refunds of settled exceptions, on the day of the refund, and the platforms'
    reversals) and what the utility kept (`net_fen`), from the day `since` (ISO date, UTC)
    on. Credits, re-assignments and write-offs move no money and leave it alone
    (docs/ledger.md, "The daily collection")."""
    merged: dict[tuple, dict] = {}

    def add(day: str, channel: str, count: int = 0, fen=0, refunded=0) -> None:
        row = merged.setdefault((day, channel), {"day": day, "channel": channel, "count": 0,
                                                 "amount_fen": 0, "refunded_fen": 0})
        row["count"] += count
        row["amount_fen"] += int(fen)
        row["refunded_fen"] += int(refunded)

    p, t, c, v = db.payments, db.thirdparty, db.channel_payments, db.channel_reversals
    day_p = func.substr(p.c.received_at, 1, 10)
    for day, method, agent, n, fen in conn.execute(   # cash with and without agent: one name
            select(day_p, p.c.method, p.c.agent_id.is_not(None), func.count(),
                   func.coalesce(func.sum(p.c.amount_fen), 0))
            .where(p.c.received_at >= since, p.c.voided_by.is_(None))
            .group_by(day_p, p.c.method, p.c.agent_id.is_not(None))):
        add(day, "agent" if agent else method, n, fen)
    for table in (t, c):
        day_t = func.substr(table.c.received_at, 1, 10)
        for day, platform, n, fen in conn.execute(
                select(day_t, table.c.platform, func.count(),
                       func.coalesce(func.sum(table.c.amount_fen), 0))
                .where(table.c.received_at >= since).group_by(day_t, table.c.platform)):
            add(day, f"platform:{platform}", n, fen)
    day_v = func.substr(v.c.received_at, 1, 10)
    for day, platform, fen in conn.execute(
            select(day_v, v.c.platform, func.sum(v.c.amount_fen))
            .where(v.c.received_at >= since).group_by(day_v, v.c.platform)):
        add(day, f"platform:{platform}", refunded=fen)
    for day, fen, channel in _refunds(conn, since):
        add(day, channel, refunded=fen)
    for row in merged.values():
        row["net_fen"] = row["amount_fen"] - row["refunded_fen"]
    return sorted(merged.values(), key=lambda r: (r["day"], r["channel"]), reverse=True)


def _refunds(conn, since: str) -> list[tuple[str, int, str]]:
    """The office's refunds since `since`: (day, fen, channel of the payment refunded)."""
    s, e, p = db.settlements, db.exceptions, db.payments
    out = []
    for at, fen, op_id, detail, method, agent in conn.execute(
            select(s.c.at, s.c.amount_fen, e.c.op_id, e.c.detail, p.c.method, p.c.agent_id)
            .select_from(s.join(e, e.c.id == s.c.exception_id)
                         .outerjoin(p, p.c.op_id == e.c.op_id))
            .where(s.c.action == "refund", s.c.at >= since)):
        if method is not None:
            channel = "agent" if agent else method
        elif op_id and ":" in op_id:
            channel = "platform:" + op_id.split(":", 1)[0]
        else:
            found = json.loads(detail) if detail else {}
            platform = found.get("platform") if isinstance(found, dict) else None
            channel = f"platform:{platform}" if platform else "other"
        out.append((at[:10], int(fen), channel))
    return out
