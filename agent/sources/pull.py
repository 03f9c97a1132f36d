"""`sources pull`: fetch every feed a topic registered, reading only what changed since."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.sources.errors import FetchError, SourceError
from agent.sources.fetch import read_file
from agent.sources.formats import read_items
from agent.sources.importer import Collector, is_url, read_url, unexpected, walk
from agent.sources.items import ImportReport, Skipped

if TYPE_CHECKING:
    from agent.store import Store
    from agent.store.feeds import Feed


@dataclass
class FeedResult:
    """What one feed brought; `error` set means the feed itself failed and kept its state."""

    name: str
    input: str
    report: ImportReport = field(default_factory=ImportReport)
    not_modified: bool = False
    files_unchanged: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "input": self.input, "not_modified": self.not_modified,
                "files_unchanged": self.files_unchanged, "error": self.error, **self.report.to_json()}


@dataclass
class PullReport:
    topic: str
    feeds: list[FeedResult] = field(default_factory=list)

    @property
    def added(self) -> list[str]:
        return [sid for f in self.feeds for sid in f.report.added]

    @property
    def duplicates(self) -> list[str]:
        return [sid for f in self.feeds for sid in f.report.duplicates]

    @property
    def failed(self) -> list[FeedResult]:
        return [f for f in self.feeds if f.error]

    @property
    def skipped(self) -> list[Skipped]:
        return [s for f in self.feeds for s in f.report.skipped]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped

    def problems(self, most: int = 5) -> list[str]:
        """What went wrong in this pull, a line each: feeds that failed, then inputs skipped,
        malformed records and warnings (a broken feed read in part), at most `most`."""
        found = [f"feed {f.name}: {f.error}" for f in self.failed]
        for f in self.feeds:
            found += [f"feed {f.name}: skipped {s.input}: {s.reason}" for s in f.report.skipped]
            found += [f"feed {f.name}: {s.input}: {s.reason}"
                      for s in [*f.report.malformed, *f.report.warnings]]
        if len(found) > most:
            found = found[:most - 1] + [f"and {len(found) - most + 1} more (`absorb sources pull "
                                        f"{self.topic}` lists them)"]
        return found

    def summary(self) -> str:
        return (f"{self.topic}: {len(self.feeds)} feeds, {len(self.added)} new, "
                f"{len(self.duplicates)} duplicates, {len(self.failed)} failed, "
                f"{len(self.skipped)} inputs skipped")

    def to_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "added": len(self.added), "duplicates": len(self.duplicates),
                "failed": [asdict(Skipped(f.name, f.error or "")) for f in self.failed],
                "feeds": [f.to_json() for f in self.feeds]}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pull_url(store: Store, feed: Feed, result: FeedResult) -> None:
    fmt = feed.format if feed.format in ("bus", "jsonl", "feed", "html", "text") else "auto"
    fetched, items, warnings = read_url(feed.input, fmt, etag=feed.etag,
                                        last_modified=feed.last_modified)
    if fetched.not_modified:
        result.not_modified = True
    else:
        collector = Collector(store, feed.topic)
        collector.add(feed.input, items, warnings)
        result.report = collector.flush()
    store.feeds.record_pull(feed.id, etag=fetched.etag, last_modified=fetched.last_modified,
                            state=feed.state)


def _pull_path(store: Store, feed: Feed, result: FeedResult) -> None:
    """Only files whose size, mtime and then content changed since the last pull are read."""
    root = Path(feed.input)
    if not root.exists():
        raise FetchError(f"no such file or folder: {feed.input}")
    files = [root] if root.is_file() else list(walk(root))
    previous: dict[str, dict[str, Any]] = dict(feed.state.get("files", {}))
    state: dict[str, dict[str, Any]] = {}
    fmt = feed.format if feed.format in ("bus", "jsonl", "feed", "html", "text") else "auto"
    collector = Collector(store, feed.topic)
    for path in files:
        key = str(path.relative_to(root)) if path != root else path.name
        stat = path.stat()
        seen = previous.get(key)
        if seen and seen.get("mtime_ns") == stat.st_mtime_ns and seen.get("size") == stat.st_size:
            state[key] = seen
            result.files_unchanged += 1
            continue
        try:
            data = read_file(path)
        except SourceError as exc:
            if path == root:  # the feed is this one file: the feed is what failed
                raise
            collector.skip(str(path), str(exc))
            if not isinstance(exc, FetchError):  # too large stays too large: do not retry
                state[key] = {"mtime_ns": stat.st_mtime_ns, "size": stat.st_size, "sha256": None}
            continue
        digest = _sha256(data)
        state[key] = {"mtime_ns": stat.st_mtime_ns, "size": stat.st_size, "sha256": digest}
        if seen and seen.get("sha256") == digest:
            result.files_unchanged += 1  # touched, not changed
            continue
        try:
            items, warnings = read_items(data, fmt, name=str(path))
        except Exception as exc:  # noqa: BLE001 - see unexpected()
            reason = str(exc) if isinstance(exc, SourceError) else unexpected(exc)
            if path == root:  # a one-file feed that cannot be read: the feed is broken
                raise SourceError(reason) from exc
            # Not remembered as read: a broken file is read (and reported) again on every
            # pull until it is fixed, instead of once and then never.
            del state[key]
            collector.skip(str(path), reason)
            continue
        collector.add(str(path), items, warnings)
    result.report = collector.flush()
    store.feeds.record_pull(feed.id, state={"files": state})


def pull_feed(store: Store, feed: Feed) -> FeedResult:
    result = FeedResult(name=feed.name, input=feed.input)
    try:
        if is_url(feed.input):
            _pull_url(store, feed, result)
        else:
            _pull_path(store, feed, result)
    except SourceError as exc:
        result.error = str(exc)
    except OSError as exc:
        result.error = f"cannot read {feed.input} ({exc.strerror or exc})"
    if result.error:
        store.feeds.record_pull(feed.id, error=result.error)
    if feed.trusted and result.report.seen_ids:
        # What this feed brought, as stored (texts never change): the topic vouches for it.
        store.sources.trust(feed.topic, result.report.seen_ids, via=f"feed:{feed.name}")
    return result


def pull_topic(store: Store, slug: str) -> PullReport:
    """Pull every feed of a topic; a feed that fails is reported and the others still count."""
    store.topics.get(slug)
    return PullReport(topic=slug, feeds=[pull_feed(store, feed) for feed in store.feeds.list(slug)])
