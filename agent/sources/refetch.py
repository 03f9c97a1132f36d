"""`absorb sources fetch ID`: fill a reference that has no text from its own URL, once.

A page's reference list stores sources with a URL and a title but no text. The only way
such a row gets text is this: fetch the row's own URL (every hop checked like any import)
and write what the page says, recorded in the source's history. Items from feeds and files
that claim the same URL never write into it (see agent.sources.ingest).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.sources import dedup
from agent.sources.errors import FetchError, NoMainText
from agent.sources.fetch import fetch
from agent.sources.formats import read_items
from agent.sources.importer import is_url
from agent.sources.normalize import canonical_url, normalise
from agent.store.provenance import TextAlreadyWritten

if TYPE_CHECKING:
    from agent.store import Store


def fetch_reference(store: Store, source_id: str, *, actor: str) -> dict[str, Any]:
    """Fetch a textless source's own URL and store its text; returns the history entry."""
    source = store.sources.get(source_id)
    if source.text:
        raise TextAlreadyWritten(f"source {source_id} already has its text; a source's text is "
                                 "written once (a changed page is imported as a new source)")
    if not source.url or not is_url(source.url):
        raise FetchError(f"source {source_id} has no http(s) URL to fetch")
    fetched = fetch(source.url)
    items, _warnings = read_items(fetched.body, "auto", name=fetched.url, base_url=fetched.url,
                                  content_type=fetched.content_type)
    if len(items) != 1:
        raise FetchError(f"{fetched.url[:120]} gave {len(items)} items, not one page: "
                         "import it with `absorb sources import`")
    item = items[0]
    clean = normalise(item)
    if clean is None or not clean.text:
        raise NoMainText(f"{fetched.url[:120]} has no text to store")
    values = {"text": clean.text, "content_hash": clean.content_hash,
              "minhash": dedup.to_bytes(dedup.signature(f"{source.title}\n{clean.text}")),
              "title": source.title or clean.title,
              "author": source.author or clean.author,
              "published_at": source.published_at or clean.published_at,
              "declared_url": canonical_url(item.declared_url)}
    detail = {"url": source.url, "fetched_url": fetched.url, "status": fetched.status,
              "content_type": fetched.content_type[:100], "chars": len(clean.text),
              "content_hash": clean.content_hash}
    store.sources.fill_text(source_id, values, detail=detail, actor=actor)
    return {"source_id": source_id, "action": "fetched", "actor": actor, **detail}
