"""The review web app (`absorb serve`): topics, articles with evidence, proposals to decide.

Handlers only parse the request and call agent.review / agent.diff; every page is rendered
by Jinja2 with autoescape on, because source text and model output are untrusted.
"""

from __future__ import annotations

import math
import time
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.store import NotFound, Store
from agent.web.article_routes import add_article_routes
from agent.web.auth import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, Auth, Editor
from agent.web.auth_routes import add_auth_routes
from agent.web.pages import HERE, Web, environment
from agent.web.review_routes import add_review_routes

# No inline script or style anywhere: htmx is a same-origin file and its config a meta tag.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}


class NotLoggedIn(Exception):
    pass


class LockedOut(Exception):
    """A script's bearer token is refused for `wait` seconds after too many wrong ones."""

    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


def create_app(store: Store | None = None, tokens: list[str] | None = None) -> FastAPI:
    """The app on a store (default: the one settings name) and editor tokens (default:
    ABSORB_EDITOR_TOKENS)."""
    from agent.settings import get_settings
    from agent.store import open_store

    store = store or open_store()
    auth = Auth(get_settings().editor_tokens if tokens is None else tokens)
    env = environment()
    web = Web(store, auth, env)
    app = FastAPI(title="absorb review", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        # What the server spent on the page (browsers show it in their network panel).
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        response.headers.update(SECURITY_HEADERS)
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    def page(request: Request, template: str, editor: Editor | None, code: int = 200,
             **context) -> HTMLResponse:
        return web.page(request, template, editor, code, **context)

    def require(request: Request) -> Editor:
        wait = auth.bearer_wait(request)
        if wait > 0:
            raise LockedOut(wait)
        editor = auth.editor(request)
        if editor is None:
            raise NotLoggedIn()
        return editor

    async def require_post(request: Request) -> tuple[Editor, dict]:
        """A logged-in editor and the form; cookie sessions must prove the form is theirs."""
        editor = require(request)
        form = await request.form()
        fields = {"edit": form.getlist("edit"), "comment": str(form.get("comment") or ""),
                  "csrf": form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)}
        if editor.via == "cookie" and not auth.check_csrf(editor.session, fields["csrf"]):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
        return editor, fields

    def wants_html(request: Request) -> bool:
        return "text/html" in request.headers.get("accept", "")

    @app.exception_handler(LockedOut)
    async def locked_out(_request: Request, exc: LockedOut) -> Response:
        # 429, like the login form: a script can tell "wait" from "wrong token" (401).
        wait = math.ceil(exc.wait)
        return JSONResponse({"error": f"too many wrong tokens: try again in {wait} s"},
                            status_code=429, headers={"Retry-After": str(wait)})

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, _exc: NotLoggedIn) -> Response:
        if not wants_html(request):
            return JSONResponse({"error": "log in at /login or send Authorization: Bearer TOKEN"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        reason = ("Your session ended (sessions last 12 hours, and a server restart ends them "
                  "all); log in again to go on where you were.") if request.cookies.get(SESSION_COOKIE) else ""
        response = login_page(request, code=401, next=target, error="", reason=reason)
        if request.headers.get("hx-request"):
            response.headers["HX-Redirect"] = "/login?" + urlencode({"next": target})
        return response

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        if not wants_html(request):
            return JSONResponse({"error": str(exc)}, status_code=404)
        return page(request, "error.html", auth.editor(request), code=404, title="Not found",
                    message=str(exc))

    titles = {404: "Not found", 405: "Not allowed here", 403: "Refused", 409: "Already decided",
              400: "That did not work", 422: "That address is not right"}

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"There is no page at {request.url.path}."
        elif exc.status_code == 405:
            detail = f"{request.method} is not something {request.url.path} answers; use the page's buttons."
        if not wants_html(request):
            return JSONResponse({"error": detail}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        return page(request, "error.html", auth.editor(request), code=exc.status_code,
                    title=titles.get(exc.status_code, "That did not work"), message=str(detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        def say(error: dict) -> str:
            field = " ".join(str(p) for p in error.get("loc", ())[1:]).replace("_", " ") or "input"
            if error.get("type") == "int_parsing":
                return f"the {field} must be a whole number, not “{error.get('input')}”"
            return f"the {field}: {error.get('msg', 'is not valid').lower()}"

        message = "This address is not one the app can answer: " + "; ".join(map(say, exc.errors())) + "."
        if not wants_html(request):
            return JSONResponse({"error": message}, status_code=422)
        return page(request, "error.html", auth.editor(request), code=422, title=titles[422],
                    message=message)

    @app.get("/")
    def index() -> RedirectResponse:
        return RedirectResponse("/topics", status_code=303)

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    # Login with its own CSRF token and attempt limits; logout ends the server-side session.
    login_page = add_auth_routes(app, auth, page, require_post)

    add_article_routes(app, web, require)
    add_review_routes(app, web, require, NotLoggedIn)
    # The public, read-only topic page (page room, issue 19): no login, no review actions.
    from agent.web.public_routes import add_public_routes

    add_public_routes(app, web)

    app.state.store, app.state.auth = store, auth
    return app
