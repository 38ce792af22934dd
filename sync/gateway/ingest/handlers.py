"""One handler per op type: `handler(batch, op) -> (status, code, message)`; it may raise
`Invalid` (rejected) or `Retry` (not yet applicable)."""
from __future__ import annotations

from sync.gateway.ingest.payment import handle_payment
from sync.gateway.ingest.reading import handle_reading
from sync.gateway.ingest.shift import handle_shift
from sync.gateway.ingest.void import handle_void

RECORD_ONLY_TYPES = {"card_unknown_resolved", "refund"}
HANDLERS = {"reading": handle_reading, "payment": handle_payment, "void": handle_void,
            "shift_open": handle_shift, "shift_close": handle_shift}
