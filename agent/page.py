"""The topic page as readers see it: title, lead, who is mentioned most, the sections with
numbered citations, the references with links back, and the knowledge bus with each item's
status. One model, rendered by `absorb show --format html` and the public `/t/SLUG` page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.markdown import split_sentences
from agent.models import Article, Sentence, Source, SourceStatus, is_source_id
from agent.numbering import numbers_for
from agent.store.rows import sentence_key

if TYPE_CHECKING:
    from agent.store import Store

BUS_SHOWN = 50
MENTIONS_SHOWN = 12
OPENING_CHARS = 300


@dataclass
class Cite:
    number: int | None  # None: a marker the page could not resolve, shown as written
    label: str
    anchor: str = ""    # id of this [N] in the text, for the reference's link back


@dataclass
class PageSentence:
    text: str
    cites: list[Cite]
    unverified: bool = False
    """Went in unverified (an editor ticked it) and no later check verified it: marked."""


@dataclass
class PageSection:
    id: str
    heading: str
    paragraphs: list[list[PageSentence]]


@dataclass
class PageReference:
    number: int
    title: str
    kind: str
    date: str
    url: str | None
    backlinks: list[str] = field(default_factory=list)


@dataclass
class BusItem:
    title: str
    kind: str
    date: str
    opening: str
    status: str
    detail: str


@dataclass
class Page:
    slug: str
    title: str
    lead: str
    revision: int
    mentions: list[tuple[str, int]]
    sections: list[PageSection]
    references: list[PageReference]
    bus: list[BusItem]
    bus_total: int
    lead_sentences: list[PageSentence] = field(default_factory=list)
    """The lead with its citations, once a lead edit wrote it (else `lead` is plain text)."""


def opening(text: str) -> str:
    sentences = split_sentences(" ".join(text.split()))
    first = sentences[0] if sentences else ""
    return first if len(first) <= OPENING_CHARS else first[:OPENING_CHARS - 1].rstrip() + "\u2026"


def _sentence(sentence: Sentence, numbers: dict[str, int],
              backlinks: dict[int, list[str]], marked: set[str] = frozenset()) -> PageSentence:
    cites = []
    for key in sentence.citations:
        number = numbers.get(key) if is_source_id(key) else None
        if number is None:
            cites.append(Cite(None, key))
            continue
        anchor = f"cite-{number}-{len(backlinks.get(number, [])) + 1}"
        backlinks.setdefault(number, []).append(anchor)
        cites.append(Cite(number, str(number), anchor))
    return PageSentence(sentence.text, cites, bool(marked) and sentence_key(sentence) in marked)


def _sections(article: Article, numbers: dict[str, int], backlinks: dict[int, list[str]],
              marked: set[str] = frozenset()) -> list[PageSection]:
    return [PageSection(section.id, section.heading,
                        [[_sentence(s, numbers, backlinks, marked) for s in paragraph]
                         for paragraph in section.paragraphs])
            for section in article.sections]


def _status(store: Store, slug: str, article: Article, source: Source, status: str,
            titles: dict[str, str]) -> tuple[str, str]:
    """(status word, detail in words) of one bus item."""
    if status == SourceStatus.absorbed.value:
        where = [s.heading for s in article.sections
                 if any(source.id in sentence.citations for sentence in s.sentences())]
        return "absorbed", f"absorbed into {', '.join(where)}" if where else "absorbed"
    if status == SourceStatus.proposed.value:
        return "proposed", "in a pending proposal"
    if status == SourceStatus.duplicate.value:
        other = titles.get(source.duplicate_of or "", source.duplicate_of or "another source")
        return "duplicate", f"duplicate of {other}"
    words = {"held_back": "held back", "undecided": "undecided"}
    return status, words.get(status, status)


def bus_items(store: Store, slug: str, article: Article, limit: int = BUS_SHOWN) -> tuple[list[BusItem], int]:
    """The topic's bus, newest first: what came with text, not the
    page's own textless references."""
    rows = [(source, status) for source, status in store.sources.for_topic(slug) if source.text]
    titles = {source.id: source.title for source, _ in rows}
    # Newest date first; items of one date (or none) in the order they arrived.
    order = sorted(enumerate(rows), key=lambda item: (item[1][0].published_at or "", -item[0]),
                   reverse=True)
    items = []
    for _, (source, status) in order[:limit]:
        word, detail = _status(store, slug, article, source, status, titles)
        items.append(BusItem(source.title or opening(source.text), source.kind,
                             (source.published_at or "")[:10], opening(source.text), word, detail))
    return items, len(rows)


def build_page(store: Store, slug: str, *, bus_limit: int = BUS_SHOWN) -> Page | None:
    from agent.mentions import strip_for

    revision = store.revisions.current(slug)
    if revision is None:
        return None
    article = revision.article
    numbers = numbers_for(store, slug, article)
    backlinks: dict[int, list[str]] = {}
    marked = store.decisions.unverified_keys(slug)
    lead = [_sentence(s, numbers, backlinks, marked) for s in article.lead]
    sections = _sections(article, numbers, backlinks, marked)
    stored = store.sources.get_many(list(article.sources))
    references = []
    for sid, listed in article.sources.items():
        source = stored.get(sid) or listed
        if sid in numbers:
            references.append(PageReference(numbers[sid], source.title or source.url or sid,
                                            source.kind, (source.published_at or "")[:10],
                                            source.url, backlinks.get(numbers[sid], [])))
    references.sort(key=lambda r: r.number)
    bus, total = bus_items(store, slug, article, bus_limit)
    return Page(slug, article.title, article.summary, revision.number,
                strip_for(store, slug, MENTIONS_SHOWN), sections, references, bus, total, lead)
