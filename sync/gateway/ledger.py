"""Account balances and the route change feed, shared by op ingest, third-party payments
and supervisor edits. Works on a per-transaction `AccountCache` and writes in bulk.

Accounts are read with a row lock (`SELECT … FOR UPDATE` on PostgreSQL; SQLite has one
writer at a time), so two gateway processes never both change a balance from the same
old value; the locks are taken in account order for each load."""
from __future__ import annotations

import json

from sync.gateway import bulk, db, feed
from sync.gateway.context import now_s


class AccountCache:
    """Accounts loaded once per transaction, mutated in memory, flushed together with the
    route changes they cause."""

    def __init__(self, conn):
        self.conn = conn
        self.rows: dict[str, dict | None] = {}
        self.dirty: set[str] = set()
        self.changes: list[dict] = []

    def load(self, account_nos) -> None:
        wanted = [a for a in set(account_nos) if isinstance(a, str) and a not in self.rows]
        for no in wanted:
            self.rows[no] = None
        lock = "" if self.conn.dialect.name == "sqlite" else " ORDER BY account_no FOR UPDATE"
        for no, route_id, active, bill_fen, doc in bulk.in_query(
                self.conn, "SELECT account_no, route_id, active, bill_fen, doc FROM accounts "
                           "WHERE account_no IN ({in})" + lock, (), sorted(wanted)):
            self.rows[no] = {"route_id": route_id, "active": bool(active), "bill_fen": bill_fen,
                             "doc": json.loads(doc)}

    def get(self, account_no) -> dict | None:
        if not isinstance(account_no, str):
            return None
        if account_no not in self.rows:
            self.load([account_no])
        return self.rows[account_no]

    def emit(self, route_id: str, account_no: str | None, change: dict) -> None:
        self.changes.append({"route_id": route_id, "account_no": account_no,
                             "kind": change["kind"], "change": db.dumps(change),
                             "created_at": now_s()})

    def emit_balance(self, account_no: str) -> None:
        row = self.rows[account_no]
        self.dirty.add(account_no)
        self.emit(row["route_id"], account_no, balance_change(row["doc"]))

    def flush(self) -> None:
        if self.dirty:
            bulk.update_many(self.conn, db.accounts, "account_no", [
                {"account_no": no, "doc": db.dumps(self.rows[no]["doc"])}
                for no in sorted(self.dirty)])
            self.dirty.clear()
        if self.changes:
            feed.queue(self.conn, self.changes)
            self.changes = []


BOOKED_KEEP = 32   # op ids a balance names as booked (docs/contracts.md §1, `booked`)


def balance_change(doc: dict) -> dict:
    return {"kind": "balance", "account_no": doc["account_no"],
            "arrears_fen": doc["arrears_fen"], "arrears_due_date": doc["arrears_due_date"],
            "credit_fen": doc["credit_fen"], "last_third_party": doc.get("last_third_party"),
            "booked": doc.get("booked", [])}


def book(doc: dict, op_id: str | None) -> None:
    """Name a device's payment or void op in the balance that now includes it: the account
    document (route snapshots) and every balance change carry the latest `BOOKED_KEEP`, so a
    device knows which of its own payments the balance it receives already holds."""
    if op_id is not None:
        doc["booked"] = (doc.get("booked", []) + [op_id])[-BOOKED_KEEP:]


def keep_booked(old_doc: dict | None, new_doc: dict) -> dict:
    """An office edit replaces the account document; what its balance booked stays named
    (only the gateway writes `booked`: an office document's own is ignored)."""
    doc = {k: v for k, v in new_doc.items() if k != "booked"}
    if old_doc and old_doc.get("booked"):
        doc["booked"] = old_doc["booked"]
    return doc


def apply_payment(doc: dict, amount_fen: int, op_id: str | None = None) -> list:
    """Pay arrears first, the rest becomes credit; returns [to_arrears, to_credit, due]
    (what `reverse_payment` needs). A device's payment names its op (`book`)."""
    book(doc, op_id)
    due = doc["arrears_due_date"]
    to_arrears = min(amount_fen, doc["arrears_fen"])
    doc["arrears_fen"] -= to_arrears
    doc["credit_fen"] += amount_fen - to_arrears
    if doc["arrears_fen"] == 0:
        doc["arrears_due_date"] = None
    return [to_arrears, amount_fen - to_arrears, due]


def reverse_payment(doc: dict, applied: list, op_id: str | None = None) -> None:
    """Undo `apply_payment` (a void, named by its op); credit already used is put back as
    arrears."""
    book(doc, op_id)
    to_arrears, to_credit, due = applied
    taken = min(doc["credit_fen"], to_credit)
    doc["credit_fen"] -= taken
    doc["arrears_fen"] += to_arrears + (to_credit - taken)
    if doc["arrears_fen"] > 0 and doc["arrears_due_date"] is None:
        doc["arrears_due_date"] = due
