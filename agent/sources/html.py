"""Main text of an HTML page through trafilatura: no navigation, no scripts, metadata kept."""

from __future__ import annotations

import logging
from functools import lru_cache
from configparser import ConfigParser

import trafilatura
from trafilatura.settings import use_config

from agent.models import SourceKind
from agent.sources.errors import NoMainText
from agent.sources.items import SourceItem

# trafilatura logs every page it finds too short at WARNING; the import report says it once.
logging.getLogger("trafilatura").setLevel(logging.ERROR)
# Below this, what trafilatura's fallbacks return is a menu label, not an article.
MIN_MAIN_TEXT = 50


@lru_cache(maxsize=1)
def _config() -> ConfigParser:
    config = use_config()
    # We never let trafilatura download (httpx does, with our caps), and if anything ever
    # did, it must not retry without certificate checks.
    config.set("DEFAULT", "INSECURE_SSL_FALLBACK", "off")
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")  # its signal-based timeout breaks threads
    return config


def extract_page(data: bytes, *, url: str | None = None) -> SourceItem:
    """One source from a page; raises NoMainText when trafilatura finds no article in it."""
    try:
        document = trafilatura.bare_extraction(
            data, url=url, with_metadata=True, include_comments=False, include_tables=True,
            include_images=False, include_links=False, favor_precision=True, config=_config())
    except (ValueError, TypeError, AttributeError) as exc:  # lxml/trafilatura on hostile markup
        raise NoMainText(f"page could not be parsed ({type(exc).__name__})") from None
    text = getattr(document, "text", None) if document is not None else None
    if not text or len(" ".join(text.split())) < MIN_MAIN_TEXT:
        raise NoMainText("no main text found in the page (navigation or scripts only?)")
    return SourceItem(
        title=document.title or "",
        text=text,
        url=document.url or url,
        kind=SourceKind.web.value,
        author=document.author or None,
        published_at=document.date or None,
    )
