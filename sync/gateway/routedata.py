"""Device-facing route data: reference data, receipt blocks, assignments, paged consistent
snapshots (count + digest) and the change feed since a server version."""
from __future__ import annotations

import hashlib
import json
import secrets

from sqlalchemy import delete, func, select, text

from sync.gateway import db, feed
from sync.gateway.channels import agents as channel_agents
from sync.gateway.context import ApiError, Context, now_iso, now_s

ROUTE_KEYS = ("route_id", "name", "cycle", "read_date", "hide_previous")
MAX_PAGE = 5000
MAX_CHANGES = 5000


def _may_log_in(conn, device_id: str) -> set[str]:
    """Operators whose PIN verifier this device receives (docs/contracts.md §4): an operator
    who holds routes only where one of them is on this device or on no device yet; an
    operator who holds no route (supervisors, collectors) everywhere, as the gateway binds
    them to no device."""
    holders: dict[str, bool] = {}
    for operator_id, on_device in conn.execute(
            select(db.routes.c.operator_id, db.routes.c.device_id)
            .where(db.routes.c.operator_id.is_not(None))):
        holders[operator_id] = holders.get(operator_id, False) or on_device in (None,
                                                                                 device_id)
    return {o for (o,) in conn.execute(select(db.operators.c.operator_id))
            if holders.get(o, True)}


def _reference(ctx: Context, device_id: str) -> dict:
    with ctx.read() as conn:
        allowed = _may_log_in(conn, device_id)
        operators = [{"operator_id": r.operator_id, "name": r.name,
                      "roles": json.loads(r.roles), "pin_hash": r.pin_hash}
                     for r in conn.execute(select(db.operators).order_by(
                         db.operators.c.operator_id)) if r.operator_id in allowed]
        members: dict[str, list] = {}
        for agent_id, account_no in conn.execute(
                select(db.accounts.c.agent_id, db.accounts.c.account_no)
                .where(db.accounts.c.agent_id.is_not(None), db.accounts.c.active.is_(True))
                .order_by(db.accounts.c.account_no)):
            members.setdefault(agent_id, []).append(account_no)
        agents = [{"agent_id": r.agent_id, "name": r.name, "kind": r.kind,
                   "contact": r.contact, "members": members.get(r.agent_id, [])}
                  for r in conn.execute(select(db.agents).order_by(db.agents.c.agent_id))]
        return {"operators": operators, "codes": _kv_json(ctx, conn, "codes", {}),
                "tariffs": _kv_json(ctx, conn, "tariffs", []), "agents": agents,
                "settings": _kv_json(ctx, conn, "settings", {})}


def reference(ctx: Context, device_id: str) -> dict:
    """Reference data for one device, with the agents blocked now (docs/channels.md
    §Regional agents)."""
    ref = _reference(ctx, device_id)
    ref["settings"]["blocked_agents"] = channel_agents.blocked(ctx)
    return ref


def _kv_json(ctx, conn, key, default):
    value = ctx.kv_get(conn, key)
    return default if value is None else json.loads(value)


def receipt_block(ctx: Context, device_id: str, size: int) -> dict:
    with ctx.write() as conn:
        end = feed.take(conn, feed.RECEIPTS, size) - 1   # UPDATE … RETURNING: no two alike
        start = end - size + 1
        conn.execute(db.receipt_blocks.insert().values(start=start, end=end,
                                                       device_id=device_id,
                                                       issued_at=now_iso()))
    return {"start": start, "end": end}


def _route_version(conn, route_id: str) -> int:
    return conn.execute(select(func.max(db.route_changes.c.version))
                        .where(db.route_changes.c.route_id == route_id)).scalar() or 0


def current_version(conn) -> int:
    """The server version: the last committed change-feed version (feed.py)."""
    return feed.get(conn, feed.FEED)


def assignments(ctx: Context, device_id: str) -> list[dict]:
    with ctx.read() as conn:
        rows = conn.execute(select(db.routes).where(db.routes.c.device_id == device_id)
                            .order_by(db.routes.c.route_id)).mappings().all()
        return [{"route_id": r["route_id"], "name": r["name"], "operator_id": r["operator_id"],
                 "download_requested": bool(r["download_requested"]),
                 "server_version": _route_version(conn, r["route_id"])} for r in rows]


def _route(conn, route_id: str) -> dict:
    row = conn.execute(select(db.routes).where(db.routes.c.route_id == route_id)) \
        .mappings().first()
    if row is None:
        raise ApiError(404, "unknown_route", f"no route {route_id!r}")
    return dict(row)


def create_snapshot(ctx: Context, route_id: str) -> dict:
    """Pin the route's account set now: copy it into snapshot_accounts with count + digest."""
    with ctx.write() as conn:
        route = _route(conn, route_id)
        version = current_version(conn)
        snapshot_id = "S" + secrets.token_hex(12)
        # copy the account set inside the database (no Python round trip per row)
        ph = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        true = "1" if ctx.is_sqlite else "true"
        conn.exec_driver_sql(
            "INSERT INTO snapshot_accounts (snapshot_id, pos, doc) "
            f"SELECT {ph}, ROW_NUMBER() OVER (ORDER BY seq, account_no) - 1, doc "
            f"FROM accounts WHERE route_id = {ph} AND active = {true}",
            (snapshot_id, route_id))
        digest, count = hashlib.sha256(), 0
        for (d,) in conn.execute(select(db.snapshot_accounts.c.doc)
                                 .where(db.snapshot_accounts.c.snapshot_id == snapshot_id)
                                 .order_by(db.snapshot_accounts.c.pos)):
            digest.update(d.encode("utf-8") + b"\n")  # stored docs are canonical JSON
            count += 1
        used_agents = {a for (a,) in conn.execute(
            select(db.accounts.c.agent_id).distinct().where(
                db.accounts.c.route_id == route_id, db.accounts.c.active.is_(True),
                db.accounts.c.agent_id.is_not(None)))}
        codes = _kv_json(ctx, conn, "codes", {})
        header = {
            "route": {**{k: route[k] for k in ROUTE_KEYS},
                      "hide_previous": bool(route["hide_previous"]), "server_version": version},
            "tariffs": _kv_json(ctx, conn, "tariffs", []),
            "codes": {"skip": codes.get("skip", []), "trouble": codes.get("trouble", [])},
            "agents": [{"agent_id": r.agent_id, "name": r.name, "kind": r.kind,
                        "contact": r.contact}
                       for r in conn.execute(select(db.agents).where(
                           db.agents.c.agent_id.in_(used_agents)).order_by(db.agents.c.agent_id))],
        }
        now = now_s()
        conn.execute(db.snapshots.insert().values(
            snapshot_id=snapshot_id, route_id=route_id, as_of_version=version, count=count,
            digest=digest.hexdigest(), header=db.dumps(header), created_at=now,
            expires_at=now + ctx.settings.snapshot_ttl_s, expired=False))
        _expire_snapshots(ctx, conn)
    return {"snapshot_id": snapshot_id, "count": count, "header": header}


def _expire_snapshots(ctx, conn) -> None:
    old = [s for (s,) in conn.execute(select(db.snapshots.c.snapshot_id).where(
        db.snapshots.c.expired.is_(False), db.snapshots.c.expires_at < now_s()))]
    if old:
        conn.execute(delete(db.snapshot_accounts).where(
            db.snapshot_accounts.c.snapshot_id.in_(old)))
        conn.execute(db.snapshots.update().where(db.snapshots.c.snapshot_id.in_(old))
                     .values(expired=True))


def snapshot_page(ctx: Context, route_id: str, snapshot_id: str, after: str | None,
                  limit: int) -> str:
    """One page as JSON text (the stored canonical docs are spliced in unparsed)."""
    try:
        pos = -1 if after in (None, "") else int(after)
    except ValueError:
        raise ApiError(400, "invalid_cursor", "after must be a cursor from a previous page")
    if pos < -1:
        raise ApiError(400, "invalid_cursor", "after is out of range")
    pos = min(pos, 2 ** 31 - 1)   # past every position (a database integer): the last page
    with ctx.peek() as conn:
        snap = conn.execute(select(db.snapshots).where(
            db.snapshots.c.snapshot_id == snapshot_id,
            db.snapshots.c.route_id == route_id)).mappings().first()
        if snap is None:
            raise ApiError(404, "unknown_snapshot", "no such snapshot for this route")
        if snap["expired"] or snap["expires_at"] < now_s():
            raise ApiError(410, "snapshot_expired", "snapshot expired; create a new one")
        docs = conn.execute(select(db.snapshot_accounts.c.pos, db.snapshot_accounts.c.doc)
                            .where(db.snapshot_accounts.c.snapshot_id == snapshot_id,
                                   db.snapshot_accounts.c.pos > pos)
                            .order_by(db.snapshot_accounts.c.pos).limit(limit)).all()
    last = docs[-1][0] if docs else pos
    done = last >= snap["count"] - 1
    tail = {"next": None if done else str(last), "count": snap["count"],
            "digest": snap["digest"] if done else None, "as_of_version": snap["as_of_version"]}
    return ('{"accounts":[' + ",".join(d for _p, d in docs) + "]," + db.dumps(tail)[1:])


def mark_downloaded(ctx: Context, device_id: str, route_id: str, snapshot_id: str) -> dict:
    with ctx.write() as conn:
        route = _route(conn, route_id)
        snap = conn.execute(select(db.snapshots.c.snapshot_id).where(
            db.snapshots.c.snapshot_id == snapshot_id,
            db.snapshots.c.route_id == route_id)).first()
        if snap is None:
            raise ApiError(404, "unknown_snapshot", "no such snapshot for this route")
        cleared = route["device_id"] in (None, device_id)
        if cleared:
            conn.execute(db.routes.update().where(db.routes.c.route_id == route_id)
                         .values(download_requested=False))
    return {"ok": True, "cleared": cleared}


PURGE_CHECK_S = 60   # a process looks for change-feed rows past the retention this often


def purge_changes(ctx: Context) -> None:
    """Drop change-feed rows older than the retention; remember the highest dropped version.
    Looked for at most every PURGE_CHECK_S of the gateway's clock per process, by the
    oldest row (primary key order: no scan of the feed on every pull)."""
    now = now_s()
    if now < ctx.purge_checked_at + PURGE_CHECK_S:
        return
    ctx.purge_checked_at = now
    cutoff = now - ctx.settings.change_retention_s
    with ctx.peek() as conn:
        oldest = conn.execute(select(db.route_changes.c.created_at)
                              .order_by(db.route_changes.c.version).limit(1)).scalar()
    if oldest is None or oldest >= cutoff:
        return
    with ctx.write() as conn:
        top = conn.execute(select(func.max(db.route_changes.c.version))
                           .where(db.route_changes.c.created_at < cutoff)).scalar()
        if top is None:
            return
        conn.execute(delete(db.route_changes).where(db.route_changes.c.version <= top))
        feed.raise_to(conn, feed.FLOOR, top)


# The change feed read in one statement, so in one snapshot on both engines (a pull costs
# one round trip): whether the route exists, the committed feed version V, the floor below
# which changes were purged, and the route's changes after `since` up to V. One snapshot is
# what the feed's invariant needs (feed.py): a transaction that took a version <= V has
# committed in any snapshot that sees V, and a purge drops rows and raises the floor in one
# transaction, so the rows read are never missing a purged one without the floor saying so.
_CHANGES = text(
    "SELECT EXISTS (SELECT 1 FROM routes WHERE route_id = :route), v.value, f.value, "
    "r.version, r.change FROM counters v JOIN counters f ON f.name = :floor "
    "LEFT JOIN (SELECT version, change FROM route_changes WHERE route_id = :route "
    "AND version > :since ORDER BY version LIMIT :n) r ON r.version <= v.value "
    "WHERE v.name = :feed ORDER BY r.version")


def changes(ctx: Context, route_id: str, since: int) -> str:
    """The route's changes after `since` as JSON text: {"version", "changes", "has_more"}
    (the stored canonical change documents are spliced in unparsed)."""
    purge_changes(ctx)
    with ctx.peek() as conn:
        found = conn.execute(_CHANGES, {"route": route_id, "since": since, "feed": feed.FEED,
                                        "floor": feed.FLOOR, "n": MAX_CHANGES + 1}).all()
    exists, version, floor = found[0][:3]
    if not exists:
        raise ApiError(404, "unknown_route", f"no route {route_id!r}")
    if since > version:
        raise ApiError(410, "cursor_expired", "cursor is ahead of this server; reload")
    if since < floor:
        raise ApiError(410, "cursor_expired",
                       f"changes before version {floor} are no longer kept; reload the route")
    rows = [(v, c) for _e, _v, _f, v, c in found if v is not None]
    has_more = len(rows) > MAX_CHANGES
    rows = rows[:MAX_CHANGES]
    if has_more:
        version = rows[-1][0]
    return (f'{{"version":{version},"changes":[' + ",".join(c for _v, c in rows)
            + f'],"has_more":{"true" if has_more else "false"}}}')
