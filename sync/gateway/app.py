"""FastAPI application of the gateway: `create_app(db_url, ...)`, auth dependencies, error
format (`{"error", "message"}`, never a 5xx for a bad body), gzip request bodies."""

import json
import zlib
from typing import Annotated, Literal

from fastapi import Body, Depends, FastAPI, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from sqlalchemy import select

from sync.gateway import (access, console, db, ingest, migrate, money, observe, routedata, seed,
                          supervisor)
from sync.gateway import blobs
from sync.gateway.channels import routes as channel_routes
from sync.gateway.customer import pages as customer_pages
from sync.gateway.context import ApiError, Context, Settings
from sync.gateway.db import make_engine
from sync.gateway.importer import AccountIn

API_VERSION = "1.0.0"
Id = Annotated[str, Field(min_length=1, max_length=64)]
Fen = Annotated[int, Field(ge=0, le=10 ** 12)]
SeqNo = Annotated[int, Field(ge=1, le=2 ** 53)]

bearer = HTTPBearer(auto_error=False, description="device token or supervisor token")
platform_key = APIKeyHeader(name="X-Platform-Key", auto_error=False)


# ---------------------------------------------------------------- request models

class Strict(BaseModel):
    model_config = ConfigDict(extra="ignore")


class EnrolIn(Strict):
    code: Id
    device_name: Annotated[str, Field(min_length=1, max_length=100)]


class TokenIn(Strict):
    device_id: Id
    ts: Annotated[int, Field(ge=0, le=2 ** 53, description="unix seconds")]
    nonce: Annotated[str, Field(pattern=r"^[0-9a-f]{16,64}$", description=
                                "fresh random hex chosen by the device for this request")]
    proof: Annotated[str, Field(min_length=1, max_length=128, description=
                                'hex HMAC-SHA256(device_key, f"{device_id}|{ts}|{nonce}")')]


class BlockIn(Strict):
    size: Annotated[int, Field(ge=1, le=100_000)] = 1000


class DownloadedIn(Strict):
    snapshot_id: Id


class CloseoutIn(Strict):
    shift_id: Id
    device_id: Id
    seq_from: SeqNo
    seq_to: SeqNo
    counts: dict[Annotated[str, Field(max_length=40)], Annotated[int, Field(ge=0, le=10 ** 9)]]
    sums_fen: dict[Annotated[str, Field(max_length=40)], Annotated[int, Field(ge=-10 ** 12,
                                                                             le=10 ** 12)]]
    digest: Annotated[str, Field(max_length=128)]


class ThirdPartyIn(Strict):
    platform: Annotated[str, Field(min_length=1, max_length=32)]
    txn_id: Annotated[str, Field(min_length=1, max_length=100)]
    account_no: Annotated[str, Field(min_length=1, max_length=32)]
    amount_fen: Annotated[int, Field(ge=1, le=10 ** 11)]
    paid_at: Annotated[str, Field(min_length=1, max_length=40)]


class VerifyIn(Strict):
    device_id: Id
    receipt_no: Annotated[str, Field(min_length=1, max_length=32)]
    amount_fen: Fen
    verify_code: Annotated[str, Field(min_length=1, max_length=64)]


class LoginIn(Strict):
    operator_id: Id
    pin: Annotated[str, Field(min_length=1, max_length=32)]


class AssignIn(Strict):
    operator_id: Id
    device_id: Id | None = None
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class ResolveIn(Strict):
    note: Annotated[str, Field(min_length=1, max_length=2000)]


class HazardIn(Strict):
    hazard: Annotated[str, Field(max_length=500)] | None


class MoveIn(Strict):
    route_id: Id
    seq: Annotated[int, Field(ge=0, le=2 ** 31)]


class UpsertIn(Strict):
    route_id: Id
    account: AccountIn


OPS_SCHEMA = {
    "type": "object", "required": ["ops"],
    "properties": {"ops": {"type": "array", "items": {
        "type": "object",
        "required": ["op_id", "seq", "type", "payload", "payload_sha256"],
        "properties": {"op_id": {"type": "string", "minLength": 1, "maxLength": 100},
                       "seq": {"type": "integer", "minimum": 1},
                       "type": {"type": "string"}, "device_time": {"type": "string"},
                       "operator_id": {"type": "string"}, "payload": {"type": "object"},
                       "payload_sha256": {"type": "string"}}}}},
}


# ---------------------------------------------------------------- middleware and errors

def _error(status: int, code: str, message: str, headers=None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status,
                        headers=headers)


def _storable_json(body: bytes) -> bool:
    """False when the JSON decodes to strings that cannot be encoded as UTF-8 (lone
    surrogates); invalid JSON is left for the endpoint to report."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return True
    try:
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    except (ValueError, RecursionError):
        return True
    return True


class RequestGuard:
    """Read the whole request body once: size limit (413), gzip bodies inflated (bad gzip →
    400, other encodings → 415), and NUL characters refused (400) — PostgreSQL cannot store
    them and no field of ours has a use for them — except in an op batch, whose ops are
    checked one by one (a bad op is rejected and still holds its seq), and in a photo
    blob (binary, checked by its hash: sync/gateway/blobs.py)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def fail(status, code, message):
            return await _error(status, code, message)(scope, receive, send)

        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            return await fail(400, "nul_character", "NUL characters are not accepted")
        headers = dict(scope["headers"])
        encoding = headers.get(b"content-encoding", b"").lower().strip()
        if encoding not in (b"", b"identity", b"gzip"):
            return await fail(415, "unsupported_encoding", "only gzip bodies are accepted")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await fail(413, "body_too_large", "request body too large")
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        new_headers = scope["headers"]
        if encoding == b"gzip":
            try:
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                body = inflater.decompress(body, self.max_bytes + 1)
                if len(body) > self.max_bytes:
                    return await fail(413, "body_too_large", "inflated body too large")
                if not inflater.eof:
                    raise zlib.error("truncated")
            except zlib.error:
                return await fail(400, "invalid_gzip", "request body is not valid gzip")
            new_headers = [(k, v) for k, v in scope["headers"]
                           if k not in (b"content-encoding", b"content-length")]
            new_headers.append((b"content-length", str(len(body)).encode()))
        # An op batch is checked op by op (fieldrules): an op holding a NUL is rejected
        # with its seq held, so one bad op never leaves a gap behind it (docs/contracts.md §0).
        per_op = scope["path"] == "/v1/ops"
        if scope["path"].startswith("/v1/blobs/"):   # photo bytes, checked by their hash
            per_op = True
        if not per_op and (b"\x00" in body or b"\\u0000" in body):
            return await fail(400, "nul_character", "NUL characters are not accepted")
        if body and not per_op and not _storable_json(body):
            return await fail(400, "invalid_text", "body holds text that cannot be stored "
                                                   "(lone UTF-16 surrogates)")
        scope = dict(scope, headers=new_headers)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def _version(text: str) -> tuple:
    return tuple(int(part) if part.isdigit() else 0 for part in text.split(".")[:4])


class MinClientVersion:
    """Answer 426 to clients announcing (`X-Client-Version`) a version below the minimum."""

    def __init__(self, app, minimum: str):
        self.app, self.minimum = app, _version(minimum)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            value = dict(scope["headers"]).get(b"x-client-version")
            if value is not None and \
                    _version(value.decode("latin-1").strip()) < self.minimum:
                return await _error(426, "update_required",
                                    "this client version is too old; update the app")(
                    scope, receive, send)
        return await self.app(scope, receive, send)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(400, "invalid_request", f"{where}: {first.get('msg', 'invalid')}"[:300])

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal(request, exc: Exception):
        observe.log.error("internal error on %s %s", request.method, request.url.path,
                          exc_info=exc)
        return _error(500, "internal", "internal error; the request may be retried")


# ---------------------------------------------------------------- the app

def create_app(db_url: str, seed_demo: bool = False, settings: Settings | None = None,
               demo_accounts: int = 1200, bench_route_accounts: int = 0,
               pin_iterations: int | None = None, apply_migrations: bool = False) -> FastAPI:
    """Build the gateway app on `db_url` (e.g. `sqlite:///gw.db`, `postgresql+psycopg://…`).

    Refuses (`migrate.SchemaNotCurrent`) a database whose schema is not current, unless
    `apply_migrations` (implied by `seed_demo`) migrates it first."""
    settings = settings or Settings()
    engine = make_engine(db_url, settings.pool_size)
    if apply_migrations or seed_demo:
        migrate.upgrade(engine)
    else:
        migrate.check(engine)
    ctx = Context(engine=engine, settings=settings, is_sqlite=db_url.startswith("sqlite"))
    if seed_demo:
        seed.seed_demo(ctx, demo_accounts, pin_iterations)
    if bench_route_accounts:
        seed.add_bench_route(ctx, bench_route_accounts)

    app = FastAPI(title="Chaoshou central billing gateway", version=API_VERSION,
                  description="Reference server of the Chaoshou sync protocol "
                              "(docs/contracts.md §4). Money in integer fen.")
    app.state.ctx = ctx
    _install_errors(app)
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=1)
    app.add_middleware(RequestGuard, max_bytes=settings.max_body_bytes)
    if settings.min_client_version:
        app.add_middleware(MinClientVersion, minimum=settings.min_client_version)
    app.add_middleware(observe.Observe, routes=app.router.routes,
                       max_in_flight=settings.max_in_flight, access=settings.access_log)

    async def device(cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]):
        if cred is None or not cred.credentials:
            raise ApiError(401, "unauthenticated", "a device bearer token is required")
        dev = await run_in_threadpool(access.device_for_token, ctx, cred.credentials)
        if dev is None:
            if cred.credentials.startswith("sv_") and \
                    await run_in_threadpool(access.supervisor_for_token, ctx, cred.credentials):
                raise ApiError(403, "forbidden", "a supervisor token cannot act as a device")
            raise ApiError(401, "unauthenticated", "unknown or expired token")
        if dev["revoked_at"]:
            raise ApiError(403, "device_revoked", "this device has been revoked")
        return dev

    async def supervisor_op(cred: Annotated[HTTPAuthorizationCredentials | None,
                                            Depends(bearer)]):
        if cred is None or not cred.credentials:
            raise ApiError(401, "unauthenticated", "a supervisor bearer token is required")
        operator_id = await run_in_threadpool(access.supervisor_for_token, ctx,
                                              cred.credentials)
        if operator_id is None:
            if await run_in_threadpool(access.device_for_token, ctx,
                                       cred.credentials) is not None:
                raise ApiError(403, "forbidden", "device tokens cannot use supervisor endpoints")
            raise ApiError(401, "unauthenticated", "unknown or expired token")
        return operator_id

    Device = Annotated[dict, Depends(device)]
    Supervisor = Annotated[str, Depends(supervisor_op)]

    @app.get("/v1/health", tags=["meta"])
    def health():
        """Liveness: the process answers."""
        return {"ok": True, "version": API_VERSION}

    @app.get("/v1/ready", tags=["meta"])
    def ready():
        """Readiness: the database answers and its schema is at this gateway's revision."""
        try:
            migrate.check(ctx.engine)
        except migrate.SchemaNotCurrent as exc:
            return _error(503, "schema_not_current", str(exc))
        except Exception as exc:  # noqa: BLE001 — unreachable database
            observe.log.warning("not ready: %s", exc)
            return _error(503, "database_unavailable", f"database unreachable: "
                                                       f"{exc.__class__.__name__}")
        return {"ok": True, "revision": migrate.head()}

    @app.get("/metrics", tags=["meta"], include_in_schema=False)
    def metrics():
        data, content_type = observe.metrics_text(ctx)
        return Response(data, media_type=content_type)

    # -- devices
    @app.post("/v1/devices/enrol", tags=["device"])
    def enrol(body: EnrolIn):
        return access.enrol(ctx, body.code, body.device_name)

    @app.post("/v1/devices/token", tags=["device"])
    def device_token(body: TokenIn):
        return access.reissue_token(ctx, body.device_id, body.ts, body.nonce, body.proof)

    @app.get("/v1/reference", tags=["device"])
    def reference(dev: Device):
        return routedata.reference(ctx)

    @app.post("/v1/receipt-blocks", tags=["device"])
    def receipt_blocks(dev: Device, body: BlockIn = Body(default_factory=BlockIn)):
        return routedata.receipt_block(ctx, dev["device_id"], body.size)

    @app.get("/v1/assignments", tags=["device"])
    def assignments(dev: Device):
        return routedata.assignments(ctx, dev["device_id"])

    @app.post("/v1/routes/{route_id}/snapshots", tags=["device"])
    def create_snapshot(route_id: Id, dev: Device):
        return routedata.create_snapshot(ctx, route_id)

    @app.get("/v1/routes/{route_id}/snapshots/{snapshot_id}", tags=["device"])
    def snapshot_page(route_id: Id, snapshot_id: Id, dev: Device,
                      after: Annotated[str | None, Query(max_length=20)] = None,
                      limit: Annotated[int, Query(ge=1, le=routedata.MAX_PAGE)] = 1000):
        text = routedata.snapshot_page(ctx, route_id, snapshot_id, after, limit)
        return Response(text.encode("utf-8"), media_type="application/json")

    @app.post("/v1/routes/{route_id}/downloaded", tags=["device"])
    def downloaded(route_id: Id, body: DownloadedIn, dev: Device):
        return routedata.mark_downloaded(ctx, dev["device_id"], route_id, body.snapshot_id)

    @app.get("/v1/routes/{route_id}/changes", tags=["device"])
    def route_changes(route_id: Id, dev: Device,
                      since: Annotated[int, Query(ge=0, le=2 ** 53)] = 0):
        return routedata.changes(ctx, route_id, since)

    def _ingest_body(body: bytes, dev: dict) -> dict:
        return ingest.ingest(ctx, dev, ingest.parse_batch(body, settings.max_ops_per_batch))

    @app.post("/v1/ops", tags=["device"], openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": OPS_SCHEMA}}}})
    async def post_ops(request: Request, dev: Device):
        body = await request.body()
        if len(body) > settings.max_body_bytes:
            raise ApiError(413, "body_too_large", "request body too large")
        result = await run_in_threadpool(_ingest_body, body, dev)
        observe.count_batch(result["results"])
        return JSONResponse(result)  # plain dicts: skip the slow jsonable_encoder pass

    @app.get("/v1/ops/status", tags=["device"])
    def ops_status(dev: Device, from_seq: Annotated[int, Query(ge=1, le=2 ** 53)] = 1,
                   to_seq: Annotated[int | None, Query(ge=1, le=2 ** 53)] = None):
        with ctx.read() as conn:
            top = conn.execute(select(db.devices.c.max_seq).where(
                db.devices.c.device_id == dev["device_id"])).scalar() or 0
            hi = top if to_seq is None else to_seq
            held = ingest.held_ranges(conn, dev["device_id"], from_seq, hi)
        return {"held": held, "missing": ingest.missing_ranges(held, from_seq, hi),
                "max_seq": top}

    @app.post("/v1/shifts/closeout", tags=["device"])
    def shift_closeout(body: CloseoutIn, dev: Device):
        return money.closeout(ctx, dev["device_id"], body.model_dump())

    # -- public: third-party notifications, receipt verification
    @app.post("/v1/thirdparty/payments", tags=["platform"])
    def thirdparty(body: ThirdPartyIn,
                   key: Annotated[str | None, Depends(platform_key)] = None):
        if not key:
            raise ApiError(401, "unauthenticated", "X-Platform-Key header is required")
        if key != settings.platform_key:
            raise ApiError(403, "forbidden", "wrong platform key")
        return money.thirdparty_payment(ctx, body.model_dump())

    @app.post("/v1/receipts/verify", tags=["public"])
    def verify_receipt(body: VerifyIn):
        return money.verify_receipt(ctx, body.device_id, body.receipt_no, body.amount_fen,
                                    body.verify_code)

    @app.get("/v1/receipts/verify", tags=["public"])
    def verify_receipt_get(device_id: Annotated[str, Query(min_length=1, max_length=64)],
                           receipt_no: Annotated[str, Query(min_length=1, max_length=32)],
                           amount_fen: Annotated[int, Query(ge=0, le=10 ** 12)],
                           verify_code: Annotated[str, Query(min_length=1, max_length=64)]):
        return money.verify_receipt(ctx, device_id, receipt_no, amount_fen, verify_code)

    # -- supervisor
    @app.post("/v1/supervisor/login", tags=["supervisor"])
    def supervisor_login(body: LoginIn):
        return access.supervisor_login(ctx, body.operator_id, body.pin)

    @app.get("/v1/supervisor/routes", tags=["supervisor"])
    def sv_routes(op: Supervisor):
        return supervisor.progress(ctx)

    @app.post("/v1/supervisor/routes/{route_id}/assign", tags=["supervisor"])
    def sv_assign(route_id: Id, body: AssignIn, op: Supervisor):
        return supervisor.assign(ctx, op, route_id, body.operator_id, body.device_id,
                                 body.reason)

    @app.post("/v1/supervisor/routes/{route_id}/request-download", tags=["supervisor"])
    def sv_request_download(route_id: Id, op: Supervisor):
        return supervisor.request_download(ctx, route_id)

    @app.get("/v1/supervisor/exceptions", tags=["supervisor"])
    def sv_exceptions(op: Supervisor,
                      status: Literal["open", "resolved", "all"] = "open",
                      kind: Annotated[str | None, Query(max_length=32)] = None,
                      limit: Annotated[int, Query(ge=1, le=5000)] = 500):
        return supervisor.list_exceptions(ctx, status, kind, limit)

    @app.post("/v1/supervisor/exceptions/{exception_id}/resolve", tags=["supervisor"])
    def sv_resolve(exception_id: Annotated[int, Path(ge=1, le=2 ** 53)], body: ResolveIn,
                   op: Supervisor):
        return supervisor.resolve_exception(ctx, op, exception_id, body.note)

    @app.post("/v1/supervisor/enrolment-codes", tags=["supervisor"])
    def sv_enrol_code(op: Supervisor):
        return access.new_enrol_code(ctx, op)

    @app.get("/v1/supervisor/devices", tags=["supervisor"])
    def sv_devices(op: Supervisor):
        return supervisor.list_devices(ctx)

    @app.post("/v1/supervisor/devices/{device_id}/revoke", tags=["supervisor"])
    def sv_revoke(device_id: Id, op: Supervisor):
        return access.revoke(ctx, device_id)

    @app.post("/v1/supervisor/accounts/{account_no}/hazard", tags=["supervisor"])
    def sv_hazard(account_no: Id, body: HazardIn, op: Supervisor):
        return supervisor.set_hazard(ctx, account_no, body.hazard)

    @app.post("/v1/supervisor/accounts/{account_no}/move", tags=["supervisor"])
    def sv_move(account_no: Id, body: MoveIn, op: Supervisor):
        return supervisor.move_account(ctx, account_no, body.route_id, body.seq)

    @app.put("/v1/supervisor/accounts/{account_no}", tags=["supervisor"])
    def sv_upsert(account_no: Id, body: UpsertIn, op: Supervisor):
        if body.account.account_no != account_no:
            raise ApiError(400, "account_mismatch", "account_no in path and body differ")
        return supervisor.upsert_account(ctx, body.route_id, body.account.model_dump())

    @app.delete("/v1/supervisor/accounts/{account_no}", tags=["supervisor"])
    def sv_close(account_no: Id, op: Supervisor):
        return supervisor.close_account(ctx, account_no)

    console.mount(app, ctx)   # the office console at /console (sync/gateway/console)
    # -- other payment channels (docs/channels.md)
    app.include_router(channel_routes.platform_router(ctx))
    app.include_router(channel_routes.office_router(ctx, Supervisor))
    app.include_router(customer_pages.router(ctx))   # the customer's phone: /pay, /verify
    blobs.mount(app, ctx, Device, Supervisor)   # photos from the handhelds
    return app

