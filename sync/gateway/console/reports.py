"""Reports with a CSV export each: daily collection by channel, readings completed per
reader, arrears ageing, agents (billed to their accounts vs remitted), the office's
settlements of exceptions (refunds, write-offs, credits, re-assignments). Money in fen in
the CSV (integers), yuan on the page."""
from __future__ import annotations

import csv
import io
import json
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import JSON, BigInteger, cast, func, select
from starlette.concurrency import run_in_threadpool

from sync.gateway import db
from sync.gateway.console import today as today_q
from sync.gateway.console.web import Console, Denied, render
from sync.gateway.context import Context

DAYS = 31
AGE_BUCKETS = ((0, "0-30"), (31, "31-60"), (61, "61-90"), (91, "90+"))


def daily_collection(conn) -> list[dict]:
    """Per day (UTC) and channel: what was collected (`amount_fen`, `count`: handheld
    payments not voided, agents, platform payments), what went back (`refunded_fen`: the
    office's refunds of settled exceptions, on the day of the refund, and the platforms'
    reversals) and what the utility kept (`net_fen`). Credits, re-assignments and write-offs
    move no money and leave it alone (docs/ledger.md, "The daily collection")."""
    since = today_q.day_start(DAYS - 1)
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


def readings_per_reader(conn) -> list[dict]:
    r = db.readings
    since = today_q.day_start(DAYS - 1)
    day = func.substr(r.c.received_at, 1, 10)
    return [{"day": d, "operator_id": op or "", "status": st, "count": n} for d, op, st, n in
            conn.execute(select(day, r.c.operator_id, r.c.status, func.count())
                         .where(r.c.received_at >= since, r.c.state == "current",
                                r.c.superseded_by.is_(None))
                         .group_by(day, r.c.operator_id, r.c.status)
                         .order_by(day.desc(), r.c.operator_id, r.c.status))]


def _doc_field(conn, key: str):
    """One top-level field of the account document, read by the database (JSON text)."""
    doc = db.accounts.c.doc
    if conn.dialect.name == "postgresql":
        return func.json_extract_path_text(cast(doc, JSON), key)
    return func.json_extract(doc, f"$.{key}")


def arrears_ageing(conn) -> list[dict]:
    """Accounts owing, by days past the due date of their arrears (as of today); the
    database groups by due date, so no account document is parsed here."""
    today = date.fromisoformat(today_q.day_start())
    a = db.accounts
    due, owed = _doc_field(conn, "arrears_due_date"), _doc_field(conn, "arrears_fen")
    owed_fen = cast(owed, BigInteger)
    out = {label: {"bucket": label, "accounts": 0, "amount_fen": 0} for _d, label in AGE_BUCKETS}
    for due_date, n, fen in conn.execute(
            select(due, func.count(), func.sum(owed_fen))
            .where(a.c.active.is_(True), a.c.bill_fen > 0, owed_fen > 0).group_by(due)):
        age = (today - date.fromisoformat(due_date)).days if due_date else 0
        label = [lbl for lo, lbl in AGE_BUCKETS if age >= lo][-1] if age >= 0 else "0-30"
        out[label]["accounts"] += n
        out[label]["amount_fen"] += int(fen)
    return list(out.values())


def agents(conn) -> list[dict]:
    a, p, g = db.accounts, db.payments, db.agents
    billed = dict(conn.execute(select(a.c.agent_id, func.sum(a.c.bill_fen))
                               .where(a.c.agent_id.is_not(None), a.c.active.is_(True))
                               .group_by(a.c.agent_id)).all())
    remitted = dict(conn.execute(select(p.c.agent_id, func.sum(p.c.amount_fen))
                                 .where(p.c.agent_id.is_not(None), p.c.voided_by.is_(None),
                                        p.c.suspense.is_(False))
                                 .group_by(p.c.agent_id)).all())
    return [{"agent_id": agent_id, "name": name, "billed_fen": billed.get(agent_id) or 0,
             "remitted_fen": remitted.get(agent_id) or 0}
            for agent_id, name in conn.execute(select(g.c.agent_id, g.c.name)
                                               .order_by(g.c.agent_id))]


def settlements(conn) -> list[dict]:
    """The office's settlements of exceptions per day and action (sync/gateway/settlement.py):
    refunds paid back, write-offs, credits and re-assignments; `balance_fen` is what moved
    on account balances (docs/ledger.md, "Settling an exception")."""
    s = db.settlements
    since = today_q.day_start(DAYS - 1)
    day = func.substr(s.c.at, 1, 10)
    return [{"day": d, "action": action, "count": n, "amount_fen": int(fen),
             "balance_fen": int(moved)} for d, action, n, fen, moved in conn.execute(
                select(day, s.c.action, func.count(), func.coalesce(func.sum(s.c.amount_fen), 0),
                       func.coalesce(func.sum(s.c.balance_fen), 0))
                .where(s.c.at >= since).group_by(day, s.c.action)
                .order_by(day.desc(), s.c.action))]


REPORTS = {"daily": daily_collection, "readers": readings_per_reader,
           "ageing": arrears_ageing, "agents": agents, "settlements": settlements}
REPORT_TITLES = {"daily": "daily_collection", "readers": "readings_per_reader",
                 "ageing": "arrears_ageing", "agents": "agents_remitted",
                 "settlements": "settlements"}


def run(ctx: Context, name: str) -> list[dict]:
    with ctx.read() as conn:
        return REPORTS[name](conn)


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()


def router(console: Console) -> APIRouter:
    r = APIRouter()
    ctx = console.ctx

    @r.get("/console/reports")
    async def reports_page(request: Request, report: str = "daily"):
        await console.user(request)
        if report not in REPORTS:
            raise Denied(404, "not_found")
        rows = await run_in_threadpool(run, ctx, report)
        return render(request, "reports.html", page="reports", report=report,
                      names=REPORT_TITLES, rows=rows)

    @r.get("/console/reports/{name}.csv")
    async def report_csv(request: Request, name: str):
        await console.user(request)
        if name not in REPORTS:
            raise Denied(404, "not_found")
        rows = await run_in_threadpool(run, ctx, name)
        return Response("\ufeff" + to_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="chaoshou-{name}.csv"'})

    return r
