"""Where the lead was last written, found in the store: the revision a refresh compares the
current one with to tell whether the lead is stale (agent.lead.staleness_between).

Each revision stores its lead key (`agent.store.rows.lead_key`, migration 0005), so the search
reads the current revision and the one that last wrote the lead, never the topic's whole
history: a topic merged every night has hundreds of revisions, and parsing 300 of the seed
article cost 258 ms a refresh. `agent.lead.lead_basis` gives the same answer from a history
already read (tests/test_lead_history.py compares the two).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.lead import lead_sentences
from agent.models import Article, Revision
from agent.store.rows import lead_key

if TYPE_CHECKING:
    from agent.store import Store


def article_lead_key(article: Article) -> str:
    """agent.store.rows.lead_key of an article already parsed."""
    return lead_key({"lead": [s.model_dump(mode="json") for s in article.lead],
                     "summary": article.summary})


def stored_lead_basis(store: Store, topic: str,
                      current: Revision | None = None) -> tuple[Revision, Revision] | None:
    """(basis, current) as `lead_basis` finds them over the topic's whole history, from the
    store's lead keys: the revisions in between are not read. `current`: the topic's current
    revision, when the caller has read it. None for a topic without one."""
    current = current or store.revisions.current(topic)
    if current is None:
        return None
    lead, keys, below = lead_sentences(current.article), [article_lead_key(current.article)], current.number
    while True:
        other = store.revisions.newest_with_other_lead(topic, keys, below)
        if other is None:
            number = 1
            break
        if lead_sentences(other.article) != lead:
            number = other.number + 1
            break
        # Another key, the same lead (a plain summary later written as sentences): its key
        # joins the lead's, so each such form costs one read, not one per revision.
        keys.append(article_lead_key(other.article))
        below = other.number
    basis = current if number == current.number else store.revisions.by_number(topic, number)
    return basis, current
