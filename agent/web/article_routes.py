"""Topics, articles, revisions (each against its parent or any other), sources with the quote
highlighted, and one sentence's history: where it came from and who let it in."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse

from agent.kinds import MAX_ID
from agent.models import Article, Revision
from agent.review_view import Line, fold
from agent.sentence_diff import align
from agent.store.decisions import sentence_key
from agent.web.pages import Web


def section_diffs(old: Article | None, new: Article) -> list[tuple[str, str, list]]:
    """(heading, how, rows) for every section that differs between two revisions."""
    out = []
    before = {s.id: s for s in (old.sections if old else [])}
    for section in new.sections:
        previous = before.pop(section.id, None)
        if previous is not None and previous.paragraphs == section.paragraphs:
            continue
        rows = fold([Line(r) for r in align(previous.paragraphs if previous else [], section.paragraphs, [])])
        out.append((section.heading, "changed" if previous else "added", rows))
    for section in before.values():
        out.append((section.heading, "removed", [Line(r) for r in align(section.paragraphs, [], [])]))
    return out


def add_article_routes(app: FastAPI, web: Web, require) -> None:
    store = web.store

    def numbering(slug: str, article: Article) -> dict[str, int]:
        from agent.numbering import numbers_for

        return numbers_for(store, slug, article)

    def sources_of(article: Article, numbers: dict[str, int]) -> list:
        stored = store.sources.get_many(list(article.sources))
        listed = {sid: stored.get(sid) or source for sid, source in article.sources.items()}
        return sorted(((numbers.get(sid), sid, source) for sid, source in listed.items()),
                      key=lambda item: (item[0] is None, item[0] or 0))

    @app.get("/topics")
    def topics(request: Request) -> HTMLResponse:
        from agent.review import list_proposals

        editor = require(request)
        open_count: dict[str, int] = {}
        for proposal in list_proposals(store, "open"):
            open_count[proposal.topic] = open_count.get(proposal.topic, 0) + 1
        numbers = store.revisions.current_numbers()  # not every topic's article
        rows = [(t, numbers.get(t.slug), open_count.get(t.slug, 0)) for t in store.topics.list()]
        return web.page(request, "topics.html", editor, rows=rows)

    def article_page(request: Request, slug: str, revision: Revision, editor, **extra) -> HTMLResponse:
        from agent.review import list_proposals

        numbers = numbering(slug, revision.article)
        marks = store.decisions.unverified(slug)
        history = store.revisions.log(slug)
        references = sources_of(revision.article, numbers)
        titles = {sid: f"{source.title or source.url or sid} · {source.kind}" for _, sid, source in references}
        return web.page(request, "topic.html", editor, topic=store.topics.get(slug),
                        revision=revision, numbering=numbers, titles=titles,
                        references=references, marks=marks,
                        key=sentence_key, history=history,
                        proposals=list_proposals(store, "open", slug), **extra)

    @app.get("/topics/{slug}")
    def topic(request: Request, slug: str) -> HTMLResponse:
        editor = require(request)
        store.topics.get(slug)
        revision = store.revisions.current(slug)
        if revision is None:
            raise HTTPException(404, f"topic '{slug}' has no article yet")
        return article_page(request, slug, revision, editor)

    @app.get("/topics/{slug}/revisions/{number}")
    def revision(request: Request, slug: str, number: Annotated[int, Path(le=MAX_ID)],
                 against: Annotated[int | None, Query(le=MAX_ID)] = None) -> HTMLResponse:
        editor = require(request)
        shown = store.revisions.by_number(slug, number)
        if against is not None:
            other = store.revisions.by_number(slug, against)
        else:
            other = store.revisions.get(shown.parent_id) if shown.parent_id else None
        diffs = section_diffs(other.article if other else None, shown.article)
        return article_page(request, slug, shown, editor, compared=other, diffs=diffs)

    @app.get("/topics/{slug}/sources/{source_id}")
    def source(request: Request, slug: str, source_id: str, at: str = "") -> HTMLResponse:
        editor = require(request)
        store.topics.get(slug)
        found = store.sources.get_many([source_id]).get(source_id)
        current = store.revisions.current(slug)
        if found is None and current is not None:
            found = current.article.sources.get(source_id)
        if found is None:
            raise HTTPException(404, f"no source {source_id} on topic '{slug}'")
        number = numbering(slug, current.article).get(source_id) if current else None
        text, parts = found.text, None
        start, _, end = at.partition("-")
        if start.isdigit() and end.isdigit() and 0 <= int(start) < int(end) <= len(text):
            parts = (text[:int(start)], text[int(start):int(end)], text[int(end):])
        return web.page(request, "source.html", editor, slug=slug, source=found, number=number,
                        parts=parts)

    @app.get("/topics/{slug}/sentences/{key}")
    def sentence(request: Request, slug: str, key: str) -> HTMLResponse:
        from agent.sentence_history import history_of

        editor = require(request)
        store.topics.get(slug)
        found = history_of(store, slug, key)
        if found is None:
            raise HTTPException(404, "no sentence of this topic has that key")
        return web.page(request, "sentence.html", editor, slug=slug, item=found,
                        numbering=numbering(slug, store.revisions.current(slug).article))
