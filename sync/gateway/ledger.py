"""Account balances and the route change feed, shared by op ingest, third-party payments
and supervisor edits. Works on a per-transaction `AccountCache` and writes in bulk."""
from __future__ import annotations

import json

from sqlalchemy import bindparam

from sync.gateway import db
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
        for no, route_id, active, bill_fen, doc in db.in_query(
                self.conn, "SELECT account_no, route_id, active, bill_fen, doc FROM accounts "
                           "WHERE account_no IN ({in})", (), wanted):
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
            self.conn.execute(
                db.accounts.update().where(db.accounts.c.account_no == bindparam("no"))
                .values(doc=bindparam("doc")),
                [{"no": no, "doc": db.dumps(self.rows[no]["doc"])} for no in self.dirty])
            self.dirty.clear()
        if self.changes:
            db.insert_many(self.conn, db.route_changes, self.changes)
            self.changes = []


def balance_change(doc: dict) -> dict:
    return {"kind": "balance", "account_no": doc["account_no"],
            "arrears_fen": doc["arrears_fen"], "arrears_due_date": doc["arrears_due_date"],
            "credit_fen": doc["credit_fen"], "last_third_party": doc.get("last_third_party")}


def apply_payment(doc: dict, amount_fen: int) -> list:
    """Pay arrears first, the rest becomes credit; returns [to_arrears, to_credit, due]
    (what `reverse_payment` needs)."""
    due = doc["arrears_due_date"]
    to_arrears = min(amount_fen, doc["arrears_fen"])
    doc["arrears_fen"] -= to_arrears
    doc["credit_fen"] += amount_fen - to_arrears
    if doc["arrears_fen"] == 0:
        doc["arrears_due_date"] = None
    return [to_arrears, amount_fen - to_arrears, due]


def reverse_payment(doc: dict, applied: list) -> None:
    """Undo `apply_payment` (a void); credit already used is put back as arrears."""
    to_arrears, to_credit, due = applied
    taken = min(doc["credit_fen"], to_credit)
    doc["credit_fen"] -= taken
    doc["arrears_fen"] += to_arrears + (to_credit - taken)
    if doc["arrears_fen"] > 0 and doc["arrears_due_date"] is None:
        doc["arrears_due_date"] = due
