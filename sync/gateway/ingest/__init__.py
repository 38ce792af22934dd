"""Op batch ingest (POST /v1/ops): envelope validation, idempotent apply in seq order.

Per batch, the `sync_ops` idempotency rows and every business effect (readings, payments,
voids, receipts, balances, change feed, exception queue) are collected in memory while the
ops are checked in seq order, then written together in the same transaction. Dedup key is
(device_id, op_id) + payload hash; business tables also carry UNIQUE(op_id). Batches that
arrive concurrently share one transaction (group commit); if it fails, each batch is redone
alone, and a batch that hits an integrity error is redone one op per transaction, so one
bad op cannot take the others down.

The modules: models (one typed model per message: batch, envelope, each op type's
payload; the OpenAPI body is generated from them), envelope (request checks), batch
(application in seq order), one handler per op type (reading, payment, void, shift;
receipts shared), commit (group commit), seqs (held and missing seqs).
"""
from sync.gateway.ingest.commit import ingest
from sync.gateway.ingest.envelope import parse_batch
from sync.gateway.ingest.seqs import device_missing, held_ranges, missing_ranges, to_ranges

__all__ = ["device_missing", "held_ranges", "ingest", "missing_ranges", "parse_batch",
           "to_ranges"]
