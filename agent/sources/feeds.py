"""RSS and Atom through feedparser, always from bytes we fetched ourselves."""

from __future__ import annotations

import io
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urljoin

import feedparser

from agent.models import SourceKind
from agent.sources.errors import NotAFeed
from agent.sources.items import SourceItem


def _published(entry: Any) -> str | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if isinstance(parsed, time.struct_time):
            try:
                return datetime(*parsed[:6], tzinfo=timezone.utc).isoformat().replace("+00:00", "Z")
            except ValueError:
                continue
    raw = entry.get("published") or entry.get("updated")
    return str(raw)[:40] if raw else None


def _body(entry: Any) -> str:
    """The fullest text an entry offers: content before summary, HTML before plain."""
    contents = [c for c in entry.get("content") or [] if isinstance(c, dict) and c.get("value")]
    contents.sort(key=lambda c: ("html" not in str(c.get("type", "")), -len(c["value"])))
    if contents:
        return str(contents[0]["value"])
    return str(entry.get("summary") or entry.get("description") or "")


def _link(entry: Any, base: str | None) -> str | None:
    link = entry.get("link") or ""
    if not link:
        guid = str(entry.get("id") or "")
        link = guid if guid.startswith(("http://", "https://", "/")) else ""
    if not link:
        return None
    return urljoin(base, link) if base else link


def parse_feed(data: bytes, *, base_url: str | None = None,
               content_type: str = "") -> tuple[list[SourceItem], str | None]:
    """Entries of an RSS/Atom document and, for a broken feed, why it is broken.

    feedparser is handed a BytesIO: given a string it may treat it as a URL or a path and
    fetch it. Its own sanitiser runs too; normalisation reduces everything to text later.
    """
    headers = {"content-type": content_type} if content_type else {}
    if base_url:
        headers["content-location"] = base_url
    parsed = feedparser.parse(io.BytesIO(data), response_headers=headers or None,
                              sanitize_html=True, resolve_relative_uris=True)
    problem = None
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        problem = f"{type(exc).__name__}: {str(exc)[:160]}" if exc else "not well-formed"
    entries = parsed.get("entries") or []
    if not entries:
        if problem:
            raise NotAFeed(f"broken feed with no usable entries ({problem})")
        if not parsed.get("version"):
            raise NotAFeed("not an RSS or Atom feed")
        raise NotAFeed("feed has no entries")
    feed_link = parsed.get("feed", {}).get("link")
    base = urljoin(base_url, feed_link) if base_url and feed_link else (feed_link or base_url)
    items = []
    for entry in entries:
        items.append(SourceItem(
            title=str(entry.get("title") or ""),
            text=_body(entry),
            url=_link(entry, base),
            kind=SourceKind.feed.value,
            author=str(entry.get("author") or "") or None,
            published_at=_published(entry),
            # Titles declared as plain text still carry markup in the wild; bodies are HTML.
            is_html=True,
        ))
    return items, problem
