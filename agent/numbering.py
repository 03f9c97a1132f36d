"""Reference numbers are a property of the topic: a source keeps its number for the topic's life.

A source takes the next free number the first time anything shows it on the topic (an import
keeps the page's own numbers, a refresh numbers the sources it proposes, a rendering numbers
what it has to show). Numbers are never reused: a source whose last citation is removed keeps
its number, and the others never move. Every view (`show`, `review show`, the web pages) asks
`numbers_for` and renders `[N]` from it.
"""

from __future__ import annotations

from collections.abc import Iterable

from typing import TYPE_CHECKING

from agent.models import Article, is_source_id, utcnow

if TYPE_CHECKING:  # reading the numbers goes through the store: `show` starts without
    from agent.store import Store  # SQLAlchemy (agent.store.lite); writing them needs it

ATTEMPTS = 5


def stored_numbers(store: Store, topic: str) -> dict[str, int]:
    """The numbers already given on a topic, by source id."""
    return store.topics.citation_numbers(topic)


def article_order(article: Article) -> list[str]:
    """Cited sources by first appearance, then the listed but uncited ones."""
    cited = article.cited_ids()
    seen = set(cited)
    return cited + [sid for sid in article.sources if sid not in seen]


def numbers_for(store: Store, topic: str, article: Article | None = None,
                extra: Iterable[str] = ()) -> dict[str, int]:
    """Stable numbers for the topic's sources; ids of `article` and `extra` that have none yet
    take the next free numbers (stored now, so every later view shows the same)."""
    wanted = [*(article_order(article) if article is not None else []),
              *(k for k in extra if is_source_id(k))]
    return _assign(store, topic, list(dict.fromkeys(wanted)), {})


def keep_page_numbers(store: Store, topic: str, numbers: dict[str, int]) -> dict[str, int]:
    """An imported page's own numbers, where they are free; numbered sources keep theirs."""
    ordered = sorted(numbers, key=lambda sid: numbers[sid])
    return _assign(store, topic, ordered, numbers)


def _assign(store: Store, topic: str, ids: list[str], preferred: dict[str, int]) -> dict[str, int]:
    for attempt in range(ATTEMPTS):
        known = stored_numbers(store, topic)
        missing = [sid for sid in ids if sid not in known]
        if not missing:
            return known
        taken = set(known.values())
        rows = []
        for sid in missing:
            number = preferred.get(sid)
            if number is None or number in taken or number < 1:
                number = max(taken, default=0) + 1
            taken.add(number)
            rows.append({"topic": topic, "source_id": sid, "number": number, "created_at": utcnow()})
        import sqlalchemy as sa

        from agent.store.schema import citation_numbers

        try:
            with store.engine.begin() as conn:
                conn.execute(citation_numbers.insert(), rows)
        except sa.exc.IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
            continue  # another writer numbered some of them first: read again
        # Every number is unique per topic, so what was read plus what was just inserted is
        # the whole set: no second read.
        return {**known, **{row["source_id"]: row["number"] for row in rows}}
    return stored_numbers(store, topic)
