"""Commands on topics and their articles: init, import, topics, show, history, path."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.cli import mentions_cmd
from agent.cli.common import (echo, emit_json, err, fail, safe_text, store_session,
                              topic_argument, when)
from agent.kinds import MAX_ID

topics_app = typer.Typer(help="List topics and set what each one is about.", invoke_without_command=True)


def init() -> None:
    """Create the data folder and the database (migrations run on every open too)."""
    from agent.settings import get_settings

    with store_session() as store:
        err.print(f"absorb is ready: data in {get_settings().home}, database {store.url}")


def path() -> None:
    """Print where absorb keeps its data (set ABSORB_HOME to move it)."""
    from agent.settings import get_settings

    echo(str(get_settings().home))


def import_page(
    file: Path = typer.Argument(..., metavar="FILE", help="A topic page in the seed's Markdown format."),
    topic: str = typer.Option(..., "--topic", metavar="TOPIC",
                              help="Topic slug to import into (created if new)."),
    comment: str = typer.Option("imported", help="Comment recorded on the new revision."),
    force: bool = typer.Option(False, "--force", help="Import even over revisions made since the "
                               "last import (they stay in history; `absorb revert` restores one)."),
) -> None:
    """Import a topic page as a new revision: sections, sentences, citations, references."""
    from agent.markdown import MAX_PAGE_BYTES, PageError, decode_page, parse_page
    from agent.models import slugify

    if not file.is_file():
        fail(f"no such file: {file}")
    if file.stat().st_size > MAX_PAGE_BYTES:  # refuse before reading a huge file into memory
        fail(f"cannot import {file}: file is {file.stat().st_size / 1e6:.1f} MB; pages larger "
             f"than {MAX_PAGE_BYTES // (1024 * 1024)} MiB are refused")
    try:
        page = parse_page(decode_page(file.read_bytes()))
    except PageError as exc:
        fail(f"cannot import {file}: {exc}")
    if slugify(topic) != topic:
        fail(f"topic slug must be lower-case letters, digits and dashes, e.g. '{slugify(topic)}'")
    with store_session() as store:
        if not store.topics.exists(topic):
            store.topics.create(topic, page.article.title, scope=page.article.summary)
        elif not force:
            _refuse_import_over_edits(store, topic)
        base = store.topics.get(topic).current_revision_id
        revision = store.revisions.commit(topic, page.article, base_revision_id=base,
                                          actor="import", comment=f"{comment}: {file.name}")
        # The page's references are what the article already absorbed: triage must not
        # offer them again as news.
        store.sources.add_to_topic(topic, list(page.article.sources.values()), status="absorbed",
                                   origin=str(file), replace_status=True)
        from agent.numbering import keep_page_numbers

        keep_page_numbers(store, topic, page.numbers)  # the page's own [N] stay its numbers
        from agent.mentions import keep_page_strip

        keep_page_strip(store, topic, page.people)  # shown until absorb records names itself
    article = revision.article
    err.print(f"imported '{article.title}' into {topic} as revision {revision.number}: "
              f"{len(article.sections)} sections, "
              f"{sum(len(s.sentences()) for s in article.sections)} sentences, "
              f"{len(article.sources)} references, {len(page.unresolved_markers)} unresolved markers")


def _refuse_import_over_edits(store, topic: str) -> None:  # noqa: ANN001 - a Store
    """A page imported over a topic replaces its text: refuse when editors or runs changed it
    since its last import, naming what would be replaced."""
    history = store.revisions.log(topic)
    last_import = max((r.number for r in history if r.actor == "import"), default=0)
    since = [r for r in history if r.number > last_import]
    if since:
        listed = ", ".join(f"{r.number} by {r.actor}" for r in since[-5:])
        fail(f"{topic} has {len(since)} revision(s) since its last import ({listed}); importing "
             f"would replace them as the current text: add --force (history keeps them, and "
             f"`absorb revert {topic} --to N` restores one)")


def revert(
    slug: str = topic_argument(),
    to: int = typer.Option(..., "--to", metavar="N", max=MAX_ID,
                           help="The revision number to restore."),
    comment: str = typer.Option("", help="Why (recorded on the new revision)."),
) -> None:
    """Make a new revision whose text equals revision N; nothing is ever deleted."""
    if to < 1:
        fail("revision numbers start at 1 (`absorb history TOPIC` lists them)")
    with store_session() as store:
        target = store.revisions.by_number(slug, to)
        current = store.revisions.current(slug)
        if current is not None and current.sha256 == target.sha256:
            fail(f"{slug} is already at the text of revision {to} (revision {current.number})")
        revision = store.revisions.commit(
            slug, target.article, base_revision_id=current.id if current else None,
            actor="revert", comment=comment or f"revert to revision {to}")
    err.print(f"{slug}: revision {revision.number} restores the text of revision {to}")


@topics_app.callback()
def topics(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="JSON on stdout.")) -> None:
    """List topics with their current revision."""
    if ctx.invoked_subcommand:
        return
    with store_session(read=True) as store:
        rows = []
        for topic in store.topics.list():
            current = store.revisions.current(topic.slug)
            rows.append({"slug": topic.slug, "title": topic.title,
                         "revision": current.number if current else None,
                         "sections": len(current.article.sections) if current else 0})
    if as_json:
        emit_json(rows)
        return
    if not rows:
        err.print("no topics yet: `absorb import FILE --topic TOPIC` creates one")
    for row in rows:
        article = (f"rev {row['revision']}\t{row['sections']} sections" if row["revision"]
                   else "no article yet\t-")
        echo(f"{row['slug']}\t{row['title']}\t{article}")


@topics_app.command("scope")
def topics_scope(slug: str = topic_argument(), text: str = typer.Argument(..., help="One paragraph: what belongs in this topic.")) -> None:
    """Set the paragraph triage judges relevance against (defaults to the summary)."""
    if not text.strip():
        fail("scope must not be empty")
    with store_session() as store:
        store.topics.set_scope(slug, text.strip())
    err.print(f"scope of {slug} updated")


topics_app.command("mentions")(mentions_cmd.mentions)  # page room (issue 19)


def show(
    slug: str = topic_argument(),
    fmt: str = typer.Option("md", "--format", metavar="md|json|html",
                            help="md (the page), json (the article model) or html (the page as "
                            "readers see it: lead, mentions, references, the bus)."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    rev: int | None = typer.Option(None, "--rev", metavar="N", max=MAX_ID,
                                   help="Revision number (default: current)."),
) -> None:
    """Print a topic's article as Markdown or JSON."""
    from agent.markdown import export_page

    if fmt == "html":  # the page as readers see it (page room, issue 19)
        from agent.cli.mentions_cmd import show_html

        return show_html(slug, rev)
    if fmt not in ("md", "json"):
        fail("--format must be md or json (or html, the page as readers see it)")
    if as_json:
        fmt = "json"
    if rev is not None and rev < 1:
        fail("revision numbers start at 1 (`absorb history TOPIC` lists them)")
    with store_session(read=True) as store:
        revision = store.revisions.by_number(slug, rev) if rev else store.revisions.current(slug)
        if revision is None:
            fail(f"topic '{slug}' has no article yet: `absorb import FILE --topic {slug}` "
                 "gives it one")
        from agent.numbering import numbers_for

        numbering = numbers_for(store, slug, revision.article)  # the topic's stable [N]
        from agent.cli.mentions_cmd import strip_and_bus

        people, bus, bus_total = strip_and_bus(store, slug, revision.article)
    if fmt == "json":
        emit_json({"topic": slug, "revision": revision.number, "revision_id": revision.id,
                   "sha256": revision.sha256, **revision.article.model_dump(mode="json")})
    else:
        typer.echo(safe_text(export_page(revision.article, numbering, people=people, bus=bus,
                                         bus_total=bus_total)), nl=False)


def history(slug: str = topic_argument(), as_json: bool = typer.Option(False, "--json", help="JSON on stdout.")) -> None:
    """List a topic's revisions, oldest first: who, when, why."""
    with store_session(read=True) as store:
        revisions = store.revisions.log(slug)
    rows = [{"number": r.number, "id": r.id, "parent_id": r.parent_id, "actor": r.actor,
             "comment": r.comment, "sha256": r.sha256, "created_at": r.created_at} for r in revisions]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        echo(f"{r['number']}\t{when(r['created_at'])}\t{r['actor']}\t{r['comment']}")
