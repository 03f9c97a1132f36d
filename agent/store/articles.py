"""Topics and their append-only article revisions, moved only by compare-and-swap."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from agent.models import Article, Revision, RevisionEntry, Topic, utcnow
from agent.store.errors import ConflictError, NotFound, UnknownTopic
from agent.store.rows import ENTRY_FIELDS, entry_of, lead_key
from agent.store.rows import revision_of as _revision
from agent.store.rows import topic_of as _topic
from agent.store.schema import applied_edits, citation_numbers, page_strips, revisions, topics


# Read on every node of a run: built once with bound values (a statement built per call
# cost SQLAlchemy more CPU than running it).
_TOPIC = sa.select(topics).where(topics.c.slug == sa.bindparam("b_slug"))
_REVISION = sa.select(revisions).where(revisions.c.id == sa.bindparam("b_id"))
_OTHER_LEAD = (sa.select(revisions)
               .where(revisions.c.topic == sa.bindparam("b_topic"),
                      revisions.c.number < sa.bindparam("b_below"),
                      sa.or_(revisions.c.lead_sha.is_(None),
                             revisions.c.lead_sha.not_in(sa.bindparam("b_keys", expanding=True))))
               .order_by(revisions.c.number.desc()).limit(1))


class TopicRepo:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def create(self, slug: str, title: str, scope: str = "") -> Topic:
        with self.engine.begin() as conn:
            conn.execute(sa.insert(topics).values(slug=slug, title=title, scope=scope,
                                                  created_at=utcnow()))
        return self.get(slug)

    def get(self, slug: str) -> Topic:
        with self.engine.connect() as conn:
            row = conn.execute(_TOPIC, {"b_slug": slug}).one_or_none()
        if row is None:
            raise UnknownTopic(slug)
        return _topic(row)

    def exists(self, slug: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(topics.c.slug).where(topics.c.slug == slug)).first() is not None

    def list(self) -> list[Topic]:
        with self.engine.connect() as conn:
            return [_topic(r) for r in conn.execute(sa.select(topics).order_by(topics.c.slug))]

    def citation_numbers(self, slug: str) -> dict[str, int]:
        """The reference numbers given on the topic, by source id (agent.numbering)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(citation_numbers.c.source_id, citation_numbers.c.number)
                                .where(citation_numbers.c.topic == slug))
            return {row.source_id: row.number for row in rows}

    def page_strip(self, slug: str) -> list | None:
        """The names strip the imported page carried, as [[name, count], ...] (agent.mentions)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(page_strips.c.names)
                                .where(page_strips.c.topic == slug)).scalar()

    def set_scope(self, slug: str, scope: str) -> Topic:
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(topics).where(topics.c.slug == slug).values(scope=scope))
        if done.rowcount != 1:
            raise UnknownTopic(slug)
        return self.get(slug)


class RevisionRepo:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def get(self, revision_id: int) -> Revision:
        with self.engine.connect() as conn:
            row = conn.execute(_REVISION, {"b_id": revision_id}).one_or_none()
        if row is None:
            raise NotFound(f"no revision {revision_id}")
        return _revision(row)

    def by_number(self, topic: str, number: int) -> Revision:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(revisions).where(
                revisions.c.topic == topic, revisions.c.number == number)).one_or_none()
        if row is None:
            raise NotFound(f"topic '{topic}' has no revision {number}")
        return _revision(row)

    def current(self, topic: str) -> Revision | None:
        current_id = TopicRepo(self.engine).get(topic).current_revision_id
        return None if current_id is None else self.get(current_id)

    def current_numbers(self) -> dict[str, int]:
        """Each topic's current revision number, by slug (topics without one left out), without
        reading any article."""
        query = sa.select(topics.c.slug, revisions.c.number).join(
            revisions, revisions.c.id == topics.c.current_revision_id)
        with self.engine.connect() as conn:
            return {row.slug: row.number for row in conn.execute(query)}

    def newest_with_other_lead(self, topic: str, keys: list[str], below: int) -> Revision | None:
        """The newest revision numbered below `below` whose lead key (agent.store.rows.lead_key)
        is none of `keys`, or None: found from the index, without parsing the revisions between."""
        with self.engine.connect() as conn:
            row = conn.execute(_OTHER_LEAD, {"b_topic": topic, "b_keys": keys,
                                             "b_below": below}).first()
        return None if row is None else _revision(row)

    def first_matching(self, topic: str, match: Callable[[dict], bool]) -> Revision | None:
        """The oldest revision whose stored article JSON `match` accepts, parsed; the others
        are only decoded (a topic merged every night has hundreds of revisions, and parsing
        each into an Article cost about 1 ms)."""
        query = sa.select(revisions).where(revisions.c.topic == topic).order_by(revisions.c.number)
        with self.engine.connect() as conn:
            found = next((row for row in conn.execute(query) if match(row.article)), None)
        return None if found is None else _revision(found)

    def history(self, topic: str) -> list[Revision]:
        TopicRepo(self.engine).get(topic)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(revisions).where(revisions.c.topic == topic)
                                .order_by(revisions.c.number))
            return [_revision(r) for r in rows]

    def log(self, topic: str) -> list[RevisionEntry]:
        """The topic's revisions, oldest first, without their articles."""
        TopicRepo(self.engine).get(topic)
        columns = [revisions.c[name] for name in ENTRY_FIELDS]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*columns).where(revisions.c.topic == topic)
                                .order_by(revisions.c.number))
            return [entry_of(r) for r in rows]

    def applied(self, edit_ids: list[str]) -> set[str]:
        if not edit_ids:
            return set()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(applied_edits.c.edit_id)
                                .where(applied_edits.c.edit_id.in_(edit_ids)))
            return {r.edit_id for r in rows}

    def commit(self, topic: str, article: Article, *, base_revision_id: int | None, actor: str,
               comment: str = "", edit_ids: list[str] | None = None) -> Revision:
        """Append a revision and move the topic's pointer to it, if the base is still current.

        The insert, the recorded edit ids and the pointer move share one transaction: a writer
        whose base is stale gets ConflictError and leaves nothing behind.
        """
        try:
            with self.engine.begin() as conn:
                new_id = commit_revision(conn, topic, article, base_revision_id=base_revision_id,
                                         actor=actor, comment=comment, edit_ids=edit_ids)
        except sa.exc.IntegrityError:
            # Another writer appended the same revision number or applied the same edit first.
            current = TopicRepo(self.engine).get(topic).current_revision_id
            raise ConflictError(topic, base_revision_id, current) from None
        return self.get(new_id)


def current_revision_row(conn: sa.Connection, topic: str, *, lock: bool = False) -> sa.Row | None:
    """The topic's current revision inside a transaction; `lock` holds the topic row (PostgreSQL)
    so merges of one topic queue instead of conflicting."""
    query = sa.select(topics.c.current_revision_id).where(topics.c.slug == topic)
    pointer = conn.execute(query.with_for_update() if lock else query).one_or_none()
    if pointer is None:
        raise UnknownTopic(topic)
    if pointer.current_revision_id is None:
        return None
    return conn.execute(sa.select(revisions).where(
        revisions.c.id == pointer.current_revision_id)).one()


def revision_of(row: sa.Row) -> Revision:
    return _revision(row)


def commit_revision(conn: sa.Connection, topic: str, article: Article, *,
                    base_revision_id: int | None, actor: str, comment: str = "",
                    edit_ids: list[str] | None = None) -> int:
    """Insert a revision, record the edits it applies and move the pointer, in the caller's
    transaction; ConflictError (or IntegrityError) when the base is no longer current."""
    row = conn.execute(sa.select(topics.c.current_revision_id)
                       .where(topics.c.slug == topic)).one_or_none()
    if row is None:
        raise UnknownTopic(topic)
    if row.current_revision_id != base_revision_id:
        raise ConflictError(topic, base_revision_id, row.current_revision_id)
    number = 1
    if base_revision_id is not None:
        number = conn.execute(sa.select(revisions.c.number)
                              .where(revisions.c.id == base_revision_id)).scalar_one() + 1
    stored = article.model_dump(mode="json")
    new_id = conn.execute(sa.insert(revisions).values(
        topic=topic, number=number, parent_id=base_revision_id,
        article=stored, actor=actor, comment=comment,
        sha256=article.content_sha256(), created_at=utcnow(), lead_sha=lead_key(stored),
    ).returning(revisions.c.id)).scalar_one()
    pointer = topics.c.current_revision_id
    moved = conn.execute(sa.update(topics).where(
        topics.c.slug == topic,
        pointer.is_(None) if base_revision_id is None else pointer == base_revision_id,
    ).values(current_revision_id=new_id))
    if moved.rowcount != 1:
        raise ConflictError(topic, base_revision_id, None)
    record_applied(conn, edit_ids or [], new_id)
    return new_id


def record_applied(conn: sa.Connection, edit_ids: list[str], revision_id: int) -> None:
    """Which revision applied each edit: the truth a half-finished decision is repaired from."""
    now = utcnow()
    for edit_id in edit_ids:
        conn.execute(sa.insert(applied_edits).values(edit_id=edit_id, revision_id=revision_id,
                                                     applied_at=now))
