"""Where a source's words came from, and whether a topic trusts them.

A source's text is written once: by the import that first stored the row, or, for a row
stored without text (a page's reference), by fetching that row's own URL. That one fill is
a conditional UPDATE (`text = ''`) recorded in `source_history` in the same transaction.
Trust is per topic and per source id; since a stored text never changes, trusting an id
trusts exactly the words an editor or a trusted feed vouched for.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from agent.models import utcnow
from agent.store.errors import NotFound, StoreError, UnknownTopic
from agent.store.schema import source_history, sources, topic_sources, topics, trusted_sources

CHUNK = 500


class TextAlreadyWritten(StoreError):
    """The row has text already: it is never rewritten (a new version is a new source)."""


class ProvenanceMixin:
    engine: sa.Engine

    # -- trust -------------------------------------------------------------------------
    def trust(self, slug: str, ids: Iterable[str], via: str) -> int:
        """Mark these sources of a topic trusted; returns how many were not trusted before.
        Ids the topic does not hold are refused, so a typo never trusts nothing silently."""
        wanted = list(dict.fromkeys(ids))
        now = utcnow()
        with self.engine.begin() as conn:
            if conn.execute(sa.select(topics.c.slug).where(topics.c.slug == slug)).first() is None:
                raise UnknownTopic(slug)
            held = set()
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start:start + CHUNK]
                held.update(conn.execute(sa.select(topic_sources.c.source_id).where(
                    topic_sources.c.topic == slug, topic_sources.c.source_id.in_(chunk))).scalars())
            missing = [i for i in wanted if i not in held]
            if missing:
                raise NotFound(f"topic '{slug}' has no source '{missing[0]}' "
                               f"(see `absorb sources list {slug}`)")
            before = self._trusted(conn, slug, wanted)
            rows = [{"topic": slug, "source_id": i, "via": via, "created_at": now}
                    for i in wanted if i not in before]
            if rows:
                conn.execute(sa.insert(trusted_sources), rows)
        return len(rows)

    def distrust(self, slug: str, ids: Iterable[str]) -> int:
        wanted = list(dict.fromkeys(ids))
        with self.engine.begin() as conn:
            done = conn.execute(sa.delete(trusted_sources).where(
                trusted_sources.c.topic == slug, trusted_sources.c.source_id.in_(wanted)))
        return done.rowcount

    def trusted(self, slug: str, ids: Iterable[str]) -> dict[str, str]:
        """Which of these ids the topic trusts, with how it came to trust them."""
        with self.engine.connect() as conn:
            return self._trusted(conn, slug, list(dict.fromkeys(ids)))

    @staticmethod
    def _trusted(conn: sa.Connection, slug: str, ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(ids), CHUNK):
            found.update({r.source_id: r.via for r in conn.execute(
                sa.select(trusted_sources.c.source_id, trusted_sources.c.via).where(
                    trusted_sources.c.topic == slug,
                    trusted_sources.c.source_id.in_(ids[start:start + CHUNK])))})
        return found

    # -- the one fill of a textless row ------------------------------------------------
    def fill_text(self, source_id: str, values: dict[str, Any], *, detail: dict[str, Any],
                  actor: str) -> None:
        """Write text (and the fields that come with it) into a row that has none, and record
        it; a row that has text is refused, whoever asks."""
        now = utcnow()
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(sources).where(
                sources.c.id == source_id, sources.c.text == "").values(**values))
            if done.rowcount != 1:
                if conn.execute(sa.select(sources.c.id).where(sources.c.id == source_id)).first() is None:
                    raise NotFound(f"no source '{source_id}' (see `absorb sources list TOPIC`)")
                raise TextAlreadyWritten(
                    f"source {source_id} already has its text; a source's text is written once "
                    "(a changed page is imported as a new source)")
            conn.execute(sa.insert(source_history).values(
                source_id=source_id, action="fetched", detail=detail, actor=actor, created_at=now))

    def history(self, source_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(source_history).where(
                source_history.c.source_id == source_id).order_by(source_history.c.id)).all()
        return [{"action": r.action, "actor": r.actor, "at": r.created_at, **(r.detail or {})}
                for r in rows]
