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
- What is a character worth indexing: a letter or digit by the running Python's Unicode
  tables, or any code point in a CJK ideograph block (`CJK_BLOCKS`, the Unicode block
  ranges themselves) — so a name in Extension H or I (U+31350…, U+2EBF0…) is found even
  when this Python's tables predate it and would take it for punctuation.

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


# CJK ideograph blocks, by code point (Unicode block ranges; assigned or not in this Python)
CJK_BLOCKS = (
    (0x3400, 0x4DBF),     # Extension A
    (0x4E00, 0x9FFF),     # CJK Unified Ideographs
    (0xF900, 0xFAFF),     # Compatibility Ideographs
    (0x20000, 0x2A6DF),   # Extension B
    (0x2A700, 0x2B73F),   # Extension C
    (0x2B740, 0x2B81F),   # Extension D
    (0x2B820, 0x2CEAF),   # Extension E
    (0x2CEB0, 0x2EBEF),   # Extension F
    (0x2EBF0, 0x2EE5F),   # Extension I (Unicode 15.1)
    (0x2F800, 0x2FA1F),   # Compatibility Ideographs Supplement
    (0x30000, 0x3134F),   # Extension G
    (0x31350, 0x323AF),   # Extension H (Unicode 15.0)
    (0x323B0, 0x3347F),   # Extension J (Unicode 17.0)
)


def is_cjk(char: str) -> bool:
    """Is this character in a CJK ideograph block (whatever this Python's Unicode version)?"""
    cp = ord(char)
    return any(lo <= cp <= hi for lo, hi in CJK_BLOCKS)


def _indexed(char: str) -> bool:
    return char.isalnum() or is_cjk(char)


def _units(text: str | None) -> list[str]:
    if not text:
        return []
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return list(filter(_indexed, text.lower()))


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
