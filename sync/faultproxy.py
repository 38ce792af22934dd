"""A fault-injecting HTTP proxy on loopback, for tests and benchmarks of the sync protocol.

Sits between the sync client and the gateway and, with seeded randomness, misbehaves the
way field networks and overloaded servers do:

- `drop_request`: the connection is cut before anything reaches the gateway;
- `drop_response`: the request is forwarded (the gateway commits) but the answer is lost;
- `duplicate`: the request is delivered twice (the client sees the second answer);
- `delay`: the exchange is held for a random time in `delay_range` seconds;
- `truncate_request`: part of the body reaches the gateway, then both sides are cut;
- `truncate_response`: the answer is cut off half-way (declared length kept);
- `error_500` / `error_503` / `error_413` / `error_429`: answered by the proxy itself, without
  forwarding (503/429 carry `Retry-After: retry_after`);
- `error_after_forward`: forwarded (the gateway commits) and then answered with a 502;
- any other `error_NNN` (e.g. `error_426`, `error_401`): answered by the proxy with NNN.

Usage::

    with FaultProxy(gateway_url, seed=7, rates={"drop_response": 0.1}) as proxy:
        client = SyncClient(store, proxy.url)

Only requests whose path starts with one of `paths` are disturbed (default: all).
`response_hook(method, path, status, body) -> body` may rewrite forwarded answers (e.g.
corrupt a route page to exercise the digest check).
`stats` counts what was done (`requests` received, `forwarded` answered by the gateway,
and one counter per fault kind).
"""
from __future__ import annotations

import collections
import http.client
import http.server
import random
import socket
import threading
import time
import urllib.parse

FAULTS = ("drop_request", "drop_response", "duplicate", "delay", "truncate_request",
          "truncate_response", "error_500", "error_503", "error_413", "error_429",
          "error_after_forward")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "content-length", "host"}


class FaultProxy:
    """Threaded HTTP/1.1 proxy to `upstream` ("http://127.0.0.1:PORT") with random faults."""

    def __init__(self, upstream: str, *, seed: int = 0, rates: dict | None = None,
                 retry_after: float = 0, delay_range=(0.0, 0.05), paths=("/",),
                 host: str = "127.0.0.1", port: int = 0, upstream_timeout: float = 60.0,
                 response_hook=None):
        unknown = {k for k in rates or {} if k not in FAULTS and not _is_status_fault(k)}
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host, self.upstream_port = parsed.hostname, parsed.port or 80
        self.rates = dict(rates or {})
        self.retry_after = retry_after
        self.delay_range = delay_range
        self.paths = tuple(paths)
        self.upstream_timeout = upstream_timeout
        self.response_hook = response_hook
        self.enabled = True
        self.stats: collections.Counter = collections.Counter()
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = http.server.ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FaultProxy":
        self._thread = threading.Thread(target=self._server.serve_forever, name="faultproxy",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def choose(self, path: str) -> str | None:
        """The fault for one exchange (or None), drawn from the seeded generator."""
        if not self.enabled or not path.startswith(self.paths):
            return None
        with self._rng_lock:
            roll = self._rng.random()
            acc = 0.0
            for kind, rate in self.rates.items():
                acc += rate
                if roll < acc:
                    return kind
        return None

    def delay(self) -> float:
        with self._rng_lock:
            return self._rng.uniform(*self.delay_range)


def _is_status_fault(kind: str) -> bool:
    return kind.startswith("error_") and kind[6:].isdigit() and 400 <= int(kind[6:]) <= 599


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultProxy

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        self._proxy()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def _proxy(self):
        owner = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = owner.choose(self.path)
        owner.stats["requests"] += 1
        if fault:
            owner.stats[fault] += 1
        if fault == "delay":
            time.sleep(owner.delay())
        if fault == "drop_request":
            return self._cut()
        if fault and fault.startswith("error_") and fault != "error_after_forward":
            return self._answer_error(int(fault[-3:]))
        if fault == "truncate_request":
            self._forward_partial(body[: len(body) // 2], length)
            return self._cut()
        try:
            status, headers, data = self._forward(body)
            if fault == "duplicate":
                status, headers, data = self._forward(body)
        except OSError:
            owner.stats["upstream_error"] += 1
            return self._answer_error(502)
        if owner.response_hook is not None:
            data = owner.response_hook(self.command, self.path, status, data)
        if fault in ("drop_response", "error_after_forward"):
            if fault == "drop_response":
                return self._cut()
            return self._answer_error(502)
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if fault == "truncate_response" and data:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            return self._cut()
        self.wfile.write(data)

    def _headers_out(self):
        return [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]

    def _forward(self, body: bytes):
        owner = self.owner
        conn = http.client.HTTPConnection(owner.upstream_host, owner.upstream_port,
                                          timeout=owner.upstream_timeout)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", f"{owner.upstream_host}:{owner.upstream_port}")
            for k, v in self._headers_out():
                conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            out = resp.status, resp.getheaders(), resp.read()
            owner.stats["forwarded"] += 1
            return out
        finally:
            conn.close()

    def _forward_partial(self, part: bytes, declared: int):
        owner = self.owner
        try:
            with socket.create_connection((owner.upstream_host, owner.upstream_port), 5) as s:
                head = [f"{self.command} {self.path} HTTP/1.1",
                        f"Host: {owner.upstream_host}:{owner.upstream_port}",
                        f"Content-Length: {declared}", "Connection: close"]
                head += [f"{k}: {v}" for k, v in self._headers_out()]
                s.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + part)
                time.sleep(0.01)
        except OSError:
            pass

    def _answer_error(self, status: int):
        body = (b'{"error":"injected_fault","message":"fault proxy answered %d"}' % status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if status in (429, 503):
            self.send_header("Retry-After", str(self.owner.retry_after))
        self.end_headers()
        self.wfile.write(body)

    def _cut(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
