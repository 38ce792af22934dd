"""The durable outbox: every capture writes its op here in the same transaction.

An op leaves the `pending` state only when the gateway has answered for it:
`accepted`/`duplicate` are done, `rejected`/`conflict` need a person (they stay, visible,
and never block the ops behind them), `retry` goes back to `pending`. Ops taken for
sending are `inflight`; any left `inflight` by a crash return to `pending` through
`terminal.recovery.recover(store)` at start-up.
`seq` is contiguous per device, from 1, so the gateway can name gaps.
"""
import dataclasses
import json
import sqlite3
import uuid

import fieldrules
from terminal.canonical import sha256_hex
from terminal.ledger_errors import LedgerError
from terminal.store import Store, now_iso

DONE = ("accepted", "duplicate")
ATTENTION = ("rejected", "conflict")
RESULT_STATES = DONE + ATTENTION + ("retry",)


@dataclasses.dataclass(frozen=True)
class Op:
    seq: int
    op_id: str
    type: str
    operator_id: str | None
    device_time: str
    payload: dict
    payload_sha256: str

    def envelope(self) -> dict:
        """The op as it travels (docs/contracts.md §2)."""
        return {"op_id": self.op_id, "seq": self.seq, "type": self.type,
                "device_time": self.device_time, "operator_id": self.operator_id,
                "payload": self.payload, "payload_sha256": self.payload_sha256}


def new_op_id() -> str:
    return str(uuid.uuid4())


def append(conn: sqlite3.Connection, type: str, payload: dict, *, operator_id: str | None,
           op_id: str | None = None, device_time: str | None = None) -> Op:
    """Write one op; must run inside the capture's own transaction (`Store.transaction`)."""
    if not conn.in_transaction:
        raise RuntimeError("outbox.append must run inside the capture's transaction")
    problem = fieldrules.payload_problem(type, payload)
    if problem:  # the gateway would reject it: refuse the capture here, nothing is written
        raise LedgerError(problem.code, problem.message_zh, problem.message_en)
    seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox").fetchone()[0]
    op = Op(seq=seq, op_id=op_id or new_op_id(), type=type, operator_id=operator_id,
            device_time=device_time or now_iso(), payload=payload,
            payload_sha256=sha256_hex(payload))
    conn.execute(
        "INSERT INTO outbox (seq, op_id, type, operator_id, device_time, payload, payload_sha256, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (op.seq, op.op_id, op.type, op.operator_id, op.device_time,
         json.dumps(payload, ensure_ascii=False, sort_keys=True), op.payload_sha256, op.device_time))
    return op


def _op(row) -> Op:
    return Op(seq=row["seq"], op_id=row["op_id"], type=row["type"], operator_id=row["operator_id"],
              device_time=row["device_time"], payload=json.loads(row["payload"]),
              payload_sha256=row["payload_sha256"])


def take_batch(store: Store, limit: int) -> list[Op]:
    """The next `limit` pending ops in seq order, marked `inflight` (one commit)."""
    with store.transaction() as conn:
        rows = conn.execute("SELECT * FROM outbox WHERE state='pending' ORDER BY seq LIMIT ?",
                            (limit,)).fetchall()
        if rows:
            conn.execute(f"UPDATE outbox SET state='inflight', attempts=attempts+1, updated_at=? "
                         f"WHERE seq IN ({','.join('?' * len(rows))})",
                         (now_iso(), *[r["seq"] for r in rows]))
    return [_op(r) for r in rows]


def mark_results(store: Store, results: list[dict]) -> None:
    """Record the gateway's per-op results (`op_id`, `status`, `code`, `message`) in one commit.

    A `retry` — or an op the gateway did not answer for — goes back to `pending`.
    """
    stamp = now_iso()
    groups: dict[tuple, list[str]] = {}   # same outcome → one UPDATE (thousands per batch)
    for res in results:
        status = res["status"]
        if status not in RESULT_STATES:
            raise ValueError(f"unknown result status {status!r}")
        state = "pending" if status == "retry" else status
        groups.setdefault((state, res.get("code"), res.get("message")), []).append(res["op_id"])
    with store.transaction() as conn:
        for (state, code, message), op_ids in groups.items():
            for i in range(0, len(op_ids), 500):
                chunk = op_ids[i:i + 500]
                conn.execute("UPDATE outbox SET state=?, result_code=?, result_message=?, updated_at=? "
                             f"WHERE op_id IN ({','.join('?' * len(chunk))}) "
                             "AND state IN ('inflight','pending')",
                             (state, code, message, stamp, *chunk))


def release_inflight(store: Store) -> int:
    """Return every `inflight` op to `pending` (after a failed request, or at start-up)."""
    with store.transaction() as conn:
        return conn.execute("UPDATE outbox SET state='pending' WHERE state='inflight'").rowcount



def pending_counts(store: Store) -> dict[str, int]:
    """Ops not yet acknowledged (pending or inflight), by type."""
    rows = store.conn.execute("SELECT type, COUNT(*) FROM outbox WHERE state IN ('pending','inflight') "
                              "GROUP BY type").fetchall()
    return {r[0]: r[1] for r in rows}


def attention(store: Store) -> list[dict]:
    """Ops the gateway rejected or found in conflict, with its reason, oldest first."""
    rows = store.conn.execute("SELECT seq, op_id, type, state, result_code, result_message, payload "
                              "FROM outbox WHERE state IN ('rejected','conflict') ORDER BY seq").fetchall()
    return [dict(r) for r in rows]


def get(store: Store, op_id: str) -> dict | None:
    row = store.conn.execute("SELECT * FROM outbox WHERE op_id=?", (op_id,)).fetchone()
    return dict(row) if row else None


def ops_in_range(store: Store, seq_from: int, seq_to: int) -> list[Op]:
    rows = store.conn.execute("SELECT * FROM outbox WHERE seq BETWEEN ? AND ? ORDER BY seq",
                              (seq_from, seq_to)).fetchall()
    return [_op(r) for r in rows]
