"""What the Today page shows, each figure one grouped query (no per-row queries)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, func, select

from sync.gateway import db, supervisor
from sync.gateway.context import Context, now

CHANNELS = ("cash", "card", "agent")


def day_start(days_ago: int = 0) -> str:
    day = datetime.fromtimestamp(now(), timezone.utc).date() - timedelta(days=days_ago)
    return day.isoformat()


def collections_by_channel(conn, since: str, until: str | None = None) -> list[dict]:
    """Handheld cash, handheld card, agents and each platform: count and fen."""
    p, t = db.payments, db.thirdparty
    q = (select(p.c.method, p.c.agent_id.is_not(None).label("agent"), func.count(),
                func.coalesce(func.sum(p.c.amount_fen), 0))
         .where(p.c.received_at >= since, p.c.voided_by.is_(None))
         .group_by(p.c.method, p.c.agent_id.is_not(None)))
    tq = (select(t.c.platform, func.count(), func.coalesce(func.sum(t.c.amount_fen), 0))
          .where(t.c.received_at >= since).group_by(t.c.platform))
    if until:
        q, tq = q.where(p.c.received_at < until), tq.where(t.c.received_at < until)
    sums: dict[str, list[int]] = {c: [0, 0] for c in CHANNELS}
    for method, agent, n, fen in conn.execute(q):
        key = "agent" if agent else method
        entry = sums.setdefault(key, [0, 0])
        entry[0] += n
        entry[1] += fen
    for platform, n, fen in conn.execute(tq):
        sums[f"platform:{platform}"] = [n, fen]
    return [{"channel": k, "count": v[0], "fen": v[1]} for k, v in sums.items()]


def open_exceptions(conn) -> list[dict]:
    e = db.exceptions
    return [dict(r) for r in conn.execute(
        select(e.c.kind, func.count().label("n")).where(e.c.resolved_at.is_(None))
        .group_by(e.c.kind).order_by(e.c.kind)).mappings()]


def devices_unseen(conn, limit: int = 50) -> list[dict]:
    d = db.devices
    cutoff = datetime.fromtimestamp(now() - 86400, timezone.utc).isoformat()
    return [dict(r) for r in conn.execute(
        select(d.c.device_id, d.c.name, d.c.last_seen)
        .where(d.c.revoked_at.is_(None), (d.c.last_seen.is_(None)) | (d.c.last_seen < cutoff))
        .order_by(d.c.last_seen).limit(limit)).mappings()]


def shifts_open(conn, limit: int = 50) -> list[dict]:
    """Shifts opened on a handheld with no shift_close op yet."""
    s = db.shift_events
    closed = s.alias("closed")
    return [dict(r) for r in conn.execute(
        select(s.c.device_id, s.c.shift_id)
        .select_from(s.outerjoin(closed, and_(closed.c.device_id == s.c.device_id,
                                              closed.c.shift_id == s.c.shift_id,
                                              closed.c.type == "shift_close")))
        .where(s.c.type == "shift_open", closed.c.op_id.is_(None))
        .order_by(s.c.device_id, s.c.shift_id).limit(limit)).mappings()]


def today(ctx: Context) -> dict:
    routes = supervisor.progress(ctx, collected=False)   # Today shows no money per route
    with ctx.read() as conn:
        return {"routes": routes,
                "channels": collections_by_channel(conn, day_start()),
                "exceptions": open_exceptions(conn),
                "unseen": devices_unseen(conn),
                "shifts": shifts_open(conn)}
