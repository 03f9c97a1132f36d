"""`absorb editors new NAME`: a token for the review web app."""

from __future__ import annotations

import re

import typer

from agent.cli.common import echo, err, fail

editors_app = typer.Typer(help="Tokens editors log in to the review web app with.",
                          no_args_is_help=True)


@editors_app.command("new")
def new(name: str = typer.Argument(..., metavar="NAME", help="The editor's name, shown on "
                                   "their decisions (letters, digits, . _ -).")) -> None:
    """Print a new random token on stdout; add it to ABSORB_EDITOR_TOKENS as NAME:TOKEN."""
    from agent.web.auth import new_token

    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name):
        fail("an editor name is 1 to 40 letters, digits, '.', '_' or '-'")
    echo(new_token())
    err.print(f"add it to ABSORB_EDITOR_TOKENS as {name}:TOKEN (comma-separated entries); "
              "restart `absorb serve` to apply, removing an entry ends its sessions")
