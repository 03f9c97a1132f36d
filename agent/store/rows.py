"""Rows to models, shared by the SQLAlchemy repos and the SQLite reader (agent.store.lite):
plain functions of rows read by attribute, so the reader needs no SQLAlchemy."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.models import (Article, Edit, EditStatus, Proposal, ProposalStatus, Revision, RevisionEntry,
                          Sentence, Source, Topic)

SOURCE_FIELDS = ("id", "url", "title", "kind", "author", "published_at", "text", "content_hash",
                 "duplicate_of")


def lead_key(article: dict) -> str:
    """A revision's lead as a short key, from its stored JSON: the cited lead sentences when it
    has them, else the summary with its spacing folded (what agent.lead.lead_sentences reads).
    Equal keys mean equal leads; a lead that reads the same may still differ in key (a plain
    summary later written as cited sentences), so a reader confirms a difference it relies
    on. Stored per revision (lead_sha), so finding the revision that last wrote the lead
    reads no article."""
    lead = article.get("lead") or []
    if lead:
        body = "lead:" + json.dumps(lead, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    else:
        body = "summary:" + " ".join(str(article.get("summary") or "").split())
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def topic_of(row: Any) -> Topic:
    return Topic(slug=row.slug, title=row.title, scope=row.scope,
                 current_revision_id=row.current_revision_id, created_at=row.created_at)


def revision_of(row: Any) -> Revision:
    return Revision(id=row.id, topic=row.topic, number=row.number, parent_id=row.parent_id,
                    article=Article.model_validate(row.article), actor=row.actor,
                    comment=row.comment, sha256=row.sha256, created_at=row.created_at)


ENTRY_FIELDS = ("id", "topic", "number", "parent_id", "actor", "comment", "sha256", "created_at")


def entry_of(row: Any) -> RevisionEntry:
    return RevisionEntry(**{name: getattr(row, name) for name in ENTRY_FIELDS})


def source_of(row: Any) -> Source:
    return Source(**{name: getattr(row, name) for name in SOURCE_FIELDS})


def proposal_of(row: Any, edit_rows: Any) -> tuple[Proposal, list[str]]:
    """A proposal from its row and its edits' rows (each with the `revision_id` that applied
    it, or None), in position order; and the edits a revision applied whose status write never
    happened (an old crash between the two): the article is the truth, the caller records it."""
    loaded, repair = [], []
    for e in edit_rows:
        edit = Edit.model_validate(e.payload)
        edit.status = EditStatus(e.status)
        if e.revision_id is not None and edit.status != EditStatus.merged:
            edit.status = EditStatus.merged
            repair.append(edit.id)
        loaded.append(edit)
    status = status_of([e.status for e in loaded]) if repair else ProposalStatus(row.status)
    proposal = Proposal(id=row.id, topic=row.topic, run_id=row.run_id,
                        base_revision_id=row.base_revision_id, status=status,
                        edits=loaded, comment=row.comment, actor=row.actor,
                        created_at=row.created_at, merged_revision_id=row.merged_revision_id)
    return proposal, repair


def status_of(statuses: list[EditStatus]) -> ProposalStatus:
    """A proposal's status from its edits' (stale, per section, is judged by the reader)."""
    if any(s == EditStatus.pending for s in statuses):
        return ProposalStatus.pending
    if statuses and all(s == EditStatus.merged for s in statuses):
        return ProposalStatus.merged
    if any(s == EditStatus.merged for s in statuses):
        return ProposalStatus.partially_approved
    if statuses and all(s == EditStatus.rejected for s in statuses):
        return ProposalStatus.rejected
    return ProposalStatus.stale


@dataclass(frozen=True)
class DecisionRow:
    """One editor decision on an edit (agent.store.decisions writes them)."""

    edit_id: str
    proposal_id: int
    action: str
    actor: str
    comment: str
    sentences: dict | None
    original: dict | None
    decided_at: datetime


def sentence_key(sentence: Sentence) -> str:
    """The same prose with the same citations is the same sentence, wherever it moves."""
    return key_of(sentence.text, sentence.citations)


def key_of(text: str, citations: Sequence[str]) -> str:
    """`sentence_key` from the fields themselves (a stored article's JSON, unparsed)."""
    return hashlib.sha256((text + "\x00" + "\x00".join(citations)).encode()).hexdigest()
