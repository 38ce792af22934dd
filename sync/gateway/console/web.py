"""Console plumbing: templates, language, the signed-in user, CSRF on every form, role
checks, sign-in and sign-out. Pages live beside this module (one module per area)."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from sync.gateway.console import auth, forms
from sync.gateway.console.i18n import LANGS, channel_name, translate
from sync.gateway.context import Context

HERE = Path(__file__).parent
env = Environment(loader=FileSystemLoader(HERE / "templates"),
                  autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
env.filters["yuan"] = lambda fen: "—" if fen is None else f"{fen / 100:,.2f}"
NAV = ("today", "routes", "accounts", "exceptions", "voids", "devices", "shifts", "reports")
COOKIE_FLAGS = {"httponly": True, "samesite": "strict", "path": "/console"}


class Denied(Exception):
    """Answered as a page: 401 → sign-in, 403 → forbidden, 400 → stale form."""

    def __init__(self, status: int, key: str, detail: str = ""):
        super().__init__(key)
        self.status, self.key, self.detail = status, key, detail


def lang_of(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get("chaoshou_lang") or "zh"
    return lang if lang in LANGS else "zh"


def render(request: Request, template: str, http_status: int = 200, **context) -> HTMLResponse:
    lang = lang_of(request)
    user = getattr(request.state, "office_user", None)
    t = translate(lang)
    html = env.get_template(template).render(
        t=t, channel=lambda name: channel_name(t, name), lang=lang, user=user, nav=NAV, path=request.url.path,
        csrf=user["csrf"] if user else getattr(request.state, "login_csrf", None),
        may=(lambda action: bool(user) and auth.may_write(user, action)), **context)
    response = HTMLResponse(html, status_code=http_status)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie("chaoshou_lang", lang, max_age=365 * 86400, **COOKIE_FLAGS)
    return response


class Console:
    """Per-app helpers bound to the gateway context."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def user(self, request: Request, page: str | None = None) -> dict:
        """The signed-in user (401 otherwise); 403 when the role may not see `page`."""
        user = await run_in_threadpool(auth.session_user, self.ctx,
                                       request.cookies.get(auth.COOKIE))
        if user is None:
            raise Denied(401, "sign_in")
        request.state.office_user = user
        if page and not auth.may_see(user, page):
            raise Denied(403, "forbidden")
        return user

    def listing(self, router: APIRouter, page: str, rows_of) -> None:
        """GET /console/<page>: `rows_of(ctx)` rendered by templates/<page>.html."""
        async def view(request: Request):
            await self.user(request, page)
            rows = await run_in_threadpool(rows_of, self.ctx)
            return render(request, f"{page}.html", page=page, rows=rows)
        router.add_api_route(f"/console/{page}", view, methods=["GET"])

    async def form(self, request: Request, action: str, model: type[forms.Form] = forms.Form):
        """A posted form from a signed-in user: its CSRF token must be the session's, the
        role must allow `action`, and the fields must fit `model`. Returns (user, model)."""
        user = await self.user(request)
        form = dict(await request.form())
        if not auth.csrf_ok(user["csrf"], form.pop("csrf", None)):
            raise Denied(400, "csrf")
        if not auth.may_write(user, action):
            raise Denied(403, "forbidden")
        try:
            return user, forms.parse(model, form)
        except forms.Invalid as exc:
            raise Denied(400, "invalid_field", exc.field) from None


def back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def router(console: Console) -> APIRouter:
    r = APIRouter()
    ctx = console.ctx

    @r.get("/console/login")
    def login_page(request: Request, error: str | None = None):
        token = request.cookies.get(auth.LOGIN_CSRF_COOKIE) or auth.secrets.token_urlsafe(24)
        request.state.login_csrf = token
        response = render(request, "login.html", error=error)
        response.set_cookie(auth.LOGIN_CSRF_COOKIE, token, **COOKIE_FLAGS)
        return response

    @r.post("/console/login")
    async def login(request: Request):
        form = await request.form()
        # sign-in has no session yet: the form's token must match its cookie (double submit)
        if not auth.csrf_ok(request.cookies.get(auth.LOGIN_CSRF_COOKIE), form.get("csrf")):
            raise Denied(400, "csrf")
        try:
            token, _user = await run_in_threadpool(
                auth.sign_in, ctx, str(form.get("username", ""))[:64],
                str(form.get("password", ""))[:200])
        except auth.SignInError as exc:
            request.state.login_csrf = form.get("csrf")
            return render(request, "login.html", http_status=401 if exc.code != "locked" else 423,
                          error=exc.code)
        response = back("/console/")
        response.set_cookie(auth.COOKIE, token, max_age=auth.SESSION_S, **COOKIE_FLAGS)
        return response

    @r.post("/console/logout")
    async def logout(request: Request):
        user = await console.user(request)
        form = await request.form()
        if not auth.csrf_ok(user["csrf"], form.get("csrf")):
            raise Denied(400, "csrf")
        await run_in_threadpool(auth.sign_out, ctx, request.cookies.get(auth.COOKIE))
        response = back("/console/login")
        response.delete_cookie(auth.COOKIE, path="/console")
        return response

    return r


def denied_handler(request: Request, exc: Denied) -> Response:
    if exc.status == 401:
        return back("/console/login")
    return render(request, "denied.html", http_status=exc.status, key=exc.key,
                  detail=exc.detail)
