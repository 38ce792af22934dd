"""One handler per op type: `handler(batch, op) -> (status, code, message)`; it may raise
`Invalid` (rejected) or `Retry` (not yet applicable). Its payload has passed the type's
payload model (ingest/models.py) before it runs."""
from __future__ import annotations

from sync.gateway.ingest.models import RECORD_ONLY_TYPES
from sync.gateway.ingest.payment import handle_payment
from sync.gateway.ingest.reading import handle_reading
from sync.gateway.ingest.shift import handle_shift
from sync.gateway.ingest.void import handle_void

__all__ = ["HANDLERS", "RECORD_ONLY_TYPES"]

HANDLERS = {"reading": handle_reading, "payment": handle_payment, "void": handle_void,
            "shift_open": handle_shift, "shift_close": handle_shift}
