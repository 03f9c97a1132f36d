"""Sources and their per-topic status (new, proposed, absorbed, irrelevant, duplicate)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from agent.models import Source, SourceStatus, utcnow
from agent.store.errors import NotFound, StoreError, UnknownTopic
from agent.store.provenance import ProvenanceMixin
from agent.store.rows import SOURCE_FIELDS as _SOURCE_FIELDS
from agent.store.rows import source_of as _source
from agent.store.schema import source_mentions, sources, topic_sources, topics

# SQLite allows 32766 bound parameters; a few hundred per IN keeps every backend happy.
CHUNK = 500


@dataclass
class SourceEntry:
    """One source to store and link to a topic, with what ingest learned about it."""

    source: Source
    status: str = SourceStatus.new.value
    reason: str | None = None
    canonical_url: str | None = None
    minhash: bytes | None = None
    origin: str | None = None
    declared_url: str | None = None  # a canonical URL the page claimed: a hint only


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    batch = list(dict.fromkeys(values))
    for start in range(0, len(batch), CHUNK):
        yield batch[start:start + CHUNK]


def _check_status(status: str) -> str:
    try:
        return SourceStatus(status).value
    except ValueError:
        allowed = ", ".join(s.value for s in SourceStatus)
        raise StoreError(f"unknown source status '{status}' (one of: {allowed})") from None


# The statements a run reads and writes its sources with, built once with bound values:
# building one per call cost SQLAlchemy more CPU than running it.
_TOPIC_EXISTS = sa.select(topics.c.slug).where(topics.c.slug == sa.bindparam("b_slug"))
_FOR_TOPIC = (sa.select(sources, topic_sources.c.status.label("topic_status"))
              .join(topic_sources, topic_sources.c.source_id == sources.c.id)
              .where(topic_sources.c.topic == sa.bindparam("b_slug"))
              .order_by(topic_sources.c.added_at, sources.c.id))
_FOR_TOPIC_IN = _FOR_TOPIC.where(topic_sources.c.status.in_(sa.bindparam("b_statuses",
                                                                          expanding=True)))
_GET_MANY = sa.select(sources).where(sources.c.id.in_(sa.bindparam("b_ids", expanding=True)))
_SET_STATUS = (sa.update(topic_sources)
               .where(topic_sources.c.topic == sa.bindparam("b_slug"),
                      topic_sources.c.source_id.in_(sa.bindparam("b_ids", expanding=True)))
               .values(status=sa.bindparam("b_status"), reason=sa.bindparam("b_reason"),
                       updated_at=sa.bindparam("b_at")))


class SourceRepo(ProvenanceMixin):
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def _insert(self, table: sa.Table) -> Any:
        """INSERT that skips rows whose key exists: two importers racing both succeed."""
        # Each dialect's module is imported when used: loading PostgreSQL's (with its async
        # drivers) costs every SQLite command about 30 ms of start-up.
        if self.engine.dialect.name == "sqlite":
            from sqlalchemy.dialects import sqlite

            return sqlite.insert(table).on_conflict_do_nothing()
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(table).on_conflict_do_nothing()
        raise StoreError(f"unsupported database dialect '{self.engine.dialect.name}'")

    def _require_topic(self, conn: sa.Connection, slug: str) -> None:
        if conn.execute(_TOPIC_EXISTS, {"b_slug": slug}).first() is None:
            raise UnknownTopic(slug)

    def get(self, source_id: str) -> Source:
        found = self.get_many([source_id])
        if source_id not in found:
            raise NotFound(f"no source '{source_id}' (see `absorb sources list TOPIC`)")
        return found[source_id]

    def get_many(self, ids: Iterable[str]) -> dict[str, Source]:
        found: dict[str, Source] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(ids):
                for row in conn.execute(_GET_MANY, {"b_ids": chunk}):
                    found[row.id] = _source(row)
        return found

    def for_topic(self, slug: str, status: str | list[str] | None = None) -> list[tuple[Source, str]]:
        """A topic's sources with their status, oldest first."""
        query, params = _FOR_TOPIC, {"b_slug": slug}
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            query, params["b_statuses"] = _FOR_TOPIC_IN, [_check_status(s) for s in wanted]
        with self.engine.connect() as conn:
            rows = conn.execute(query, params).all()
            if not rows:  # none, or no such topic: only then is the topic looked up
                self._require_topic(conn, slug)
            return [(_source(row), row.topic_status) for row in rows]

    def mention_rows(self, slug: str) -> list[tuple[str, str, str]]:
        """(source id, name key, name as written) for every name recorded on the topic's
        sources, duplicates left out (agent.mentions counts them)."""
        query = (sa.select(source_mentions.c.source_id, source_mentions.c.key, source_mentions.c.name)
                 .join(topic_sources, topic_sources.c.source_id == source_mentions.c.source_id)
                 .where(topic_sources.c.topic == slug,
                        topic_sources.c.status != SourceStatus.duplicate.value))
        with self.engine.connect() as conn:
            return [(row.source_id, row.key, row.name) for row in conn.execute(query)]

    def set_status(self, slug: str, ids: list[str], status: str, reason: str | None = None) -> int:
        """Move sources of a topic to a status; returns how many links changed."""
        status = _check_status(status)
        changed = 0
        with self.engine.begin() as conn:
            now = utcnow()
            for chunk in _chunks(ids):
                done = conn.execute(_SET_STATUS, {"b_slug": slug, "b_ids": chunk, "b_status": status,
                                                  "b_reason": reason, "b_at": now})
                changed += done.rowcount
            if not changed:  # nothing moved, or no such topic: only then is it looked up
                self._require_topic(conn, slug)
        return changed

    def add_to_topic(self, slug: str, items: list[Source], *, status: str = SourceStatus.new.value,
                     reason: str | None = None, origin: str | None = None,
                     replace_status: bool = False) -> int:
        """Store sources as given (ids kept) and link them; returns how many links are new."""
        from agent.sources.normalize import canonical_url

        entries = [SourceEntry(source=s, status=_check_status(status), reason=reason,
                               canonical_url=canonical_url(s.url), origin=origin) for s in items]
        return self.save(slug, entries, replace_status=replace_status)

    def save(self, slug: str, entries: list[SourceEntry], *, replace_status: bool = False) -> int:
        """Write a batch in one transaction: new rows inserted, stored rows never changed
        (a source's text is written once), links created (existing links keep their status
        unless replace_status)."""
        if not entries:
            return 0
        now = utcnow()
        with self.engine.begin() as conn:
            self._require_topic(conn, slug)
            ids = [e.source.id for e in entries]
            linked = self.linked(slug, ids, conn=conn)
            rows = [{**entry.source.model_dump(include=set(_SOURCE_FIELDS)),
                     "canonical_url": entry.canonical_url, "minhash": entry.minhash,
                     "origin": entry.origin, "declared_url": entry.declared_url,
                     "created_at": now} for entry in entries]
            conn.execute(self._insert(sources), rows)
            # One microsecond apart: listing by added_at keeps the order of the input.
            links = [{"topic": slug, "source_id": e.source.id, "status": e.status,
                      "reason": e.reason, "added_at": now + timedelta(microseconds=i),
                      "updated_at": now} for i, e in enumerate(entries)]
            conn.execute(self._insert(topic_sources), links)
            if replace_status:
                for entry in entries:
                    if entry.source.id in linked:
                        conn.execute(sa.update(topic_sources).where(
                            topic_sources.c.topic == slug,
                            topic_sources.c.source_id == entry.source.id,
                        ).values(status=entry.status, reason=entry.reason, updated_at=now))
        return len(set(ids) - set(linked))

    def linked(self, slug: str, ids: list[str], *, conn: sa.Connection | None = None) -> dict[str, str]:
        """Status of each of these ids that is already linked to the topic."""
        def run(c: sa.Connection) -> dict[str, str]:
            found: dict[str, str] = {}
            for chunk in _chunks(ids):
                found.update({r.source_id: r.status for r in c.execute(
                    sa.select(topic_sources.c.source_id, topic_sources.c.status).where(
                        topic_sources.c.topic == slug, topic_sources.c.source_id.in_(chunk)))})
            return found

        if conn is not None:
            return run(conn)
        with self.engine.connect() as own:
            return run(own)

    def stored(self, ids: list[str]) -> dict[str, bytes | None]:
        """Ids already in the store (any topic), with their MinHash signature."""
        found: dict[str, bytes | None] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(ids):
                found.update({r.id: r.minhash for r in conn.execute(
                    sa.select(sources.c.id, sources.c.minhash).where(sources.c.id.in_(chunk)))})
        return found

    def by_canonical_url(self, urls: list[str]) -> dict[str, list[tuple[str, str]]]:
        """Stored rows per canonical URL, oldest first: (id, content hash)."""
        found: dict[str, list[tuple[str, str]]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(urls):
                for row in conn.execute(sa.select(sources.c.canonical_url, sources.c.id,
                                                  sources.c.content_hash)
                                        .where(sources.c.canonical_url.in_(chunk))
                                        .order_by(sources.c.created_at, sources.c.id)):
                    found.setdefault(row.canonical_url, []).append((row.id, row.content_hash))
        return found

    def ids_by_content_hash(self, slug: str, hashes: list[str]) -> dict[str, str]:
        """Content hashes already present among a topic's sources, with the first holder.

        Looked up through the content_hash index first and only then checked against the
        topic: joining from topic_sources made SQLite scan the whole topic per chunk.
        """
        holders: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(h for h in hashes if h):
                for row in conn.execute(sa.select(sources.c.content_hash, sources.c.id)
                                        .where(sources.c.content_hash.in_(chunk))
                                        .order_by(sources.c.created_at, sources.c.id)):
                    holders.setdefault(row.content_hash, []).append(row.id)
            linked = self.linked(slug, [i for ids in holders.values() for i in ids], conn=conn)
        found: dict[str, str] = {}
        for content_hash, ids in holders.items():
            in_topic = [i for i in ids if i in linked]
            if in_topic:
                found[content_hash] = in_topic[0]
        return found

    def signatures(self, slug: str) -> tuple[list[str], list[bytes]]:
        """MinHash signatures of a topic's canonical sources (duplicates are never targets)."""
        query = (sa.select(sources.c.id, sources.c.minhash)
                 .join(topic_sources, topic_sources.c.source_id == sources.c.id)
                 .where(topic_sources.c.topic == slug,
                        topic_sources.c.status != SourceStatus.duplicate.value,
                        sources.c.minhash.is_not(None))
                 .order_by(topic_sources.c.added_at, sources.c.id))
        ids: list[str] = []
        blobs: list[bytes] = []
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                ids.append(row.id)
                blobs.append(row.minhash)
        return ids, blobs

    def details(self, source_id: str) -> dict[str, Any]:
        """Everything `sources show` prints: the source, where it came from, its topics."""
        source = self.get(source_id)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(sources.c.canonical_url, sources.c.origin,
                                         sources.c.declared_url, sources.c.created_at)
                               .where(sources.c.id == source_id)).one()
            links = conn.execute(sa.select(topic_sources).where(
                topic_sources.c.source_id == source_id).order_by(topic_sources.c.topic)).all()
        trusted = {l.topic: self.trusted(l.topic, [source_id]).get(source_id) for l in links}
        return {**source.model_dump(mode="json"), "canonical_url": row.canonical_url,
                "declared_url": row.declared_url, "history": self.history(source_id),
                "origin": row.origin, "created_at": row.created_at, "chars": len(source.text),
                "topics": [{"topic": l.topic, "status": l.status, "reason": l.reason,
                            "trusted": trusted[l.topic],
                            "added_at": l.added_at, "updated_at": l.updated_at} for l in links]}
