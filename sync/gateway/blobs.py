"""Photo blobs from the handhelds: resumable, idempotent by hash, verified by hash.

    GET /v1/blobs/{sha256}   (device)  → {"sha256", "offset", "complete"}: where to resume
    PUT /v1/blobs/{sha256}   (device)  body = bytes `start`..`end` of the file, header
        `Content-Range: bytes start-end/total`. The chunk must start at the current offset
        (else 409 with the offset to resume from); when the file is whole its SHA-256 must
        be the name (else 422 `hash_mismatch`, the partial file dropped). A blob already
        held answers complete at once: sending it again changes nothing.
    GET /v1/supervisor/blobs/{sha256}  (supervisor) → the JPEG, for the office to see the
        photo a reading's op names (payload `photo`).

Files live in `Settings.blob_dir` or `$CHAOSHOU_GATEWAY_BLOB_DIR` (default:
`<database file>.blobs` beside a SQLite database, else `gateway-blobs` in the working folder): `<sha256>` when verified,
`<sha256>.part` while arriving. Nothing about them is in the database, so the schema (and
its Alembic revisions) is unchanged; a reading's op names its photo.
"""

import hashlib
import os
import re
import threading
from pathlib import Path

from fastapi import Path as PathParam, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from sync.gateway.context import ApiError, Context

MAX_BLOB_BYTES = 5 * 1024 * 1024
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


BLOB_DIR_ENV = "CHAOSHOU_GATEWAY_BLOB_DIR"


def blob_dir(ctx: Context) -> Path:
    configured = ctx.settings.blob_dir or os.environ.get(BLOB_DIR_ENV, "")
    if configured:
        folder = Path(configured)
    elif ctx.is_sqlite and ctx.engine.url.database not in (None, "", ":memory:"):
        folder = Path(ctx.engine.url.database + ".blobs")
    else:
        folder = Path("gateway-blobs")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _lock(sha: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(sha, threading.Lock())


def status(folder: Path, sha: str) -> dict:
    whole = folder / sha
    if whole.exists():
        return {"sha256": sha, "offset": whole.stat().st_size, "complete": True}
    part = folder / f"{sha}.part"
    return {"sha256": sha, "offset": part.stat().st_size if part.exists() else 0,
            "complete": False}


def put_chunk(folder: Path, sha: str, content_range: str | None, data: bytes) -> dict:
    m = _RANGE.match(content_range or "")
    if not m:
        raise ApiError(400, "bad_range", "Content-Range: bytes start-end/total is required")
    start, end, total = (int(g) for g in m.groups())
    if end - start + 1 != len(data) or end >= total or total > MAX_BLOB_BYTES:
        raise ApiError(400, "bad_range", f"the body does not match {content_range} "
                                         f"(at most {MAX_BLOB_BYTES} bytes a blob)")
    with _lock(sha):
        now = status(folder, sha)
        if now["complete"]:
            return now
        if start != now["offset"]:
            raise ApiError(409, "wrong_offset", f"resume at byte {now['offset']}")
        part = folder / f"{sha}.part"
        with open(part, "ab") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        size = part.stat().st_size
        if size < total:
            return {"sha256": sha, "offset": size, "complete": False}
        digest = hashlib.sha256()
        with open(part, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 16), b""):
                digest.update(block)
        if digest.hexdigest() != sha:
            part.unlink()
            raise ApiError(422, "hash_mismatch", "the blob's SHA-256 is not its name; send it again")
        part.replace(folder / sha)
        return status(folder, sha)


Sha = PathParam(pattern=r"^[0-9a-f]{64}$")


def mount(app, ctx: Context, device, supervisor) -> None:
    """Add the blob endpoints to `app` (`device`/`supervisor`: the app's dependency types
    for an authenticated device and a signed-in supervisor). Added on the app itself, not
    as an included router, so the metrics middleware names their routes."""

    @app.get("/v1/blobs/{sha256}", tags=["device"])
    def blob_status(dev: device, sha256: str = Sha):
        return status(blob_dir(ctx), sha256)

    @app.put("/v1/blobs/{sha256}", tags=["device"])
    async def blob_put(request: Request, dev: device, sha256: str = Sha):
        data = await request.body()
        return await run_in_threadpool(put_chunk, blob_dir(ctx), sha256,
                                       request.headers.get("content-range"), data)

    @app.get("/v1/supervisor/blobs/{sha256}", tags=["supervisor"], response_class=FileResponse)
    def blob_get(op: supervisor, sha256: str = Sha):
        path = blob_dir(ctx) / sha256
        if not path.exists():
            raise ApiError(404, "not_found", "no such photo (not uploaded yet?)")
        return FileResponse(path, media_type="image/jpeg")
