"""Rendering shared by the web app's routes: the Jinja2 environment (autoescape on: source
text and model output are untrusted), the page helper and small display filters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from agent.store import Store

HERE = Path(__file__).parent


def web_url(url: str | None) -> str | None:
    """Links only to http(s): a source's `javascript:` URL must not become clickable."""
    return url if url and url.lower().startswith(("http://", "https://")) else None


def who(actor: str | None) -> str:
    """'editor:alice' reads 'alice'; 'run:12' reads 'run 12'."""
    if not actor:
        return "—"
    if actor.startswith("editor:"):
        return actor.split(":", 1)[1]
    return actor.replace("run:", "run ", 1)


def when(moment) -> str:
    return moment.strftime("%-d %b %Y, %H:%M UTC") if moment else "—"


def source_href(topic: str, source_id: str, start: int | None = None, end: int | None = None) -> str:
    base = f"/topics/{quote(topic)}/sources/{quote(source_id)}"
    if start is not None and end is not None:
        return f"{base}?at={start}-{end}#quote"
    return base


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(["html"], default=True),
                      trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.filters.update(web_url=web_url, who=who, when=when)
    env.globals.update(source_href=source_href)
    return env


@dataclass
class Web:
    """What every route needs: the store, the editors' auth, the templates."""

    store: Store
    auth: object
    env: Environment

    def render(self, template: str, **context) -> str:
        return self.env.get_template(template).render(**context)

    def page(self, request: Request, template: str, editor, code: int = 200, **context) -> HTMLResponse:
        session = getattr(editor, "session", None)
        csrf = self.auth.csrf_token(session) if editor and session else ""
        html = self.render(template, request=request, editor=editor, csrf=csrf, **context)
        return HTMLResponse(html, status_code=code)
