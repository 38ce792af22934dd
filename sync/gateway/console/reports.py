"""Reports with a CSV export each: daily collection by channel, readings completed per
reader, arrears ageing, agents (billed to their accounts vs remitted), the office's
settlements of exceptions (refunds, write-offs, credits, re-assignments). Money in fen in
the CSV (integers), yuan on the page."""
from __future__ import annotations

import csv
import io
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import JSON, BigInteger, cast, func, select
from starlette.concurrency import run_in_threadpool

from sync.gateway import db
from sync.gateway.console import collection, today as today_q
from sync.gateway.console.web import Console, Denied, render
from sync.gateway.context import Context

DAYS = 31
AGE_BUCKETS = ((0, "0-30"), (31, "31-60"), (61, "61-90"), (91, "90+"))


def daily_collection(conn) -> list[dict]:
    """Per day and channel for the last DAYS days: collected, refunded, net kept."""
    return collection.by_day_and_channel(conn, today_q.day_start(DAYS - 1))


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
