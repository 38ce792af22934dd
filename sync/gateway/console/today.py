"""What the Today page shows, each figure from grouped queries (no per-row queries)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, func, select

from sync.gateway import db, supervisor
from sync.gateway.console import collection
from sync.gateway.context import Context, now

CHANNELS = ("cash", "card", "agent")


def day_start(days_ago: int = 0) -> str:
    day = datetime.fromtimestamp(now(), timezone.utc).date() - timedelta(days=days_ago)
    return day.isoformat()


def collections_by_channel(conn, day: str) -> list[dict]:
    """The day's rows of the daily collection report (the same query): per channel count,
    collected, refunded and net kept; cash, card and agent always listed, first."""
    rows = {r["channel"]: r for r in collection.by_day_and_channel(conn, day)
            if r["day"] == day}
    zero = {"count": 0, "amount_fen": 0, "refunded_fen": 0, "net_fen": 0}
    return ([{"day": day, "channel": c, **zero, **rows.pop(c, {})} for c in CHANNELS]
            + sorted(rows.values(), key=lambda r: r["channel"]))


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
