"""Regional agent agreements (区域代管, docs/channels.md §Regional agents).

An agent collects for its members with lump payments on the handhelds (terminal/agents.py)
and remits what it collected to the utility. Its agreement: a deposit, a credit limit and a
remittance period. Collected = its lump payments booked by the gateway (not voided);
outstanding = collected − remitted. The agent is **blocked** when the outstanding money is
above deposit + credit limit (`over_limit`), or when money collected more than the
remittance period ago is still not remitted (`overdue`, remittances pay the oldest
collections first). A block holds until the office lifts it (for a number of days in which
it is not set again); devices learn it in the reference data (`settings.blocked_agents`)
and refuse new lump payments of a blocked agent.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from sync.gateway import db
from sync.gateway.channels import biller
from sync.gateway.context import ApiError, Context, now, now_iso

REASONS = {"over_limit": ("欠缴超过押金与信用额度", "collections not remitted exceed the "
                                                   "deposit and credit limit"),
           "overdue": ("超过结算周期未上缴", "collections not remitted within the "
                                              "remittance period")}


def _now_dt() -> datetime:
    return datetime.fromtimestamp(now(), timezone.utc)


def _agent_exists(conn, agent_id: str) -> None:
    if conn.execute(select(db.agents.c.agent_id).where(db.agents.c.agent_id == agent_id)
                    ).first() is None:
        raise ApiError(404, "unknown_agent", "no such agent")


def set_agreement(ctx: Context, agent_id: str, body: dict) -> dict:
    a = db.agent_agreements.c
    with ctx.write() as conn:
        _agent_exists(conn, agent_id)
        values = {**body, "updated_at": now_iso()}
        if conn.execute(select(a.agent_id).where(a.agent_id == agent_id)).first():
            conn.execute(db.agent_agreements.update().where(a.agent_id == agent_id)
                         .values(**values))
        else:
            conn.execute(db.agent_agreements.insert().values(agent_id=agent_id, **values))
    return position(ctx, agent_id)


def _collections(conn, agent_id: str, until: str | None = None) -> list[tuple[str, int]]:
    p = db.payments.c
    q = select(p.received_at, p.amount_fen).where(
        p.agent_id == agent_id, p.voided_by.is_(None), p.suspense.is_(False))
    if until is not None:
        q = q.where(p.received_at < until)
    return [(r[0], r[1]) for r in conn.execute(q.order_by(p.received_at, p.id))]


def _remitted(conn, agent_id: str, until: str | None = None) -> int:
    r = db.agent_remittances.c
    q = select(func.coalesce(func.sum(r.amount_fen), 0)).where(r.agent_id == agent_id)
    if until is not None:
        q = q.where(r.remitted_at < until)
    return int(conn.execute(q).scalar())   # PostgreSQL sums bigint as numeric


def _state(conn, agreement) -> dict:
    collections = _collections(conn, agreement.agent_id)
    collected = sum(amount for _at, amount in collections)
    remitted = _remitted(conn, agreement.agent_id)
    left, oldest = remitted, None            # remittances pay the oldest collections first
    for at, amount in collections:
        if left >= amount:
            left -= amount
            continue
        oldest = at
        break
    outstanding = collected - remitted
    limit = agreement.deposit_fen + agreement.credit_limit_fen
    due_by = None if oldest is None else (
        datetime.fromisoformat(oldest) + timedelta(days=agreement.remit_days))
    breach = ("over_limit" if outstanding > limit else
              "overdue" if due_by is not None and _now_dt() > due_by else None)
    return {"agent_id": agreement.agent_id, "collected_fen": collected,
            "remitted_fen": remitted, "outstanding_fen": outstanding, "limit_fen": limit,
            "remit_by": None if due_by is None else due_by.isoformat(), "breach": breach}


def evaluate(ctx: Context) -> None:
    """Block every agent in breach whose block the office has not lifted for now."""
    a = db.agent_agreements.c
    with ctx.read() as conn:
        found = []
        for agreement in conn.execute(select(db.agent_agreements).where(a.blocked.is_(False))
                                      ).all():
            state = _state(conn, agreement)
            lifted = agreement.lifted_until and \
                datetime.fromisoformat(agreement.lifted_until) > _now_dt()
            if state["breach"] and not lifted:
                found.append(state)
    if not found:
        return
    with ctx.write() as conn:
        for state in found:
            done = conn.execute(db.agent_agreements.update().where(
                a.agent_id == state["agent_id"], a.blocked.is_(False)).values(
                blocked=True, block_reason=state["breach"], blocked_at=now_iso()))
            if done.rowcount:        # not blocked meanwhile by another process
                biller.exception(conn, "agent", "agent_blocked",
                                 f"agent {state['agent_id']} blocked: "
                                 f"{REASONS[state['breach']][1]}", f"agent:{state['agent_id']}",
                                 None, state["outstanding_fen"], None, state)


def blocked(ctx: Context) -> dict:
    """{agent_id: {"reason", "zh", "en", "since"}} of the blocked agents (reference data)."""
    evaluate(ctx)
    a = db.agent_agreements.c
    with ctx.read() as conn:
        rows = conn.execute(select(a.agent_id, a.block_reason, a.blocked_at).where(
            a.blocked.is_(True))).all()
    return {r.agent_id: {"reason": r.block_reason, "zh": REASONS[r.block_reason][0],
                         "en": REASONS[r.block_reason][1], "since": r.blocked_at} for r in rows}


def position(ctx: Context, agent_id: str) -> dict:
    evaluate(ctx)
    a = db.agent_agreements.c
    with ctx.read() as conn:
        agreement = conn.execute(select(db.agent_agreements).where(a.agent_id == agent_id)
                                 ).first()
        if agreement is None:
            raise ApiError(404, "no_agreement", "this agent has no agreement")
        state = _state(conn, agreement)
    return {**state, "deposit_fen": agreement.deposit_fen,
            "credit_limit_fen": agreement.credit_limit_fen,
            "remit_days": agreement.remit_days, "blocked": agreement.blocked,
            "block_reason": agreement.block_reason, "lifted_until": agreement.lifted_until}


def remit(ctx: Context, agent_id: str, body: dict, by: str) -> dict:
    with ctx.write() as conn:
        _agent_exists(conn, agent_id)
        conn.execute(db.agent_remittances.insert().values(
            agent_id=agent_id, amount_fen=body["amount_fen"], reference=body["reference"],
            remitted_at=datetime.fromisoformat(body["remitted_at"]).astimezone(timezone.utc)
            .isoformat(timespec="milliseconds"), recorded_by=by))
    return position(ctx, agent_id)


def lift(ctx: Context, agent_id: str, days: int, note: str, by: str) -> dict:
    """The office lifts a block; it is not set again for `days` days."""
    a = db.agent_agreements.c
    until = (_now_dt() + timedelta(days=days)).isoformat(timespec="milliseconds")
    with ctx.write() as conn:
        done = conn.execute(db.agent_agreements.update().where(a.agent_id == agent_id).values(
            blocked=False, block_reason=None, lifted_until=until, updated_at=now_iso()))
        if done.rowcount == 0:
            raise ApiError(404, "no_agreement", "this agent has no agreement")
        e = db.exceptions.c
        conn.execute(db.exceptions.update().where(
            e.kind == "agent", e.op_id == f"agent:{agent_id}", e.resolved_at.is_(None)).values(
            resolved_at=now_iso(), resolved_by=by, resolution_note=f"lifted: {note}"[:2000]))
    return position(ctx, agent_id)


def statement(ctx: Context, agent_id: str, day_from: str, day_to: str) -> dict:
    """Collections and remittances of one agent in [day_from, day_to] (UTC days), with
    the outstanding amount before and after."""
    start, end = f"{day_from}T00:00:00", f"{day_to}T99"   # "T99" sorts after any time
    r, p = db.agent_remittances.c, db.payments.c
    with ctx.read() as conn:
        _agent_exists(conn, agent_id)
        opening = sum(x for _a, x in _collections(conn, agent_id, start)) - \
            _remitted(conn, agent_id, start)
        collections = [{"at": row.received_at, "amount_fen": row.amount_fen,
                        "receipt_no": row.receipt_no, "device_id": row.device_id}
                       for row in conn.execute(select(db.payments).where(
                           p.agent_id == agent_id, p.voided_by.is_(None),
                           p.suspense.is_(False), p.received_at >= start,
                           p.received_at < end).order_by(p.received_at))]
        remittances = [{"at": row.remitted_at, "amount_fen": row.amount_fen,
                        "reference": row.reference}
                       for row in conn.execute(select(db.agent_remittances).where(
                           r.agent_id == agent_id, r.remitted_at >= start,
                           r.remitted_at < end).order_by(r.remitted_at))]
    collected = sum(c["amount_fen"] for c in collections)
    remitted = sum(x["amount_fen"] for x in remittances)
    return {"agent_id": agent_id, "from": day_from, "to": day_to, "opening_fen": opening,
            "collected_fen": collected, "remitted_fen": remitted,
            "closing_fen": opening + collected - remitted, "collections": collections,
            "remittances": remittances}
