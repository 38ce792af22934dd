"""The fault proxy does each fault it promises, against a real upstream HTTP server."""
import http.server
import json
import threading

import pytest
import requests

from sync.faultproxy import FaultProxy


class Counter(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    bodies: list = []

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        if len(body) < n:   # cut off mid-body: a real server drops the request
            self.close_connection = True
            return
        self.bodies.append(body)
        out = json.dumps({"seen": len(self.bodies), "echo": body.decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


@pytest.fixture
def upstream():
    Counter.bodies = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", Counter.bodies
    srv.shutdown()
    srv.server_close()


def post(url, body=b'{"x": 1}'):
    return requests.post(url + "/v1/ops", data=body, timeout=5,
                         headers={"Content-Type": "application/json"})


def test_clean_pass_through(upstream):
    url, bodies = upstream
    with FaultProxy(url) as proxy:
        r = post(proxy.url)
    assert r.status_code == 200 and r.json()["echo"] == '{"x": 1}'
    assert len(bodies) == 1


@pytest.mark.parametrize("kind, reaches, client_sees", [
    ("drop_request", 0, "error"),
    ("drop_response", 1, "error"),
    ("duplicate", 2, 200),
    ("delay", 1, 200),
    ("truncate_request", 0, "error"),
    ("truncate_response", 1, "error"),
    ("error_500", 0, 500),
    ("error_503", 0, 503),
    ("error_413", 0, 413),
    ("error_429", 0, 429),
    ("error_after_forward", 1, 502),
])
def test_each_fault(upstream, kind, reaches, client_sees):
    url, bodies = upstream
    with FaultProxy(url, rates={kind: 1.0}, retry_after=3) as proxy:
        if client_sees == "error":
            with pytest.raises(requests.RequestException):
                post(proxy.url, b'{"payload": "' + b"a" * 2000 + b'"}')
        else:
            r = post(proxy.url)
            assert r.status_code == client_sees
            if client_sees in (429, 503):
                assert r.headers["Retry-After"] == "3"
            if kind == "duplicate":
                assert r.json()["seen"] == 2
        assert proxy.stats[kind] == 1
    # a truncated request never reaches the application whole
    assert len(bodies) == reaches


def test_seeded_choices_are_reproducible(upstream):
    url, _ = upstream
    rates = {"drop_request": 0.2, "error_500": 0.2, "duplicate": 0.1}
    a = FaultProxy(url, seed=42, rates=rates)
    b = FaultProxy(url, seed=42, rates=rates)
    try:
        seq_a = [a.choose("/v1/ops") for _ in range(200)]
        seq_b = [b.choose("/v1/ops") for _ in range(200)]
    finally:
        a._server.server_close()
        b._server.server_close()
    assert seq_a == seq_b
    assert 20 < sum(1 for x in seq_a if x) < 180


def test_paths_filter_and_unknown_fault(upstream):
    url, bodies = upstream
    with FaultProxy(url, rates={"error_500": 1.0}, paths=("/v1/reference",)) as proxy:
        assert post(proxy.url).status_code == 200
    with pytest.raises(ValueError):
        FaultProxy(url, rates={"meteor": 0.1})
