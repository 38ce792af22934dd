"""Group commit of op batches: concurrent requests share one transaction; a failed group
is redone batch by batch, and a batch with an integrity error op by op."""
from __future__ import annotations

import os

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from sync.gateway import db
from sync.gateway.context import Context
from sync.gateway.ingest.batch import Batch
from sync.gateway.ingest.fields import result
from sync.gateway.ingest.seqs import missing_between


class _Pending:
    __slots__ = ("device", "ops", "result", "error")

    def __init__(self, device, ops):
        self.device, self.ops, self.result, self.error = device, ops, None, None


def ingest(ctx: Context, device: dict, ops: list[dict]) -> dict:
    """Apply one batch; returns {"results", "missing_seqs"}.

    Group commit: batches that arrive while another is being written queue up; whichever
    request gets the writer lock next applies every queued batch (each in seq order, one
    after the other) in a single transaction, so concurrent devices share one fsync.
    """
    item = _Pending(device, ops)
    if not ctx.settings.group_commit:
        with ctx.write_lock:
            _apply_alone(ctx, item)
        if item.error is not None:
            raise item.error
        return item.result
    with ctx.group_lock:
        ctx.group_queue.append(item)
    with ctx.write_lock:
        if item.result is None and item.error is None:
            with ctx.group_lock:
                group, ctx.group_queue = ctx.group_queue[:64], ctx.group_queue[64:]
            _apply_group(ctx, group)
    if item.error is not None:
        raise item.error
    return item.result


def _apply_group(ctx: Context, group: list[_Pending]) -> None:
    try:
        with ctx.transaction() as conn:
            outcomes = [_apply_one(ctx, conn, p.device, p.ops) for p in group]
    except Exception:  # one bad batch must not fail the others: redo them one by one
        for p in group:
            _apply_alone(ctx, p)
        return
    _committed(ctx, len(group))
    for p, (results, missing) in zip(group, outcomes):
        p.result = {"results": results, "missing_seqs": missing}


def _apply_alone(ctx: Context, p: _Pending) -> None:
    try:
        try:
            results, missing = _transaction(ctx, p.device, p.ops)
            _committed(ctx, 1)
        except IntegrityError:  # e.g. an op_id another device already used
            results, missing = [], []
            for op in sorted(p.ops, key=lambda o: o["seq"]):
                try:
                    one, missing = _transaction(ctx, p.device, [op])
                    _committed(ctx, 1)
                    results.extend(one)
                except IntegrityError:
                    results.append(result(op, "rejected", "op_id_reused",
                                        "op_id already used by another device"))
        p.result = {"results": results, "missing_seqs": missing}
    except Exception as exc:  # noqa: BLE001 — handed to the waiting request
        p.error = exc


def _transaction(ctx: Context, device: dict, ops: list[dict], attempts: int = 5):
    """Apply in one transaction; a deadlock with another gateway process is redone."""
    for attempt in range(attempts):
        try:
            with ctx.transaction() as conn:
                return _apply_one(ctx, conn, device, ops)
        except OperationalError as exc:
            if not db.is_transient(exc) or attempt == attempts - 1:
                raise


def _committed(ctx: Context, n: int) -> None:
    before = ctx.committed_batches
    ctx.committed_batches += n
    fault = ctx.settings.fault_after_commit
    if fault is not None and before < fault <= ctx.committed_batches:
        os._exit(75)  # fault hook: committed but never answered


def _apply_one(ctx: Context, conn, device: dict, ops: list[dict]):
    # the device's row lock: its batches apply one at a time on every gateway process
    dev = dict(conn.execute(select(db.devices).where(
        db.devices.c.device_id == device["device_id"]).with_for_update()).mappings().one())
    batch = Batch(ctx, conn, dev, ops)
    results = batch.run()
    batch.flush()
    contiguous, top = _advance(conn, dev, batch)
    return results, missing_between(conn, device["device_id"], contiguous, top)


def _advance(conn, dev: dict, batch: Batch) -> tuple[int, int]:
    """Move the device's contiguous high-water mark over newly held seqs; returns the new
    (contiguous_seq, max_seq)."""
    contiguous = dev["contiguous_seq"]
    new = [r["seq"] for r in batch.sync_rows]
    top = max([dev["max_seq"]] + new)
    if new:
        held = set(new)
        if dev["max_seq"] > contiguous:   # seqs held above a gap before this batch
            held |= {s for (s,) in conn.execute(
                select(db.sync_ops.c.seq).where(db.sync_ops.c.device_id == dev["device_id"],
                                                db.sync_ops.c.seq > contiguous))}
        while contiguous + 1 in held:
            contiguous += 1
    conn.execute(db.devices.update().where(db.devices.c.device_id == dev["device_id"])
                 .values(contiguous_seq=contiguous, max_seq=top, last_seen=batch.now))
    return contiguous, top
