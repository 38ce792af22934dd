"""Where a reading was taken (issue: the app never supplied a position): the app reads an
NMEA receiver — the GPS simulator on a pty, walking the route — through the location
facade; the status bar shows the fix state; a reading saved with a fresh fix reaches the
gateway with its position, accuracy and the fix's age; once the receiver has lost the sky
for longer than the configured age, the next reading records the last fix as stale.
"""
from __future__ import annotations

import json

import pytest

from devices.location.nmea import NmeaReceiver
from devices.sim.gps import GpsSim
from terminal import location
from test_ui_field_reader import assign, pick_value

MAX_AGE_S = 2


@pytest.fixture
def gps_sim():
    sim = GpsSim(period=0.1, step_m=0.5)
    path = sim.serve_pty()
    try:
        yield sim, path
    finally:
        sim.close()


def save_reading(ui, account_no: str) -> None:
    reading = ui.go("reading", account_no=account_no, route_id="R001")
    ui.wait_for(lambda: reading.loaded and reading.account_no == account_no, 10, "entry open")
    ui.keypad(pick_value(ui.store, account_no, "ok"), enter=False)
    ui.tap("save")
    ui.wait_for(lambda: ui.store.conn.execute(
        "SELECT 1 FROM readings WHERE account_no=?", (account_no,)).fetchone(), 10, "saved")


def test_reading_positions_from_the_nmea_receiver_and_a_stale_fix(make_ui, gateway, ui_flows,
                                                                   gps_sim):
    sim, path = gps_sim
    ui = make_ui(gateway=gateway, enrol=True,
                 config={"location": {"url": path, "max_age_s": str(MAX_AGE_S),
                                      "max_accuracy_m": "30"}})
    device_id = assign(gateway, ui, "R001", "1001")
    ui_flows.login(ui, "1001", "1234")
    ui_flows.download_route(ui, "R001")
    first, second = [r["account_no"] for r in ui.store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id='R001' ORDER BY seq LIMIT 2")]
    status = ui.app.status_bar
    ui.wait_for(lambda: ui.services.location.state == "good", 10, "a good fix")
    assert "55dd77" in status.ids.gps.text                     # green: a good fix
    ui.shot("fix-good")

    save_reading(ui, first)
    local = dict(ui.store.conn.execute(
        "SELECT lat, lon, gps_accuracy_m FROM readings WHERE account_no=?", (first,)).fetchone())
    lats = [p[0] for p in sim.route]
    lons = [p[1] for p in sim.route]
    assert min(lats) <= local["lat"] <= max(lats) and min(lons) <= local["lon"] <= max(lons)

    # the receiver loses the sky: the last fix ages until it is stale, and the bar says so
    sim.lose_fix()
    ui.wait_for(lambda: ui.services.location.state == "stale", 10 + MAX_AGE_S, "a stale fix")
    assert "ffbb33" in status.ids.gps.text                     # amber: stale
    ui.shot("fix-stale")
    save_reading(ui, second)

    ui.services.sync_now()
    rows = ui.wait_for(lambda: (lambda r: r if len(r) >= 2 else None)(gateway.query(
        "SELECT account_no, payload FROM readings WHERE device_id=?", (device_id,))),
        30, "readings on the gateway")
    gps = {r["account_no"]: json.loads(r["payload"])["gps"] for r in rows}
    assert gps[first]["state"] == "good" and gps[first]["age_s"] <= MAX_AGE_S
    assert (gps[first]["lat"], gps[first]["lon"]) == pytest.approx((local["lat"], local["lon"]))
    assert 0 < gps[first]["accuracy_m"] <= 30
    assert gps[second]["state"] == "stale" and gps[second]["age_s"] > MAX_AGE_S
    assert min(lats) <= gps[second]["lat"] <= max(lats)


def test_nmea_receiver_reports_accuracy_and_keeps_the_last_fix_when_lost():
    clock = iter(range(100, 200)).__next__
    rx = NmeaReceiver("loop://", clock=lambda: float(clock()))
    sim = GpsSim(accuracy_m=12.0)
    for line in sim.sentences():
        rx.feed(line)
    fix = rx.last()
    assert rx.state == "fix" and fix.accuracy_m == pytest.approx(12.0, abs=0.05)
    assert fix.lat == pytest.approx(sim.route[0][0], abs=1e-6)
    sim.lose_fix()
    for line in sim.sentences():
        rx.feed(line)
    assert rx.state == "searching" and rx.last() == fix
    rx.feed("$GPGGA,123519,3015.000,N,12010.000,E,1,08,0.9,10.0,M,0.0,M,,*00")  # bad checksum
    assert rx.last() == fix
    assessed = location.assess(fix.lat, fix.lon, fix.accuracy_m, fix.fixed_at, fix.fixed_at + 61)
    assert assessed["state"] == "stale" and assessed["age_s"] == 61
    inaccurate = location.assess(1, 2, 80, 0, 5)
    assert inaccurate["state"] == "inaccurate"
