"""`sources import`: read a file, a folder or a URL, item by item, and ingest in batches."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from agent.sources.errors import SourceError, UnknownFormat
from agent.sources.fetch import Fetched, fetch, read_file
from agent.sources.formats import FORMATS, read_items
from agent.sources.ingest import ingest
from agent.sources.items import ImportReport, Malformed, NoText, Skipped, SourceItem

if TYPE_CHECKING:
    from agent.store import Store

# One ingest per batch: the topic's LSH index is loaded once per batch, not once per file,
# and a batch this size keeps memory bounded on folders of thousands of files.
BATCH_ITEMS = 5000
MAX_FILES = 100_000


def is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


def unexpected(exc: BaseException) -> str:
    """Third-party parsers meet hostile bytes here; whatever they raise becomes a reason."""
    return f"could not be read ({type(exc).__name__}: {str(exc)[:120]})"


class Collector:
    """Gathers items from many inputs and ingests them in batches into one report."""

    def __init__(self, store: Store, topic: str) -> None:
        self.store, self.topic = store, topic
        self.report = ImportReport()
        self._pending: list[SourceItem] = []

    def add(self, origin: str, items: list[SourceItem], warnings: list[Skipped]) -> None:
        self.report.inputs += 1
        self.report.malformed += [w for w in warnings if isinstance(w, Malformed)]
        self.report.warnings += [w for w in warnings if not isinstance(w, Malformed)]
        self.report.no_text += sum(isinstance(w, NoText) for w in warnings)
        for item in items:
            item.origin = item.origin or origin
        self._pending += items
        if len(self._pending) >= BATCH_ITEMS:
            self.flush()

    def skip(self, origin: str, reason: str) -> None:
        self.report.inputs += 1
        self.report.skipped.append(Skipped(origin, reason))

    def flush(self) -> ImportReport:
        if self._pending:
            batch, self._pending = self._pending, []
            self.report.merge(ingest(self.store, self.topic, batch))
        return self.report


def walk(folder: Path) -> Iterator[Path]:
    """Every regular file below a folder, sorted, hidden entries and symlinks left out."""
    count = 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            if name.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            count += 1
            if count > MAX_FILES:
                return
            yield path


def read_path(path: Path, fmt: str = "auto") -> tuple[list[SourceItem], list[Skipped]]:
    return read_items(read_file(path), fmt, name=str(path))


def read_url(url: str, fmt: str = "auto", *, etag: str | None = None,
             last_modified: str | None = None) -> tuple[Fetched, list[SourceItem], list[Skipped]]:
    fetched = fetch(url, etag=etag, last_modified=last_modified)
    if fetched.not_modified:
        return fetched, [], []
    items, warnings = read_items(fetched.body, fmt, name=url, base_url=fetched.url,
                                 content_type=fetched.content_type)
    return fetched, items, warnings


def collect_path(collector: Collector, path: Path, fmt: str) -> None:
    """Read one file into the collector; a bad file is skipped with its reason."""
    try:
        items, warnings = read_path(path, fmt)
    except SourceError as exc:
        collector.skip(str(path), str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - see unexpected()
        collector.skip(str(path), unexpected(exc))
        return
    collector.add(str(path), items, warnings)


def import_input(store: Store, topic: str, source: str, fmt: str = "auto") -> ImportReport:
    """Import a file, every file of a folder (recursively, each format detected) or a URL."""
    if fmt not in FORMATS:
        raise UnknownFormat(f"unknown format '{fmt}' (one of: {', '.join(FORMATS)})")
    store.topics.get(topic)
    collector = Collector(store, topic)
    if fmt == "url" or is_url(source):
        if not is_url(source):
            collector.skip(source, "--format url needs an http(s) URL")
            return collector.report
        try:
            _fetched, items, warnings = read_url(source, "auto" if fmt == "url" else fmt)
        except SourceError as exc:
            collector.skip(source, str(exc))
        except Exception as exc:  # noqa: BLE001 - see unexpected()
            collector.skip(source, unexpected(exc))
        else:
            collector.add(source, items, warnings)
        return collector.flush()
    path = Path(source)
    if path.is_dir():
        per_file = "auto" if fmt == "dir" else fmt
        for file in walk(path):
            collect_path(collector, file, per_file)
    elif fmt == "dir":
        collector.skip(source, "--format dir needs a folder")
    elif path.is_file():
        collect_path(collector, path, fmt)
    else:
        collector.skip(source, "no such file, folder or URL")
    return collector.flush()
