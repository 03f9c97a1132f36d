"""What every command shares: the store handle, stderr console, one-line errors, JSON out."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer


class LazyConsole:
    """rich's Console for stderr, made on first use: loading rich costs every command about
    20 ms of start-up, and most print nothing to stderr. Markup and emoji codes are off: titles
    and messages carry untrusted text that must never be read as style tags, nor `:warning:`
    turned into a sign the source never wrote."""

    def __init__(self, **options: Any) -> None:
        self._options = {"stderr": True, "highlight": False, "markup": False, "emoji": False,
                         **options}
        self._console = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


err = LazyConsole(soft_wrap=True)


def styled(*parts: str | tuple[str, str]) -> Any:
    """rich's Text.assemble, imported on first use (see LazyConsole)."""
    from rich.text import Text

    return Text.assemble(*parts)


class UserError(Exception):
    """An error the user caused or can fix; the CLI prints it as one line and exits 2."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code



@contextmanager
def interrupt_after() -> Iterator[None]:
    """Ctrl-C waits until the block is done: a decision (a second or less) is saved and said,
    or not made, never saved without a word. A Ctrl-C that came meanwhile then ends the
    command as one would (`interrupted`, exit 130). Outside the main thread: a plain block."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: came.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if came:  # said here: typer turns a KeyboardInterrupt inside a command into a silent 130
        err.print("interrupted")
        raise typer.Exit(130)

def fail(message: str, code: int = 2) -> NoReturn:
    raise UserError(message, code)


def emit_json(data: Any) -> None:
    """Data goes to stdout, always valid JSON, one document."""
    def default(obj: Any) -> Any:
        if hasattr(obj, "model_dump"):  # a pydantic model
            return obj.model_dump(mode="json")
        if hasattr(obj, "isoformat"):
            return obj.isoformat()
        raise TypeError(f"cannot serialise {type(obj).__name__}")

    sys.stdout.write(json.dumps(data, default=default, indent=2, ensure_ascii=False) + "\n")


@contextmanager
def store_session(*, read: bool = False) -> Iterator["Store"]:  # noqa: F821 - imported lazily
    """The store for one command; `read` for commands that only show it: a SQLite store is then
    read without loading SQLAlchemy (agent.store.lite), and any write goes to the full store."""
    if read:
        from agent.store.lite import open_reader

        store = open_reader()
    else:
        from agent.store import open_store

        store = open_store()
    try:
        yield store
    finally:
        store.close()


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe_text(text: str) -> str:
    """Source text and model output may carry terminal escape sequences: never let them
    reach a terminal. Tabs and newlines stay."""
    return _CONTROL.sub("\ufffd", text)


def echo(text: str = "") -> None:
    """Human-readable data on stdout (markup-free so it can be piped), control codes neutralised."""
    typer.echo(safe_text(text))


def topic_argument(help: str = "Topic slug, e.g. ai-infrastructure (`absorb topics` lists them).",
                   required: bool = True) -> Any:
    """The one way commands name a topic on the command line: TOPIC, described the same way."""
    return typer.Argument(... if required else None, metavar="TOPIC", help=help, show_default=False)


def when(moment: Any) -> str:
    """Every date a command prints, in one format (UTC as stored): 2026-12-01 21:07."""
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


def known_topic(store: Any, slug: str | None) -> None:
    """A --topic filter naming no topic is a mistake, not an empty list."""
    if slug is not None and not store.topics.exists(slug):
        fail(f"unknown topic '{slug}' (`absorb topics` lists them)")
