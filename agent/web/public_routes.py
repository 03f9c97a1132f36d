"""The public topic page `/t/SLUG`: read-only, no login, no review action reachable from it."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse

from agent.page import build_page
from agent.web.pages import Web


def add_public_routes(app: FastAPI, web: Web) -> None:
    @app.get("/t/{slug}")
    def public_page(slug: str) -> HTMLResponse:
        page = build_page(web.store, slug)
        if page is None:
            raise HTTPException(404, f"topic '{slug}' has no article")
        return HTMLResponse(web.render("public_page.html", page=page))
