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
# Only a date the page states (its metadata, a <time> element): without this, htmldate's
# extensive search takes "Copyright 2026" in a footer for the publication date.
DATE_PARAMS = {"extensive_search": False, "original_date": True}


@lru_cache(maxsize=1)
def _config() -> ConfigParser:
    config = use_config()
    # We never let trafilatura download (httpx does, with our caps), and if anything ever
    # did, it must not retry without certificate checks.
    config.set("DEFAULT", "INSECURE_SSL_FALLBACK", "off")
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")  # its signal-based timeout breaks threads
    return config


def extract_page(data: bytes, *, url: str | None = None) -> SourceItem:
    """One source from a page; raises NoMainText when trafilatura finds no article in it.

    `url` is where the page was fetched from (after redirects), and the only URL it gets:
    a canonical link the page declares is the page's own claim, kept as a hint.
    """
    try:
        document = trafilatura.bare_extraction(
            data, url=url, with_metadata=True, include_comments=False, include_tables=True,
            include_images=False, include_links=False, favor_precision=True,
            date_extraction_params=DATE_PARAMS, config=_config())
    except (ValueError, TypeError, AttributeError) as exc:  # lxml/trafilatura on hostile markup
        raise NoMainText(f"page could not be parsed ({type(exc).__name__})") from None
    text = getattr(document, "text", None) if document is not None else None
    if not text or len(" ".join(text.split())) < MIN_MAIN_TEXT:
        raise NoMainText("no main text found in the page (navigation or scripts only?)")
    return SourceItem(
        title=document.title or "",
        text=text,
        url=url,
        declared_url=document.url if document.url and document.url != url else None,
        kind=SourceKind.web.value,
        author=document.author or None,
        published_at=document.date or None,
    )
