"""The `shift_open` and `shift_close` ops; a close with a cash variance goes to review."""
from __future__ import annotations

from typing import TYPE_CHECKING

from sync.gateway import db
from sync.gateway.ingest.fields import int_field, str_field

if TYPE_CHECKING:
    from sync.gateway.ingest.batch import Batch


def handle_shift(b: Batch, op):
    p = op["payload"]
    shift_id = str_field(p, "shift_id", null=False, maxlen=64)
    if op["type"] == "shift_open":
        int_field(p, "float_fen", 0)
    else:
        for key in ("counted_fen", "expected_fen", "variance_fen"):
            int_field(p, key)
        if p.get("variance_fen"):
            b.exception("review", "cash_variance",
                        f"shift {shift_id} closed with variance {p['variance_fen']} fen", op,
                        amount_fen=p.get("variance_fen"))
    b.shift_rows.append({"op_id": op["op_id"], "device_id": b.device_id, "shift_id": shift_id,
                         "type": op["type"], "payload": db.dumps(p)})
    return "accepted", None, None
