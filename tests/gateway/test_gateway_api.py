"""An API that says what it does (README, Reliability), against a real gateway process: every status
the gateway answers is in the OpenAPI document with the one error model; credentials are
checked before anything else; booleans are not numbers; TRACE is 405 with Allow."""
import requests

from sync.gateway.testing import DEMO_PLATFORM_KEY


def test_openapi_lists_every_error_status_with_one_error_model(base_url):
    spec = requests.get(base_url + "/openapi.json").json()
    assert spec["components"]["schemas"]["ErrorOut"]["required"] == ["error", "message"]
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            statuses = set(op["responses"])
            assert {"400", "413", "415", "422"} <= statuses, (method, path, statuses)
            if op.get("security"):
                assert {"401", "403"} <= statuses, (method, path, statuses)
            if "{" in path:
                assert "404" in statuses, (method, path)
            for status, doc in op["responses"].items():
                if status >= "400":
                    ref = doc["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorOut"), (method, path, status)


def test_missing_query_field_answers_the_documented_422(base_url):
    r = requests.get(base_url + "/v1/receipts/verify",
                     params={"device_id": "D1", "receipt_no": "1", "amount_fen": 1})
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_request" and "verify_code" in r.json()["message"]


def test_junk_token_gets_401_before_the_body_is_looked_at(base_url):
    for body in (b'{"ops": [{"op_id": "\\u0000"}]}', b"\x00" * 10, b"\x1f\x8b junk"):
        for headers in ({"Authorization": "Bearer junk"}, {},
                        {"Authorization": "Bearer junk", "Content-Encoding": "gzip"}):
            r = requests.post(base_url + "/v1/ops", data=body,
                              headers={"Content-Type": "application/json", **headers})
            assert r.status_code == 401, (body, headers, r.status_code, r.text)
            assert r.json()["error"] == "unauthenticated"
    r = requests.post(base_url + "/v1/thirdparty/payments", data=b'{"x": "\\u0000"}',
                      headers={"X-Platform-Key": "wrong"})
    assert r.status_code == 403


def test_booleans_and_fractions_are_not_numbers(base_url, device):
    tp = {"platform": "alipay", "txn_id": "T-BOOL-1", "account_no": "3101000001",
          "amount_fen": False, "paid_at": "2026-11-27T10:00:00+08:00"}
    h = {"X-Platform-Key": DEMO_PLATFORM_KEY}
    for bad in (False, True, 0.5, "100"):
        r = requests.post(base_url + "/v1/thirdparty/payments",
                          json=dict(tp, amount_fen=bad), headers=h)
        assert r.status_code == 422 and "amount_fen" in r.json()["message"], (bad, r.text)
    r = requests.post(base_url + "/v1/receipts/verify", json={
        "device_id": "D1", "receipt_no": "1", "amount_fen": False, "verify_code": "x"})
    assert r.status_code == 422
    r = device["session"].post(base_url + "/v1/receipt-blocks", json={"size": True})
    assert r.status_code == 422


def test_trace_and_other_undeclared_methods_answer_405_with_allow(base_url, device):
    r = requests.request("TRACE", base_url + "/v1/health")
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    r = device["session"].request("TRACE", base_url + "/v1/receipts/verify")
    assert r.status_code == 405 and set(r.headers["Allow"].split(", ")) == {"GET", "POST"}
    assert set(r.json()) == {"error", "message"}
