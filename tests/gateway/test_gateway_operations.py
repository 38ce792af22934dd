"""Operating the gateway (docs/deploy.md): readiness, Prometheus metrics, the JSON access
log with request and device ids, and 503 + Retry-After once the work in flight is full."""
import json
import socket

import pytest
import requests

from sync.gateway.testing import GatewayProcess, OpFactory, enrol_device, post_ops
from tests import deadline


@pytest.fixture(scope="module")
def small(tmp_path_factory, engine):
    """A gateway that works on at most one request at a time."""
    gw = GatewayProcess(tmp_path_factory.mktemp("ops") / "gateway.db",
                        args=["--max-in-flight", "1"])
    gw.start()
    yield gw
    gw.stop()


def test_ready_metrics_and_access_log(small):
    assert requests.get(small.base_url + "/v1/ready", timeout=10).json()["ok"] is True
    dev = enrol_device(small.base_url)
    ops = OpFactory(dev)
    r = post_ops(small.base_url, dev["token"], [ops.reading("3101000001"),
                                                ops.payment("3101000002", 500)])
    assert r.status_code == 200
    r = requests.get(small.base_url + "/v1/assignments", timeout=10,
                     headers={"Authorization": f"Bearer {dev['token']}",
                              "X-Device-Id": dev["device_id"], "X-Request-Id": "req-42"})
    assert r.headers["X-Request-Id"] == "req-42"
    text = requests.get(small.base_url + "/metrics", timeout=10).text
    assert 'chaoshou_ops_total{status="accepted"} 2.0' in text
    assert 'chaoshou_requests_total{method="POST",route="/v1/ops",status="200"} 1.0' in text
    assert "chaoshou_request_seconds_bucket" in text and "chaoshou_batch_ops_count 1.0" in text
    assert "chaoshou_pending_exceptions" in text

    def logged():
        for line in small.log().splitlines():
            if '"req-42"' in line:
                return json.loads(line)
        return None
    entry = deadline.wait_until(logged, what="the access log line of req-42")
    assert entry["device_id"] == dev["device_id"] and entry["status"] == 200
    assert entry["path"] == "/v1/assignments" and entry["ms"] >= 0


def test_routes_of_included_routers_are_measured_and_logged(small):
    """The console, the customer pages and the platforms' endpoints are routers included in
    the app: a request answered by one is counted under its route and logged like any other."""
    r = requests.get(small.base_url + "/pay", timeout=10, headers={"X-Request-Id": "req-pay"})
    assert r.status_code == 200
    text = requests.get(small.base_url + "/metrics", timeout=10).text
    assert 'route="/pay"' in text

    def logged():
        return next((json.loads(line) for line in small.log().splitlines()
                     if '"req-pay"' in line), None)
    entry = deadline.wait_until(logged, what="the access log line of req-pay")
    assert entry["path"] == "/pay" and entry["status"] == 200
    assert "AttributeError" not in small.log()


def test_full_process_answers_503_with_retry_after(small):
    dev = enrol_device(small.base_url)
    # a request that stays in flight: headers sent, body withheld
    held = socket.create_connection(("127.0.0.1", small.port), timeout=10)
    held.sendall(f"POST /v1/ops HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {dev['token']}\r\n"
                 "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n".encode())
    try:
        def busy():
            r = requests.get(small.base_url + "/v1/assignments", timeout=10,
                             headers={"Authorization": f"Bearer {dev['token']}"})
            return [r] if r.status_code == 503 else None   # (a 503 Response is falsy)
        r = deadline.wait_until(busy, what="a 503 while one request is in flight")[0]
        assert r.json()["error"] == "busy" and 1 <= int(r.headers["Retry-After"]) <= 5
        assert requests.get(small.base_url + "/v1/health", timeout=10).status_code == 200
    finally:
        held.close()
    deadline.wait_until(lambda: requests.get(
        small.base_url + "/v1/assignments", timeout=10,
        headers={"Authorization": f"Bearer {dev['token']}"}).status_code == 200,
        what="service once the held request is gone")
    assert "chaoshou_rejected_busy_total" in requests.get(small.base_url + "/metrics",
                                                          timeout=10).text
