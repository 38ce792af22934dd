"""Enrolment, reference data, receipt blocks, assignments, paged snapshots with digest and
410 on expiry, and the change feed with 410 on an expired cursor — over real HTTP."""

import pytest
import requests

from sync import protocol
from sync.gateway.testing import (GatewayProcess, assign_route, enrol_device,
                                  thirdparty_payment)


def download(session, base_url, route_id, limit):
    snap = session.post(f"{base_url}/v1/routes/{route_id}/snapshots").json()
    accounts, after, pages = [], None, 0
    while True:
        params = {"limit": limit} | ({"after": after} if after else {})
        page = session.get(f"{base_url}/v1/routes/{route_id}/snapshots/"
                           f"{snap['snapshot_id']}", params=params).json()
        pages += 1
        accounts += page["accounts"]
        if page["next"] is None:
            return snap, accounts, page, pages
        assert page["digest"] is None
        after = page["next"]


def test_enrol_one_time_code_and_reference(base_url, sv_headers):
    code = requests.post(base_url + "/v1/supervisor/enrolment-codes",
                         headers=sv_headers).json()["code"]
    dev = enrol_device(base_url, code=code, name="手持机 7")
    assert set(dev) == {"device_id", "token", "device_key"} and len(dev["device_key"]) == 64
    r = requests.post(base_url + "/v1/devices/enrol", json={"code": code, "device_name": "x"})
    assert r.status_code == 403 and r.json()["error"] == "invalid_code"
    assert enrol_device(base_url)["device_id"] != enrol_device(base_url)["device_id"]
    ref = requests.get(base_url + "/v1/reference",
                       headers={"Authorization": f"Bearer {dev['token']}"}).json()
    ops = {o["operator_id"]: o for o in ref["operators"]}
    assert protocol.check_pin("1234", ops["1001"]["pin_hash"])
    assert protocol.check_pin("99999999", ops["9001"]["pin_hash"])
    assert set(ops["3001"]["roles"]) == {"reader", "collector"}
    assert {a["agent_id"]: bool(a["members"]) for a in ref["agents"]} == {"A01": True,
                                                                          "A02": True}
    assert {t["tariff_id"] for t in ref["tariffs"]} == {"RES-TIER", "COM-FLAT"}
    assert ref["codes"]["skip"] and ref["codes"]["trouble"]
    assert "verify_url_template" in ref["settings"]


def test_receipt_blocks_never_overlap(base_url, device):
    other = enrol_device(base_url)
    h2 = {"Authorization": f"Bearer {other['token']}"}
    blocks = []
    for _ in range(3):
        blocks.append(device["session"].post(base_url + "/v1/receipt-blocks",
                                             json={"size": 500}).json())
        blocks.append(requests.post(base_url + "/v1/receipt-blocks", json={"size": 1000},
                                    headers=h2).json())
    spans = sorted((b["start"], b["end"]) for b in blocks)
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))
    assert spans[0][1] - spans[0][0] + 1 in (500, 1000)
    assert device["session"].post(base_url + "/v1/receipt-blocks",
                                  json={"size": 0}).status_code == 422


def test_snapshot_paging_count_digest_and_consistency(base_url, device, sv_headers):
    s = device["session"]
    snap = s.post(f"{base_url}/v1/routes/R001/snapshots").json()
    assert snap["header"]["route"]["route_id"] == "R001"
    assert {"tariffs", "codes", "agents"} <= set(snap["header"])
    # a change after the snapshot was created must not leak into it
    requests.post(f"{base_url}/v1/supervisor/accounts/3101000005/hazard",
                  json={"hazard": "新的危险 New hazard"}, headers=sv_headers)
    accounts, after = [], None
    while True:
        page = s.get(f"{base_url}/v1/routes/R001/snapshots/{snap['snapshot_id']}",
                     params={"limit": 150} | ({"after": after} if after else {})).json()
        accounts += page["accounts"]
        if page["next"] is None:
            break
        after = page["next"]
    assert len(accounts) == page["count"] == snap["count"] == 400
    assert page["digest"] == protocol.route_digest(accounts)
    hazard = next(a["hazard"] for a in accounts if a["account_no"] == "3101000005")
    assert hazard != "新的危险 New hazard"
    assert any(ord(ch) > 0xFFFF for a in accounts for ch in a["name"])
    r = s.get(f"{base_url}/v1/routes/R001/snapshots/{snap['snapshot_id']}",
              params={"after": "zz"})
    assert r.status_code == 422
    assert s.get(f"{base_url}/v1/routes/R001/snapshots/Snope").status_code == 404
    # a cursor the document allows (ten digits) past the database's integers: the last page
    past = s.get(f"{base_url}/v1/routes/R001/snapshots/{snap['snapshot_id']}",
                 params={"after": "9999999999"})
    assert past.status_code == 200, past.text
    assert (past.json()["accounts"], past.json()["next"]) == ([], None)
    assert s.get(f"{base_url}/v1/routes/R001/snapshots/Snope",
                 params={"after": "9999999999"}).status_code == 404
    assert s.post(f"{base_url}/v1/routes/NOPE/snapshots").status_code == 404


def test_assignment_download_flag_and_downloaded(base_url, device, sv_headers):
    s = device["session"]
    assert s.get(base_url + "/v1/assignments").json() == []
    sv_token = sv_headers["Authorization"].split()[1]
    assign_route(base_url, "R003", device["device_id"], operator_id="3001", token=sv_token)
    rows = s.get(base_url + "/v1/assignments").json()
    assert [(r["route_id"], r["operator_id"], r["download_requested"]) for r in rows] == \
        [("R003", "3001", True)]
    snap = s.post(f"{base_url}/v1/routes/R003/snapshots").json()
    assert s.post(f"{base_url}/v1/routes/R003/downloaded",
                  json={"snapshot_id": snap["snapshot_id"]}).json()["cleared"]
    assert s.get(base_url + "/v1/assignments").json()[0]["download_requested"] is False
    r = requests.post(f"{base_url}/v1/supervisor/routes/R003/request-download",
                      headers=sv_headers)
    assert r.status_code == 200
    assert s.get(base_url + "/v1/assignments").json()[0]["download_requested"] is True
    bad = requests.post(f"{base_url}/v1/supervisor/routes/R003/assign",
                        json={"operator_id": "9001", "device_id": device["device_id"],
                              "reason": "x"}, headers=sv_headers)
    assert bad.status_code == 400 and bad.json()["error"] == "operator_role"
    no_reason = requests.post(f"{base_url}/v1/supervisor/routes/R003/assign",
                              json={"operator_id": "1001", "reason": ""}, headers=sv_headers)
    assert no_reason.status_code == 422


def test_change_feed_balance_hazard_move_and_tombstone(base_url, device, sv_headers):
    s = device["session"]
    v0 = s.get(f"{base_url}/v1/routes/R002/changes", params={"since": 0}).json()["version"]
    thirdparty_payment(base_url, "3102000010", 100, "TXN-FEED-1")
    requests.post(f"{base_url}/v1/supervisor/accounts/3102000011/hazard",
                  json={"hazard": "院内有狗 Beware of dog"}, headers=sv_headers)
    requests.post(f"{base_url}/v1/supervisor/accounts/3102000012/move",
                  json={"route_id": "R001", "seq": 4005}, headers=sv_headers)
    requests.delete(f"{base_url}/v1/supervisor/accounts/3102000013", headers=sv_headers)
    feed = s.get(f"{base_url}/v1/routes/R002/changes", params={"since": v0}).json()
    kinds = [(c["kind"], c.get("account_no")) for c in feed["changes"]]
    assert kinds == [("balance", "3102000010"), ("hazard", "3102000011"),
                     ("remove", "3102000012"), ("remove", "3102000013")]
    assert feed["changes"][0]["last_third_party"]["amount_fen"] == 100
    r1 = s.get(f"{base_url}/v1/routes/R001/changes", params={"since": v0}).json()
    ups = [c for c in r1["changes"] if c["kind"] == "upsert"]
    assert ups[-1]["account"]["account_no"] == "3102000012" and ups[-1]["account"]["seq"] == 4005
    again = s.get(f"{base_url}/v1/routes/R002/changes",
                  params={"since": feed["version"]}).json()
    assert again["changes"] == [] and again["version"] == feed["version"]
    # the moved account is now in R001's snapshots, the closed one is in none
    snap, accounts, _page, _n = download(s, base_url, "R002", 1000)
    nos = {a["account_no"] for a in accounts}
    assert "3102000012" not in nos and "3102000013" not in nos
    assert snap["header"]["route"]["server_version"] >= feed["version"]
    assert s.get(f"{base_url}/v1/routes/R002/changes",
                 params={"since": feed["version"] + 1000}).status_code == 410


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory, engine):
    """Snapshots and changes kept 60 s; the tests move the gateway's clock past that."""
    gw = GatewayProcess(tmp_path_factory.mktemp("gw410") / "gateway.db",
                        args=["--snapshot-ttl", "60", "--change-retention", "60"])
    gw.start()
    yield gw
    gw.stop()


def test_expired_snapshot_is_410(short_lived):
    gw, short_lived = short_lived, short_lived.base_url
    dev = enrol_device(short_lived)
    h = {"Authorization": f"Bearer {dev['token']}"}
    snap = requests.post(f"{short_lived}/v1/routes/R001/snapshots", headers=h).json()
    url = f"{short_lived}/v1/routes/R001/snapshots/{snap['snapshot_id']}"
    assert requests.get(url, headers=h, params={"limit": 10}).status_code == 200
    gw.advance_clock(61)
    r = requests.get(url, headers=h, params={"limit": 10})
    assert r.status_code == 410 and r.json()["error"] == "snapshot_expired"


def test_expired_change_cursor_is_410(short_lived):
    gw, short_lived = short_lived, short_lived.base_url
    dev = enrol_device(short_lived)
    h = {"Authorization": f"Bearer {dev['token']}"}
    url = f"{short_lived}/v1/routes/R001/changes"
    v0 = requests.get(url, headers=h, params={"since": 0}).json()["version"]
    thirdparty_payment(short_lived, "3101000001", 100, "TXN-410-1")
    thirdparty_payment(short_lived, "3101000002", 100, "TXN-410-2")
    gw.advance_clock(61)
    thirdparty_payment(short_lived, "3101000003", 100, "TXN-410-3")  # purges the old ones
    r = requests.get(url, headers=h, params={"since": v0})
    assert r.status_code == 410 and r.json()["error"] == "cursor_expired"
    snap = requests.post(f"{short_lived}/v1/routes/R001/snapshots", headers=h).json()
    fresh = requests.get(url, headers=h,
                         params={"since": snap["header"]["route"]["server_version"]})
    assert fresh.status_code == 200


def test_old_client_version_gets_426(tmp_path):
    gw = GatewayProcess(tmp_path / "v.db", args=["--min-client-version", "1.2"])
    gw.start()
    try:
        dev = enrol_device(gw.base_url)
        h = {"Authorization": f"Bearer {dev['token']}"}
        old = requests.get(gw.base_url + "/v1/assignments",
                           headers=h | {"X-Client-Version": "1.1.9"})
        assert old.status_code == 426 and old.json()["error"] == "update_required"
        new = requests.get(gw.base_url + "/v1/assignments",
                           headers=h | {"X-Client-Version": "1.2.0"})
        assert new.status_code == 200
    finally:
        gw.stop()


def test_supervisor_upsert_new_account_reaches_feed_and_snapshot(base_url, device,
                                                                 sv_headers):
    s = device["session"]
    v0 = s.get(f"{base_url}/v1/routes/R001/changes", params={"since": 0}).json()["version"]
    account = {"account_no": "3101999999", "seq": 4010, "name": "新户𠮷", "address": "幸福路1号",
               "phone": None, "tariff_id": "RES-TIER", "arrears_fen": 0,
               "arrears_due_date": None, "credit_fen": 0, "agent_id": None, "hazard": None,
               "last_third_party": None,
               "meter": {"meter_no": "M09999999", "dials": 6, "decimals": 0, "multiplier": 1,
                         "prev_value": 0, "prev_date": "2026-11-01", "avg_daily_wh": 4000,
                         "limit_low": None, "limit_high": None}}
    r = requests.put(f"{base_url}/v1/supervisor/accounts/3101999999",
                     json={"route_id": "R001", "account": account}, headers=sv_headers)
    assert r.status_code == 200
    feed = s.get(f"{base_url}/v1/routes/R001/changes", params={"since": v0}).json()
    assert feed["changes"][-1] == {"kind": "upsert", "account": account}
    _snap, accounts, page, _n = download(s, base_url, "R001", 5000)
    assert account in accounts and page["digest"] == protocol.route_digest(accounts)
    mismatch = requests.put(f"{base_url}/v1/supervisor/accounts/3101999998",
                            json={"route_id": "R001", "account": account}, headers=sv_headers)
    assert mismatch.status_code == 422


def test_reference_sends_a_reader_verifier_only_to_devices_of_the_readers_routes(base_url):
    """docs/contracts.md §4: once route R002 (reader 1002's only route) is on device A,
    device B no longer receives 1002's PIN verifier; A does; operators holding no route
    (collector 2001, supervisor 9001) stay on both."""
    a, b = enrol_device(base_url), enrol_device(base_url)

    def operators(dev):
        r = requests.get(base_url + "/v1/reference",
                         headers={"Authorization": f"Bearer {dev['token']}"}, timeout=10)
        r.raise_for_status()
        return {o["operator_id"] for o in r.json()["operators"]}

    assert "1002" in operators(b)                      # R002 on no device yet
    assign_route(base_url, "R002", a["device_id"], operator_id="1002")
    on_a, on_b = operators(a), operators(b)
    assert "1002" in on_a and "1002" not in on_b
    assert {"2001", "9001"} <= on_a & on_b


def test_change_feed_of_an_unknown_route_is_404_and_a_cursor_ahead_is_410(base_url, device):
    s = device["session"]
    r = s.get(f"{base_url}/v1/routes/NOPE/changes", params={"since": 0})
    assert r.status_code == 404 and r.json()["error"] == "unknown_route"
    feed = s.get(f"{base_url}/v1/routes/R001/changes", params={"since": 0}).json()
    assert feed["has_more"] is False
    assert all(c["kind"] for c in feed["changes"]) and isinstance(feed["version"], int)
    r = s.get(f"{base_url}/v1/routes/R001/changes", params={"since": feed["version"] + 1000})
    assert r.status_code == 410 and r.json()["error"] == "cursor_expired"
    assert "ahead" in r.json()["message"]
    again = s.get(f"{base_url}/v1/routes/R001/changes", params={"since": feed["version"]})
    assert again.status_code == 200 and again.json()["version"] >= feed["version"]
