"""The photo a reader took with a reading (its op's `photo`, a SHA-256; sync/gateway/blobs.py
holds the uploaded files), shown beside the reading on the route page and the account's
reading history.

    GET /console/photos/{sha256}          the whole image
    GET /console/photos/{sha256}?thumb=1  a small JPEG of it (made once, kept beside)

Any signed-in console user may see a photo (the auditor too); anyone else is sent to the
sign-in like every console page. Only a whole blob is served, and only when its bytes
still hash to its name; only images (JPEG, PNG), with their own content type and
`nosniff`, so an uploaded file is never served as a page.
"""
from __future__ import annotations

import hashlib
import io
import re
import threading
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response
from PIL import Image
from starlette.concurrency import run_in_threadpool

from sync.gateway import blobs
from sync.gateway.console.web import Console, Denied
from sync.gateway.context import Context

SHA256 = re.compile(r"^[0-9a-f]{64}$")
THUMB_PX = 160
IMAGE_TYPES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))
_verified: dict[str, tuple[int, int]] = {}      # path → (size, mtime_ns) of the file checked
_verified_guard = threading.Lock()


def photo_of(payload: dict) -> str | None:
    """The SHA-256 a reading's op names as its photo, if it names a well-formed one."""
    sha = payload.get("photo")
    return sha if isinstance(sha, str) and SHA256.match(sha) else None


def arrived(ctx: Context, sha: str | None) -> bool | None:
    """None: the reading has no photo; else whether its blob has arrived whole."""
    if sha is None:
        return None
    return (blobs.blob_dir(ctx) / sha).is_file()


def _image_type(head: bytes) -> str | None:
    return next((kind for magic, kind in IMAGE_TYPES if head.startswith(magic)), None)


def _verified_path(ctx: Context, sha: str) -> Path | None:
    """The whole blob `sha`, if its bytes hash to its name (checked again when it changed)."""
    path = blobs.blob_dir(ctx) / sha
    try:
        st = path.stat()
    except OSError:
        return None
    stamp = (st.st_size, st.st_mtime_ns)
    with _verified_guard:
        if _verified.get(str(path)) == stamp:
            return path
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    if digest.hexdigest() != sha:
        return None
    with _verified_guard:
        _verified[str(path)] = stamp
    return path


def photo_bytes(ctx: Context, sha: str, thumb: bool) -> tuple[bytes, str] | None:
    """(bytes, content type) of the photo or its thumbnail; None when not here, not whole,
    not its hash or not an image."""
    path = _verified_path(ctx, sha)
    if path is None:
        return None
    data = path.read_bytes()
    kind = _image_type(data[:8])
    if kind is None:
        return None
    if not thumb:
        return data, kind
    small = path.parent / "thumbs" / f"{sha}.jpg"
    if not small.exists():
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.thumbnail((THUMB_PX, THUMB_PX))
                out = io.BytesIO()
                image.convert("RGB").save(out, "JPEG", quality=80)
        except (OSError, Image.DecompressionBombError):
            return None
        small.parent.mkdir(exist_ok=True)
        tmp = small.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_bytes(out.getvalue())
        tmp.replace(small)
    return small.read_bytes(), "image/jpeg"


def router(console: Console) -> APIRouter:
    rt = APIRouter()

    @rt.get("/console/photos/{sha256}")
    async def photo(request: Request, sha256: str, thumb: bool = False):
        await console.user(request)                  # any signed-in role; else the sign-in
        if not SHA256.match(sha256):
            raise Denied(404, "not_found")
        found = await run_in_threadpool(photo_bytes, console.ctx, sha256, thumb)
        if found is None:
            raise Denied(404, "photo_pending")
        data, kind = found
        return Response(data, media_type=kind, headers={
            "Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"})

    return rt
