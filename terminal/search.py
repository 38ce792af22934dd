"""Account search: number prefixes and name/address substrings (Chinese included), instant on 100k.

- Account number and meter number: prefix match through their primary-key indexes, as a
  range query `>= q AND < q || U+10FFFF` (no LIKE, so the index is always used).
- Name and address: substring match through two FTS5 tables, `name_fts` and
  `address_fts` (separate, because an FTS5 column filter still walks a token's whole
  doclist, and a name query must not wade through address tokens). Each text is stored
  split into single characters ("王小明" → "王 小 明", "201" → "2 0 1") in column `chars`
  and as overlapping character bigrams ("王小 小明", "20 01") in column `bigrams`. A
  1-character query is a token lookup in `chars`; a longer one is an FTS5 phrase of its
  bigrams, and a phrase of consecutive overlapping bigrams is exactly a substring match.
  This works for 1, 2 or more characters alike (FTS5's default tokenizer does not split
  Chinese and the trigram tokenizer needs 3 characters), and bigram doclists are short, so
  even an all-digit query against every address stays fast. Punctuation and spaces are left
  out of index and query.
- Queries are normalised first: NFKC (full-width digits and letters from a Chinese IME
  become ASCII), trimmed, case-folded.

Index rows have rowid = accounts.rowid; terminal.routes keeps them in step on every import
and change (`add_rows` / `unindex_accounts` below, inside the caller's transaction).
"""
import json
import sqlite3
import unicodedata

from terminal.store import Store

_TOP = "\U0010ffff"  # sorts after every character, so q..q+TOP is "starts with q"


def normalise_query(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").strip()


def _units(text: str | None) -> list[str]:
    if not text:
        return []
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return list(filter(str.isalnum, text.lower()))


TABLES = ("name_fts", "address_fts")


def add_rows(conn: sqlite3.Connection, rows) -> None:
    """Index accounts given as (rowid, name, address); the rows must not be indexed yet."""
    names, addresses = [], []
    for rowid, name, address in rows:
        for text, out in ((name, names), (address, addresses)):
            u = _units(text)
            out.append((rowid, " ".join(u), " ".join([x + y for x, y in zip(u, u[1:])])))
    conn.executemany("INSERT INTO name_fts (rowid, chars, bigrams) VALUES (?, ?, ?)", names)
    conn.executemany("INSERT INTO address_fts (rowid, chars, bigrams) VALUES (?, ?, ?)", addresses)


def _delete_where(conn, where: str, args) -> None:
    for table in TABLES:
        conn.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM accounts WHERE {where})", args)


def rebuild_index(store: Store) -> int:
    """Rebuild the whole search index from the accounts table (one transaction)."""
    with store.transaction() as conn:
        for table in TABLES:
            conn.execute(f"DELETE FROM {table}")
        rows = conn.execute("SELECT rowid, name, address FROM accounts").fetchall()
        add_rows(conn, rows)
        conn.execute("DELETE FROM meta WHERE key='search_index_stale'")
    return len(rows)


def ensure_index(store: Store) -> None:
    """Rebuild once when a migration marked the index stale (checked once per Store)."""
    if getattr(store, "_search_index_ok", False):
        return
    if store.get_meta("search_index_stale"):
        rebuild_index(store)
    store._search_index_ok = True


def unindex_accounts(conn: sqlite3.Connection, account_nos) -> None:
    _delete_where(conn, "account_no IN (SELECT value FROM json_each(?))", (json.dumps(list(account_nos)),))


def _fts_match(q: str) -> str | None:
    """FTS5 query for substring `q`, or None when it has no letter or digit to look for."""
    u = _units(q)
    if not u:
        return None
    if len(u) == 1:
        return f'chars : "{u[0]}"'
    return 'bigrams : "' + " ".join(a + b for a, b in zip(u, u[1:])) + '"'


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
    ensure_index(store)
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
    match = _fts_match(q)
    for kind in ("name", "address"):
        if match is None or len(out) >= limit:
            break
        rows = conn.execute(
            _ROW_SQL + f"JOIN (SELECT rowid AS rid FROM {kind}_fts WHERE {kind}_fts MATCH ? "
            "LIMIT ?) f ON f.rid = a.rowid", (match, limit + len(seen))).fetchall()
        take(sorted(rows, key=lambda r: r["account_no"]), kind)
    return out
