"""The review web app (`absorb serve`): topics, articles with evidence, proposals to decide.

Handlers only parse the request and call agent.review / agent.diff; every page is rendered
by Jinja2 with autoescape on, because source text and model output are untrusted.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from agent.markdown import reference_numbering, render_sentence
from agent.store import NotFound, Store
from agent.web.auth import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, SESSION_SECONDS, Auth, Editor, safe_next

HERE = Path(__file__).parent
# No inline script or style anywhere: htmx is a same-origin file and its config a meta tag.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}


class NotLoggedIn(Exception):
    pass


def web_url(url: str | None) -> str | None:
    """Links only to http(s): a source's `javascript:` URL must not become clickable."""
    return url if url and url.lower().startswith(("http://", "https://")) else None


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(["html"], default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["web_url"] = web_url
    return env


def create_app(store: Store | None = None, tokens: list[str] | None = None) -> FastAPI:
    """The app on a store (default: the one settings name) and editor tokens (default:
    ABSORB_EDITOR_TOKENS)."""
    from agent.settings import get_settings
    from agent.store import open_store

    store = store or open_store()
    auth = Auth(get_settings().editor_tokens if tokens is None else tokens)
    env = _environment()
    app = FastAPI(title="absorb review", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    def page(request: Request, template: str, editor: Editor | None, code: int = 200,
             **context) -> HTMLResponse:
        csrf = auth.csrf_token(editor.session) if editor and editor.session else ""
        html = env.get_template(template).render(request=request, editor=editor, csrf=csrf, **context)
        return HTMLResponse(html, status_code=code)

    def require(request: Request) -> Editor:
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

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, _exc: NotLoggedIn) -> Response:
        if "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"error": "log in at /login or send Authorization: Bearer TOKEN"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = page(request, "login.html", None, code=401, next=target, error="")
        if request.headers.get("hx-request"):
            response.headers["HX-Redirect"] = "/login?" + urlencode({"next": target})
        return response

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return page(request, "error.html", auth.editor(request), code=404, message=str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        return page(request, "error.html", auth.editor(request), code=exc.status_code,
                    message=str(exc.detail))

    @app.get("/")
    def index() -> RedirectResponse:
        return RedirectResponse("/topics", status_code=303)

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/login")
    def login_form(request: Request, next: str = "/proposals") -> HTMLResponse:
        return page(request, "login.html", None, next=safe_next(next), error="")

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        target = safe_next(str(form.get("next") or ""))
        name = auth.check_token(str(form.get("token") or ""))
        if name is None:
            return page(request, "login.html", None, code=401, next=target,
                        error="That token is not one of the editor tokens.")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, auth.issue(name), max_age=SESSION_SECONDS, path="/",
                            httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        await require_post(request)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/topics")
    def topics(request: Request) -> HTMLResponse:
        from agent.review import list_proposals

        editor = require(request)
        open_count: dict[str, int] = {}
        for proposal in list_proposals(store, "open"):
            open_count[proposal.topic] = open_count.get(proposal.topic, 0) + 1
        rows = [(t, store.revisions.current(t.slug), open_count.get(t.slug, 0))
                for t in store.topics.list()]
        return page(request, "topics.html", editor, rows=rows)

    @app.get("/topics/{slug}")
    def topic(request: Request, slug: str) -> HTMLResponse:
        from agent.review import list_proposals

        editor = require(request)
        info = store.topics.get(slug)
        revision = store.revisions.current(slug)
        if revision is None:
            raise HTTPException(404, f"topic '{slug}' has no article yet")
        numbering = reference_numbering(revision.article)
        stored = store.sources.get_many(list(numbering))
        references = [(n, sid, stored.get(sid) or revision.article.sources[sid])
                      for sid, n in numbering.items()]
        return page(request, "topic.html", editor, topic=info, revision=revision,
                    numbering=numbering, references=references, sources=dict(
                        (sid, source) for _, sid, source in references),
                    render_sentence=render_sentence, history=store.revisions.history(slug)[-5:],
                    proposals=list_proposals(store, "open", slug))

    @app.get("/proposals")
    def proposals(request: Request, status: str = "open") -> HTMLResponse:
        from agent.review import ReviewError, list_proposals

        editor = require(request)
        try:
            found = list_proposals(store, status)
        except ReviewError as exc:
            raise HTTPException(400, str(exc)) from None
        return page(request, "proposals.html", editor, proposals=found[::-1], status=status)

    @app.get("/proposals/{proposal_id}")
    def proposal(request: Request, proposal_id: int, merged: str = "", rejected: str = "",
                 refused: str = "", nothing: str = "") -> HTMLResponse:
        from agent.diff import build_view
        from agent.review import sync_status

        editor = require(request)
        view = build_view(store, sync_status(store, store.proposals.get(proposal_id)))
        outcome = {"merged": merged, "rejected": rejected, "refused": refused, "nothing": nothing}
        return page(request, "proposal.html", editor, view=view,
                    outcome={k: v for k, v in outcome.items() if v.replace(",", "").isdigit()})

    async def decide(request: Request, proposal_id: int, action: str) -> Response:
        from agent.review import ReviewError, decide as decide_edits

        editor, fields = await require_post(request)
        try:
            result = await decide_edits(store, proposal_id, action, fields["edit"] or None,
                                        actor=editor.actor, comment=fields["comment"].strip())
        except ReviewError as exc:
            raise HTTPException(409, str(exc)) from None
        summary = {"merged": result.merged, "rejected": result.rejected,
                   "refused": sorted(result.refused), "nothing": [1] if result.nothing else []}
        if editor.via == "bearer":
            return JSONResponse({"proposal_id": proposal_id, "status": result.proposal.status.value,
                                 "merged": result.merged, "rejected": result.rejected,
                                 "refused": {str(k): v for k, v in result.refused.items()},
                                 "revision": result.revision.number if result.revision else None})
        query = urlencode({k: ",".join(map(str, v)) for k, v in summary.items() if v})
        return RedirectResponse(f"/proposals/{proposal_id}" + (f"?{query}" if query else ""),
                                status_code=303)

    @app.post("/proposals/{proposal_id}/approve")
    async def approve(request: Request, proposal_id: int) -> Response:
        return await decide(request, proposal_id, "approve")

    @app.post("/proposals/{proposal_id}/reject")
    async def reject(request: Request, proposal_id: int) -> Response:
        return await decide(request, proposal_id, "reject")

    app.state.store, app.state.auth = store, auth
    return app
