"""/login and /logout: the login form carries its own CSRF token (bound to a one-use login
cookie), attempts are limited per client and per token, and logging out ends the session on
the server, not only in the browser."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from agent.web.auth import (CSRF_FIELD, LOGIN_COOKIE, LOGIN_SECONDS, SESSION_COOKIE,
                            SESSION_SECONDS, Auth, safe_next)

log = logging.getLogger("absorb.web.auth")
LoginPage = Callable[..., HTMLResponse]


def add_auth_routes(app: FastAPI, auth: Auth, page: Callable[..., HTMLResponse],
                    require_post: Callable[[Request], Awaitable[tuple]]) -> LoginPage:
    """Mount /login and /logout; returns the function that renders the login page."""

    def login_page(request: Request, code: int = 200, **context) -> HTMLResponse:
        nonce, csrf = auth.login_form()
        response = page(request, "login.html", None, code=code, login_csrf=csrf, **context)
        response.set_cookie(LOGIN_COOKIE, nonce, max_age=LOGIN_SECONDS,
                            **{**auth.cookie_flags(request), "path": "/login"})
        return response

    @app.get("/login")
    def login_form(request: Request, next: str = "/proposals") -> HTMLResponse:
        return login_page(request, next=safe_next(next), error="")

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        target = safe_next(str(form.get("next") or ""))
        token = str(form.get("token") or "")
        client = auth.client(request)
        keys = auth.limiter.keys(client, token)
        wait = auth.limiter.retry_after(keys)
        if wait > 0:
            log.warning("login refused for client %s: too many wrong tokens (%.0f s left)", client, wait)
            response = login_page(request, code=429, next=target,
                                  error=f"Too many wrong tokens: try again in {math.ceil(wait)} s.")
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        if not auth.check_login_csrf(request, form.get(CSRF_FIELD)):
            log.warning("login refused for client %s: missing or wrong login CSRF token", client)
            return login_page(request, code=403, next=target,
                              error="This login form expired or came from another site; log in here.")
        session = auth.login(token)
        if session is None:
            auth.limiter.failed(keys)
            log.warning("wrong editor token from client %s", client)
            return login_page(request, code=401, next=target,
                              error="That token is not one of the editor tokens.")
        auth.limiter.succeeded(keys)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, session, max_age=SESSION_SECONDS, **auth.cookie_flags(request))
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        editor, _fields = await require_post(request)
        auth.logout(editor.session)  # the cookie is dead on the server, wherever a copy is
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return login_page
