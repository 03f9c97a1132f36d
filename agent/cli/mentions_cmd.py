"""`absorb topics mentions TOPIC` (who the topic's sources mention most) and `absorb show
TOPIC --format html` (the page as readers see it): the page room's commands."""

from __future__ import annotations

import typer

from agent.cli.common import echo, emit_json, err, fail, safe_text, store_session, topic_argument


def mentions(slug: str = topic_argument(),
             limit: int = typer.Option(12, "--limit", min=1, help="How many names to list."),
             as_json: bool = typer.Option(False, "--json", help="JSON on stdout.")) -> None:
    """People and organisations by how many of the topic's sources name them (from triage)."""
    from agent.mentions import counts
    from agent.store.errors import UnknownTopic

    with store_session() as store:
        try:
            on_topic = len(store.sources.for_topic(slug))
        except UnknownTopic:
            fail(f"unknown topic '{slug}' (`absorb topics` lists them)")
        found, recorded = counts(store, slug)
    shown = found[:limit]
    if as_json:
        emit_json({"topic": slug, "sources": on_topic, "sources_with_names": recorded,
                   "mentions": [{"name": m.name, "count": m.count, "key": m.key, "forms": m.forms}
                                for m in shown]})
        return
    for m in shown:
        echo(f"{safe_text(m.name)}\t{m.count}")
    err.print(f"{len(found)} names from {recorded} of {on_topic} sources "
              f"(names are taken when a refresh triages a source)")


def show_html(slug: str, rev: int | None) -> None:
    """`absorb show TOPIC --format html`: the public page as one HTML document on stdout."""
    from agent.page import build_page
    from agent.page_html import render_page

    if rev is not None:
        fail("--format html shows the current revision; leave out --rev")
    with store_session(read=True) as store:
        page = build_page(store, slug)
    if page is None:
        fail(f"topic '{slug}' has no article yet: `absorb import FILE --topic {slug}` gives it one")
    typer.echo(render_page(page), nl=False)


def strip_and_bus(store, slug: str, article) -> tuple[list[tuple[str, int]], list[tuple[str, str]], int]:  # noqa: ANN001
    """What `show --format md` lays out around the article: the strip and the latest bus items."""
    from agent.mentions import strip_for
    from agent.page import bus_items

    items, total = bus_items(store, slug, article)
    return strip_for(store, slug), [(i.title, i.opening) for i in items], total
