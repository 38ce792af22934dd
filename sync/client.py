"""The terminal's sync client: one keep-alive HTTP session to the gateway (contracts §4).

It enrols the device, refreshes reference data and receipt-number blocks, uploads the
outbox (sync/upload.py), downloads routes and pulls the change feed (sync/download.py),
and sends the shift closeout; transport, authentication and error classification live in
sync/transport.py and sync/errors.py. It never drops or edits captured data on any error.

Errors are classified for the worker: `TransientError` (network, timeout, 5xx, 429/503 —
try again later, honouring `retry_after`), `AuthError` (401 that re-authentication could
not cure — the device must be enrolled again), `Forbidden` (403 — stop, keep everything),
`UpdateRequired` (426). Every error carries an English message (`en`, a catalog msgid the UI translates).
"""
from __future__ import annotations

import time

from sync.download import Downloader
from sync.errors import (AuthError, CertificateError, EnrolmentRefused, Forbidden,
                         NotEnrolled, ProtocolError, RouteVerifyFailed, SyncError,
                         TransientError, UpdateRequired)
from sync.transport import (APP_VERSION, PAGE_LIMIT, Backoff, Transport,
                            _BadBatch, parse_retry_after)
from sync.upload import MAX_BATCH, START_BATCH, Uploader, UploadReport
from terminal.store import Store, now_iso

RECEIPT_LOW_WATER, RECEIPT_BLOCK_SIZE = 200, 1000

__all__ = ["APP_VERSION", "AuthError", "Backoff", "CertificateError", "EnrolmentRefused",
           "Forbidden", "NotEnrolled", "ProtocolError", "RouteVerifyFailed", "SyncClient",
           "SyncError", "TransientError", "UpdateRequired", "UploadReport", "parse_retry_after"]


class SyncClient(Transport, Uploader, Downloader):
    """HTTP client of one device; `store` is a `terminal.store.Store` used from this thread."""

    def __init__(self, store: Store, base_url: str | None = None, *, ca_bundle: str | None = None,
                 timeout=(3.05, 15), page_limit: int = PAGE_LIMIT,
                 start_batch: int = START_BATCH, max_batch: int = MAX_BATCH):
        super().__init__(store, base_url, ca_bundle=ca_bundle, timeout=timeout,
                         page_limit=page_limit)
        self.max_batch = max_batch
        self.batch_size = min(start_batch, max_batch)
        self.last_missing_seqs: list = []

    # --- enrolment and reference data ---------------------------------------------------

    def enrol(self, base_url: str, code: str, device_name: str) -> str:
        """Enrol with a one-time code; stores device id, token, key and gateway URL."""
        base_url = base_url.rstrip("/")
        try:
            _, doc = self._request("POST", "/v1/devices/enrol", auth=False, base_url=base_url,
                                   body={"code": code, "device_name": device_name})
        except _BadBatch as exc:
            raise EnrolmentRefused(exc.detail, status=exc.status) from exc
        except (AuthError, Forbidden, ProtocolError) as exc:
            raise EnrolmentRefused(exc.detail, status=exc.status) from exc
        try:
            device_id, token, key = doc["device_id"], doc["token"], doc["device_key"]
        except (KeyError, TypeError) as exc:
            raise ProtocolError("enrolment answer lacks device_id/token/device_key") from exc
        with self.store.transaction() as conn:
            for k, v in (("device_id", device_id), ("device_token", token),
                         ("device_key", key), ("gateway_url", base_url)):
                conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                             "DO UPDATE SET value=excluded.value", (k, v))
        self.base_url = base_url
        self.last_ok, self.last_ok_iso = time.time(), now_iso()
        return device_id

    def refresh_reference(self) -> dict:
        """GET /v1/reference → reference.import_reference; top up receipt numbers if low."""
        from terminal import reference
        ref = self._call("GET", "/v1/reference")
        reference.import_reference(self.store, ref)
        self.ensure_receipt_numbers()
        return ref

    def ensure_receipt_numbers(self, low_water: int = RECEIPT_LOW_WATER,
                               size: int = RECEIPT_BLOCK_SIZE) -> int:
        """Fetch a receipt-number block when fewer than `low_water` numbers are left."""
        from terminal import receipts
        left = receipts.numbers_left(self.store)
        if left >= low_water:
            return left
        block = self._call("POST", "/v1/receipt-blocks", body={"size": size})
        receipts.add_block(self.store, int(block["start"]), int(block["end"]))
        return receipts.numbers_left(self.store)

    def assignments(self) -> list[dict]:
        return self._call("GET", "/v1/assignments") or []

    # --- closeout -----------------------------------------------------------------------

    def closeout(self, summary: dict) -> dict:
        """POST the shift's closeout summary (contracts §3); returns the gateway's verdict."""
        return self._call("POST", "/v1/shifts/closeout", body=summary)
