"""The `shift_open` and `shift_close` ops; a close with a cash variance goes to review."""
from __future__ import annotations

from typing import TYPE_CHECKING

from sync.gateway import db

if TYPE_CHECKING:
    from sync.gateway.ingest.batch import Batch


def handle_shift(b: Batch, op):
    p = op["payload"]   # checked by ShiftOpenPayload / ShiftClosePayload
    shift_id = p["shift_id"]
    if op["type"] == "shift_close" and p.get("variance_fen"):
        b.exception("review", "cash_variance",
                    f"shift {shift_id} closed with variance {p['variance_fen']} fen", op,
                    amount_fen=p.get("variance_fen"))
    b.shift_rows.append({"op_id": op["op_id"], "device_id": b.device_id, "shift_id": shift_id,
                         "type": op["type"], "payload": db.dumps(p)})
    return "accepted", None, None
