"""Which seqs of a device the gateway holds, and the gaps (GET /v1/ops/status)."""
from __future__ import annotations

from sqlalchemy import select

from sync.gateway import db


def held_ranges(conn, device_id: str, lo: int, hi: int) -> list[list[int]]:
    seqs = [s for (s,) in conn.execute(
        select(db.sync_ops.c.seq).where(db.sync_ops.c.device_id == device_id,
                                        db.sync_ops.c.seq >= lo, db.sync_ops.c.seq <= hi)
        .order_by(db.sync_ops.c.seq))]
    return to_ranges(seqs)


def to_ranges(seqs) -> list[list[int]]:
    out: list[list[int]] = []
    for s in seqs:
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out


def missing_ranges(held: list[list[int]], lo: int, hi: int) -> list[list[int]]:
    out, nxt = [], lo
    for a, b in held:
        if a > nxt:
            out.append([nxt, min(a - 1, hi)])
        nxt = max(nxt, b + 1)
    if nxt <= hi:
        out.append([nxt, hi])
    return [r for r in out if r[0] <= r[1]]


def device_missing(conn, device_id: str) -> list[list[int]]:
    dev = conn.execute(select(db.devices.c.contiguous_seq, db.devices.c.max_seq)
                       .where(db.devices.c.device_id == device_id)).one()
    return missing_between(conn, device_id, dev.contiguous_seq, dev.max_seq)


def missing_between(conn, device_id: str, contiguous: int, top: int) -> list[list[int]]:
    """The seqs missing between a device's contiguous high-water mark and its highest."""
    if top <= contiguous:
        return []
    held = held_ranges(conn, device_id, contiguous + 1, top)
    return missing_ranges(held, contiguous + 1, top)
