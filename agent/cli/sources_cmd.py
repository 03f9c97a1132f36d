"""Commands of the knowledge bus: `sources import|list|show|pull` and `feeds add|list|remove`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import typer

from agent.cli.common import echo, emit_json, err, fail, store_session
from agent.kinds import SourceStatus, slugify

sources_app = typer.Typer(help="Import, list and show a topic's sources; pull its feeds.",
                          no_args_is_help=True)
feeds_app = typer.Typer(help="Register the feeds (URLs, files, folders) a topic pulls from.",
                        no_args_is_help=True)

FORMAT_HELP = "auto, bus, jsonl, feed, html, text, dir or url."
STATUSES = ", ".join(s.value for s in SourceStatus)


def _ensure_topic(store, slug: str) -> None:  # noqa: ANN001 - Store is imported lazily
    """Importing into a new slug creates the topic, as `absorb import` does."""
    if slugify(slug) != slug:
        fail(f"topic slug must be lower-case letters, digits and dashes, e.g. '{slugify(slug)}'")
    if not store.topics.exists(slug):
        store.topics.create(slug, slug.replace("-", " ").capitalize())
        err.print(f"created topic {slug} (describe it with `absorb topics scope {slug} TEXT`)")


def _print_problems(report) -> None:  # noqa: ANN001 - ImportReport
    for skipped in report.skipped + report.malformed:
        err.print(f"skipped {skipped.input}: {skipped.reason}")
    for warning in report.warnings:
        err.print(f"warning {warning.input}: {warning.reason}")


@sources_app.command("import")
def import_sources(
    source: str = typer.Argument(..., metavar="INPUT", help="A file, a folder or an http(s) URL."),
    topic: str = typer.Option(..., "--topic", help="Topic slug (created if new)."),
    fmt: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    as_json: bool = typer.Option(False, "--json", help="The import report as JSON on stdout."),
) -> None:
    """Import sources; exits 1 when any input was skipped (the rest is still imported)."""
    from agent.sources.importer import import_input, is_url

    if not is_url(source) and not Path(source).exists():
        fail(f"no such file, folder or URL: {source}")
    with store_session() as store:
        _ensure_topic(store, topic)
        report = import_input(store, topic, source, fmt)
    if as_json:
        emit_json({"topic": topic, "input": source, **report.to_json()})
    _print_problems(report)
    err.print(f"{topic}: {report.summary()}")
    if not report.ok:
        raise typer.Exit(1)


def _row(source, status: str) -> dict:  # noqa: ANN001 - Source
    return {"id": source.id, "title": source.title, "url": source.url, "kind": source.kind,
            "author": source.author, "published_at": source.published_at, "status": status,
            "duplicate_of": source.duplicate_of, "chars": len(source.text)}


@sources_app.command("list")
def list_sources(
    slug: str,
    status: list[str] | None = typer.Option(None, "--status", help=f"Only these: {STATUSES}."),
    as_json: bool = typer.Option(False, "--json", help="JSON array on stdout."),
) -> None:
    """List a topic's sources, oldest first, with their status."""
    with store_session() as store:
        rows = [_row(s, st) for s, st in store.sources.for_topic(slug, status or None)]
        from agent.nights import reasons  # why a source is undecided or held back

        why = reasons(store, slug)
    for row in rows:
        if row["id"] in why:
            row["reason"] = why[row["id"]]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        echo(f"{row['id']}\t{row['status']}\t{row['kind']}\t{row['chars']}\t{row['title'][:100]}"
             + (f"\t{row['reason']}" if row.get("reason") else ""))
    err.print(f"{len(rows)} sources")


@sources_app.command("retry")
def retry_sources(
    slug: str,
    source_ids: list[str] | None = typer.Argument(None, help="Only these ids (default: all)."),
) -> None:
    """Make undecided and held-back sources new again: the next refresh triages them."""
    from agent.nights import retry

    with store_session() as store:
        store.topics.get(slug)
        count = retry(store, slug, source_ids or None)
    err.print(f"{count} sources of {slug} will be tried again by the next `absorb refresh {slug}`")


@sources_app.command("show")
def show_source(
    source_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Show one source: its fields, origin, topics and text."""
    with store_session() as store:
        details = store.sources.details(source_id)
    if as_json:
        emit_json(details)
        return
    for key in ("id", "title", "url", "kind", "author", "published_at", "duplicate_of", "origin"):
        if details.get(key):
            echo(f"{key}: {details[key]}")
    if details.get("declared_url"):
        echo(f"declared canonical URL (the page's claim, not its identity): {details['declared_url']}")
    for link in details["topics"]:
        trust = f"; trusted via {link['trusted']}" if link["trusted"] else ""
        echo(f"topic: {link['topic']} ({link['status']}{': ' + link['reason'] if link['reason'] else ''}{trust})")
    for event in details["history"]:
        echo(f"history: {event['at']:%Y-%m-%d %H:%M} {event['action']} {event.get('fetched_url', '')} "
             f"by {event['actor']} ({event.get('chars', 0)} chars)")
    echo("")
    echo(details["text"])


@sources_app.command("fetch")
def fetch_source(
    source_id: str = typer.Argument(..., metavar="ID", help="A source with no text, e.g. a "
                                    "reference imported from a page."),
    as_json: bool = typer.Option(False, "--json", help="The history entry as JSON on stdout."),
) -> None:
    """Fill a source that has no text by fetching its own URL; recorded in its history."""
    from agent.cli.review_cmd import editor_actor
    from agent.sources.refetch import fetch_reference

    with store_session() as store:
        event = fetch_reference(store, source_id, actor=editor_actor())
    if as_json:
        emit_json(event)
    err.print(f"{source_id}: {event['chars']} chars from {event['fetched_url']}")


@sources_app.command("trust")
def trust_sources(
    slug: str,
    ids: list[str] = typer.Argument(..., metavar="ID...", help="Source ids of the topic."),
    remove: bool = typer.Option(False, "--remove", help="Stop trusting them."),
) -> None:
    """Trust sources for a topic: `refresh --review auto` merges only sentences whose every
    citation the topic trusts (sources from `feeds add --trusted` feeds are trusted too)."""
    from agent.cli.review_cmd import editor_actor

    with store_session() as store:
        if remove:
            store.topics.get(slug)
            changed = store.sources.distrust(slug, ids)
            err.print(f"{slug}: {changed} sources no longer trusted")
            return
        changed = store.sources.trust(slug, ids, via=editor_actor())
    err.print(f"{slug}: {changed} sources newly trusted ({len(set(ids)) - changed} already were)")


@sources_app.command("pull")
def pull(
    slug: str | None = typer.Argument(None, help="Topic slug; or --all."),
    all_topics: bool = typer.Option(False, "--all", help="Every topic with feeds."),
    as_json: bool = typer.Option(False, "--json", help="The pull reports as JSON on stdout."),
) -> None:
    """Fetch every registered feed: conditional GET for URLs, changed files for folders."""
    from agent.sources.pull import pull_topic

    if bool(slug) == all_topics:
        fail("name one topic or pass --all")
    with store_session() as store:
        slugs = sorted({f.topic for f in store.feeds.list()}) if all_topics else [slug]
        reports = [pull_topic(store, s) for s in slugs]
    if as_json:
        emit_json([r.to_json() for r in reports])
    for report in reports:
        for feed in report.feeds:
            if feed.error:
                err.print(f"feed {feed.name} failed: {feed.error}")
            _print_problems(feed.report)
        err.print(report.summary())
    if not all(r.ok for r in reports):
        raise typer.Exit(1)


def _default_name(source: str) -> str:
    if source.lower().startswith(("http://", "https://")):
        parts = urlsplit(source)
        return slugify(f"{parts.hostname or ''} {parts.path}")[:60]
    return slugify(Path(source).name)[:60]


@feeds_app.command("add")
def add_feed(
    slug: str,
    source: str = typer.Argument(..., metavar="INPUT", help="An http(s) URL, a file or a folder."),
    name: str | None = typer.Option(None, "--name", help="Short name (default: from INPUT)."),
    fmt: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    trusted: bool = typer.Option(False, "--trusted", help="Its sources may be merged by "
                                 "`refresh --review auto` (default: they wait for an editor)."),
) -> None:
    """Register a feed for a topic; `absorb sources pull TOPIC` reads it."""
    from agent.sources.formats import FORMATS

    if fmt not in FORMATS:
        fail(f"unknown format '{fmt}' (one of: {', '.join(FORMATS)})")
    if not source.lower().startswith(("http://", "https://")):
        path = Path(source).expanduser()
        if not path.exists():
            fail(f"no such file, folder or URL: {source}")
        source = str(path.resolve())  # pulls run from any working directory
    with store_session() as store:
        feed = store.feeds.add(slug, name or _default_name(source), source, fmt, trusted=trusted)
    err.print(f"feed {feed.name} added to {slug}{' (trusted)' if feed.trusted else ''}: {feed.input}")


@feeds_app.command("list")
def list_feeds(slug: str, as_json: bool = typer.Option(False, "--json", help="JSON on stdout.")) -> None:
    """List a topic's feeds and how their last pull went."""
    with store_session() as store:
        store.topics.get(slug)
        feeds = store.feeds.list(slug)
    rows = [{"name": f.name, "input": f.input, "format": f.format, "etag": f.etag,
             "last_modified": f.last_modified, "files": len(f.state.get("files", {})),
             "last_pulled_at": f.last_pulled_at, "last_error": f.last_error,
             "trusted": f.trusted} for f in feeds]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        pulled = f"{row['last_pulled_at']:%Y-%m-%d %H:%M}" if row["last_pulled_at"] else "never pulled"
        echo(f"{row['name']}\t{row['input']}\t{pulled}\t{row['last_error'] or 'ok'}"
             f"{chr(9) + 'trusted' if row['trusted'] else ''}")


@feeds_app.command("remove")
def remove_feed(slug: str, name: str) -> None:
    """Stop pulling a feed; the sources it brought stay."""
    with store_session() as store:
        store.feeds.remove(slug, name)
    err.print(f"feed {name} removed from {slug}")
