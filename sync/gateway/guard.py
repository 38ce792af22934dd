"""The gateway's front door (ASGI middleware), in the order a request meets it:

1. `MinClientVersion`: 426 when `X-Client-Version` (`protocol.CLIENT_VERSION_HEADER`) is
   below the minimum.
2. `RequestGuard`: authenticate first — every path but the public ones needs a known
   bearer token (401 before a byte of the body is read); then the body, bounded before it
   is inflated or parsed (README "Reliability"):
   - raw size: `max_bytes` for `POST /v1/ops`, `SMALL_BODY_BYTES` for everything else (413);
   - gzip inflated in a worker thread, never past the size bound, and refused when it
     inflates more than `MAX_RATIO` times (413) — a 15 kB body cannot become 15 MB;
   - NUL characters refused (400: PostgreSQL cannot store them, no field has a use for
     them) — except in an ops batch, checked op by op (a bad op is rejected and still
     holds its seq, docs/contracts.md §0), and in a photo (binary, checked by its hash:
     sync/gateway/blobs.py);
   - small JSON bodies parsed once in a worker thread to check nesting (`MAX_DEPTH`),
     element count (`MAX_ELEMENTS`) and unstorable text (lone surrogates); an ops batch is
     bounded by its element count estimate before `ingest.parse_batch` parses it (also in
     a worker thread).
Every refusal is the one error model `{"error", "message"}`.
"""
from __future__ import annotations

import json
import re
import zlib

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sync import platform_sign, protocol

SMALL_BODY_BYTES = 64 * 1024   # every document but an ops batch is far below this
MAX_RATIO = 100                # gzip of real ops batches inflates 3–10×
RATIO_FLOOR = 64 * 1024        # small bodies may inflate more (short repetitive JSON)
MAX_DEPTH = 16                 # the deepest legitimate document (an account) is 3 levels
MAX_ELEMENTS = 5000            # values in one small document
OPS_ELEMENTS_PER_OP = 400      # separators per op in a batch (fields, payload, notes)
OPS_PATH = "/v1/ops"
# CSV statements of the payment channels (docs/channels.md) may be as large as ops batches
LARGE_BODY = re.compile(r"^/v1/(ops|blobs/[^/]+|channels/statements"
                        r"|supervisor/channels/statements/[^/]+)$")
# own authentication: the office console (session cookie), payment platforms (signatures);
# the customer's pages (/pay, /verify) are public
OWN_AUTH_PREFIXES = ("/console/", "/v1/channels/", "/pay/")
AUTH_KEY = "chaoshou_token_holder"   # request state: who holds the bearer token
PUBLIC_PATHS = frozenset({
    "/v1/health", "/v1/ready", "/metrics", "/v1/devices/enrol", "/v1/devices/token", "/v1/receipts/verify",
    "/v1/supervisor/login", "/v1/thirdparty/payments",
    "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/pay", "/verify"})


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error(status: int, code: str, message: str, headers=None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status,
                        headers=headers)


def bearer_token(headers: dict) -> str | None:
    value = headers.get(b"authorization", b"").decode("latin-1").strip()
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def inflate(body: bytes, limit: int) -> bytes:
    """gzip `body` inflated, at most `limit` bytes and `MAX_RATIO` times its size."""
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = inflater.decompress(body, limit + 1)
        if len(out) > limit:
            raise Refused(413, "body_too_large", f"inflated body above {limit} bytes")
        if len(out) > RATIO_FLOOR and len(out) > MAX_RATIO * len(body):
            raise Refused(413, "compression_ratio",
                          f"body inflates more than {MAX_RATIO} times")
        if not inflater.eof or inflater.unused_data:
            raise zlib.error("truncated or trailing data")
    except zlib.error:
        raise Refused(400, "invalid_gzip", "request body is not valid gzip") from None
    return out


def _shape(doc, depth: int = 0, count: list | None = None) -> None:
    """Refuse documents nested deeper than MAX_DEPTH or holding more than MAX_ELEMENTS."""
    count = [0] if count is None else count
    if depth > MAX_DEPTH:
        raise Refused(400, "too_deep", f"JSON nested deeper than {MAX_DEPTH} levels")
    children = doc.values() if isinstance(doc, dict) else doc if isinstance(doc, list) else ()
    for child in children:
        count[0] += 1
        if count[0] > MAX_ELEMENTS:
            raise Refused(413, "too_many_elements", f"more than {MAX_ELEMENTS} JSON values")
        if isinstance(child, (dict, list)):
            _shape(child, depth + 1, count)
        elif isinstance(child, str):
            _storable(child)
    if isinstance(doc, dict):
        for key in doc:
            _storable(key)


def _storable(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Refused(400, "invalid_text", "body holds text that cannot be stored "
                                           "(lone UTF-16 surrogates)") from None


def check_body(body: bytes, encoding: bytes, limit: int, raw: bool) -> bytes:
    """The body as the endpoint may read it (worker thread), or Refused. A `raw` body (an
    ops batch, a photo) is only inflated: its endpoint checks the rest."""
    if encoding == b"gzip":
        body = inflate(body, limit)
    if raw:
        return body
    if b"\x00" in body or b"\\u0000" in body:
        raise Refused(400, "nul_character", "NUL characters are not accepted")
    try:
        doc = json.loads(body) if body.strip() else None
    except (ValueError, RecursionError):
        return body   # invalid JSON: the endpoint answers it in the one error model
    _shape(doc)
    return body


class RequestGuard:
    """See the module docstring. `authenticate(token)` runs in a worker thread and returns
    who holds the token (None: unknown); it is kept in the request's state under `AUTH_KEY`
    for the endpoint's own check, so a token is read once per request. `platform_key`
    guards `/v1/thirdparty/payments` the same way."""

    def __init__(self, app, max_bytes: int, authenticate, max_ops: int, platform_key: str):
        self.app, self.max_bytes, self.authenticate = app, max_bytes, authenticate
        self.max_ops, self.platform_key = max_ops, platform_key

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            scope, body = await self._admit(scope, receive)
        except Refused as exc:
            return await error(exc.status, exc.code, exc.message)(scope, receive, send)
        if body is None:   # the client went away
            return None
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)

    async def _admit(self, scope, receive):
        headers = dict(scope["headers"])
        path = scope["path"]
        if path == "/v1/thirdparty/payments":
            key = headers.get(b"x-platform-key", b"").decode("latin-1")
            if not key:
                raise Refused(401, "unauthenticated", "X-Platform-Key header is required")
            if not protocol.same_secret(key, self.platform_key):
                raise Refused(403, "forbidden", "wrong platform key")
        elif path.startswith("/v1/channels/"):
            # the signature covers the body, so the route checks it; an unsigned request is
            # refused here, before anything of its body or query is looked at
            if not all(headers.get(h.lower().encode("latin-1")) for h in platform_sign.HEADERS):
                raise Refused(401, "unsigned", "X-Platform, X-Timestamp, X-Nonce and "
                                               "X-Signature are required")
        elif path not in PUBLIC_PATHS and not path.startswith(OWN_AUTH_PREFIXES) \
                and path != "/console":
            token = bearer_token(headers)
            if token is None:
                raise Refused(401, "unauthenticated", "a bearer token is required")
            holder = await run_in_threadpool(self.authenticate, token)
            if not holder:
                raise Refused(401, "unauthenticated", "unknown or expired token")
            scope = dict(scope, state={**scope.get("state", {}), AUTH_KEY: holder})
        if "\x00" in path or b"%00" in scope.get("query_string", b""):
            raise Refused(400, "nul_character", "NUL characters are not accepted")
        encoding = headers.get(b"content-encoding", b"").lower().strip()
        if encoding not in (b"", b"identity", b"gzip"):
            raise Refused(415, "unsupported_encoding", "only gzip bodies are accepted")
        is_ops = path == OPS_PATH
        raw = is_ops or path.startswith("/v1/blobs/")   # checked per op / by the photo's hash
        limit = self.max_bytes if LARGE_BODY.match(path) else SMALL_BODY_BYTES
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return scope, None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                raise Refused(413, "body_too_large", f"request body above {limit} bytes")
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if body:
            body = await run_in_threadpool(check_body, body, encoding, limit, raw)
        if is_ops and body.count(b",") > self.max_ops * OPS_ELEMENTS_PER_OP:
            raise Refused(413, "too_many_elements", "ops batch holds too many JSON values")
        if encoding == b"gzip":
            new_headers = [(k, v) for k, v in scope["headers"]
                           if k not in (b"content-encoding", b"content-length")]
            new_headers.append((b"content-length", str(len(body)).encode()))
            scope = dict(scope, headers=new_headers)
        return scope, body


def _version(text: str) -> tuple:
    return tuple(int(part) if part.isdigit() else 0 for part in text.split(".")[:4])


class MinClientVersion:
    """Answer 426 to clients announcing a version below the minimum."""

    def __init__(self, app, minimum: str):
        self.app, self.minimum = app, _version(minimum)
        self.header = protocol.CLIENT_VERSION_HEADER.lower().encode("latin-1")

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            value = dict(scope["headers"]).get(self.header)
            if value is not None and \
                    _version(value.decode("latin-1").strip()) < self.minimum:
                return await error(426, "update_required",
                                   "this client version is too old; update the app")(
                    scope, receive, send)
        return await self.app(scope, receive, send)
