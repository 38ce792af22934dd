"""Supervisor flows and the auth matrix: no token → 401 on every device and supervisor
endpoint, device token on a supervisor endpoint → 403, revoked device → 403."""
import requests

from sync.gateway.testing import enrol_device

PUBLIC = {"/v1/health", "/v1/ready", "/v1/devices/enrol", "/v1/devices/token", "/v1/thirdparty/payments",
          "/v1/receipts/verify", "/v1/supervisor/login"}


def protected_operations(base_url):
    spec = requests.get(base_url + "/openapi.json").json()
    for path, methods in spec["paths"].items():
        if path in PUBLIC or path.startswith("/v1/channels/"):   # platform-signed, not bearer
            continue
        for method in methods:
            url = base_url + path.replace("{route_id}", "R001") \
                .replace("{snapshot_id}", "S0").replace("{exception_id}", "1") \
                .replace("{device_id}", "D0").replace("{account_no}", "3101000001")
            yield method.upper(), path, url


def test_every_protected_endpoint_needs_a_token(base_url):
    ops = list(protected_operations(base_url))
    assert len(ops) >= 20
    for method, path, url in ops:
        for headers in ({}, {"Authorization": "Bearer nonsense"},
                        {"Authorization": "Basic abc"}):
            r = requests.request(method, url, json={}, headers=headers)
            assert r.status_code == 401, (method, path, headers, r.status_code)
            assert r.json()["error"] == "unauthenticated"


def test_device_token_cannot_use_supervisor_endpoints_and_vice_versa(base_url, device,
                                                                     sv_headers):
    dev_h = {"Authorization": f"Bearer {device['token']}"}
    for method, path, url in protected_operations(base_url):
        if path.startswith("/v1/supervisor/"):
            r = requests.request(method, url, json={}, headers=dev_h)
            assert r.status_code == 403, (method, path, r.status_code)
        else:
            r = requests.request(method, url, json={}, headers=sv_headers)
            assert r.status_code == 403, (method, path, r.status_code)


def test_login_wrong_pin_and_non_supervisor(base_url):
    url = base_url + "/v1/supervisor/login"
    assert requests.post(url, json={"operator_id": "9001", "pin": "0000"}).status_code == 401
    assert requests.post(url, json={"operator_id": "1001", "pin": "1234"}).status_code == 403
    assert requests.post(url, json={"operator_id": "nobody", "pin": "1"}).status_code == 401


def test_login_lockout_after_repeated_failures(base_url):
    url = base_url + "/v1/supervisor/login"
    codes = [requests.post(url, json={"operator_id": "2001", "pin": "0000"}).status_code
             for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429


def test_progress_counts_reads_skips_and_collections(base_url, device, sv_headers):
    f, s = device["ops"], device["session"]
    before = {r["route_id"]: r for r in requests.get(
        base_url + "/v1/supervisor/routes", headers=sv_headers).json()}["R003"]
    ops = [f.reading("3103000100", 10), f.reading("3103000101", 11),
           f.reading("3103000102", None, status="skipped"),
           f.payment("3103000103", 2500)]
    assert s.post(base_url + "/v1/ops", json={"ops": ops}).status_code == 200
    after = {r["route_id"]: r for r in requests.get(
        base_url + "/v1/supervisor/routes", headers=sv_headers).json()}["R003"]
    assert after["read"] == before["read"] + 2 and after["skipped"] == before["skipped"] + 1
    assert after["unread"] == before["unread"] - 3 and after["total"] == 400
    assert after["collected_fen"] == before["collected_fen"] + 2500
    reader = next(x for x in after["readers"] if x["operator_id"] == "1001")
    assert reader["read"] >= 2 and reader["skipped"] >= 1


def test_exceptions_list_and_resolve(base_url, device, sv_headers):
    f, s = device["ops"], device["session"]
    s.post(base_url + "/v1/ops", json={"ops": [f.payment("0000000001", 100)]})
    open_ = requests.get(base_url + "/v1/supervisor/exceptions", headers=sv_headers).json()
    mine = [e for e in open_ if e["device_id"] == device["device_id"]]
    assert mine and mine[0]["kind"] == "suspense" and mine[0]["amount_fen"] == 100
    url = f"{base_url}/v1/supervisor/exceptions/{mine[0]['id']}/resolve"
    assert requests.post(url, json={"note": "posted to 0000000011"},
                         headers=sv_headers).status_code == 200
    assert requests.post(url, json={"note": "again"}, headers=sv_headers).status_code == 409
    resolved = requests.get(base_url + "/v1/supervisor/exceptions",
                            params={"status": "resolved"}, headers=sv_headers).json()
    assert any(e["id"] == mine[0]["id"] and e["resolution_note"] == "posted to 0000000011"
               for e in resolved)
    assert requests.post(f"{base_url}/v1/supervisor/exceptions/999999/resolve",
                         json={"note": "x"}, headers=sv_headers).status_code == 404


def test_devices_list_and_revoke(base_url, sv_headers):
    dev = enrol_device(base_url, name="丢失的手持机")
    h = {"Authorization": f"Bearer {dev['token']}"}
    assert requests.get(base_url + "/v1/assignments", headers=h).status_code == 200
    listed = requests.get(base_url + "/v1/supervisor/devices", headers=sv_headers).json()
    assert any(d["device_id"] == dev["device_id"] and not d["revoked"] for d in listed)
    r = requests.post(f"{base_url}/v1/supervisor/devices/{dev['device_id']}/revoke",
                      headers=sv_headers)
    assert r.status_code == 200
    for path in ("/v1/assignments", "/v1/reference", "/v1/ops/status"):
        r = requests.get(base_url + path, headers=h)
        assert r.status_code == 403 and r.json()["error"] == "device_revoked"
    assert requests.post(base_url + "/v1/ops", json={"ops": []}, headers=h).status_code == 403
