"""Account search: number prefixes and name/address substrings (Chinese included), instant on 100k.

- Account number and meter number: prefix match through their primary-key indexes, as a
  range query `>= q AND < q || U+10FFFF` (no LIKE, so the index is always used).
- Name and address: substring match through the FTS5 table `account_fts` (unicode61).
  Each text is stored split into single characters separated by spaces ("王小明" →
  "王 小 明", "201" → "2 0 1"), so every character is a token; a query becomes an FTS5
  phrase of its characters, and a phrase of consecutive single-character tokens is exactly
  a substring match — for 1, 2 or more characters alike (the default tokenizer does not
  split Chinese, and the trigram tokenizer needs 3 characters). Punctuation and spaces are
  left out of both the index and the query.
- Queries are normalised first: NFKC (full-width digits and letters from a Chinese IME
  become ASCII), trimmed, case-folded.

`account_fts` rows have rowid = accounts.rowid; terminal.routes keeps them in step on every
import and change (`index_accounts` / `unindex_*` below, inside the caller's transaction).
"""
import json
import sqlite3
import unicodedata

from terminal.store import Store

_TOP = "\U0010ffff"  # sorts after every character, so q..q+TOP is "starts with q"


def normalise_query(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").strip()


def chars(text: str | None) -> str:
    """The index form of a text: its letters and digits, lower-cased, one per token."""
    if not text:
        return ""
    return " ".join(c for c in unicodedata.normalize("NFKC", text).lower() if c.isalnum())


def index_accounts(conn: sqlite3.Connection, account_nos) -> None:
    """(Re)build the search rows of these accounts from the accounts table."""
    nos = list(account_nos)
    if not nos:
        return
    placeholders = "SELECT value FROM json_each(?)"
    arg = json.dumps(nos)
    conn.execute(f"DELETE FROM account_fts WHERE rowid IN "
                 f"(SELECT rowid FROM accounts WHERE account_no IN ({placeholders}))", (arg,))
    rows = conn.execute(f"SELECT rowid, name, address FROM accounts WHERE account_no IN "
                        f"({placeholders})", (arg,)).fetchall()
    conn.executemany("INSERT INTO account_fts (rowid, name, address) VALUES (?, ?, ?)",
                     [(r[0], chars(r[1]), chars(r[2])) for r in rows])


def unindex_route(conn: sqlite3.Connection, route_id: str) -> None:
    conn.execute("DELETE FROM account_fts WHERE rowid IN "
                 "(SELECT rowid FROM accounts WHERE route_id=?)", (route_id,))


def unindex_accounts(conn: sqlite3.Connection, account_nos) -> None:
    conn.execute("DELETE FROM account_fts WHERE rowid IN (SELECT rowid FROM accounts WHERE "
                 "account_no IN (SELECT value FROM json_each(?)))", (json.dumps(list(account_nos)),))


def _fts_phrase(q: str) -> str | None:
    tokens = chars(q)
    if not tokens:
        return None
    return '"' + tokens.replace('"', '""') + '"'


_ROW_SQL = ("SELECT a.account_no, a.name, a.address, a.route_id, a.arrears_fen, m.meter_no "
            "FROM accounts a LEFT JOIN meters m ON m.account_no = a.account_no ")


def search(store: Store, query: str, limit: int = 50) -> list[dict]:
    """Accounts matching `query`, best first, at most `limit`.

    Each row: account_no, name, address, route_id, arrears_fen, meter_no and `match`
    (`account_no` | `meter_no` | `name` | `address`). Number-prefix matches come first,
    then name matches, then address matches; within a kind, account number order.
    """
    q = normalise_query(query)
    if not q or limit <= 0:
        return []
    conn = store.conn
    out: list[dict] = []
    seen: set[str] = set()

    def take(rows, kind):
        for r in rows:
            if r["account_no"] not in seen and len(out) < limit:
                seen.add(r["account_no"])
                d = dict(r)
                d["match"] = kind
                out.append(d)

    compact = q.replace(" ", "")
    if compact.isascii() and compact.isalnum():
        for variant in dict.fromkeys((compact, compact.upper())):
            take(conn.execute(_ROW_SQL + "WHERE a.account_no >= ? AND a.account_no < ? "
                              "ORDER BY a.account_no LIMIT ?",
                              (variant, variant + _TOP, limit)), "account_no")
            take(conn.execute(_ROW_SQL + "WHERE m.meter_no >= ? AND m.meter_no < ? "
                              "ORDER BY m.meter_no LIMIT ?",
                              (variant, variant + _TOP, limit)), "meter_no")
    phrase = _fts_phrase(q)
    if phrase and len(out) < limit:
        for column in ("name", "address"):
            if len(out) >= limit:
                break
            rows = conn.execute(
                _ROW_SQL + "JOIN (SELECT rowid AS rid FROM account_fts WHERE account_fts MATCH ? "
                "LIMIT ?) f ON f.rid = a.rowid",
                (f"{column} : {phrase}", limit + len(seen))).fetchall()
            take(sorted(rows, key=lambda r: r["account_no"]), column)
    return out
