"""Ingest: normalise items, drop exact and near duplicates, store the batch in one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from agent.models import Source, SourceStatus
from agent.sources import dedup
from agent.sources.items import ImportReport, Skipped, SourceItem
from agent.sources.normalize import normalise
from agent.store.sources import SourceEntry

if TYPE_CHECKING:
    from agent.store import Store


def _prepare(items: Iterable[SourceItem], origin: str | None,
             report: ImportReport) -> list[tuple[Source, str | None]]:
    """Normalised sources in input order, each id once (the first occurrence wins)."""
    seen: set[str] = set()
    prepared: list[tuple[Source, str | None]] = []
    for item in items:
        where = item.origin or origin
        source = normalise(item)
        if source is None:
            report.warnings.append(Skipped(where or "input", "an item with no title and no text was left out"))
            continue
        if source.id in seen:
            report.unchanged += 1
            continue
        seen.add(source.id)
        prepared.append((source, where))
    return prepared


def _adopt_known_urls(store: Store, prepared: list[tuple[Source, str | None]]) -> None:
    """A URL already stored under another id (a page's reference list keys sources by the
    URL as written) keeps that id, so the feed's copy fills in the reference."""
    urls = [s.url for s, _ in prepared if s.url]
    known = store.sources.ids_by_canonical_url(urls) if urls else {}
    for position, (source, where) in enumerate(prepared):
        if source.url and known.get(source.url, source.id) != source.id:
            prepared[position] = (source.model_copy(update={"id": known[source.url]}), where)


def ingest(store: Store, topic: str, items: Iterable[SourceItem], origin: str | None = None) -> ImportReport:
    """Add items to a topic: new ones as `new`, repeats of a story as `duplicate` with
    `duplicate_of` the first copy; already-linked ones change nothing."""
    report = ImportReport()
    store.topics.get(topic)
    prepared = _prepare(items, origin, report)
    if not prepared:
        return report
    _adopt_known_urls(store, prepared)
    ids = [s.id for s, _ in prepared]
    linked = store.sources.linked(topic, ids)
    stored_minhash = store.sources.stored(ids)
    by_hash = store.sources.ids_by_content_hash(topic, [s.content_hash for s, _ in prepared])

    entries: list[SourceEntry] = []
    fresh: list[SourceEntry] = []
    for source, where in prepared:
        blob = stored_minhash.get(source.id)
        if not dedup.usable(blob) and source.text:
            blob = dedup.to_bytes(dedup.signature(f"{source.title}\n{source.text}"))
        entry = SourceEntry(source=source, minhash=blob, origin=where, canonical_url=source.url)
        entries.append(entry)
        if source.id in linked:
            report.unchanged += 1  # still saved: a stored row without text gets this text
            continue
        holder = by_hash.get(source.content_hash)
        if holder and holder != source.id:
            _mark_duplicate(entry, holder, "same text", stored=source.id in stored_minhash)
        else:
            by_hash[source.content_hash] = source.id
            fresh.append(entry)

    candidates = [e for e in fresh if dedup.usable(e.minhash)]
    stored_ids, blobs = store.sources.signatures(topic)
    keep = [i for i, b in enumerate(blobs) if dedup.usable(b)]
    matches = dedup.find_near_duplicates(
        [stored_ids[i] for i in keep], dedup.from_bytes([blobs[i] for i in keep]),
        dedup.from_bytes([e.minhash for e in candidates]) if candidates else np.zeros((0, dedup.NUM_PERM), np.uint32))
    for index, match in sorted(matches.items()):
        of = match.of if isinstance(match.of, str) else candidates[match.of].source.id
        entry = candidates[index]
        _mark_duplicate(entry, of, f"near-duplicate (similarity {match.similarity:.2f})",
                        stored=entry.source.id in stored_minhash)

    _point_at_first_copies(entries)
    store.sources.save(topic, entries)
    for entry in entries:
        if entry.source.id in linked:
            continue
        if entry.status == SourceStatus.duplicate.value:
            report.duplicates.append(entry.source.id)
        else:
            report.added.append(entry.source.id)
    return report


def _mark_duplicate(entry: SourceEntry, of: str, why: str, *, stored: bool) -> None:
    entry.status = SourceStatus.duplicate.value
    entry.reason = f"{why} of {of}"
    if not stored:  # a row another topic already holds keeps its own duplicate_of
        entry.source = entry.source.model_copy(update={"duplicate_of": of})


def _point_at_first_copies(entries: list[SourceEntry]) -> None:
    """A copy of a copy points at the original: follow chains made inside one batch."""
    parent = {e.source.id: e.source.duplicate_of for e in entries if e.source.duplicate_of}
    for entry in entries:
        target, hops = entry.source.duplicate_of, 0
        while target in parent and hops < len(parent):
            target, hops = parent[target], hops + 1
        if target != entry.source.duplicate_of:
            entry.source = entry.source.model_copy(update={"duplicate_of": target})
            entry.reason = f"{entry.reason} (first copy {target})"
