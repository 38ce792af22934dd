"""Counters and the route change feed's versions, correct across any number of gateway
processes writing to one database (docs/deploy.md, "The change feed across processes").

The invariant: a device that has applied version V never later misses a change with a
version ≤ V. The classic way to break it is a transaction that takes a lower number and
commits after one that took a higher number: a reader in between sees V+1 and skips V.

Technique: commit-time ordering under a single-row lock. Changes made in a transaction are
only queued (`queue`); `publish` runs as the very last statement before COMMIT and takes
their versions with `UPDATE counters SET value = value + n … RETURNING value` on the
`feed_version` row. That row stays locked until the transaction commits, so versions are
handed out in commit order: when a reader sees `feed_version = V` (committed), every
transaction that took a version ≤ V has committed (PostgreSQL makes a commit visible before
it releases its locks). Readers bound their reads by that committed counter. The lock is
held only for the insert of the change rows and the commit. SQLite has one writer at a
time anyway (BEGIN IMMEDIATE), so the same code is trivially right there.

Why not the alternatives: snapshot-xmin visibility (pg_snapshot_xmin/txid) is
PostgreSQL-only and needs the reader to remember in-flight transaction ids; logical
decoding needs a replication slot and a consumer process. The single-row counter is
portable across both engines and costs one row lock per writing transaction.
"""
from __future__ import annotations

from sqlalchemy import text

from sync.gateway import bulk, db

FEED, FLOOR, RECEIPTS = "feed_version", "feed_floor", "receipt_no"
_QUEUE = "chaoshou_feed"   # key in Connection.info: the changes queued in this transaction


def take(conn, name: str, n: int) -> int:
    """Add `n` to counter `name` (locking its row until commit); returns the new value."""
    return conn.execute(text("UPDATE counters SET value = value + :n WHERE name = :name "
                             "RETURNING value"), {"n": n, "name": name}).scalar_one()


def get(conn, name: str) -> int:
    return conn.execute(text("SELECT value FROM counters WHERE name = :name"),
                        {"name": name}).scalar_one()


def raise_to(conn, name: str, value: int) -> None:
    conn.execute(text("UPDATE counters SET value = CASE WHEN value < :v THEN :v ELSE value "
                      "END WHERE name = :name"), {"v": value, "name": name})


def queue(conn, rows: list[dict]) -> None:
    """Change rows (route_id, account_no, kind, change, created_at) to publish at commit."""
    conn.info.setdefault(_QUEUE, []).extend(rows)


def discard(conn) -> None:
    conn.info.pop(_QUEUE, None)


def publish(conn) -> None:
    """Number the queued changes and insert them: the last thing before COMMIT."""
    rows = conn.info.pop(_QUEUE, None)
    if not rows:
        return
    top = take(conn, FEED, len(rows))
    for version, row in enumerate(rows, start=top - len(rows) + 1):
        row["version"] = version
    bulk.insert_many(conn, db.route_changes, rows)
