"""Upload of the outbox in adaptive batches (contracts §4): one batch in flight, its results
committed locally in one transaction; a failed request leaves its ops `pending`, to be sent
again (the gateway answers `duplicate` for repeats)."""
from __future__ import annotations

import concurrent.futures
import dataclasses
import gzip
import json

from sync.errors import ProtocolError, TransientError
from sync.transport import _BadBatch, _TooLarge
from terminal import outbox

START_BATCH, MAX_BATCH = 200, 2000


@dataclasses.dataclass
class UploadReport:
    requests: int = 0
    sent: int = 0            # ops sent (counting resends)
    done: int = 0            # ops that reached accepted/duplicate
    attention: int = 0       # ops that reached rejected/conflict
    missing_seqs: list = dataclasses.field(default_factory=list)


class Uploader:
    """The upload half of `SyncClient` (uses its transport methods); the client sets
    `batch_size`, `max_batch` and `last_missing_seqs`."""

    def upload(self, *, max_requests: int | None = None, should_continue=None,
               pipeline: bool = True) -> UploadReport:
        """Send pending ops until the outbox has none left (or `max_requests` were made).

        One batch in flight; its results are committed locally in one transaction before
        the next batch is sent. With `pipeline`, the next batch is taken from the outbox and
        encoded while the gateway works on the current one (it stays local until then).
        Raises a `SyncError` (ops stay pending) when the gateway cannot be reached or
        refuses the device.
        """
        report = UploadReport()
        ahead = None      # (ops, body) prepared while the previous batch was in flight
        pool = concurrent.futures.ThreadPoolExecutor(1, "chaoshou-upload") if pipeline else None
        try:
            while max_requests is None or report.requests < max_requests:
                if should_continue is not None and not should_continue():
                    break
                if ahead is not None:
                    (ops, body), ahead = ahead, None
                else:
                    ops = outbox.take_batch(self.store, self.batch_size)
                    if not ops:
                        break
                    body = self._encode(ops)
                report.requests += 1
                report.sent += len(ops)
                last = max_requests is not None and report.requests >= max_requests
                try:
                    if pool is None or last:
                        _, doc = self._request("POST", "/v1/ops", gz_body=body)
                    else:
                        # the store is not touched from the helper thread
                        headers = self._auth_headers()
                        fut = pool.submit(self._send, "POST", "/v1/ops", gz_body=body,
                                          auth_headers=headers)
                        try:
                            ahead = self._prepare(min(self.max_batch, self.batch_size * 2))
                        finally:
                            _, doc = self._settle(fut, "POST", "/v1/ops", headers,
                                                  gz_body=body)
                except _TooLarge:
                    ahead = self._release_all()
                    if self.batch_size == 1:
                        raise TransientError("gateway refuses even a single op as too large",
                                             code="too_large", status=413)
                    self.batch_size = max(1, self.batch_size // 2)
                    continue
                except _BadBatch as exc:
                    ahead = self._release_all()
                    if len(ops) > 1:   # bisect towards the op the gateway cannot parse
                        self.batch_size = max(1, len(ops) // 2)
                        continue
                    # one op the gateway cannot even parse: keep it, visible, out of the way
                    self._commit_results(ops, [{"op_id": ops[0].op_id, "status": "rejected",
                                                "code": f"http_{exc.status}",
                                                "message": exc.detail[:500]}])
                    report.attention += 1
                    continue
                except TransientError as exc:
                    ahead = self._release_all()
                    if exc.code == "timeout":
                        self.batch_size = max(1, self.batch_size // 2)
                    raise
                except BaseException:
                    ahead = self._release_all()
                    raise
                if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
                    ahead = self._release_all()
                    raise ProtocolError("ops answer without results")
                done, attention = self._commit_results(ops, doc["results"])
                report.done += done
                report.attention += attention
                if doc.get("missing_seqs"):
                    self.last_missing_seqs = doc["missing_seqs"]
                    report.missing_seqs = doc["missing_seqs"]
                if done + attention < len(ops) and ahead is not None:
                    # some ops must go again: resend them first, in seq order
                    ahead = self._release_all()
                if done + attention == 0:
                    raise TransientError("gateway asked to retry later", code="server_retry")
                self.batch_size = min(self.max_batch, self.batch_size * 2)
        finally:
            if ahead is not None:
                self._release_range(ahead[0])
            if pool is not None:
                pool.shutdown(wait=True)
        return report

    def _prepare(self, size: int):
        ops = outbox.take_batch(self.store, size)
        return (ops, self._encode(ops)) if ops else None

    @staticmethod
    def _encode(ops) -> bytes:
        data = json.dumps({"ops": [op.envelope() for op in ops]}, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
        return gzip.compress(data, compresslevel=1, mtime=0)

    def _release_all(self):
        outbox.release_inflight(self.store)
        return None

    def _release_range(self, ops) -> None:
        """Return this batch's unanswered ops to pending (not a batch prepared after it)."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE outbox SET state='pending' WHERE state='inflight' "
                         "AND seq BETWEEN ? AND ?", (ops[0].seq, ops[-1].seq))

    def _commit_results(self, ops, results) -> tuple[int, int]:
        """Record the answered results and return the rest to `pending`, in one commit."""
        sent = {op.op_id for op in ops}
        usable = [r for r in results if isinstance(r, dict) and r.get("op_id") in sent
                  and r.get("status") in outbox.RESULT_STATES]
        with self.store.transaction():
            outbox.mark_results(self.store, usable)
            self._release_range(ops)
        done = sum(1 for r in usable if r["status"] in outbox.DONE)
        attention = sum(1 for r in usable if r["status"] in outbox.ATTENTION)
        return done, attention

    def ops_status(self, from_seq: int, to_seq: int) -> dict:
        return self._call("GET", "/v1/ops/status", params={"from_seq": from_seq, "to_seq": to_seq})
