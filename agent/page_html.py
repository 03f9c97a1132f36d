"""The topic page as one HTML document (autoescaped Jinja2; no script, nothing inline)."""

from __future__ import annotations

from agent.page import Page


def render_page(page: Page) -> str:
    from agent.web.pages import environment

    return environment().get_template("public_page.html").render(page=page)
