"""Routes: progress, assign (reader, device, read date, reason), reassign, request a
download, the readings with their flags and a plot of their GPS positions."""
from __future__ import annotations

import json
from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from sync.gateway import db, supervisor
from sync.gateway.console import auth, forms, photos
from sync.gateway.console.web import Console, Denied, back, render
from sync.gateway.context import ApiError, Context


READINGS_SHOWN = 200


def route_detail(ctx: Context, route_id: str, limit: int = 500) -> dict | None:
    """The route, its newest readings (`limit` plotted, READINGS_SHOWN listed), who may
    be assigned, and its assignment history."""
    r, rd = db.routes, db.readings
    with ctx.read() as conn:
        route = conn.execute(select(r).where(r.c.route_id == route_id)).mappings().first()
        if route is None:
            return None
        rows = conn.execute(
            select(rd.c.account_no, rd.c.operator_id, rd.c.status, rd.c.value,
                   rd.c.consumption, rd.c.skip_code, rd.c.trouble_code, rd.c.state,
                   rd.c.payload, rd.c.received_at)
            .where(rd.c.route_id == route_id, rd.c.cycle == route["cycle"])
            .order_by(rd.c.received_at.desc()).limit(limit)).mappings().all()
        readers = [dict(x) for x in conn.execute(
            select(db.operators.c.operator_id, db.operators.c.name, db.operators.c.roles)
            .order_by(db.operators.c.operator_id)).mappings()
            if {"reader", "collector"} & set(json.loads(x["roles"]))]
        devices = [x[0] for x in conn.execute(
            select(db.devices.c.device_id).where(db.devices.c.revoked_at.is_(None))
            .order_by(db.devices.c.device_id).limit(1000))]
        history = conn.execute(
            select(db.route_assignments).where(db.route_assignments.c.route_id == route_id)
            .order_by(db.route_assignments.c.id.desc()).limit(20)).mappings().all()
    readings, points = [], []
    for x in rows:
        p = json.loads(x["payload"])
        flags = [w for w in p.get("warnings") or [] if isinstance(w, str)]
        if len(p.get("entries") or []) > 1:
            flags.append("re-entry")
        for code in (x["skip_code"], x["trouble_code"]):
            if code:
                flags.append(code)
        readings.append({**{k: x[k] for k in ("account_no", "operator_id", "status", "value",
                                                "consumption", "state", "received_at")},
                         "flags": flags, "note": p.get("note"), "photo": photos.photo_of(p)})
        gps = p.get("gps")
        if isinstance(gps, dict) and all(isinstance(gps.get(k), (int, float))
                                         for k in ("lat", "lon")):
            points.append((gps["lon"], gps["lat"], x["account_no"]))
    shown = readings[:READINGS_SHOWN]
    for x in shown:
        x["photo_arrived"] = photos.arrived(ctx, x["photo"])
    return {"route": route, "readings": shown, "plot": plot(points), "readers": readers,
            "devices": devices, "history": history}


def plot(points: list[tuple], size: int = 300) -> list[dict]:
    """Positions scaled into a size×size SVG box (north up; no map tiles needed)."""
    if not points:
        return []
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, y0 = min(xs), min(ys)
    scale = (size - 20) / (max(max(xs) - x0, max(ys) - y0) or 1e-6)
    return [{"x": round(10 + scale * (x - x0), 1), "y": round(size - 10 - scale * (y - y0), 1),
             "label": label} for x, y, label in points]


def assign(ctx: Context, user: dict, route_id: str, form: forms.Assign) -> None:
    operator_id, device_id, reason = form.operator_id, form.device_id or None, form.reason
    read_date = form.read_date.isoformat() if form.read_date else ""
    r = db.routes
    with ctx.write() as conn:
        before = conn.execute(select(r.c.operator_id, r.c.device_id, r.c.read_date).where(
            r.c.route_id == route_id)).mappings().first()
        supervisor.assign_in(conn, f"office:{user['username']}", route_id, operator_id,
                             device_id, reason)
        if read_date:
            conn.execute(r.update().where(r.c.route_id == route_id).values(read_date=read_date))
        auth.audit(conn, user["username"], "assign_route", None, before=dict(before),
                   after={"operator_id": operator_id, "device_id": device_id,
                          "read_date": read_date or before["read_date"]},
                   route_id=route_id, reason=reason)


def request_download(ctx: Context, user: dict, route_id: str) -> None:
    r = db.routes
    with ctx.write() as conn:
        before = conn.execute(select(r.c.download_requested).where(
            r.c.route_id == route_id)).scalar()
        if before is None:
            raise ApiError(404, "unknown_route", f"no route {route_id!r}")
        conn.execute(r.update().where(r.c.route_id == route_id).values(download_requested=True))
        auth.audit(conn, user["username"], "request_download", None,
                   before={"download_requested": bool(before)},
                   after={"download_requested": True}, route_id=route_id)


def router(console: Console) -> APIRouter:
    rt = APIRouter()
    ctx = console.ctx

    console.listing(rt, "routes", supervisor.progress)

    @rt.get("/console/routes/{route_id}")
    async def route_page(request: Request, route_id: str, error: str | None = None):
        await console.user(request)
        detail = await run_in_threadpool(route_detail, ctx, route_id[:64])
        if detail is None:
            raise Denied(404, "not_found")
        return render(request, "route.html", page="routes", error=error, **detail)

    @rt.post("/console/routes/{route_id}/assign")
    async def assign_post(request: Request, route_id: str):
        user, form = await console.form(request, "assign", forms.Assign)
        try:
            await run_in_threadpool(assign, ctx, user, route_id[:64], form)
        except ApiError as exc:
            return back(f"/console/routes/{route_id}?error={exc.code}")
        return back(f"/console/routes/{route_id}")

    @rt.post("/console/routes/{route_id}/request-download")
    async def download_post(request: Request, route_id: str):
        user, _form = await console.form(request, "request_download")
        try:
            await run_in_threadpool(request_download, ctx, user, route_id[:64])
        except ApiError:
            raise Denied(404, "not_found") from None
        return back(f"/console/routes/{route_id}")

    return rt
