"""The `void` op: reverses a payment's effect; a void whose payment may still be in a
seq gap is retried for a while (`void_retry_timeout_s`), then kept as a conflict."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from sync.gateway import db
from sync.gateway.context import now_s
from sync.gateway.ingest.fields import Retry
from sync.gateway.ingest.receipts import store_receipt
from sync.gateway.ledger import reverse_payment

if TYPE_CHECKING:
    from sync.gateway.ingest.batch import Batch


def handle_void(b: Batch, op):
    p = op["payload"]   # checked by VoidPayload
    target, amount = p["payment_op_id"], p["amount_fen"]
    pay = b.batch_payments.get(target) or b.db_payments.get(target)
    if pay is None:
        if b.has_gap_below(op["seq"]) and \
                now_s() - _first_retry(b, op) < b.ctx.settings.void_retry_timeout_s:
            raise Retry("the voided payment has not arrived yet")
        b.conn.execute(delete(db.void_retries).where(db.void_retries.c.device_id == b.device_id,
                                                     db.void_retries.c.op_id == op["op_id"]))
        b.exception("conflict", "void_unknown_payment", f"void of unknown payment {target}",
                    op, amount_fen=amount)
        store_receipt(b, op, "void", amount)
        b.voids.append(_void_row(b, op, target, amount))
        return "conflict", "void_unknown_payment", "voided payment not found"
    if pay["voided_by"]:
        b.exception("conflict", "already_voided", f"payment {target} was already voided", op,
                    pay["account_no"], amount)
        result = ("conflict", "already_voided", "payment already voided")
    elif pay["amount_fen"] != amount:
        b.exception("conflict", "void_amount_mismatch", "void amount differs from payment", op,
                    pay["account_no"], amount)
        result = ("conflict", "void_amount_mismatch", "void amount differs from the payment")
    else:
        for no, applied in json.loads(pay["applied"]).items():
            acc = b.accounts.get(no)
            if acc is not None:
                reverse_payment(acc["doc"], applied, op["op_id"])
                b.accounts.emit_balance(no)
        if target in b.batch_payments:
            b.batch_payments[target]["voided_by"] = op["op_id"]
        else:
            pay["voided_by"] = op["op_id"]
            b.void_marks.append({"old": target, "new": op["op_id"]})
        result = ("accepted", None, None)
    store_receipt(b, op, "void", amount)
    b.voids.append(_void_row(b, op, target, amount))
    return result


def _first_retry(b: Batch, op) -> int:
    """When this void was first held back (table void_retries: any process may see it
    next; the device's row lock in ingest/commit.py keeps its batches one at a time)."""
    key = (db.void_retries.c.device_id == b.device_id, db.void_retries.c.op_id == op["op_id"])
    first = b.conn.execute(select(db.void_retries.c.first_at).where(*key)).scalar()
    if first is None:
        first = now_s()
        b.conn.execute(db.void_retries.insert().values(device_id=b.device_id,
                                                       op_id=op["op_id"], first_at=first))
    return first


def _void_row(b, op, target, amount):
    p = op["payload"]
    return {"op_id": op["op_id"], "device_id": b.device_id, "payment_op_id": target,
            "amount_fen": amount, "reason": str(p.get("reason"))[:500],
            "approved_by": str(p.get("approved_by"))[:32],
            "payload": db.dumps(p), "received_at": b.now}
