"""FastAPI application of the gateway: `create_app(db_url, ...)`, auth dependencies, the
one error model `{"error", "message"}` (never a 5xx for a bad body; every status listed in
the OpenAPI document), the request guard (authenticate first, bounded bodies: guard.py)."""

from typing import Annotated, Literal

from fastapi import Body, Depends, FastAPI, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
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
from sync.gateway.guard import (AUTH_KEY, PUBLIC_PATHS, MinClientVersion, RequestGuard,
                                error as _error)
from sync.gateway.schemas import (AUTH, OPS_SCHEMA, AssignIn, BlockIn, CloseoutIn,
                                  DownloadedIn, EnrolIn, HazardIn, Id, LoginIn,
                                  MeterExchangeIn, MoveIn, ResolveIn, ThirdPartyIn, TokenIn,
                                  UpsertIn, VerifyIn, VerifyOut, document_errors, errors,
                                  forbid_nul)

API_VERSION = "1.0.0"

bearer = HTTPBearer(auto_error=False, description="device token or supervisor token")
platform_key = APIKeyHeader(name="X-Platform-Key", auto_error=False)


# ---------------------------------------------------------------- errors

def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, "invalid_request", f"{where}: {first.get('msg', 'invalid')}"[:300])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = exc.headers
        if exc.status_code == 405:   # Allow: every method of the path, not of one route
            methods = {m for route in request.app.router.routes
                       if getattr(route, "path_regex", None) is not None
                       and route.path_regex.match(request.url.path)
                       for m in (getattr(route, "methods", None) or ())}
            headers = {"Allow": ", ".join(sorted(methods))}
        return _error(exc.status_code, code, str(exc.detail), headers)

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
    app.add_middleware(RequestGuard, max_bytes=settings.max_body_bytes,
                       authenticate=lambda token: access.holder(ctx, token),
                       max_ops=settings.max_ops_per_batch, platform_key=settings.platform_key)
    if settings.min_client_version:
        app.add_middleware(MinClientVersion, minimum=settings.min_client_version)
    app.add_middleware(observe.Observe, routes=app.router.routes,
                       max_in_flight=settings.max_in_flight, access=settings.access_log)

    async def holder(request: Request, token: str) -> dict:
        """Who holds the token: as the request guard read it, else read now."""
        held = request.scope.get("state", {}).get(AUTH_KEY)
        if held is None or held["token"] != token:
            held = await run_in_threadpool(access.holder, ctx, token)
        if held is None:
            raise ApiError(401, "unauthenticated", "unknown or expired token")
        return held

    async def device(request: Request,
                     cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]):
        if cred is None or not cred.credentials:
            raise ApiError(401, "unauthenticated", "a device bearer token is required")
        held = await holder(request, cred.credentials)
        dev = held["device"]
        if dev is None:
            if cred.credentials.startswith("sv_"):
                raise ApiError(403, "forbidden", "a supervisor token cannot act as a device")
            raise ApiError(401, "unauthenticated", "unknown or expired token")
        if dev["revoked_at"]:
            raise ApiError(403, "device_revoked", "this device has been revoked")
        return dev

    async def supervisor_op(request: Request,
                            cred: Annotated[HTTPAuthorizationCredentials | None,
                                            Depends(bearer)]):
        if cred is None or not cred.credentials:
            raise ApiError(401, "unauthenticated", "a supervisor bearer token is required")
        held = await holder(request, cred.credentials)
        if held["supervisor"] is None:
            raise ApiError(403, "forbidden", "device tokens cannot use supervisor endpoints")
        return held["supervisor"]

    Device = Annotated[dict, Depends(device)]
    Supervisor = Annotated[str, Depends(supervisor_op)]
    dev_errors = errors(*AUTH)               # device endpoints without a path id
    dev_id_errors = errors(*AUTH, 404)       # … naming a route, snapshot
    sv_errors = errors(*AUTH)
    sv_id_errors = errors(*AUTH, 404)

    @app.get("/v1/health", tags=["meta"], responses=errors())
    def health():
        """Liveness: the process answers."""
        return {"ok": True, "version": API_VERSION}

    @app.get("/v1/ready", tags=["meta"], responses=errors(503))
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
    @app.post("/v1/devices/enrol", tags=["device"], responses=errors(403))
    def enrol(body: EnrolIn):
        return access.enrol(ctx, body.code, body.device_name)

    @app.post("/v1/devices/token", tags=["device"], responses=errors(*AUTH))
    def device_token(body: TokenIn):
        return access.reissue_token(ctx, body.device_id, body.ts, body.nonce, body.proof)

    @app.get("/v1/reference", tags=["device"], responses=dev_errors)
    def reference(dev: Device):
        return routedata.reference(ctx, dev["device_id"])

    @app.post("/v1/receipt-blocks", tags=["device"], responses=dev_errors)
    def receipt_blocks(dev: Device, body: BlockIn = Body(default_factory=BlockIn)):
        return routedata.receipt_block(ctx, dev["device_id"], body.size)

    @app.get("/v1/assignments", tags=["device"], responses=dev_errors)
    def assignments(dev: Device):
        return routedata.assignments(ctx, dev["device_id"])

    @app.post("/v1/routes/{route_id}/snapshots", tags=["device"], responses=dev_id_errors)
    def create_snapshot(route_id: Id, dev: Device):
        return routedata.create_snapshot(ctx, route_id)

    @app.get("/v1/routes/{route_id}/snapshots/{snapshot_id}", tags=["device"],
             responses=errors(*AUTH, 404, 410))
    def snapshot_page(route_id: Id, snapshot_id: Id, dev: Device,
                      after: Annotated[str | None, Query(pattern=r"^[0-9]{0,10}$")] = None,
                      limit: Annotated[int, Query(ge=1, le=routedata.MAX_PAGE)] = 1000):
        text = routedata.snapshot_page(ctx, route_id, snapshot_id, after, limit)
        return Response(text.encode("utf-8"), media_type="application/json")

    @app.post("/v1/routes/{route_id}/downloaded", tags=["device"], responses=dev_id_errors)
    def downloaded(route_id: Id, body: DownloadedIn, dev: Device):
        return routedata.mark_downloaded(ctx, dev["device_id"], route_id, body.snapshot_id)

    @app.get("/v1/routes/{route_id}/changes", tags=["device"],
             responses=errors(*AUTH, 404, 410))
    def route_changes(route_id: Id, dev: Device,
                      since: Annotated[int, Query(ge=0, le=2 ** 53)] = 0):
        text = routedata.changes(ctx, route_id, since)
        return Response(text.encode("utf-8"), media_type="application/json")

    def _ingest_body(body: bytes, dev: dict) -> dict:
        return ingest.ingest(ctx, dev, ingest.parse_batch(body, settings.max_ops_per_batch))

    @app.post("/v1/ops", tags=["device"], responses=dev_errors, openapi_extra={
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": OPS_SCHEMA}}}})
    async def post_ops(request: Request, dev: Device):
        body = await request.body()   # already bounded and inflated by the request guard
        result = await run_in_threadpool(_ingest_body, body, dev)
        observe.count_batch(result["results"])
        return JSONResponse(result)  # plain dicts: skip the slow jsonable_encoder pass

    @app.get("/v1/ops/status", tags=["device"], responses=dev_errors)
    def ops_status(dev: Device, from_seq: Annotated[int, Query(ge=1, le=2 ** 53)] = 1,
                   to_seq: Annotated[int | None, Query(ge=1, le=2 ** 53)] = None):
        with ctx.read() as conn:
            top = conn.execute(select(db.devices.c.max_seq).where(
                db.devices.c.device_id == dev["device_id"])).scalar() or 0
            hi = top if to_seq is None else to_seq
            held = ingest.held_ranges(conn, dev["device_id"], from_seq, hi)
        return {"held": held, "missing": ingest.missing_ranges(held, from_seq, hi),
                "max_seq": top}

    @app.post("/v1/shifts/closeout", tags=["device"], responses=dev_errors)
    def shift_closeout(body: CloseoutIn, dev: Device):
        return money.closeout(ctx, dev["device_id"], body.model_dump())

    # -- public: third-party notifications, receipt verification
    @app.post("/v1/thirdparty/payments", tags=["platform"], responses=errors(*AUTH))
    def thirdparty(body: ThirdPartyIn,
                   key: Annotated[str | None, Depends(platform_key)] = None):
        return money.thirdparty_payment(ctx, body.model_dump())   # key checked by the guard

    @app.post("/v1/receipts/verify", tags=["public"], response_model=VerifyOut,
              responses=errors())
    def verify_receipt(body: VerifyIn):
        return {"valid": money.receipt_is_valid(ctx, body.device_id, body.receipt_no,
                                                body.amount_fen, body.verify_code)}

    @app.get("/v1/receipts/verify", tags=["public"], response_model=VerifyOut,
             responses=errors())
    def verify_receipt_get(device_id: Annotated[str, Query(min_length=1, max_length=64)],
                           receipt_no: Annotated[str, Query(min_length=1, max_length=32)],
                           amount_fen: Annotated[int, Query(ge=0, le=10 ** 12)],
                           verify_code: Annotated[str, Query(min_length=1, max_length=64)]):
        return {"valid": money.receipt_is_valid(ctx, device_id, receipt_no, amount_fen,
                                                verify_code)}

    # -- supervisor
    @app.post("/v1/supervisor/login", tags=["supervisor"], responses=errors(*AUTH, 429))
    def supervisor_login(body: LoginIn):
        return access.supervisor_login(ctx, body.operator_id, body.pin)

    @app.get("/v1/supervisor/routes", tags=["supervisor"], responses=sv_errors)
    def sv_routes(op: Supervisor):
        return supervisor.progress(ctx)

    @app.post("/v1/supervisor/routes/{route_id}/assign", tags=["supervisor"],
              responses=sv_id_errors)
    def sv_assign(route_id: Id, body: AssignIn, op: Supervisor):
        return supervisor.assign(ctx, op, route_id, body.operator_id, body.device_id,
                                 body.reason)

    @app.post("/v1/supervisor/routes/{route_id}/request-download", tags=["supervisor"],
              responses=sv_id_errors)
    def sv_request_download(route_id: Id, op: Supervisor):
        return supervisor.request_download(ctx, route_id)

    @app.get("/v1/supervisor/exceptions", tags=["supervisor"], responses=sv_errors)
    def sv_exceptions(op: Supervisor,
                      status: Literal["open", "resolved", "all"] = "open",
                      kind: Annotated[str | None, Query(max_length=32)] = None,
                      limit: Annotated[int, Query(ge=1, le=5000)] = 500):
        return supervisor.list_exceptions(ctx, status, kind, limit)

    @app.post("/v1/supervisor/exceptions/{exception_id}/resolve", tags=["supervisor"],
              responses=errors(*AUTH, 404, 409))
    def sv_resolve(exception_id: Annotated[int, Path(ge=1, le=2 ** 31 - 1)], body: ResolveIn,
                   op: Supervisor):
        return supervisor.resolve_exception(ctx, op, exception_id, body.note)

    @app.post("/v1/supervisor/enrolment-codes", tags=["supervisor"], responses=sv_errors)
    def sv_enrol_code(op: Supervisor):
        return access.new_enrol_code(ctx, op)

    @app.get("/v1/supervisor/devices", tags=["supervisor"], responses=sv_errors)
    def sv_devices(op: Supervisor):
        return supervisor.list_devices(ctx)

    @app.post("/v1/supervisor/devices/{device_id}/revoke", tags=["supervisor"],
              responses=sv_id_errors)
    def sv_revoke(device_id: Id, op: Supervisor):
        return access.revoke(ctx, device_id)

    @app.get("/v1/supervisor/audit", tags=["supervisor"], responses=sv_errors)
    def sv_audit(op: Supervisor, account_no: Annotated[str | None, Query(max_length=64)] = None,
                 limit: Annotated[int, Query(ge=1, le=5000)] = 500):
        return supervisor.audit_log(ctx, account_no, limit)

    @app.post("/v1/supervisor/accounts/{account_no}/hazard", tags=["supervisor"],
              responses=sv_id_errors)
    def sv_hazard(account_no: Id, body: HazardIn, op: Supervisor):
        return supervisor.set_hazard(ctx, op, account_no, body.hazard)

    @app.post("/v1/supervisor/accounts/{account_no}/move", tags=["supervisor"],
              responses=sv_id_errors)
    def sv_move(account_no: Id, body: MoveIn, op: Supervisor):
        return supervisor.move_account(ctx, op, account_no, body.route_id, body.seq)

    @app.put("/v1/supervisor/accounts/{account_no}", tags=["supervisor"],
             responses=errors(*AUTH, 404, 409))
    def sv_upsert(account_no: Id, body: UpsertIn, op: Supervisor):
        if body.account.account_no != account_no:
            raise ApiError(422, "account_mismatch", "account.account_no: differs from the "
                                                    "account_no in the path")
        return supervisor.upsert_account(ctx, op, body.route_id, body.account)

    @app.post("/v1/supervisor/accounts/{account_no}/meter-exchange", tags=["supervisor"],
              responses=errors(*AUTH, 404, 409))
    def sv_meter_exchange(account_no: Id, body: MeterExchangeIn, op: Supervisor):
        return supervisor.exchange_meter(ctx, op, account_no, body.meter, body.reason)

    @app.delete("/v1/supervisor/accounts/{account_no}", tags=["supervisor"],
                responses=sv_id_errors)
    def sv_close(account_no: Id, op: Supervisor):
        return supervisor.close_account(ctx, op, account_no)

    console.mount(app, ctx)   # the office console at /console (sync/gateway/console)
    # -- other payment channels (docs/channels.md)
    app.include_router(channel_routes.platform_router(ctx))
    app.include_router(channel_routes.office_router(ctx, Supervisor))
    app.include_router(customer_pages.router(ctx))   # the customer's phone: /pay, /verify
    blobs.mount(app, ctx, Device, Supervisor)   # photos from the handhelds

    def openapi():
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            forbid_nul(schema)
            document_errors(schema, PUBLIC_PATHS)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app
