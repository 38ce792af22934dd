"""Building the served app from resolved options (`python -m sync.gateway serve`): the
parent process migrates (when asked) and seeds once; each worker process builds its own
app, engine and connection pool from the same options."""
from __future__ import annotations

import json
import os

from sync.gateway import migrate, seed
from sync.gateway.context import Context, Settings
from sync.gateway.db import make_engine


def settings_from(opts: dict) -> Settings:
    return Settings(snapshot_ttl_s=opts["snapshot_ttl"],
                    change_retention_s=opts["change_retention"],
                    platform_key=opts["platform_key"],
                    fault_after_commit=opts["fault_after_commit"],
                    min_client_version=opts["min_client_version"],
                    group_commit=not opts["no_group_commit"],
                    max_in_flight=opts["max_in_flight"], pool_size=opts["pool_size"],
                    access_log=not opts["no_access_log"])


def prepare(opts: dict) -> None:
    """Once, before any worker starts: migrations (or the check), demo seed, bench route."""
    engine = make_engine(opts["url"], pool_size=1)
    try:
        if opts["migrate"] or opts["seed_demo"]:
            migrate.upgrade(engine)
        else:
            migrate.check(engine)
        ctx = Context(engine=engine, settings=settings_from(opts),
                      is_sqlite=engine.dialect.name == "sqlite")
        if opts["seed_demo"]:
            seed.seed_demo(ctx, opts["demo_accounts"], opts["pin_iterations"])
        if opts["bench_routes"]:
            seed.add_bench_routes(ctx, opts["bench_routes"], opts["bench_route_accounts"])
        elif opts["bench_route_accounts"]:
            seed.add_bench_route(ctx, opts["bench_route_accounts"])
    finally:
        engine.dispose()


def app_from_options(opts: dict):
    from sync.gateway.app import create_app
    return create_app(opts["url"], settings=settings_from(opts))


def app_from_env():
    """The factory each worker process calls (`uvicorn … --factory`): a spawned worker
    starts a fresh interpreter, so it sets up the JSON logs (and access log) itself."""
    from sync.gateway import observe
    opts = json.loads(os.environ["CHAOSHOU_GATEWAY_SERVE"])
    observe.setup_logging(opts["log_level"])
    return app_from_options(opts)
