"""Routes and accounts: atomic import (whole or paged), server changes, walk order, progress.

Import (docs/contracts.md §1): `import_route` takes a whole `chaoshou.route/1` document in
one transaction. A paged download stages pages first (`stage_begin`, `stage_page`, each page
and its cursor in one commit, resumable through `stage_resume_point`) and `stage_finish`
verifies count and digest of the staged rows and swaps them into the live tables in one
transaction — so a half-imported route is never visible. A swap replaces the route's
accounts and meters and upserts the header's tariffs, codes and agents; it never touches the
captured tables (readings, payments, …) nor `walk_order`, so local resequencing survives a
re-download.

Walking a route on this device (walk order, filters, progress, the account screen's
data) is terminal.route_walk.
"""
import datetime as dt
import hashlib
import json

from terminal import search as _search
from terminal import tariffs
from terminal.canonical import canonical_json
from terminal.store import Store, audit, now_iso

FORMAT = "chaoshou.route/1"


class RouteImportError(ValueError):
    """The route data is malformed; nothing was changed. The message names the problem."""


class RouteVerifyError(RouteImportError):
    """The staged download does not match the server's count or digest; the old route stays."""


# --- checking documents -------------------------------------------------------------------

def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_header(header: dict) -> dict:
    if not isinstance(header, dict) or not isinstance(header.get("route"), dict):
        raise RouteImportError("route header missing: expected {'route': {...}, 'tariffs', 'codes', 'agents'}")
    route = header["route"]
    for key in ("route_id", "name", "cycle"):
        if not isinstance(route.get(key), str) or not route[key]:
            raise RouteImportError(f"route header: '{key}' must be a non-empty text")
    if "server_version" in route and not _is_int(route["server_version"]):
        raise RouteImportError("route header: 'server_version' must be an integer")
    for t in header.get("tariffs") or []:
        if not isinstance(t, dict) or not t.get("tariff_id") or not isinstance(t.get("bands"), list):
            raise RouteImportError(f"tariff malformed: {t!r:.80}")
    codes = header.get("codes") or {}
    if not isinstance(codes, dict):
        raise RouteImportError("codes must be an object {kind: [codes]}")
    for kind, items in codes.items():
        for c in items or []:
            if not isinstance(c, dict) or not c.get("code"):
                raise RouteImportError(f"{kind} code malformed: {c!r:.80}")
    for a in header.get("agents") or []:
        if not isinstance(a, dict) or not a.get("agent_id"):
            raise RouteImportError(f"agent malformed: {a!r:.80}")
    return route


def check_account(a) -> None:
    """Raise RouteImportError naming the account and field when `a` is not a §1 account."""
    if not isinstance(a, dict):
        raise RouteImportError(f"account is not an object: {a!r:.60}")
    no = a.get("account_no")
    if not isinstance(no, str) or not no:
        raise RouteImportError(f"account without account_no: {a!r:.80}")
    if not _is_int(a.get("seq")):
        raise RouteImportError(f"account {no}: 'seq' must be an integer")
    for key in ("name", "address"):
        if not isinstance(a.get(key), str):
            raise RouteImportError(f"account {no}: '{key}' must be text")
    for key in ("phone", "tariff_id", "agent_id", "hazard"):
        if a.get(key) is not None and not isinstance(a[key], str):
            raise RouteImportError(f"account {no}: '{key}' must be text or null")
    _check_date(no, "arrears_due_date", a.get("arrears_due_date"))
    for key in ("arrears_fen", "credit_fen"):
        if a.get(key) is not None and not _is_int(a[key]):
            raise RouteImportError(f"account {no}: '{key}' must be integer fen")
    _check_booked(no, a.get("booked"))
    m = a.get("meter")
    if not isinstance(m, dict) or not isinstance(m.get("meter_no"), str) or not m["meter_no"]:
        raise RouteImportError(f"account {no}: meter with meter_no missing")
    dials, decimals = m.get("dials"), m.get("decimals", 0)
    if not _is_int(dials) or not 1 <= dials <= 15:
        raise RouteImportError(f"account {no}: meter dials must be an integer 1..15")
    if not _is_int(decimals) or not 0 <= decimals < dials:
        raise RouteImportError(f"account {no}: meter decimals must be 0..dials-1")
    if not _is_int(m.get("multiplier", 1)) or m.get("multiplier", 1) < 1:
        raise RouteImportError(f"account {no}: meter multiplier must be a positive integer")
    for key in ("prev_value", "avg_daily_wh", "limit_low", "limit_high"):
        if m.get(key) is not None and not _is_int(m[key]):
            raise RouteImportError(f"account {no}: meter '{key}' must be an integer or null")
    _check_date(no, "meter prev_date", m.get("prev_date"))


def _check_date(account_no, key: str, value) -> None:
    """A date field is null or `YYYY-MM-DD` (contracts §0)."""
    if value is None:
        return
    try:
        ok = isinstance(value, str) and len(value) == 10 and \
            dt.date.fromisoformat(value).isoformat() == value
    except ValueError:
        ok = False
    if not ok:
        raise RouteImportError(f"account {account_no}: '{key}' must be a date YYYY-MM-DD")


def _check_booked(account_no, booked) -> None:
    if booked is not None and not (isinstance(booked, list)
                                   and all(isinstance(i, str) for i in booked)):
        raise RouteImportError(f"account {account_no}: 'booked' must be a list of op ids")


def meter_exceptions(a: dict) -> list[str]:
    """Out-of-range meter figures of a well-formed account (route exceptions).

    The account is still imported so that it can be read; each such figure is stored as
    unknown (null) — validation then skips the checks that need it — and the exception is
    written to the audit log (`route_exception`) for the office.
    """
    m, out = a["meter"], []
    for key in ("prev_value", "avg_daily_wh", "limit_low", "limit_high"):
        if m.get(key) is not None and m[key] < 0:
            out.append(f"{key} {m[key]} is negative")
    if m.get("prev_value") is not None and m["prev_value"] >= 10 ** m["dials"]:
        out.append(f"prev_value {m['prev_value']} has more digits than the meter's {m['dials']} dials")
    return out


def _check_unique(accounts) -> None:
    seen_a, seen_m = set(), set()
    for a in accounts:
        if a["account_no"] in seen_a:
            raise RouteImportError(f"account {a['account_no']} appears twice in the route")
        if a["meter"]["meter_no"] in seen_m:
            raise RouteImportError(f"meter {a['meter']['meter_no']} appears twice in the route")
        seen_a.add(a["account_no"])
        seen_m.add(a["meter"]["meter_no"])


def account_digest(accounts) -> str:
    """The §1 account digest: SHA-256 over canonical JSON + "\\n" of each account by (seq, account_no)."""
    h = hashlib.sha256()
    for a in sorted(accounts, key=lambda a: (a["seq"], a["account_no"])):
        h.update(canonical_json(a))
        h.update(b"\n")
    return h.hexdigest()


# --- writing live tables ------------------------------------------------------------------

def _write_header(conn, header: dict, snapshot_id: str | None) -> None:
    r = header["route"]
    conn.execute(
        "INSERT INTO routes (route_id, name, cycle, read_date, hide_previous, server_version,"
        " snapshot_id, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (route_id) DO UPDATE SET"
        " name=excluded.name, cycle=excluded.cycle, read_date=excluded.read_date,"
        " hide_previous=excluded.hide_previous, server_version=excluded.server_version,"
        " snapshot_id=excluded.snapshot_id, imported_at=excluded.imported_at",
        (r["route_id"], r["name"], r["cycle"], r.get("read_date"), int(bool(r.get("hide_previous"))),
         r.get("server_version") or 0, snapshot_id, now_iso()))
    write_tariffs(conn, header.get("tariffs") or [])
    write_codes(conn, header.get("codes") or {})
    write_agents(conn, header.get("agents") or [])


def write_tariffs(conn, tariffs) -> None:
    conn.executemany(
        "INSERT INTO tariffs (tariff_id, name, kind, bands, late_fee_ppm_per_day) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (tariff_id) DO UPDATE SET name=excluded.name, kind=excluded.kind,"
        " bands=excluded.bands, late_fee_ppm_per_day=excluded.late_fee_ppm_per_day",
        [(t["tariff_id"], t.get("name", t["tariff_id"]), t.get("kind", "flat"),
          json.dumps(t["bands"], ensure_ascii=False), t.get("late_fee_ppm_per_day") or 0)
         for t in tariffs])


def write_codes(conn, codes: dict) -> None:
    """Replace each code kind present (skip, trouble, hazard, …); the rest of a code is its rule."""
    for kind, items in codes.items():
        conn.execute("DELETE FROM codes WHERE kind=?", (kind,))
        conn.executemany(
            "INSERT INTO codes (kind, code, zh, en, rule) VALUES (?, ?, ?, ?, ?)",
            [(kind, c["code"], c.get("zh", c["code"]), c.get("en", c["code"]),
              json.dumps({k: v for k, v in c.items() if k not in ("code", "zh", "en")},
                         ensure_ascii=False, sort_keys=True)) for c in items or []])


def write_agents(conn, agents) -> None:
    conn.executemany(
        "INSERT INTO agents (agent_id, name, kind, contact) VALUES (?, ?, ?, ?) ON CONFLICT (agent_id)"
        " DO UPDATE SET name=excluded.name, kind=excluded.kind, contact=excluded.contact",
        [(a["agent_id"], a.get("name", a["agent_id"]), a.get("kind", "property"), a.get("contact"))
         for a in agents])


def _account_row(route_id: str, a: dict) -> tuple:
    tp = a.get("last_third_party")
    return (a["account_no"], route_id, a["seq"], a["name"], a["address"], a.get("phone"),
            a.get("tariff_id"), a.get("arrears_fen") or 0, a.get("arrears_due_date"),
            a.get("credit_fen") or 0, a.get("agent_id"), a.get("hazard"),
            None if tp is None else json.dumps(tp, ensure_ascii=False, sort_keys=True))


def _meter_row(a: dict) -> tuple:
    m = a["meter"]

    def ok(key):
        v = m.get(key)
        if v is None or v < 0 or (key == "prev_value" and v >= 10 ** m["dials"]):
            return None
        return v
    return (m["meter_no"], a["account_no"], m["dials"], m.get("decimals", 0), m.get("multiplier", 1),
            ok("prev_value"), m.get("prev_date"), ok("avg_daily_wh"), ok("limit_low"), ok("limit_high"))


_INSERT_ACCOUNT = ("INSERT INTO accounts (account_no, route_id, seq, name, address, phone, tariff_id,"
                   " arrears_fen, arrears_due_date, credit_fen, agent_id, hazard, last_third_party)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_INSERT_METER = ("INSERT INTO meters (meter_no, account_no, dials, decimals, multiplier, prev_value,"
                 " prev_date, avg_daily_wh, limit_low, limit_high) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _delete_accounts(conn, account_nos: list[str]) -> None:
    """Remove accounts (any route), their meters, search rows and memberships."""
    if not account_nos:
        return
    arg = json.dumps(account_nos)
    sub = "SELECT value FROM json_each(?)"
    _search.unindex_accounts(conn, account_nos)
    conn.execute(f"DELETE FROM meters WHERE account_no IN ({sub})", (arg,))
    conn.execute(f"DELETE FROM agent_members WHERE account_no IN ({sub})", (arg,))
    conn.execute(f"DELETE FROM accounts WHERE account_no IN ({sub})", (arg,))


def _insert_accounts(conn, route_id: str, accounts: list[dict]) -> None:
    nos = [a["account_no"] for a in accounts]
    meter_nos = json.dumps([a["meter"]["meter_no"] for a in accounts])
    moving = [r[0] for r in conn.execute("SELECT account_no FROM accounts WHERE account_no IN"
                                         " (SELECT value FROM json_each(?))", (json.dumps(nos),))]
    _delete_accounts(conn, moving)  # accounts moving in from another route (or replaced by an upsert)
    conn.execute("DELETE FROM meters WHERE meter_no IN (SELECT value FROM json_each(?))", (meter_nos,))
    conn.executemany(_INSERT_ACCOUNT, [_account_row(route_id, a) for a in accounts])
    conn.executemany(_INSERT_METER, [_meter_row(a) for a in accounts])
    conn.executemany("INSERT OR IGNORE INTO agent_members (agent_id, account_no) VALUES (?, ?)",
                     [(a["agent_id"], a["account_no"]) for a in accounts if a.get("agent_id")])
    if len(accounts) > 100:
        rowids = dict(conn.execute("SELECT account_no, rowid FROM accounts WHERE route_id=?", (route_id,)))
    else:
        rowids = dict(conn.execute("SELECT account_no, rowid FROM accounts WHERE account_no IN "
                                   "(SELECT value FROM json_each(?))", (json.dumps(nos),)))
    _search.add_rows(conn, [(rowids[a["account_no"]], a["name"], a["address"]) for a in accounts])
    tariffs.mark_booked(conn, [i for a in accounts for i in a.get("booked") or ()])
    exceptions = []
    for a in accounts:
        problems = meter_exceptions(a)
        if problems:
            exceptions.append({"account_no": a["account_no"], "problems": problems})
            audit(conn, "route_exception", None, route_id=route_id, account_no=a["account_no"],
                  problems=problems)
    return exceptions


IMPORT_CACHE_KIB = 16384  # a 10,000-account route fits in the page cache: no spill mid-import


def _swap(conn, header: dict, accounts: list[dict], snapshot_id: str | None) -> list:
    route_id = header["route"]["route_id"]
    if conn.execute("PRAGMA cache_size").fetchone()[0] > -IMPORT_CACHE_KIB:
        conn.execute(f"PRAGMA cache_size=-{IMPORT_CACHE_KIB}")
    old = [r[0] for r in conn.execute("SELECT account_no FROM accounts WHERE route_id=?", (route_id,))]
    _delete_accounts(conn, old)
    _write_header(conn, header, snapshot_id)
    exceptions = _insert_accounts(conn, route_id, accounts)
    audit(conn, "route_imported", None, route_id=route_id, accounts=len(accounts),
          snapshot_id=snapshot_id, server_version=header["route"].get("server_version"),
          exceptions=len(exceptions))
    return exceptions


# --- whole import -------------------------------------------------------------------------

def import_route(store: Store, doc: dict) -> dict:
    """Import a whole route document (contracts §1) in one transaction.

    Returns {"route_id", "accounts", "exceptions": [{"account_no", "problems"}]} (see
    `meter_exceptions`). A malformed document raises RouteImportError; nothing changes.
    """
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise RouteImportError(f"not a route document: 'format' must be {FORMAT!r}")
    route = _check_header(doc)
    accounts = doc.get("accounts")
    if not isinstance(accounts, list):
        raise RouteImportError("route document: 'accounts' must be a list")
    for a in accounts:
        check_account(a)
    _check_unique(accounts)
    with store.transaction() as conn:
        exceptions = _swap(conn, doc, accounts, None)
    return {"route_id": route["route_id"], "accounts": len(accounts), "exceptions": exceptions}


# --- paged import through staging --------------------------------------------------------

def stage_begin(store: Store, header: dict, snapshot_id: str, count: int) -> None:
    """Start staging a snapshot; any other unfinished staging of the same route is dropped."""
    route = _check_header(header)
    if not _is_int(count) or count < 0:
        raise RouteImportError("count must be a non-negative integer")
    with store.transaction() as conn:
        conn.execute("DELETE FROM stage_accounts WHERE snapshot_id IN "
                     "(SELECT snapshot_id FROM stage_snapshots WHERE route_id=? OR snapshot_id=?)",
                     (route["route_id"], snapshot_id))
        conn.execute("DELETE FROM stage_snapshots WHERE route_id=? OR snapshot_id=?",
                     (route["route_id"], snapshot_id))
        conn.execute("INSERT INTO stage_snapshots (snapshot_id, route_id, header, count, started_at)"
                     " VALUES (?, ?, ?, ?, ?)",
                     (snapshot_id, route["route_id"], json.dumps(header, ensure_ascii=False), count, now_iso()))


def _snapshot(conn, snapshot_id: str):
    row = conn.execute("SELECT * FROM stage_snapshots WHERE snapshot_id=?", (snapshot_id,)).fetchone()
    if row is None:
        raise RouteImportError(f"no staged download {snapshot_id!r}: call stage_begin first")
    return row


def stage_page(store: Store, snapshot_id: str, accounts: list[dict], next_cursor) -> None:
    """Stage one page of accounts and the cursor after it, in one commit (replays are harmless)."""
    if not isinstance(accounts, list):
        raise RouteImportError("a page's accounts must be a list")
    for a in accounts:
        check_account(a)
    with store.transaction() as conn:
        _snapshot(conn, snapshot_id)
        conn.executemany(
            "INSERT OR REPLACE INTO stage_accounts (snapshot_id, account_no, seq, doc) VALUES (?, ?, ?, ?)",
            [(snapshot_id, a["account_no"], a["seq"], canonical_json(a).decode("utf-8")) for a in accounts])
        conn.execute("UPDATE stage_snapshots SET cursor=?, pages=pages+1, complete=?, updated_at=?"
                     " WHERE snapshot_id=?",
                     (None if next_cursor is None else str(next_cursor), int(next_cursor is None),
                      now_iso(), snapshot_id))


def stage_resume_point(store: Store, route_id: str):
    """(snapshot_id, cursor) of an unfinished staged download of this route, else None.

    cursor None means "from the first page" — or, when `stage_status` says complete, that
    every page is staged and only `stage_finish` is left.
    """
    row = store.conn.execute("SELECT snapshot_id, cursor FROM stage_snapshots WHERE route_id=?"
                             " ORDER BY started_at DESC LIMIT 1", (route_id,)).fetchone()
    return None if row is None else (row["snapshot_id"], row["cursor"])


def stage_status(store: Store, route_id: str) -> dict | None:
    row = store.conn.execute(
        "SELECT s.snapshot_id, s.count, s.cursor, s.pages, s.complete,"
        " (SELECT COUNT(*) FROM stage_accounts x WHERE x.snapshot_id = s.snapshot_id) AS staged"
        " FROM stage_snapshots s WHERE route_id=?", (route_id,)).fetchone()
    return None if row is None else {**dict(row), "complete": bool(row["complete"])}


def stage_discard(store: Store, snapshot_id: str) -> None:
    with store.transaction() as conn:
        conn.execute("DELETE FROM stage_accounts WHERE snapshot_id=?", (snapshot_id,))
        conn.execute("DELETE FROM stage_snapshots WHERE snapshot_id=?", (snapshot_id,))


def stage_finish(store: Store, snapshot_id: str, count: int, digest: str) -> dict:
    """Verify the staged rows against the server's count and digest, then swap them in.

    On a mismatch raises RouteVerifyError, drops the staged rows (the snapshot must be
    downloaded again) and leaves the live route as it was.
    """
    conn = store.conn
    snap = _snapshot(conn, snapshot_id)
    h = hashlib.sha256()
    docs, n = [], 0
    for (doc,) in conn.execute("SELECT doc FROM stage_accounts WHERE snapshot_id=? ORDER BY seq, account_no",
                               (snapshot_id,)):
        h.update(doc.encode("utf-8"))
        h.update(b"\n")
        docs.append(doc)
        n += 1
    problem = None
    if n != count:
        problem = f"staged {n} accounts but the server announced {count}"
    elif h.hexdigest() != digest:
        problem = "the digest of the staged accounts differs from the server's"
    if problem:
        with store.transaction() as c:
            c.execute("DELETE FROM stage_accounts WHERE snapshot_id=?", (snapshot_id,))
            c.execute("DELETE FROM stage_snapshots WHERE snapshot_id=?", (snapshot_id,))
            audit(c, "route_verify_failed", None, route_id=snap["route_id"], snapshot_id=snapshot_id,
                  problem=problem)
        raise RouteVerifyError(f"Route {snap['route_id']} download not applied: {problem}. "
                               "The previous route data is kept; download it again.")
    header = json.loads(snap["header"])
    accounts = [json.loads(d) for d in docs]
    _check_unique(accounts)
    with store.transaction() as c:
        exceptions = _swap(c, header, accounts, snapshot_id)
        c.execute("DELETE FROM stage_accounts WHERE snapshot_id=?", (snapshot_id,))
        c.execute("DELETE FROM stage_snapshots WHERE snapshot_id=?", (snapshot_id,))
    return {"route_id": header["route"]["route_id"], "accounts": n, "exceptions": exceptions}


# --- incremental changes ------------------------------------------------------------------

def current_version(store: Store, route_id: str) -> int | None:
    row = store.conn.execute("SELECT server_version FROM routes WHERE route_id=?", (route_id,)).fetchone()
    return None if row is None else row[0]


def apply_changes(store: Store, route_id: str, changes: list[dict], version: int) -> dict:
    """Apply server changes (contracts §4: balance, hazard, upsert, remove) and the new version.

    All in one transaction; a malformed change raises RouteImportError and nothing changes.
    Unknown kinds (a newer server) are skipped and noted in the audit log.
    """
    if not _is_int(version):
        raise RouteImportError("version must be an integer")
    counts = {"balance": 0, "hazard": 0, "upsert": 0, "remove": 0, "meter_exchange": 0,
              "ignored": 0}
    with store.transaction() as conn:
        if conn.execute("SELECT 1 FROM routes WHERE route_id=?", (route_id,)).fetchone() is None:
            raise RouteImportError(f"route {route_id} is not on this device; download it first")
        for ch in changes:
            kind = ch.get("kind") if isinstance(ch, dict) else None
            if kind == "balance":
                no = ch.get("account_no")
                for key in ("arrears_fen", "credit_fen"):
                    if ch.get(key) is not None and not _is_int(ch[key]):
                        raise RouteImportError(f"balance change for {no}: '{key}' must be integer fen")
                _check_booked(no, ch.get("booked"))
                tariffs.mark_booked(conn, ch.get("booked"))
                tp = ch.get("last_third_party")
                conn.execute("UPDATE accounts SET arrears_fen=?, arrears_due_date=?, credit_fen=?,"
                             " last_third_party=? WHERE account_no=?",
                             (ch.get("arrears_fen") or 0, ch.get("arrears_due_date"), ch.get("credit_fen") or 0,
                              None if tp is None else json.dumps(tp, ensure_ascii=False, sort_keys=True), no))
            elif kind == "hazard":
                conn.execute("UPDATE accounts SET hazard=? WHERE account_no=?",
                             (ch.get("hazard"), ch.get("account_no")))
            elif kind == "upsert":
                check_account(ch.get("account"))
                _insert_accounts(conn, route_id, [ch["account"]])
            elif kind == "meter_exchange":   # the office replaced the account's meter
                check_account(ch.get("account"))
                _insert_accounts(conn, route_id, [ch["account"]])
                audit(conn, "meter_exchange", None, route_id=route_id,
                      account_no=ch["account"]["account_no"], old_meter_no=ch.get("old_meter_no"),
                      meter_no=ch["account"]["meter"]["meter_no"])
            elif kind == "remove":
                _delete_accounts(conn, [ch.get("account_no")])
            else:
                counts["ignored"] += 1
                audit(conn, "route_change_ignored", None, route_id=route_id, kind=str(kind))
                continue
            counts[kind] += 1
        conn.execute("UPDATE routes SET server_version=MAX(server_version, ?) WHERE route_id=?",
                     (version, route_id))
    return counts
