"""Receipt numbers, the receipt hash chain, verification codes, QR URLs and the verifier.

Numbers come from blocks the gateway allocates (`add_block`); `issue` takes the next number
inside the payment's own transaction, so a rolled-back payment burns no number and the
numbers stay unbroken. Every receipt (collection or void slip) is a link of one hash chain
(docs/contracts.md §2): `hash = sha256hex(prev_hash.encode() + canonical_json(content))`,
genesis `prev_hash` = 64 zeros, and carries `verify_code` = first 16 hex of
HMAC-SHA256(device_key, f"{device_id}|{receipt_no}|{amount_fen}|{hash}").

`receipt_no` is an integer in the store and a decimal string in content, payloads and
documents. The chain runs in issue order (= outbox seq order of the receipts' ops); its tail
hash is kept in meta `receipt_chain_tail`, written in the same transaction.

`verify_chain`, `verify_numbers` and `verify_receipt` are pure functions over plain data,
so the gateway can run the same checks on what it received.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import string

from terminal.canonical import GENESIS_HASH, canonical_json
from terminal.ledger_errors import refusal, require_int
from terminal.store import Store, now_iso

DEFAULT_PAY_URL = "https://pay.example-utility.cn/p?acct={account_no}"
DEFAULT_VERIFY_URL = ("https://pay.example-utility.cn/v?d={device_id}&r={receipt_no}"
                      "&a={amount_fen}&c={verify_code}")
LOCAL_DEVICE_ID = "LOCAL"  # before enrolment; such receipts cannot be verified by the gateway
TAIL_KEY = "receipt_chain_tail"


# -- device identity ------------------------------------------------------------------

def device_id(store: Store) -> str:
    return store.get_meta("device_id") or LOCAL_DEVICE_ID


def device_key(store: Store) -> str:
    """The enrolment key (hex); before enrolment a random local key kept in meta."""
    key = store.get_meta("device_key")
    if key:
        return key
    key = store.get_meta("local_device_key")
    if not key:
        key = os.urandom(32).hex()
        with store.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('local_device_key', ?)",
                         (key,))
        key = store.get_meta("local_device_key")
    return key


# -- pure functions (mirrored by the gateway) ------------------------------------------

def receipt_hash(prev_hash: str, content: dict) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json(content)).hexdigest()


def verify_code(device_key_hex: str, device_id: str, receipt_no, amount_fen: int,
                hash_hex: str) -> str:
    msg = f"{device_id}|{receipt_no}|{amount_fen}|{hash_hex}".encode("utf-8")
    return hmac.new(bytes.fromhex(device_key_hex), msg, hashlib.sha256).hexdigest()[:16]


def verify_receipt(device_key_hex: str, device_id: str, receipt_no, amount_fen: int,
                   hash_hex: str, code: str) -> bool:
    """True when a (paper) receipt's verification code is genuine for these fields."""
    expected = verify_code(device_key_hex, device_id, receipt_no, amount_fen, hash_hex)
    return hmac.compare_digest(expected, str(code).lower())


def verify_chain(rows, *, genesis: str = GENESIS_HASH, device_key_hex: str | None = None,
                 device_id: str | None = None, tail: str | None = None) -> list[str]:
    """Problems found in a receipt chain given in issue order (empty list = intact).

    Each row: `receipt_no`, `content` (dict or JSON text), `prev_hash`, `hash`, and
    `verify_code` (checked when `device_key_hex` is given). Detects an altered receipt (hash
    mismatch), a deleted or reordered one (broken link), a forged one (bad code), and with
    `tail` (the last hash the device reported) a deleted last receipt.
    """
    problems: list[str] = []
    prev = genesis
    for row in rows:
        content = row["content"]
        try:
            if isinstance(content, str):
                content = json.loads(content)
            if not isinstance(content, dict):
                raise ValueError("content is not an object")
            str(row["prev_hash"]).encode("ascii")
        except (ValueError, UnicodeError) as exc:
            problems.append(f"receipt {row['receipt_no']}: malformed ({exc})")
            prev = row["hash"]
            continue
        no = str(row["receipt_no"])
        if str(content.get("receipt_no")) != no:
            problems.append(f"receipt {no}: content names receipt {content.get('receipt_no')}")
        if row["prev_hash"] != prev:
            problems.append(f"receipt {no}: link broken (a receipt before it was deleted, "
                            "reordered or altered)")
        if receipt_hash(row["prev_hash"], content) != row["hash"]:
            problems.append(f"receipt {no}: content does not match its hash (altered)")
        if device_key_hex is not None:
            dev = device_id if device_id is not None else content.get("device_id")
            code = row.get("verify_code") if hasattr(row, "get") else row["verify_code"]
            if not code or not verify_receipt(device_key_hex, dev, no, content.get("amount_fen"),
                                              row["hash"], code):
                problems.append(f"receipt {no}: verification code is not genuine (forged)")
        prev = row["hash"]
    if tail is not None and prev != tail:
        problems.append("the chain does not end at the last reported receipt (receipts deleted "
                        "at the end)")
    return problems


def verify_numbers(numbers, blocks) -> list[str]:
    """Problems in the receipt numbers used: each block (start, end, next) must be used
    exactly from `start` to `next - 1`, no number outside a block, none twice."""
    problems: list[str] = []
    used = sorted(int(n) for n in numbers)
    if len(set(used)) != len(used):
        problems.append("a receipt number was used twice")
    expected: set[int] = set()
    for start, _end, nxt in blocks:
        expected.update(range(start, nxt))
    got = set(used)
    missing = sorted(expected - got)
    extra = sorted(got - expected)
    if missing:
        problems.append(f"receipt numbers missing: {missing[:10]}")
    if extra:
        problems.append(f"receipt numbers outside the allocated blocks: {extra[:10]}")
    return problems


class _Keep(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def fill_template(template: str, **values) -> str:
    """`template` with the placeholders we know filled in; unknown ones left as they are."""
    names = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    return template.format_map(_Keep({k: v for k, v in values.items() if k in names}))


def pay_url(store: Store, account_no: str, amount_fen: int = 0) -> str:
    template = store.get_meta("pay_url_template") or DEFAULT_PAY_URL
    return fill_template(template, account_no=account_no, amount_fen=amount_fen)


def verify_url(store: Store, receipt_no, amount_fen: int, code: str, dev: str | None = None) -> str:
    template = store.get_meta("verify_url_template") or DEFAULT_VERIFY_URL
    return fill_template(template, device_id=dev or device_id(store), receipt_no=receipt_no,
                         amount_fen=amount_fen, verify_code=code)


# -- numbers -----------------------------------------------------------------------------

def add_block(store: Store, start: int, end: int) -> None:
    """Record a block of receipt numbers the gateway allocated (inclusive)."""
    require_int(start, "Block start")
    require_int(end, "Block end")
    if start < 1 or end < start:
        raise refusal("bad_block",
                      "Invalid receipt number block {start}-{end}", start=start, end=end)
    with store.transaction() as conn:
        clash = conn.execute("SELECT start_no, end_no FROM receipt_blocks "
                             "WHERE start_no <= ? AND end_no >= ?", (end, start)).fetchone()
        if clash:
            if (clash[0], clash[1]) == (start, end):
                return  # the same block again (a retried request): nothing to do
            raise refusal("block_overlap",
                          "Receipt block {start}-{end} overlaps block {clash_from}-{clash_to}",
                          start=start, end=end, clash_from=clash[0], clash_to=clash[1])
        conn.execute("INSERT INTO receipt_blocks (start_no, end_no, next_no) VALUES (?, ?, ?)",
                     (start, end, start))


def numbers_left(store: Store) -> int:
    return store.conn.execute("SELECT COALESCE(SUM(end_no - next_no + 1), 0) FROM receipt_blocks "
                              "WHERE next_no <= end_no").fetchone()[0]


def blocks(store: Store) -> list[tuple[int, int, int]]:
    return [tuple(r) for r in store.conn.execute(
        "SELECT start_no, end_no, next_no FROM receipt_blocks ORDER BY start_no")]


def require_numbers(store: Store, needed: int = 1) -> None:
    if numbers_left(store) < needed:
        raise refusal("no_receipt_numbers",
                      "No receipt numbers left: sync to get a new block first")


def _take_number(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT start_no, next_no FROM receipt_blocks WHERE next_no <= end_no "
                       "ORDER BY start_no LIMIT 1").fetchone()
    if row is None:
        raise refusal("no_receipt_numbers",
                      "No receipt numbers left: sync to get a new block first")
    conn.execute("UPDATE receipt_blocks SET next_no = next_no + 1 WHERE start_no=?", (row[0],))
    return row[1]


# -- issuing -----------------------------------------------------------------------------

def issue(store: Store, conn: sqlite3.Connection, *, kind: str, op_id: str, amount_fen: int,
          fields: dict, issued_at: str | None = None) -> dict:
    """Take the next number and add a chain link, inside the caller's transaction.

    Returns the chain fields for the op payload: `receipt_no` (str), `content`,
    `prev_hash`, `hash`, `verify_code`.
    """
    if not conn.in_transaction:
        raise RuntimeError("receipts.issue must run inside the payment's transaction")
    dev, key = device_id(store), device_key(store)
    number = _take_number(conn)
    issued_at = issued_at or now_iso()
    content = dict(fields, kind=kind, receipt_no=str(number), device_id=dev,
                   amount_fen=amount_fen, issued_at=issued_at)
    row = conn.execute("SELECT value FROM meta WHERE key=?", (TAIL_KEY,)).fetchone()
    prev = row[0] if row else GENESIS_HASH
    digest = receipt_hash(prev, content)
    code = verify_code(key, dev, number, amount_fen, digest)
    conn.execute("INSERT INTO receipts (receipt_no, op_id, kind, content, prev_hash, hash, "
                 "verify_code, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (number, op_id, kind, canonical_json(content).decode("utf-8"), prev, digest,
                  code, issued_at))
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                 "SET value=excluded.value", (TAIL_KEY, digest))
    return {"receipt_no": str(number), "content": content, "prev_hash": prev, "hash": digest,
            "verify_code": code}


def get(store: Store, receipt_no) -> dict | None:
    row = store.conn.execute("SELECT * FROM receipts WHERE receipt_no=?",
                             (int(receipt_no),)).fetchone()
    if row is None:
        return None
    d = dict(row)
    d["content"] = json.loads(d["content"])
    return d


def chain_rows(store: Store) -> list[dict]:
    """Every receipt in issue order (the outbox seq of its op)."""
    rows = store.conn.execute(
        "SELECT r.* FROM receipts r JOIN outbox o ON o.op_id = r.op_id ORDER BY o.seq").fetchall()
    return [dict(r) for r in rows]


def verify_store(store: Store) -> list[str]:
    """Chain, codes, numbers and tail of this device's receipts (empty list = intact)."""
    rows = chain_rows(store)
    total = store.conn.execute("SELECT COUNT(*) FROM receipts").fetchone()[0]
    problems = []
    if total != len(rows):
        problems.append(f"{total - len(rows)} receipt(s) have no outbox op")
    tail = store.get_meta(TAIL_KEY)
    problems += verify_chain(rows, device_key_hex=device_key(store), device_id=device_id(store),
                             tail=tail if tail is not None else GENESIS_HASH)
    problems += verify_numbers([r["receipt_no"] for r in rows], blocks(store))
    return problems
