"""Every source gets a decision once: why a source is undecided or held back, and when it is
tried again.

`undecided`: triage gave no answer for it twice. `held_back`: it was drafted for a section and
nothing of it passed the gate (or the draft used nothing of it). Neither is triaged or drafted
again night after night: only when the editor asks (`absorb sources retry SLUG`), when the
prompt or model that decided it changes, or (held back) when new sources reach its section.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from agent.models import SourceStatus, utcnow
from agent.store import Store
from agent.store.schema import source_notes, topic_sources

# A note with its source's link on the topic: the link's status says whether the note holds.
_NOTED = source_notes.join(topic_sources, sa.and_(
    topic_sources.c.topic == source_notes.c.topic,
    topic_sources.c.source_id == source_notes.c.source_id))

RETRYABLE = (SourceStatus.undecided.value, SourceStatus.held_back.value)
WAITING = "waiting:"  # the reason of a new source a bounded draft left for the next run


@dataclass(frozen=True)
class SourceNote:
    topic: str
    source_id: str
    status: str
    section_ids: list[str]
    prompt_version: str
    model: str
    run_id: int | None
    detail: dict
    updated_at: datetime


def record(store: Store, topic: str, ids: list[str], status: str, *, reason: str,
           prompt_version: str, model: str, run_id: int | None,
           section_ids: dict[str, list[str]] | None = None,
           detail: dict[str, dict] | None = None) -> None:
    """Set the sources' status with its reason, and remember what decided it."""
    if not ids:
        return
    store.sources.set_status(topic, ids, status, reason=reason)
    now = utcnow()
    with store.engine.begin() as conn:
        conn.execute(sa.delete(source_notes).where(source_notes.c.topic == topic,
                                                   source_notes.c.source_id.in_(ids)))
        conn.execute(source_notes.insert(), [
            {"topic": topic, "source_id": sid, "status": status,
             "section_ids": (section_ids or {}).get(sid, []), "prompt_version": prompt_version,
             "model": model, "run_id": run_id, "detail": (detail or {}).get(sid, {}),
             "updated_at": now} for sid in ids])


def notes(store: Store, topic: str, status: str | None = None) -> list[SourceNote]:
    """The topic's undecided and held-back sources with what decided them (oldest first):
    a note counts while its source is still in the status it records."""
    # One statement: the source's link decides, and no source text is read (this runs twice
    # per refresh; it was three statements that loaded every waiting source with its text).
    query = (sa.select(source_notes).select_from(_NOTED)
             .where(source_notes.c.topic == topic, topic_sources.c.status == source_notes.c.status,
                    topic_sources.c.status.in_(RETRYABLE)))
    if status is not None:
        query = query.where(source_notes.c.status == status)
    with store.engine.connect() as conn:
        rows = conn.execute(query.order_by(source_notes.c.updated_at, source_notes.c.source_id))
        return [SourceNote(**row._mapping) for row in rows]


def forget(store: Store, topic: str, ids: list[str]) -> None:
    if ids:
        with store.engine.begin() as conn:
            conn.execute(sa.delete(source_notes).where(source_notes.c.topic == topic,
                                                       source_notes.c.source_id.in_(ids)))


def retry(store: Store, topic: str, ids: list[str] | None = None) -> int:
    """Undecided and held-back sources (all, or these ids) become new: the next refresh tries them.
    An id the topic does not hold is refused (NotFound), as `sources trust` refuses it."""
    if ids is None:
        chosen = [s.id for s, _ in store.sources.for_topic(topic, status=list(RETRYABLE))]
    else:
        held = dict((s.id, status) for s, status in store.sources.for_topic(topic))
        unknown = [i for i in ids if i not in held]
        if unknown:
            from agent.store.errors import NotFound

            raise NotFound(f"topic '{topic}' has no source '{unknown[0]}' "
                           f"(see `absorb sources list {topic}`)")
        chosen = [i for i in dict.fromkeys(ids) if held[i] in RETRYABLE]
    if chosen:
        store.sources.set_status(topic, chosen, SourceStatus.new.value,
                                 reason="retry asked by an editor")
        forget(store, topic, chosen)
    return len(chosen)


def expire(store: Store, topic: str, *, triage: tuple[str, str], draft: tuple[str, str]) -> list[str]:
    """Sources decided under another (prompt version, model) than today's become new again."""
    stale = [n.source_id for n in notes(store, topic)
             if (n.prompt_version, n.model) != (triage if n.status == SourceStatus.undecided else draft)]
    if stale:
        store.sources.set_status(topic, stale, SourceStatus.new.value,
                                 reason="decided under another prompt or model; tried again")
        forget(store, topic, stale)
    return stale


def held_for_sections(store: Store, topic: str, section_ids: list[str]) -> dict[str, list[str]]:
    """Held-back sources by the section they were held back for (only the given sections)."""
    wanted = set(section_ids)
    found: dict[str, list[str]] = {}
    for note in notes(store, topic, SourceStatus.held_back.value):
        for section_id in note.section_ids:
            if section_id in wanted:
                found.setdefault(section_id, []).append(note.source_id)
    return found


def waiting_sections(store: Store, topic: str, *, prompt_version: str, model: str) -> dict[str, list[str]]:
    """New sources a bounded draft left for a later run, with the sections today's triage
    (same prompt version and model) sent them to: drafted there without being triaged again."""
    query = (sa.select(source_notes.c.source_id, source_notes.c.section_ids).select_from(_NOTED)
             .where(source_notes.c.topic == topic,
                    source_notes.c.status == SourceStatus.new.value,
                    topic_sources.c.status == SourceStatus.new.value,
                    source_notes.c.prompt_version == prompt_version, source_notes.c.model == model)
             .order_by(source_notes.c.updated_at, source_notes.c.source_id))
    with store.engine.connect() as conn:
        return {row.source_id: list(row.section_ids or []) for row in conn.execute(query)}


def model_name(model) -> str:  # noqa: ANN001 - any BaseChatModel, or None
    return str(getattr(model, "model_name", None) or getattr(model, "model", None) or "") if model else ""


def reasons(store: Store, topic: str) -> dict[str, str]:
    """Why each undecided, held-back or waiting source of the topic is so (for `sources list`)."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(topic_sources.c.source_id, topic_sources.c.reason).where(
            topic_sources.c.topic == topic, sa.or_(
                topic_sources.c.status.in_(RETRYABLE),
                # New, but left out of a bounded draft (graphs/refresh.py defer_beyond_limit).
                sa.and_(topic_sources.c.status == SourceStatus.new.value,
                        topic_sources.c.reason.like(f"{WAITING}%")))))
        return {row.source_id: row.reason or "" for row in rows}


def record_work(store: Store, run_id: int, topic: str, *, triaged: int, sections: int,
                claims: int) -> None:
    """What a refresh worked on, once per run (a resumed run writes it again: replaced)."""
    from agent.store.schema import run_work

    with store.engine.begin() as conn:
        conn.execute(sa.delete(run_work).where(run_work.c.run_id == run_id))
        conn.execute(run_work.insert().values(run_id=run_id, topic=topic, triaged_sources=triaged,
                                              drafted_sections=sections, judged_claims=claims,
                                              created_at=utcnow()))
