"""`absorb demo`: import the bundled seed page and walk through what absorb does with it."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer

from agent.cli.common import UserError, echo, err, store_session


def bundled_seed() -> Path:
    return Path(str(resources.files("agent.demo").joinpath("seed.md")))


def run_step(*args: str) -> None:
    """Run one `absorb` command line as a demo step; a failing step stops the demo."""
    from agent.cli.main import run

    code = run(list(args))
    if code:
        raise UserError(f"demo step `absorb {' '.join(args)}` failed", code)


def demo(
    seed: Path = typer.Option(None, help="Page to import (default: the bundled seed page)."),
    topic: str = typer.Option("ai-infrastructure", help="Topic slug for the demo."),
) -> None:
    """Import the seed page, show its outline and its audit."""
    page = seed or bundled_seed()
    err.print(f"== 1. import {page.name} as topic '{topic}'")
    run_step("import", str(page), "--topic", topic)
    err.print("== 2. the article's outline")
    with store_session() as store:
        article = store.revisions.current(topic).article
    for section in article.sections:
        echo(f"  {section.heading}  ({len(section.sentences())} sentences)")
    err.print("== 3. audit: what a careful reader would flag")
    run_step("audit", topic)
