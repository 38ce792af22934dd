"""The office console the gateway serves at /console: server-rendered pages (Jinja2, a
little plain JavaScript, no build step) for supervisors, the cashier office and auditors,
in Chinese and English. See README "Office console" and docs/contracts.md §4.

`mount(app, ctx)` adds the pages, the static assets and the sign-in to the gateway app.
"""
from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from sync.gateway.console import (account_edit, money_pages, pages, photos, reports,
                                    routes_page, web)
from sync.gateway.context import Context


def mount(app: FastAPI, ctx: Context) -> None:
    console = web.Console(ctx)
    app.add_exception_handler(web.Denied, web.denied_handler)
    app.mount("/console/static", StaticFiles(directory=web.HERE / "static"),
              name="console-static")
    for module in (web, pages, account_edit, routes_page, photos, money_pages, reports):
        # the routes themselves (not an included router): the metrics middleware labels
        # requests by route path, e.g. /console/routes/{route_id}
        for route in module.router(console).routes:
            route.include_in_schema = False
            app.router.routes.append(route)
