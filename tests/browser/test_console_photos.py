"""The office sees the photo with the reading (README "Office console"): a reading with a
photo is keyed on a handheld's core, synced by the real sync client to a real gateway
(ops first, then the photo as a blob), and the console's route page and the account's
reading history show it to a signed-in auditor in a real Chromium — a thumbnail that
decodes, linking to the whole image whose bytes are the photo's SHA-256. A reading whose
photo has not arrived says so; anonymous requests, a half-uploaded blob and a blob whose
bytes no longer match its name get no image."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import requests

from devices.sim.camera import meter_face
from sync import blobs
from terminal import photos, readings
from tests.browser.test_console import as_role
from tests.sync.sync_kit import READER, assign, device, local_accounts

ROUTE = "R002"


def _read_with_photo(store, account: dict, seed: int) -> str:
    """Key a reading of `account` with a simulated camera's photo of its dials; the SHA-256."""
    meter = account["meter"]
    keyed = str(((meter.get("prev_value") or 0) + 37) % 10 ** meter["dials"])
    out = io.BytesIO()
    meter_face(keyed.zfill(meter["dials"]), seed=seed).save(out, "JPEG", quality=90)
    sha = photos.store_photo(store, out.getvalue())
    entry = readings.ReadingEntry(store, account["account_no"], READER)
    entry.set_photo(sha)
    outcome = entry.submit(keyed)
    if outcome.need == "reenter":            # a surprising value is keyed a second time
        outcome = entry.submit(keyed)
    elif outcome.need == "confirm":
        outcome = entry.confirm()
    assert outcome.saved, outcome
    return sha


def _shown_image(page, sha: str) -> dict:
    """The thumbnail of `sha` once decoded, and the whole image its link opens, fetched by
    the page with its session: natural sizes, content type, SHA-256 of the bytes."""
    thumb = f"img.thumb[data-sha256='{sha}']"
    page.wait_for_function(f"() => {{ const i = document.querySelector(\"{thumb}\");"
                           " return i && i.complete && i.naturalWidth > 0; }")
    return page.evaluate("""async (sel) => {
        const img = document.querySelector(sel);
        const href = img.closest('a').href;
        const r = await fetch(href);
        const bytes = await r.arrayBuffer();
        const digest = await crypto.subtle.digest('SHA-256', bytes);
        const whole = new Image();
        whole.src = href;
        await whole.decode();
        return {thumbWidth: img.naturalWidth, href: href, status: r.status,
                type: r.headers.get('content-type'), wholeWidth: whole.naturalWidth,
                sha256: Array.from(new Uint8Array(digest))
                    .map(b => b.toString(16).padStart(2, '0')).join('')};
    }""", thumb)


def test_the_console_shows_a_synced_readings_photo_to_signed_in_users_only(
        page, gateway, sign_in, shot, tmp_path):
    store, client = device(tmp_path, gateway.base_url, "camera")
    client.refresh_reference()
    assign(gateway.base_url, ROUTE, store.get_meta("device_id"), READER)
    client.download_route(ROUTE)
    first, second = local_accounts(store, ROUTE, 2)
    arrived = _read_with_photo(store, first, seed=1)
    client.upload()
    assert blobs.upload_photos(client).uploaded == 1
    waiting = _read_with_photo(store, second, seed=2)
    client.upload()                          # the op is at the office, its photo not yet
    photo_bytes = photos.photo_path(store, arrived).read_bytes()
    assert hashlib.sha256(photo_bytes).hexdigest() == arrived

    as_role(sign_in, page, gateway, "auditor")            # read-only, still sees photos
    page.goto(f"{gateway.base_url}/console/routes/{ROUTE}")
    seen = _shown_image(page, arrived)
    assert seen["thumbWidth"] > 0 and seen["wholeWidth"] > seen["thumbWidth"]
    assert seen["status"] == 200 and seen["type"] == "image/jpeg"
    assert seen["sha256"] == arrived
    pending = page.locator(f".photo-pending[data-sha256='{waiting}']")
    assert pending.inner_text() == "照片尚未收到"
    assert page.locator(f"img[data-sha256='{waiting}']").count() == 0
    shot(page, "console-route-photos")
    page.goto(f"{gateway.base_url}/console/routes/{ROUTE}?lang=en")
    assert pending.inner_text() == "Photo not arrived yet"

    page.goto(f"{gateway.base_url}/console/accounts/{first['account_no']}")
    assert _shown_image(page, arrived)["sha256"] == arrived
    shot(page, "console-account-photo")
    page.goto(f"{gateway.base_url}/console/accounts/{second['account_no']}")
    assert pending.inner_text() == "Photo not arrived yet"

    # nobody signed in: no image, the sign-in instead
    for url in (seen["href"], seen["href"] + "?thumb=1"):
        anonymous = requests.get(url, allow_redirects=False, timeout=10)
        assert anonymous.status_code == 303, anonymous.status_code
        assert anonymous.headers["location"].endswith("/console/login")
        assert photo_bytes[:64] not in anonymous.content

    # half a blob is not a photo yet; the rest arrives and the page shows it
    data = photos.photo_path(store, waiting).read_bytes()
    r = requests.put(f"{gateway.base_url}/v1/blobs/{waiting}", data=data[:1000],
                     headers={**client._auth_headers(),
                              "Content-Range": f"bytes 0-999/{len(data)}"}, timeout=10)
    assert r.status_code == 200 and not r.json()["complete"]
    half = page.request.get(f"{gateway.base_url}/console/photos/{waiting}")
    assert half.status == 404 and not half.body().startswith(b"\xff\xd8")
    assert blobs.upload_photos(client).uploaded == 1
    page.goto(f"{gateway.base_url}/console/routes/{ROUTE}")
    assert _shown_image(page, waiting)["sha256"] == waiting

    # a held file whose bytes are no longer its name is not served
    held = Path(str(gateway.db_path) + ".blobs") / arrived
    held.write_bytes(photo_bytes[:-1] + bytes([photo_bytes[-1] ^ 1]))
    tampered = page.request.get(seen["href"])
    assert tampered.status == 404 and tampered.headers["content-type"].startswith("text/html")
