"""A skip code that needs a photo (S04, meter damaged) could not be completed: the app had
no way to take one. Now the reading screen's Photo button takes it (the simulated camera:
a real JPEG of a meter face with the keyed digits), the photo is kept downscaled under its
SHA-256, the save names it in the reading's op, and after the op the photo reaches the
gateway, where the office gets back exactly the bytes whose hash the op names.
"""
from __future__ import annotations

import hashlib
import json

import requests

from sync.gateway.testing import supervisor_token
from terminal import photos
from test_ui_field_reader import assign, popup_button, popup_open, touch


def test_photo_required_skip_completed_with_the_simulated_camera(make_ui, gateway, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True, config={"camera": {"kind": "sim"}})
    device_id = assign(gateway, ui, "R001", "1001")
    ui_flows.login(ui, "1001", "1234")
    ui_flows.download_route(ui, "R001")
    account_no = ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' ORDER BY seq LIMIT 1").fetchone()[0]
    reading = ui.go("reading", account_no=account_no, route_id="R001")
    ui.wait_for(lambda: reading.loaded and reading.account_no == account_no, 10, "entry open")

    ui.tap("skip_code")
    ui.pump(3)
    touch(ui, popup_button("S04"))
    ui.wait_for(lambda: reading.skip_code == "S04" and not popup_open(), 5, "skip code chosen")
    ui.type("表盘破裂", into="note")
    ui.tap("save")                                   # no photo yet: refused, nothing kept
    ui.wait_for(lambda: not reading.busy and reading.message, 10, "refused")
    assert reading.ids.photo.sha == ""
    assert ui.store.conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0] == 0
    ui.shot("photo-required")

    ui.tap("photo")
    sha = ui.wait_for(lambda: reading.ids.photo.sha, 15, "photo kept")
    ui.shot("photo-kept")
    kept = photos.photo_path(ui.store, sha).read_bytes()
    assert hashlib.sha256(kept).hexdigest() == sha and len(kept) <= photos.DEFAULT_MAX_BYTES
    ui.tap("save")
    ui.wait_for(lambda: ui.store.conn.execute(
        "SELECT 1 FROM readings WHERE account_no=?", (account_no,)).fetchone(), 10, "saved")

    ui.services.sync_now()
    rows = ui.wait_for(lambda: gateway.query(
        "SELECT account_no, skip_code, payload FROM readings WHERE device_id=?", (device_id,)),
        30, "reading on the gateway")
    assert rows[0]["skip_code"] == "S04" and json.loads(rows[0]["payload"])["photo"] == sha
    ui.wait_for(lambda: ui.store.conn.execute(
        "SELECT uploaded_at FROM photos WHERE sha256=?", (sha,)).fetchone()[0], 30, "photo uploaded")
    token = supervisor_token(gateway.url)
    got = requests.get(f"{gateway.url}/v1/supervisor/blobs/{sha}", timeout=10,
                       headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == sha
