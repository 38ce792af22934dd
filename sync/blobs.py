"""Photo upload: after a capture's op has reached the gateway, its photo follows as a blob
(sync/gateway/blobs.py), in chunks that resume where the gateway says it stands.

Run by the sync worker after the ops upload of a cycle and never in its way: a failure
here (offline, the gateway busy, a hash refused) is logged and left for the next cycle;
the ops queue never waits for a photo. Idempotent: a blob the gateway holds answers
complete at once, so a photo sent twice (the app died before marking it) costs one call.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import requests

from terminal import photos

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024


@dataclass
class BlobReport:
    uploaded: int = 0
    failed: int = 0
    bytes_sent: int = 0


def upload_photos(client, *, chunk_bytes: int = CHUNK_BYTES, should_continue=lambda: True) -> BlobReport:
    """Send every photo whose op the gateway has taken; returns what was done."""
    report = BlobReport()
    for row in photos.pending_uploads(client.store):
        if not should_continue():
            break
        try:
            report.bytes_sent += _upload_one(client, row["sha256"], chunk_bytes)
        except (OSError, requests.RequestException, ValueError, _Refused) as exc:
            report.failed += 1
            log.warning("photo %s not uploaded yet: %s", row["sha256"][:12], exc)
            continue
        photos.mark_uploaded(client.store, row["sha256"])
        report.uploaded += 1
    return report


class _Refused(Exception):
    pass


def _upload_one(client, sha: str, chunk_bytes: int) -> int:
    data = photos.photo_path(client.store, sha).read_bytes()
    url = client.base_url.rstrip("/") + f"/v1/blobs/{sha}"
    headers = client._auth_headers()
    resp = client.session.get(url, headers=headers, timeout=client.timeout)
    _check(resp)
    offset, sent = resp.json()["offset"], 0
    if resp.json()["complete"]:
        return 0
    while offset < len(data):
        chunk = data[offset:offset + chunk_bytes]
        end = offset + len(chunk) - 1
        resp = client.session.put(url, data=chunk, timeout=client.timeout, headers={
            **headers, "Content-Type": "application/octet-stream",
            "Content-Range": f"bytes {offset}-{end}/{len(data)}"})
        if resp.status_code == 409:                      # resume where the gateway stands
            offset = client.session.get(url, headers=headers, timeout=client.timeout).json()["offset"]
            continue
        _check(resp)
        sent += len(chunk)
        state = resp.json()
        if state["complete"]:
            return sent
        offset = state["offset"]
    raise _Refused("the gateway did not take the whole photo")


def _check(resp) -> None:
    if resp.status_code >= 400:
        raise _Refused(f"HTTP {resp.status_code} {resp.text[:120]}")
