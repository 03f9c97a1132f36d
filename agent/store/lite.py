"""The store read with Python's sqlite3, for the commands that only show it: `topics`, `show`,
`history`, `review list` and `review show` start without SQLAlchemy, whose import is ~0.2 s
of theirs.

`open_reader()` gives a Reader for a SQLite store already at the schema's head, and the full
Store for anything else (open_store: a new store is created, an old one migrated, a corrupt
file or an unreachable server reported in one line). A Reader answers the reads those
commands make with the models the SQLAlchemy repos return (both build them with
agent.store.rows; tests/test_store_lite.py compares the two on one store). Every other
attribute, and every write (a `show` that numbers a new source, a `review list` that marks a
proposal stale), goes to the full Store, opened on first use, so a read the Reader lacks is
slower, never wrong.

Its queries run in autocommit: each sees what is committed, and none takes the write lock
that the full store's BEGIN IMMEDIATE takes, so `absorb topics` never waits for a refresh.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.models import Proposal, Revision, RevisionEntry, Source, SourceStatus, Topic
from agent.store.errors import NotFound, UnknownTopic
from agent.store.heads import scanned_heads
from agent.store.rows import (ENTRY_FIELDS, DecisionRow, entry_of, proposal_of, revision_of, source_of,
                              topic_of)

if TYPE_CHECKING:
    from agent.store.core import Store

# Columns SQLAlchemy reads as DateTime and as JSON (agent.store.schema; a test keeps these
# equal to it). SQLite keeps both as text.
DATETIMES = frozenset({"acquired_at", "added_at", "applied_at", "cleared_at", "created_at",
                       "decided_at", "expires_at", "finished_at", "last_pulled_at", "started_at",
                       "updated_at"})
JSONS = frozenset({"article", "detail", "names", "options", "original", "payload", "section_ids",
                   "sentences", "state", "verdict"})
CHUNK = 500  # ids per IN (...), as agent.store.sources


class Row(dict):
    """A result row read by attribute, as SQLAlchemy's rows are (agent.store.rows reads them)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _value(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in DATETIMES and isinstance(value, str):
        # As SQLAlchemy's SQLite DATETIME: the stored wall time, naive.
        return datetime.fromisoformat(value).replace(tzinfo=None)
    if name in JSONS and isinstance(value, str | bytes):
        return json.loads(value)
    return value


def _row(cursor: sqlite3.Cursor, values: tuple) -> Row:
    return Row((d[0], _value(d[0], v)) for d, v in zip(cursor.description, values))


def sqlite_file(url: str) -> str | None:
    """The file of a plain SQLite URL (sqlite:///relative or sqlite:////absolute); None for
    anything else (memory, query options, other drivers), which the full store opens."""
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            path = url[len(prefix):]
            if path and path != ":memory:" and not any(c in path for c in "?%#"):
                return path
    return None


def open_reader(url: str | None = None) -> Reader | Store:
    """A Reader when the store is a SQLite file at the schema's head, else the full Store."""
    if url is None:
        from agent.settings import get_settings

        url = get_settings().database_url
    path = sqlite_file(url)
    if path is not None and Path(path).is_file():
        reader = Reader(url, path)
        try:
            at_head = reader.versions() == scanned_heads()
        except sqlite3.Error:  # not absorb's, or not a database: the full store says which
            at_head = False
        if at_head:
            return reader
        reader.close()
    from agent.store.core import open_store

    return open_store(url)


class Reader:
    """The reads of the commands that show the store; the rest goes to the full Store."""

    def __init__(self, url: str, path: str) -> None:
        self.url = url
        self._full: Store | None = None
        self._conn = sqlite3.connect(path, timeout=30, isolation_level=None,
                                     check_same_thread=False)
        self._conn.row_factory = _row
        self.topics = _Topics(self, "topics")
        self.revisions = _Revisions(self, "revisions")
        self.sources = _Sources(self, "sources")
        self.proposals = _Proposals(self, "proposals")
        self.decisions = _Decisions(self, "decisions")

    def full(self) -> Store:
        if self._full is None:
            from agent.store.core import open_store

            self._full = open_store(self.url)
        return self._full

    def __getattr__(self, name: str) -> Any:  # engine, runs, feeds, decisions...: the full store
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.full(), name)

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def versions(self) -> frozenset[str]:
        return frozenset(r.version_num for r in self.rows("SELECT version_num FROM alembic_version"))

    def close(self) -> None:
        self._conn.close()
        if self._full is not None:
            self._full.close()


class _Repo:
    def __init__(self, reader: Reader, name: str) -> None:
        self._reader, self._name = reader, name

    def __getattr__(self, attr: str) -> Any:  # what the Reader does not answer: the full repo
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(getattr(self._reader.full(), self._name), attr)

    def _rows(self, sql: str, *params: Any) -> list[Row]:
        return self._reader.rows(sql, params)


class _Topics(_Repo):
    def get(self, slug: str) -> Topic:
        found = self._rows("SELECT * FROM topics WHERE slug = ?", slug)
        if not found:
            raise UnknownTopic(slug)
        return topic_of(found[0])

    def exists(self, slug: str) -> bool:
        return bool(self._rows("SELECT slug FROM topics WHERE slug = ?", slug))

    def list(self) -> list[Topic]:
        return [topic_of(r) for r in self._rows("SELECT * FROM topics ORDER BY slug")]

    def citation_numbers(self, slug: str) -> dict[str, int]:
        return {r.source_id: r.number for r in self._rows(
            "SELECT source_id, number FROM citation_numbers WHERE topic = ?", slug)}

    def page_strip(self, slug: str) -> list | None:
        found = self._rows("SELECT names FROM page_strips WHERE topic = ?", slug)
        return found[0].names if found else None


class _Revisions(_Repo):
    def get(self, revision_id: int) -> Revision:
        found = self._rows("SELECT * FROM revisions WHERE id = ?", revision_id)
        if not found:
            raise NotFound(f"no revision {revision_id}")
        return revision_of(found[0])

    def by_number(self, topic: str, number: int) -> Revision:
        found = self._rows("SELECT * FROM revisions WHERE topic = ? AND number = ?", topic, number)
        if not found:
            raise NotFound(f"topic '{topic}' has no revision {number}")
        return revision_of(found[0])

    def current(self, topic: str) -> Revision | None:
        current_id = self._reader.topics.get(topic).current_revision_id
        return None if current_id is None else self.get(current_id)

    def history(self, topic: str) -> list[Revision]:
        self._reader.topics.get(topic)
        return [revision_of(r) for r in self._rows(
            "SELECT * FROM revisions WHERE topic = ? ORDER BY number", topic)]

    def log(self, topic: str) -> list[RevisionEntry]:
        self._reader.topics.get(topic)
        return [entry_of(r) for r in self._rows(
            f"SELECT {', '.join(ENTRY_FIELDS)} FROM revisions WHERE topic = ? ORDER BY number", topic)]


class _Sources(_Repo):
    def for_topic(self, slug: str, status: str | list[str] | None = None) -> list[tuple[Source, str]]:
        if status is not None:  # a filter checks its statuses: the full repo's
            return self._reader.full().sources.for_topic(slug, status)
        self._reader.topics.get(slug)
        return [(source_of(r), r.topic_status) for r in self._rows(
            "SELECT sources.*, topic_sources.status AS topic_status FROM sources"
            " JOIN topic_sources ON topic_sources.source_id = sources.id"
            " WHERE topic_sources.topic = ? ORDER BY topic_sources.added_at, sources.id", slug)]

    def get_many(self, ids: Iterable[str]) -> dict[str, Source]:
        wanted, found = list(dict.fromkeys(ids)), {}
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start:start + CHUNK]
            marks = ", ".join("?" * len(chunk))
            for r in self._rows(f"SELECT * FROM sources WHERE id IN ({marks})", *chunk):
                found[r.id] = source_of(r)
        return found

    def mention_rows(self, slug: str) -> list[tuple[str, str, str]]:
        return [(r.source_id, r.key, r.name) for r in self._rows(
            "SELECT source_mentions.source_id, source_mentions.\"key\", source_mentions.name"
            " FROM source_mentions JOIN topic_sources"
            " ON topic_sources.source_id = source_mentions.source_id"
            " WHERE topic_sources.topic = ? AND topic_sources.status != ?",
            slug, SourceStatus.duplicate.value)]


class _Proposals(_Repo):
    def get(self, proposal_id: int) -> Proposal:
        found = self._rows("SELECT * FROM proposals WHERE id = ?", proposal_id)
        if not found:
            raise NotFound(f"no proposal {proposal_id} (see `absorb review list`)")
        return self._loaded(found)[0]

    def list(self, *, status: str | None = None, topic: str | None = None,
             statuses: Sequence[str] | None = None) -> list[Proposal]:
        where, params = [], []
        if status:
            where.append("status = ?")
            params.append(status)
        if statuses is not None:
            where.append(f"status IN ({', '.join('?' for _ in statuses) or 'NULL'})")
            params.extend(statuses)
        if topic:
            where.append("topic = ?")
            params.append(topic)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return self._loaded(self._rows(f"SELECT * FROM proposals{clause} ORDER BY id", *params))

    def _loaded(self, rows: list[Row]) -> list[Proposal]:
        found, unrecorded = [], []
        for row in rows:
            proposal, repair = proposal_of(row, self._rows(
                "SELECT edits.*, applied_edits.revision_id AS revision_id FROM edits"
                " LEFT OUTER JOIN applied_edits ON applied_edits.edit_id = edits.id"
                " WHERE edits.proposal_id = ? ORDER BY edits.position", row.id))
            if repair:
                unrecorded.append((row.id, repair))
            found.append(proposal)
        if unrecorded:  # what the read found is written by the full store, as it would
            self._reader.full().proposals._repair(unrecorded)
        return found


class _Decisions(_Repo):
    def unverified_keys(self, topic: str) -> set[str]:
        """As agent.store.decisions.DecisionRepo.unverified_keys (the page marks them)."""
        return {row.key for row in self._rows(
            'SELECT "key" FROM unverified_sentences WHERE topic = ? AND cleared_at IS NULL', topic)}

    def for_proposal(self, proposal_id: int) -> dict[str, list[DecisionRow]]:
        """As agent.store.decisions.DecisionRepo.for_proposal (`review show` reads it)."""
        out: dict[str, list[DecisionRow]] = {}
        for row in self._rows("SELECT * FROM edit_decisions WHERE proposal_id = ? ORDER BY id",
                              proposal_id):
            out.setdefault(row.edit_id, []).append(DecisionRow(
                row.edit_id, row.proposal_id, row.action, row.actor, row.comment, row.sentences,
                row.original, row.decided_at))
        return out
