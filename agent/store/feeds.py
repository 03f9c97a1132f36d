"""Feeds registered per topic, with what the last pull remembered (ETag, file states)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field

from agent.models import utcnow
from agent.store.errors import NotFound, StoreError, UnknownTopic
from agent.store.schema import feeds, topics


class Feed(BaseModel):
    id: int
    topic: str
    name: str
    input: str = Field(description="An http(s) URL, a file or a folder.")
    format: str = "auto"
    etag: str | None = None
    last_modified: str | None = None
    state: dict[str, Any] = Field(default_factory=dict,
                                  description="Per-file mtime/size/sha256 of folder feeds.")
    last_pulled_at: datetime | None = None
    last_error: str | None = None
    trusted: bool = Field(False, description="Its sources may be merged by `--review auto`.")


def _feed(row: sa.Row) -> Feed:
    return Feed(id=row.id, topic=row.topic, name=row.name, input=row.input, format=row.format,
                etag=row.etag, last_modified=row.last_modified, state=row.state or {},
                last_pulled_at=row.last_pulled_at, last_error=row.last_error,
                trusted=bool(row.trusted))


class FeedRepo:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add(self, topic: str, name: str, input: str, format: str = "auto", *,
            trusted: bool = False) -> Feed:
        try:
            with self.engine.begin() as conn:
                if conn.execute(sa.select(topics.c.slug).where(topics.c.slug == topic)).first() is None:
                    raise UnknownTopic(topic)
                conn.execute(sa.insert(feeds).values(topic=topic, name=name, input=input,
                                                     format=format, state={}, trusted=trusted))
        except sa.exc.IntegrityError:
            raise StoreError(f"topic '{topic}' already has a feed named '{name}'") from None
        return self.get(topic, name)

    def get(self, topic: str, name: str) -> Feed:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(feeds).where(feeds.c.topic == topic,
                                                      feeds.c.name == name)).one_or_none()
        if row is None:
            raise NotFound(f"topic '{topic}' has no feed named '{name}' (see `absorb feeds list {topic}`)")
        return _feed(row)

    def list(self, topic: str | None = None) -> list[Feed]:
        query = sa.select(feeds).order_by(feeds.c.topic, feeds.c.name)
        if topic is not None:
            query = query.where(feeds.c.topic == topic)
        with self.engine.connect() as conn:
            return [_feed(r) for r in conn.execute(query)]

    def remove(self, topic: str, name: str) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(sa.delete(feeds).where(feeds.c.topic == topic, feeds.c.name == name))
        if done.rowcount != 1:
            raise NotFound(f"topic '{topic}' has no feed named '{name}' (see `absorb feeds list {topic}`)")

    def record_pull(self, feed_id: int, *, etag: str | None = None, last_modified: str | None = None,
                    state: dict[str, Any] | None = None, error: str | None = None) -> None:
        """Remember a successful pull's validators and state, or a failed pull's error only,
        so the next pull retries what failed."""
        values: dict[str, Any] = {"last_pulled_at": utcnow(), "last_error": error}
        if error is None:
            values.update(etag=etag, last_modified=last_modified, state=state or {})
        with self.engine.begin() as conn:
            conn.execute(sa.update(feeds).where(feeds.c.id == feed_id).values(**values))
