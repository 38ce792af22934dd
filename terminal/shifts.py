"""Cash shifts: open with a float, X report any time, close with counted cash → variance → Z.

Expected cash = float + cash payments taken in the shift − cash payments voided in it.
Z numbers run 1, 2, 3… per device without gaps (taken in the closing transaction).
The closeout summary (docs/contracts.md §3) covers every op the device wrote from the
shift's `shift_open` op to the op just before its `shift_close` op (readings included);
its digest is SHA-256 over those ops' `payload_sha256` values in seq order, each + "\\n".
A shift cannot close while a card payment of it (or a card reversal) is still unresolved.
"""
from __future__ import annotations

import hashlib
import json
import uuid

from terminal import outbox, receipt_docs
from terminal.ledger_errors import refusal, require_int
from terminal.store import Store, audit, now_iso

# Renminbi notes and coins in fen (1, 2 and 5 fen coins are still legal tender).
DENOMINATIONS = (10000, 5000, 2000, 1000, 500, 100, 50, 20, 10, 5, 2, 1)
MAX_FLOAT_FEN = 1_000_000


def current_shift(store: Store) -> dict | None:
    """The device's open shift (one at a time: one cash drawer), or None."""
    row = store.conn.execute("SELECT * FROM shifts WHERE closed_at IS NULL "
                             "ORDER BY opened_at DESC LIMIT 1").fetchone()
    return dict(row) if row else None


def require_open_shift(store: Store, operator_id: str) -> dict:
    shift = current_shift(store)
    if shift is None:
        raise refusal("no_open_shift", "No shift is open: open a shift with a cash float first")
    if shift["operator_id"] != operator_id:
        raise refusal("shift_of_other_operator",
                      "The open shift belongs to operator {operator_id}; close it first",
                      operator_id=shift["operator_id"])
    return shift


def open_shift(store: Store, operator_id: str, float_fen: int) -> dict:
    """Open a shift with a cash float; writes op `shift_open`. Returns the shift row."""
    require_int(float_fen, "Float")
    if float_fen < 0 or float_fen > MAX_FLOAT_FEN:
        raise refusal("bad_float",
                      "The float must be between 0 and {MAX_FLOAT_FEN} fen", MAX_FLOAT_FEN=MAX_FLOAT_FEN)
    shift_id = str(uuid.uuid4())
    with store.transaction() as conn:
        if conn.execute("SELECT 1 FROM shifts WHERE closed_at IS NULL").fetchone():
            raise refusal("shift_already_open", "A shift is already open; close it first")
        op = outbox.append(conn, "shift_open", {"shift_id": shift_id, "float_fen": float_fen},
                           operator_id=operator_id)
        conn.execute("INSERT INTO shifts (shift_id, operator_id, opened_at, float_fen) "
                     "VALUES (?, ?, ?, ?)", (shift_id, operator_id, op.device_time, float_fen))
        audit(conn, "shift_open", operator_id, shift_id=shift_id, float_fen=float_fen)
    return current_shift(store)


def _shift(store: Store, shift_id: str | None) -> dict:
    if shift_id is None:
        shift = current_shift(store)
        if shift is None:
            raise refusal("no_open_shift", "No shift is open")
        return shift
    row = store.conn.execute("SELECT * FROM shifts WHERE shift_id=?", (shift_id,)).fetchone()
    if row is None:
        raise refusal("unknown_shift", "Shift {shift_id} does not exist", shift_id=shift_id)
    return dict(row)


def figures(store: Store, shift_id: str | None = None) -> dict:
    """What the shift holds so far (the X report's numbers)."""
    shift = _shift(store, shift_id)
    conn = store.conn
    sid = shift["shift_id"]

    def one(sql):
        return tuple(conn.execute(sql, (sid,)).fetchone())

    cash_count, cash_fen = one("SELECT COUNT(*), COALESCE(SUM(amount_fen),0) FROM payments "
                               "WHERE shift_id=? AND method='cash' AND state IN ('done','voided')")
    card_count, card_fen = one("SELECT COUNT(*), COALESCE(SUM(amount_fen),0) FROM payments "
                               "WHERE shift_id=? AND method='card' AND state IN ('approved','voided')")
    void_count, void_fen = one("SELECT COUNT(*), COALESCE(SUM(p.amount_fen),0) FROM voids v "
                               "JOIN payments p ON p.op_id=v.payment_op_id WHERE p.shift_id=?")
    cash_void = one("SELECT COALESCE(SUM(p.amount_fen),0) FROM voids v JOIN payments p "
                    "ON p.op_id=v.payment_op_id WHERE p.shift_id=? AND p.method='cash'")[0]
    unknown = one("SELECT COUNT(*) FROM payments WHERE shift_id=? AND method='card' "
                  "AND state IN ('sent','unknown')")[0]
    rec_from, rec_to = conn.execute(
        "SELECT MIN(r.receipt_no), MAX(r.receipt_no) FROM receipts r "
        "WHERE r.op_id IN (SELECT op_id FROM payments WHERE shift_id=? "
        "UNION SELECT v.op_id FROM voids v JOIN payments p ON p.op_id=v.payment_op_id "
        "WHERE p.shift_id=?)", (sid, sid)).fetchone()
    return {"shift_id": sid, "operator_id": shift["operator_id"], "opened_at": shift["opened_at"],
            "at": now_iso(), "float_fen": shift["float_fen"],
            "cash_count": cash_count, "cash_fen": cash_fen, "card_count": card_count,
            "card_fen": card_fen, "void_count": void_count, "void_fen": void_fen,
            "cash_void_fen": cash_void, "unknown_count": unknown,
            "expected_fen": shift["float_fen"] + cash_fen - cash_void,
            "receipt_from": rec_from, "receipt_to": rec_to}


def x_report(store: Store, shift_id: str | None = None) -> dict:
    """The X report document (any time, changes nothing)."""
    return receipt_docs.shift_report_document(store, figures(store, shift_id), "x_report")


def counted_from(denominations: dict) -> int:
    """Counted cash from {denomination_fen: count}."""
    total = 0
    for denom, count in denominations.items():
        d = int(denom) if isinstance(denom, str) and denom.isdigit() else denom
        if d not in DENOMINATIONS:
            raise refusal("bad_denomination",
                          "Not a Renminbi denomination (fen): {denom!r}", denom=denom)
        require_int(count, "Note count")
        if count < 0:
            raise refusal("bad_count", "A count cannot be negative")
        total += d * count
    return total


def closeout_summary(conn, shift_id: str, device_id: str, seq_from: int, seq_to: int) -> dict:
    """Closeout summary (contracts §3) over the ops seq_from..seq_to."""
    rows = conn.execute("SELECT type, payload_sha256 FROM outbox WHERE seq BETWEEN ? AND ? "
                        "ORDER BY seq", (seq_from, seq_to)).fetchall()
    counts: dict[str, int] = {}
    h = hashlib.sha256()
    for r in rows:
        counts[r["type"]] = counts.get(r["type"], 0) + 1
        h.update(r["payload_sha256"].encode("ascii") + b"\n")
    sums = {}
    for method in ("cash", "card"):
        sums[method] = conn.execute("SELECT COALESCE(SUM(amount_fen),0) FROM payments WHERE "
                                    "shift_id=? AND method=? AND state IN ('done','approved','voided')",
                                    (shift_id, method)).fetchone()[0]
    sums["void"] = conn.execute("SELECT COALESCE(SUM(p.amount_fen),0) FROM voids v JOIN payments p "
                                "ON p.op_id=v.payment_op_id WHERE p.shift_id=?",
                                (shift_id,)).fetchone()[0]
    return {"shift_id": shift_id, "device_id": device_id, "seq_from": seq_from, "seq_to": seq_to,
            "counts": counts, "sums_fen": sums, "digest": h.hexdigest()}


def close_shift(store: Store, operator_id: str, counted_fen: int | None = None,
                denominations: dict | None = None) -> dict:
    """Close the open shift with the counted cash (or its denominations); writes op
    `shift_close`, numbers the Z report and queues it. Returns the Z report document
    (its figures under `"report"`)."""
    from terminal import receipts
    if denominations is not None:
        from_denoms = counted_from(denominations)
        if counted_fen is not None and counted_fen != from_denoms:
            raise refusal("count_mismatch",
                          "The denominations do not add up to the counted amount")
        counted_fen = from_denoms
    if counted_fen is None:
        raise refusal("no_count", "Enter the counted cash")
    require_int(counted_fen, "Counted cash")
    if counted_fen < 0:
        raise refusal("bad_count", "Counted cash cannot be negative")
    shift = require_open_shift(store, operator_id)
    dev = receipts.device_id(store)
    with store.transaction() as conn:
        fig = figures(store, shift["shift_id"])
        if fig["unknown_count"] or store.get_meta("card_reversal_pending"):
            raise refusal("unknown_card_payments",
                          "Card payments with an unknown result must be resolved before "
                          "closing the shift")
        seq_from = conn.execute("SELECT seq FROM outbox WHERE type='shift_open' AND "
                                "json_extract(payload,'$.shift_id')=?",
                                (shift["shift_id"],)).fetchone()[0]
        seq_to = conn.execute("SELECT MAX(seq) FROM outbox").fetchone()[0]
        summary = closeout_summary(conn, shift["shift_id"], dev, seq_from, seq_to)
        z_no = conn.execute("SELECT COALESCE(MAX(z_no), 0) + 1 FROM shifts").fetchone()[0]
        variance = counted_fen - fig["expected_fen"]
        outbox.append(conn, "shift_close", {
            "shift_id": shift["shift_id"], "counted_fen": counted_fen,
            "expected_fen": fig["expected_fen"], "variance_fen": variance, "z_no": z_no,
            "summary": summary}, operator_id=operator_id)
        conn.execute("UPDATE shifts SET closed_at=?, counted_fen=?, expected_fen=?, variance_fen=?, "
                     "z_no=?, summary=? WHERE shift_id=?",
                     (now_iso(), counted_fen, fig["expected_fen"], variance, z_no,
                      json.dumps(summary, sort_keys=True), shift["shift_id"]))
        audit(conn, "shift_close", operator_id, shift_id=shift["shift_id"], z_no=z_no,
              counted_fen=counted_fen, expected_fen=fig["expected_fen"], variance_fen=variance)
        report = dict(fig, z_no=z_no, counted_fen=counted_fen, variance_fen=variance,
                      denominations={str(k): v for k, v in (denominations or {}).items()},
                      digest=summary["digest"], summary=summary)
        doc = receipt_docs.shift_report_document(store, report, "z_report")
        receipt_docs.queue_print(store, doc)
    return dict(doc, report=report)


def z_report(store: Store, z_no: int, copy: bool = True) -> dict:
    """A closed shift's Z report again (a COPY by default)."""
    row = store.conn.execute("SELECT * FROM shifts WHERE z_no=?", (z_no,)).fetchone()
    if row is None:
        raise refusal("unknown_z", "Z report {z_no} does not exist", z_no=z_no)
    fig = figures(store, row["shift_id"])
    summary = json.loads(row["summary"])
    report = dict(fig, z_no=z_no, counted_fen=row["counted_fen"], variance_fen=row["variance_fen"],
                  expected_fen=row["expected_fen"], digest=summary["digest"], summary=summary)
    doc = receipt_docs.shift_report_document(store, report, "z_report")
    return receipt_docs.as_copy(doc) if copy else doc
