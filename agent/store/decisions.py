"""Who decided each edit, when, why, and which sentences they took; merged sentences that no
check verified (the article marks them until a later check does)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from agent.models import EditStatus, Sentence, utcnow
from agent.store.rows import DecisionRow, sentence_key
from agent.store.schema import edit_decisions, edits, unverified_sentences

__all__ = ["DecisionRepo", "DecisionRow", "UnverifiedMark", "sentence_key"]

_NOT_MERGED = (EditStatus.pending.value, EditStatus.refused.value, EditStatus.rejected.value)


@dataclass(frozen=True)
class UnverifiedMark:
    key: str
    text: str
    label: str
    edit_id: str
    proposal_id: int
    actor: str
    created_at: datetime


class DecisionRepo:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def record(self, edit_id: str, proposal_id: int, action: str, *, actor: str, comment: str = "",
               sentences: dict | None = None, original: dict | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.insert(edit_decisions).values(
                edit_id=edit_id, proposal_id=proposal_id, action=action, actor=actor,
                comment=comment, sentences=sentences, original=original, decided_at=utcnow()))

    def for_proposal(self, proposal_id: int) -> dict[str, list[DecisionRow]]:
        """Every decision on the proposal's edits, oldest first, by edit id."""
        query = (sa.select(edit_decisions).where(edit_decisions.c.proposal_id == proposal_id)
                 .order_by(edit_decisions.c.id))
        out: dict[str, list[DecisionRow]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                out.setdefault(row.edit_id, []).append(DecisionRow(
                    row.edit_id, row.proposal_id, row.action, row.actor, row.comment,
                    row.sentences, row.original, row.decided_at))
        return out

    def narrow(self, edit_id: str, payload: dict) -> bool:
        """Replace a still-undecided edit's content by the part an editor approves."""
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(edits).where(edits.c.id == edit_id,
                                                       edits.c.status == EditStatus.pending.value)
                                .values(payload=payload))
        return done.rowcount == 1

    def restore(self, edit_id: str, payload: dict) -> None:
        """Put back what the proposal said, unless the edit was merged: an approve that was
        refused (the section changed since), lost to another editor's rejection, or failed
        leaves the proposal as it was proposed, every sentence of it."""
        with self.engine.begin() as conn:
            conn.execute(sa.update(edits).where(edits.c.id == edit_id,
                                                edits.c.status.in_(_NOT_MERGED))
                         .values(payload=payload))

    def reopen(self, edit_id: str) -> bool:
        """A rejected edit becomes undecided again (compare-and-swap on its status)."""
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(edits).where(edits.c.id == edit_id,
                                                       edits.c.status == EditStatus.rejected.value)
                                .values(status=EditStatus.pending.value))
        return done.rowcount == 1

    def mark_unverified(self, topic: str, items: list[tuple[Sentence, str]], *, edit_id: str,
                        proposal_id: int, actor: str) -> None:
        if not items:
            return
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(sa.insert(unverified_sentences), [
                {"topic": topic, "key": sentence_key(s), "text": s.text, "label": label,
                 "edit_id": edit_id, "proposal_id": proposal_id, "actor": actor, "created_at": now}
                for s, label in items])

    def unverified(self, topic: str) -> dict[str, UnverifiedMark]:
        query = (sa.select(unverified_sentences)
                 .where(unverified_sentences.c.topic == topic,
                        unverified_sentences.c.cleared_at.is_(None))
                 .order_by(unverified_sentences.c.id))
        with self.engine.connect() as conn:
            return {row.key: UnverifiedMark(row.key, row.text, row.label, row.edit_id,
                                            row.proposal_id, row.actor, row.created_at)
                    for row in conn.execute(query)}

    def unverified_keys(self, topic: str) -> set[str]:
        """The keys of the topic's sentences that went in unverified and still carry the mark."""
        return set(self.unverified(topic))

    def clear_unverified(self, topic: str, keys: list[str], *, by: str) -> int:
        """A later check verified these sentences: their mark goes."""
        if not keys:
            return 0
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(unverified_sentences)
                                .where(unverified_sentences.c.topic == topic,
                                       unverified_sentences.c.key.in_(keys),
                                       unverified_sentences.c.cleared_at.is_(None))
                                .values(cleared_at=utcnow(), cleared_by=by))
        return done.rowcount
