"""Operations: structured logs through `logging`, Prometheus metrics (`prometheus-client`)
and a bound on the requests one process works on at once.

Logs are JSON lines on stderr: every record has `ts`, `level`, `logger`, `message` and
`pid`; the access log (`chaoshou.gateway.access`) adds `request_id` (the caller's `X-Request-Id` or a
new one, echoed in the answer), `device_id` (as announced in `X-Device-Id`), `method`,
`path`, `status` and `ms`; errors carry their stack trace in `exc`.

Metrics at `/metrics`: `chaoshou_requests_total{method,route,status}`,
`chaoshou_request_seconds{route}` (histogram), `chaoshou_ops_total{status}`,
`chaoshou_batch_ops` (histogram), `chaoshou_rejected_busy_total`, `chaoshou_in_flight` and
`chaoshou_pending_exceptions` (read from the database at scrape time). With several
worker processes (`--workers N`) the processes share `PROMETHEUS_MULTIPROC_DIR`.

Overload: past `max_in_flight` requests in progress in this process, a request is answered
at once with 503 and `Retry-After` (the sync client backs off with jitter), so the requests
that are served keep their latency instead of everyone queueing.
"""
from __future__ import annotations

import json
import logging
import os
import random
import sys
import time
import traceback
import uuid

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge,
                               Histogram, generate_latest, multiprocess)
from prometheus_client.core import GaugeMetricFamily
from starlette.routing import Match

import fieldrules

access_log = logging.getLogger("chaoshou.gateway.access")
log = logging.getLogger("chaoshou.gateway")
UNLIMITED_PATHS = ("/v1/health", "/v1/ready", "/metrics")

REQUESTS = Counter("chaoshou_requests", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram("chaoshou_request_seconds", "request latency", ["route"],
                    buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
OPS = Counter("chaoshou_ops", "ops answered, by result status", ["status"])
BATCH = Histogram("chaoshou_batch_ops", "ops per upload batch",
                  buckets=(1, 10, 50, 100, 200, 500, 1000, 2000))
BUSY = Counter("chaoshou_rejected_busy", "requests answered 503 because the process was full")
IN_FLIGHT = Gauge("chaoshou_in_flight", "requests in progress", multiprocess_mode="livesum")


class JsonFormatter(logging.Formatter):
    FIELDS = ("request_id", "device_id", "method", "path", "status", "ms")

    def format(self, record: logging.LogRecord) -> str:
        doc = {"ts": round(record.created, 3), "level": record.levelname,
               "logger": record.name, "message": record.getMessage(), "pid": record.process}
        for key in self.FIELDS:
            if hasattr(record, key):
                doc[key] = getattr(record, key)
        if record.exc_info:
            doc["exc"] = "".join(traceback.format_exception(*record.exc_info))
        text = json.dumps(doc, ensure_ascii=False)
        masked, found = fieldrules.mask_doc(doc, text)   # no card number in a log line
        return json.dumps(masked, ensure_ascii=False) if found else text


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("chaoshou")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def count_batch(results: list[dict]) -> None:
    BATCH.observe(len(results))
    counts: dict[str, int] = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    for status, n in counts.items():
        OPS.labels(status).inc(n)


class _PendingExceptions:
    """Collector: open exception-queue entries, counted in the database at scrape time."""

    def __init__(self, ctx):
        self.ctx = ctx

    def collect(self):
        from sqlalchemy import func, select

        from sync.gateway import db
        g = GaugeMetricFamily("chaoshou_pending_exceptions", "open exception-queue entries")
        try:
            with self.ctx.read() as conn:
                g.add_metric([], conn.execute(select(func.count()).select_from(db.exceptions)
                                              .where(db.exceptions.c.resolved_at.is_(None)))
                             .scalar())
        except Exception:  # noqa: BLE001 — a scrape must not fail with the database
            log.warning("pending exceptions not counted", exc_info=True)
        yield g


def metrics_text(ctx) -> tuple[bytes, str]:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY
        registry = REGISTRY
    data = generate_latest(registry)
    pending = CollectorRegistry()
    pending.register(_PendingExceptions(ctx))
    return data + generate_latest(pending), CONTENT_TYPE_LATEST


class Observe:
    """ASGI middleware (outermost): request id, access log, metrics, in-flight bound."""

    def __init__(self, app, routes, max_in_flight: int, access: bool = True):
        self.app, self.routes, self.max_in_flight = app, routes, max_in_flight
        self.access = access
        self.in_flight = 0

    def _route(self, scope) -> str:
        """The path template of the route that answered: the router records it in the scope
        (routes of included routers too); else the app's own routes are matched again."""
        path = getattr(scope.get("route"), "path", None)
        if path:
            return path
        for route in self.routes:
            path = getattr(route, "path", None)
            if path is not None and route.matches(scope)[0] == Match.FULL:
                return path
        return "unmatched"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] \
            or uuid.uuid4().hex[:16]
        status = [500]

        async def send_logged(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message = dict(message, headers=list(message.get("headers", []))
                               + [(b"x-request-id", request_id.encode("latin-1"))])
            await send(message)

        limited = scope["path"] not in UNLIMITED_PATHS
        if limited and self.in_flight >= self.max_in_flight:
            BUSY.inc()
            await _busy(send_logged)
        else:
            self.in_flight += limited
            IN_FLIGHT.inc(limited)
            try:
                await self.app(scope, receive, send_logged)
            except Exception:
                log.exception("request failed", extra={"request_id": request_id})
                raise
            finally:
                self.in_flight -= limited
                IN_FLIGHT.dec(limited)
        elapsed = time.perf_counter() - started
        route = self._route(scope)
        REQUESTS.labels(scope["method"], route, str(status[0])).inc()
        LATENCY.labels(route).observe(elapsed)
        if self.access:
            access_log.info("%s %s %s", scope["method"], scope["path"], status[0], extra={
                "request_id": request_id, "method": scope["method"], "path": scope["path"],
                "device_id": headers.get(b"x-device-id", b"").decode("latin-1")[:64] or None,
                "status": status[0], "ms": round(elapsed * 1000, 1)})


async def _busy(send) -> None:
    body = json.dumps({"error": "busy", "message": "gateway busy; retry after the pause "
                                                   "given in Retry-After"}).encode()
    retry = str(random.randint(1, 5))   # spread the retries of a burst
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"retry-after", retry.encode())]})
    await send({"type": "http.response.body", "body": body})
