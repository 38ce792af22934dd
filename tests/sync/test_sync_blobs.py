"""Photo blobs against a real gateway: sent after their op, in chunks; resumed from where
the gateway stands after a cut; sent again without effect; refused when the bytes are not
the hash; and never in the way of the ops queue. The photo folder's disk budget."""
import datetime as dt
import hashlib
import io
import json

import requests
from PIL import Image

from sync import blobs
from sync_kit import age_photo_file, age_photo_upload, assign, device, local_accounts
from terminal import outbox, photos, readings


def _photo(store, seed: int) -> str:
    img = Image.effect_noise((900, 700), 40 + seed).convert("RGB")   # noise: big JPEGs
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95)
    return photos.store_photo(store, out.getvalue())


def _skip_with_photo(store, account_no: str, sha: str):
    entry = readings.ReadingEntry(store, account_no, "1002")
    out = entry.skip("S04", note="表盘破裂", photo=sha)
    assert out.saved
    return out.saved_op_id


def test_photos_follow_their_ops_resumably_and_idempotently(gw, tmp_path):
    store, client = device(tmp_path, gw.url, "photos")
    client.refresh_reference()
    assign(gw.url, "R002", store.get_meta("device_id"), "1002")
    client.download_route("R002")
    first, second = (a["account_no"] for a in local_accounts(store, "R002", 2))
    sha1, sha2 = _photo(store, 1), _photo(store, 2)
    assert photos.pending_uploads(store) == []            # no op yet: nothing to send
    _skip_with_photo(store, first, sha1)
    assert photos.pending_uploads(store) == []            # the op has not reached the gateway
    client.upload()
    assert [p["sha256"] for p in photos.pending_uploads(store)] == [sha1]

    # a cut after the first chunk: the gateway keeps it, the next run resumes there
    data = photos.photo_path(store, sha1).read_bytes()
    url = f"{gw.url}/v1/blobs/{sha1}"
    headers = client._auth_headers()
    r = requests.put(url, data=data[:1000], headers={**headers,
                     "Content-Range": f"bytes 0-999/{len(data)}"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"sha256": sha1, "offset": 1000, "complete": False}
    report = blobs.upload_photos(client, chunk_bytes=16 * 1024)
    assert (report.uploaded, report.failed, report.bytes_sent) == (1, 0, len(data) - 1000)
    status = requests.get(url, headers=headers, timeout=10).json()
    assert status == {"sha256": sha1, "offset": len(data), "complete": True}
    held = gw.db.with_name(gw.db.name + ".blobs") / sha1
    assert hashlib.sha256(held.read_bytes()).hexdigest() == sha1

    # sent again: nothing changes
    r = requests.put(url, data=data[:10], headers={**headers,
                     "Content-Range": f"bytes 0-9/{len(data)}"}, timeout=10)
    assert r.json()["complete"] and held.read_bytes() == data

    # bytes that are not the hash are refused, and nothing is kept
    other = photos.photo_path(store, sha2).read_bytes()
    bad = requests.put(url.replace(sha1, sha2), data=data, headers={
        **headers, "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}, timeout=10)
    assert bad.status_code == 422 and bad.json()["error"] == "hash_mismatch"
    assert requests.get(url.replace(sha1, sha2), headers=headers, timeout=10).json()["offset"] == 0

    # the gateway away: the ops go on, the photo waits for the next run
    _skip_with_photo(store, second, sha2)
    client.upload()
    assert sum(outbox.pending_counts(store).values()) == 0
    client.base_url, real = "http://127.0.0.1:9", client.base_url
    report = blobs.upload_photos(client)
    assert (report.uploaded, report.failed) == (0, 1)
    client.base_url = real
    assert blobs.upload_photos(client).uploaded == 1
    assert photos.pending_uploads(store) == [] and len(other) > 0


def test_the_disk_budget_removes_only_photos_uploaded_longer_ago_than_the_limit(gw, tmp_path):
    """Photos uploaded more than 30 days ago leave the device; one uploaded 29 days ago
    stays; one not uploaded stays however old it is. The reading that names a removed photo
    still reads, the gateway still holds the photo, and it is never sent again."""
    store, client = device(tmp_path, gw.url, "budget")
    client.refresh_reference()
    assign(gw.url, "R002", store.get_meta("device_id"), "1002")
    client.download_route("R002")
    first, second, third = (a["account_no"] for a in local_accounts(store, "R002", 3))
    old, recent, waiting = _photo(store, 11), _photo(store, 12), _photo(store, 13)
    old_op = _skip_with_photo(store, first, old)
    _skip_with_photo(store, second, recent)
    client.upload()
    assert blobs.upload_photos(client).uploaded == 2
    waiting_op = _skip_with_photo(store, third, waiting)     # its op not even sent yet

    now = dt.datetime.now(dt.timezone.utc)
    age_photo_upload(store, old, now - dt.timedelta(days=31))
    age_photo_upload(store, recent, now - dt.timedelta(days=29))
    age_photo_file(store, waiting, now - dt.timedelta(days=400))
    before = photos.folder_bytes(store)
    size_old = photos.photo_path(store, old).stat().st_size

    assert photos.prune(store, keep_days=30, now=now) == 1
    assert not photos.photo_path(store, old).exists()
    assert photos.photo_path(store, recent).exists() and photos.photo_path(store, waiting).exists()
    assert photos.folder_bytes(store) == before - size_old
    assert photos.prune(store, keep_days=30, now=now) == 0          # nothing more to remove

    # the reading still reads and still names its photo; the gateway has the photo
    assert readings.reading_of(store, old_op)["status"] == "skipped"
    assert json.loads(outbox.get(store, old_op)["payload"])["photo"] == old
    held = gw.db.with_name(gw.db.name + ".blobs") / old
    assert hashlib.sha256(held.read_bytes()).hexdigest() == old
    # and the upload pass never reaches for the removed file
    client.upload()
    assert [p["sha256"] for p in photos.pending_uploads(store)] == [waiting]
    report = blobs.upload_photos(client)
    assert (report.uploaded, report.failed) == (1, 0)
    assert photos.pending_uploads(store) == [] and photos.photo_path(store, waiting).exists()
    assert photos.prune(store, keep_days=30, now=now) == 0          # uploaded just now: kept
    assert outbox.get(store, waiting_op)["state"] == "accepted"
