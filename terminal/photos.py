"""Meter photos as evidence: stored once, named by their SHA-256, uploaded after their op.

`store_photo(store, source)` takes an image file (a camera's JPEG), makes it a JPEG of at
most `max_bytes` (default 200 kB: scaled down and re-encoded until it fits), writes it as
`<data dir>/photos/<sha256>.jpg` and records it in `photos` with no op yet. A reading that
uses it names the hash in its op (payload `photo`) and claims the row in the same
transaction (terminal/readings.py). The upload (sync/blobs.py) sends only photos whose op
the gateway has accepted, and marks them uploaded; `prune()` is the disk budget: photos
uploaded more than `keep_days` ago are removed, a photo not yet uploaded never is.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
from pathlib import Path

from PIL import Image, ImageOps

from terminal.store import Store, now_iso

DEFAULT_MAX_BYTES = 200_000
DEFAULT_KEEP_DAYS = 30
_MAX_SIDE = 1600


class PhotoError(ValueError):
    """A photo refused; its English `msgid` is translated by the UI (chaoshou_core catalog)."""

    def __init__(self, code: str, zh: str | None, en: str, **params):
        self.code, self.message_zh = code, zh
        self.msgid, self.params = (None if zh else en), params
        self.message_en = en.format(**params) if params else en
        super().__init__(self.message_en)


def photo_dir(store: Store) -> Path:
    return Path(store.path).parent / "photos"


def photo_path(store: Store, sha256: str) -> Path:
    return photo_dir(store) / f"{sha256}.jpg"


def _jpeg_within(image: Image.Image, max_bytes: int) -> bytes:
    """`image` as a JPEG of at most `max_bytes`: quality first, then smaller sides."""
    image = ImageOps.exif_transpose(image).convert("RGB")
    image.thumbnail((_MAX_SIDE, _MAX_SIDE))
    while True:
        for quality in (85, 75, 65, 55, 45):
            out = io.BytesIO()
            image.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() <= max_bytes:
                return out.getvalue()
        if min(image.size) < 64:
            raise PhotoError("photo_too_large", None, "The photo cannot be made small enough")
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)


def store_photo(store: Store, source, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Keep the image at `source` (a path or bytes) as a photo; returns its SHA-256."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            data = _jpeg_within(image, max_bytes)
    except (OSError, Image.DecompressionBombError) as exc:
        raise PhotoError("photo_unreadable", None, "The photo cannot be read ({exc})", exc=exc) from exc
    sha = hashlib.sha256(data).hexdigest()
    path = photo_path(store, sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    with store.transaction() as conn:
        conn.execute("INSERT INTO photos (sha256, bytes, taken_at) VALUES (?, ?, ?) "
                     "ON CONFLICT (sha256) DO NOTHING", (sha, len(data), now_iso()))
    return sha


def claim(conn, sha256: str, op_id: str) -> None:
    """In the capture's transaction: the photo belongs to `op_id` (it must be stored)."""
    row = conn.execute("SELECT op_id FROM photos WHERE sha256=?", (sha256,)).fetchone()
    if row is None:
        raise PhotoError("photo_missing", None, "The photo is missing: take it again")
    conn.execute("UPDATE photos SET op_id=? WHERE sha256=?", (op_id, sha256))


def pending_uploads(store: Store) -> list[dict]:
    """Photos whose op the gateway has taken and that are not uploaded yet, oldest first."""
    return [dict(r) for r in store.conn.execute(
        "SELECT p.sha256, p.bytes, p.op_id FROM photos p JOIN outbox o ON o.op_id = p.op_id "
        "WHERE p.uploaded_at IS NULL AND o.state IN ('accepted', 'duplicate', 'conflict') "
        "ORDER BY o.seq")]


def _utc_iso(moment: dt.datetime | None) -> str:
    """`moment` (now when None) as the UTC ISO text `uploaded_at` holds; text order = time."""
    moment = moment or dt.datetime.now(dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def mark_uploaded(store: Store, sha256: str, now: dt.datetime | None = None) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE photos SET uploaded_at=? WHERE sha256=?", (_utc_iso(now), sha256))


def prune(store: Store, keep_days: int = DEFAULT_KEEP_DAYS, now: dt.datetime | None = None) -> int:
    """Remove photos uploaded more than `keep_days` ago; returns how many files went. The
    row stays (the reading's op still names the photo; the gateway holds it), and its
    `uploaded_at` keeps the upload pass from ever sending it again."""
    now = now or dt.datetime.now(dt.timezone.utc)
    cutoff = _utc_iso(now - dt.timedelta(days=keep_days))
    gone = 0
    for (sha,) in store.conn.execute("SELECT sha256 FROM photos WHERE uploaded_at IS NOT NULL "
                                     "AND uploaded_at < ?", (cutoff,)).fetchall():
        path = photo_path(store, sha)
        if path.exists():
            path.unlink()
            gone += 1
    return gone


def folder_bytes(store: Store) -> int:
    folder = photo_dir(store)
    return sum(p.stat().st_size for p in folder.glob("*.jpg")) if folder.exists() else 0
