"""Walking a route on this device: walk order, filters, next/previous unread, progress,
the routes list and what the account screen shows. The route data itself is imported and
kept up to date by terminal.routes.

Walk order: an account's position is its `walk_order.position` when the reader moved it,
else its server `seq`. Reading status per account is that of its current (not superseded)
reading of the route's cycle: `unread` | `read` | `skipped`.

"Paid" means the account has an approved or completed payment (directly or through an agent
allocation) whose device time falls in the route's cycle month or later.
"""
import json

from terminal.store import Store, audit

PAID_STATES = ("approved", "done")


def _route(conn, route_id: str):
    row = conn.execute("SELECT * FROM routes WHERE route_id=?", (route_id,)).fetchone()
    if row is None:
        raise KeyError(f"route {route_id} is not on this device")
    return row


def paid_accounts(conn, cycle: str) -> set[str]:
    """Accounts with an approved/completed payment in `cycle` (YYYY-MM) or later."""
    states = ",".join("?" * len(PAID_STATES))
    rows = conn.execute(
        f"SELECT account_no FROM payments WHERE account_no IS NOT NULL AND state IN ({states})"
        f" AND substr(device_time, 1, 7) >= ?"
        f" UNION SELECT pa.account_no FROM payment_allocations pa JOIN payments p"
        f" ON p.op_id = pa.payment_op_id WHERE p.state IN ({states}) AND substr(p.device_time, 1, 7) >= ?",
        (*PAID_STATES, cycle, *PAID_STATES, cycle))
    return {r[0] for r in rows}


_WALK_SQL = """
SELECT a.account_no, a.name, a.address, m.meter_no, a.arrears_fen, a.seq,
       COALESCE(w.position, a.seq) AS position, a.hazard IS NOT NULL AS hazard,
       COALESCE(r.status, 'unread') AS status, r.trouble_code, r.op_id AS reading_op_id
FROM accounts a
LEFT JOIN meters m ON m.account_no = a.account_no
LEFT JOIN walk_order w ON w.account_no = a.account_no
LEFT JOIN readings r ON r.account_no = a.account_no AND r.cycle = ? AND r.superseded_by IS NULL
WHERE a.route_id = ?
ORDER BY position, a.account_no
"""

FILTERS = ("all", "unread", "read", "skipped", "problems", "arrears", "paid", "unpaid")


def walk(store: Store, route_id: str, filter: str | None = None) -> list[dict]:
    """The route in walk order as light rows for the list screen.

    Row: account_no, name, address, meter_no, arrears_fen, seq, position, hazard (bool),
    status (unread|read|skipped), trouble_code, reading_op_id, paid (bool).
    filter: None/'all', 'unread', 'read', 'skipped', 'problems' (a trouble code),
    'arrears' (arrears > 0), 'paid', 'unpaid'.
    """
    if filter not in (None, *FILTERS):
        raise ValueError(f"unknown filter {filter!r}; one of {', '.join(FILTERS)}")
    conn = store.conn
    route = _route(conn, route_id)
    paid = paid_accounts(conn, route["cycle"])
    out = []
    for r in conn.execute(_WALK_SQL, (route["cycle"], route_id)):
        d = dict(r)
        d["hazard"] = bool(d["hazard"])
        d["paid"] = d["account_no"] in paid
        if passes(d, filter):
            out.append(d)
    return out


def passes(row: dict, filter: str | None) -> bool:
    """Whether a `walk` row passes the walk filter."""
    return filter in (None, "all") or (
        (filter in ("unread", "read", "skipped") and row["status"] == filter)
        or (filter == "problems" and bool(row["trouble_code"]))
        or (filter == "arrears" and row["arrears_fen"] > 0)
        or (filter == "paid" and row["paid"]) or (filter == "unpaid" and not row["paid"]))


def progress_of(rows: list[dict]) -> dict:
    """`progress` counted from the route's whole walk (`walk(store, route_id)`, no filter)
    in hand, without asking the store again (the walk screen has just read it)."""
    out = {"total": len(rows), "read": 0, "skipped": 0, "unread": 0, "problems": 0, "paid": 0}
    for r in rows:
        if r["status"] in ("read", "skipped", "unread"):
            out[r["status"]] += 1
        out["problems"] += r["trouble_code"] is not None
        out["paid"] += bool(r["paid"])
    return out


def _unread_step(store: Store, route_id: str, after_account_no, forward: bool) -> str | None:
    conn = store.conn
    route = _route(conn, route_id)
    cmp, order = (">", "ASC") if forward else ("<", "DESC")
    base = ("SELECT a.account_no FROM accounts a LEFT JOIN walk_order w ON w.account_no = a.account_no"
            " WHERE a.route_id = ? AND NOT EXISTS (SELECT 1 FROM readings r WHERE r.account_no = a.account_no"
            " AND r.cycle = ? AND r.superseded_by IS NULL) ")
    tail = f" ORDER BY COALESCE(w.position, a.seq) {order}, a.account_no {order} LIMIT 1"
    if after_account_no is not None:
        pos = conn.execute("SELECT COALESCE(w.position, a.seq) FROM accounts a LEFT JOIN walk_order w"
                           " ON w.account_no = a.account_no WHERE a.account_no = ?",
                           (after_account_no,)).fetchone()
        if pos is not None:
            row = conn.execute(base + f"AND (COALESCE(w.position, a.seq) {cmp} ? OR (COALESCE(w.position, a.seq) = ?"
                               f" AND a.account_no {cmp} ?))" + tail,
                               (route_id, route["cycle"], pos[0], pos[0], after_account_no)).fetchone()
            if row is not None:
                return row[0]
    # wrap around to the other end (the account we stand on is not unread-next of itself)
    row = conn.execute(base + "AND a.account_no IS NOT ?" + tail,
                       (route_id, route["cycle"], after_account_no)).fetchone()
    return None if row is None else row[0]


def next_unread(store: Store, route_id: str, after_account_no: str | None = None) -> str | None:
    """The next unread account after `after_account_no` in walk order (wrapping), or None."""
    return _unread_step(store, route_id, after_account_no, True)


def previous_unread(store: Store, route_id: str, before_account_no: str | None = None) -> str | None:
    """The previous unread account before `before_account_no` in walk order (wrapping), or None."""
    return _unread_step(store, route_id, before_account_no, False)


def move_after(store: Store, account_no: str, after_account_no: str | None,
               operator_id: str | None = None) -> float:
    """Field resequencing: walk `account_no` right after `after_account_no` (None = first).

    Kept in `walk_order` (captured, survives route re-downloads). Returns the new position.
    """
    with store.transaction() as conn:
        row = conn.execute("SELECT route_id FROM accounts WHERE account_no=?", (account_no,)).fetchone()
        if row is None:
            raise KeyError(f"account {account_no} is not on this device")
        route_id = row[0]
        order = [(r[0], r[1]) for r in conn.execute(
            "SELECT a.account_no, COALESCE(w.position, a.seq) AS p FROM accounts a LEFT JOIN walk_order w"
            " ON w.account_no = a.account_no WHERE a.route_id=? AND a.account_no != ? ORDER BY p, a.account_no",
            (route_id, account_no))]
        if after_account_no is None:
            idx = -1
        else:
            idx = next((i for i, (no, _) in enumerate(order) if no == after_account_no), None)
            if idx is None:
                raise KeyError(f"account {after_account_no} is not on route {route_id}")
        before = order[idx][1] if idx >= 0 else None
        after = order[idx + 1][1] if idx + 1 < len(order) else None
        if before is None and after is None:
            pos = 0.0
        elif before is None:
            pos = after - 10.0
        elif after is None:
            pos = before + 10.0
        else:
            pos = (before + after) / 2
        if not ((before is None or pos > before) and (after is None or pos < after)):
            # no room left between two floats: renumber the whole route 10, 20, …
            order.insert(idx + 1, (account_no, 0.0))
            conn.executemany("INSERT INTO walk_order (account_no, position) VALUES (?, ?) ON CONFLICT"
                             " (account_no) DO UPDATE SET position=excluded.position",
                             [(no, float((i + 1) * 10)) for i, (no, _) in enumerate(order)])
            pos = float((idx + 2) * 10)
        else:
            conn.execute("INSERT INTO walk_order (account_no, position) VALUES (?, ?) ON CONFLICT"
                         " (account_no) DO UPDATE SET position=excluded.position", (account_no, pos))
        audit(conn, "walk_moved", operator_id, account_no=account_no, after=after_account_no)
    return pos


def reset_walk_order(store: Store, route_id: str) -> None:
    """Back to the server's sequence for the whole route."""
    with store.transaction() as conn:
        conn.execute("DELETE FROM walk_order WHERE account_no IN (SELECT account_no FROM accounts WHERE route_id=?)",
                     (route_id,))


def progress(store: Store, route_id: str) -> dict:
    """Counts for a route: total, read, skipped, unread, paid, problems."""
    conn = store.conn
    route = _route(conn, route_id)
    row = conn.execute(
        "SELECT COUNT(*) AS total, SUM(r.status = 'read') AS read, SUM(r.status = 'skipped') AS skipped,"
        " SUM(r.status IS NULL) AS unread, SUM(r.trouble_code IS NOT NULL) AS problems"
        " FROM accounts a LEFT JOIN readings r ON r.account_no = a.account_no AND r.cycle = ?"
        " AND r.superseded_by IS NULL WHERE a.route_id = ?", (route["cycle"], route_id)).fetchone()
    out = {k: row[k] or 0 for k in ("total", "read", "skipped", "unread", "problems")}
    members = {r[0] for r in conn.execute("SELECT account_no FROM accounts WHERE route_id=?", (route_id,))}
    out["paid"] = len(paid_accounts(conn, route["cycle"]) & members)
    return out


def list_routes(store: Store) -> list[dict]:
    """Every route on the device with its header fields and `progress`."""
    rows = store.conn.execute("SELECT * FROM routes ORDER BY route_id").fetchall()
    return [{**dict(r), "hide_previous": bool(r["hide_previous"]), "progress": progress(store, r["route_id"])}
            for r in rows]


def route_info(store: Store, route_id: str) -> dict:
    r = _route(store.conn, route_id)
    return {**dict(r), "hide_previous": bool(r["hide_previous"])}


HIDDEN_METER_FIELDS = ("prev_value", "limit_low", "limit_high")


def account_detail(store: Store, account_no: str, *, reveal_previous: bool = False,
                   last_readings: int = 5) -> dict | None:
    """Everything the account screen shows, or None when the account is unknown.

    Keys: account (incl. last_third_party as a dict), meter, route, hazard, tariff, agent,
    current (this cycle's current reading or None), last_readings (newest first), paid.
    When the route hides previous readings and `reveal_previous` is False, the meter's
    prev_value/limit_low/limit_high are None and `meter['hidden']` is True.
    """
    conn = store.conn
    a = conn.execute("SELECT * FROM accounts WHERE account_no=?", (account_no,)).fetchone()
    if a is None:
        return None
    account = dict(a)
    account["last_third_party"] = json.loads(a["last_third_party"]) if a["last_third_party"] else None
    route = conn.execute("SELECT * FROM routes WHERE route_id=?", (a["route_id"],)).fetchone()
    m = conn.execute("SELECT * FROM meters WHERE account_no=?", (account_no,)).fetchone()
    meter = dict(m) if m else None
    hide = bool(route["hide_previous"]) if route else False
    if meter is not None:
        meter["hidden"] = hide and not reveal_previous
        if meter["hidden"]:
            for k in HIDDEN_METER_FIELDS:
                meter[k] = None
    tariff = None
    if a["tariff_id"]:
        t = conn.execute("SELECT * FROM tariffs WHERE tariff_id=?", (a["tariff_id"],)).fetchone()
        if t:
            tariff = {**dict(t), "bands": json.loads(t["bands"])}
    agent = None
    if a["agent_id"]:
        g = conn.execute("SELECT * FROM agents WHERE agent_id=?", (a["agent_id"],)).fetchone()
        agent = dict(g) if g else {"agent_id": a["agent_id"]}
    readings = [dict(r) for r in conn.execute(
        "SELECT * FROM readings WHERE account_no=? ORDER BY seq DESC LIMIT ?", (account_no, last_readings))]
    for r in readings:
        for k in ("entries", "warnings"):
            r[k] = json.loads(r[k])
    cycle = route["cycle"] if route else None
    current = next((r for r in readings if r["cycle"] == cycle and r["superseded_by"] is None), None)
    if current is None and cycle is not None:
        row = conn.execute("SELECT * FROM readings WHERE account_no=? AND cycle=? AND superseded_by IS NULL",
                           (account_no, cycle)).fetchone()
        if row:
            current = {**dict(row), "entries": json.loads(row["entries"]), "warnings": json.loads(row["warnings"])}
    return {"account": account, "meter": meter,
            "route": None if route is None else {**dict(route), "hide_previous": hide},
            "hazard": a["hazard"], "tariff": tariff, "agent": agent, "current": current,
            "last_readings": readings,
            "paid": cycle is not None and account_no in paid_accounts(conn, cycle)}

