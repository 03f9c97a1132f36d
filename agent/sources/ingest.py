"""Ingest: normalise items, drop exact and near duplicates, store the batch in one transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from agent.models import SOURCE_ID_PREFIX, Source, SourceStatus
from agent.sources import dedup
from agent.sources.items import ImportReport, NoText, SourceItem
from agent.sources.normalize import canonical_url, normalise
from agent.store.sources import SourceEntry

if TYPE_CHECKING:
    from agent.store import Store


@dataclass
class _Prepared:
    source: Source
    origin: str | None
    declared_url: str | None = None
    reason: str | None = None


def _prepare(items: Iterable[SourceItem], origin: str | None,
             report: ImportReport) -> list[_Prepared]:
    """Normalised sources in input order, each id once (the first occurrence wins); an item
    with no text is left out with its reason: it could support nothing."""
    seen: set[tuple[str, str]] = set()
    prepared: list[_Prepared] = []
    for item in items:
        where = item.origin or origin
        source = normalise(item)
        if source is None or not source.text:
            label = f" '{source.title[:60]}'" if source is not None else ""
            report.warnings.append(NoText(where or "input", f"an item{label} with no text was left out"))
            report.no_text += 1
            continue
        if (source.id, source.content_hash) in seen:
            report.unchanged += 1
            continue
        seen.add((source.id, source.content_hash))
        prepared.append(_Prepared(source, where, canonical_url(item.declared_url)))
    return prepared


def version_id(url: str, content_hash: str) -> str:
    """The id of one text under a URL that already names a different stored text."""
    digest = hashlib.sha256(f"{url}\n{content_hash}".encode("utf-8")).hexdigest()[:16]
    return SOURCE_ID_PREFIX + digest


def _settle_ids(store: Store, prepared: list[_Prepared]) -> None:
    """A URL is a claim, not an identity an item can take over. An item whose URL names a
    stored row with the same text is that row; one whose URL-based id is held by a row with
    other text (a page's textless reference, an older version) becomes its own source."""
    urls = [p.source.url for p in prepared if p.source.url]
    if not urls:
        return
    known = store.sources.by_canonical_url(urls)
    taken = set(store.sources.stored([p.source.id for p in prepared if p.source.url]))
    for entry in prepared:
        source = entry.source
        if not source.url:
            continue
        rows = known.setdefault(source.url, [])
        same = next((sid for sid, digest in rows if digest == source.content_hash), None)
        if same is not None:
            entry.source = source.model_copy(update={"id": same})
            continue
        if source.id in taken:  # stored, or claimed earlier in this batch, with other text
            entry.source = source.model_copy(update={"id": version_id(source.url, source.content_hash)})
            entry.reason = f"same URL as {source.id} with other text: kept as its own source"
        taken.add(entry.source.id)
        rows.append((entry.source.id, source.content_hash))


def ingest(store: Store, topic: str, items: Iterable[SourceItem], origin: str | None = None) -> ImportReport:
    """Add items to a topic: new ones as `new`, repeats of a story as `duplicate` with
    `duplicate_of` the first copy; already-linked ones change nothing."""
    report = ImportReport()
    store.topics.get(topic)
    prepared = _prepare(items, origin, report)
    if not prepared:
        return report
    _settle_ids(store, prepared)
    ids = [p.source.id for p in prepared]
    linked = store.sources.linked(topic, ids)
    stored_minhash = store.sources.stored(ids)
    by_hash = store.sources.ids_by_content_hash(topic, [p.source.content_hash for p in prepared])

    entries: list[SourceEntry] = []
    fresh: list[SourceEntry] = []
    for item in prepared:
        source = item.source
        blob = stored_minhash.get(source.id)
        if not dedup.usable(blob) and source.text:
            blob = dedup.to_bytes(dedup.signature(f"{source.title}\n{source.text}"))
        entry = SourceEntry(source=source, minhash=blob, origin=item.origin, reason=item.reason,
                            canonical_url=source.url, declared_url=item.declared_url)
        entries.append(entry)
        report.seen_ids.append(source.id)
        if source.id in linked:
            report.unchanged += 1  # saved all the same: nothing stored changes
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
