"""Deciding edits and merging them into a new article revision, each edit decided exactly once.

An edit carries the section's sentences as they were at the proposal's base revision. It
applies to the current revision only while that section is unchanged; otherwise it is
refused (the editor can redraft) and its sources go back to `new`, so approving a stale
proposal never overwrites newer text and never strands a source.

Every decision is one transaction: the compare-and-swap of each edit's status off `pending`
(two racing decisions: exactly one moves it), the new revision with the applied edit ids and
the pointer move, the proposal's status, its parked run and the sources' statuses. A crash
leaves all of it or none of it; a resumed run merging again is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from agent.apply import apply_edits, edit_applies, refusal
from agent.models import (Edit, EditStatus, Proposal, Revision, RunStatus, Source,
                          SourceStatus, is_source_id, utcnow)
from agent.store import ConflictError, Store
from agent.store.articles import commit_revision, current_revision_row, record_applied, revision_of
from agent.store.proposals import EditDecision, settle_proposal, swap_edit_status
from agent.store.schema import edits, proposals, runs, topic_sources

# A parked or stopped run has nothing left to do once an editor decided its proposal.
FINISHABLE = (RunStatus.waiting_review.value, RunStatus.interrupted.value,
              RunStatus.deferred.value, RunStatus.admitted.value)


@dataclass
class MergeOutcome:
    proposal_id: int
    revision: Revision | None = None
    merged: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    # Decided before this call (or by a racing one): edit id -> how it stands now.
    already: dict[str, EditDecision] = field(default_factory=dict)
    finished_run: int | None = None
    revision_id: int | None = None


def merge_proposal(store: Store, proposal: Proposal, *, approve: list[str] | None = None,
                   reject: list[str] | None = None, actor: str, comment: str = "") -> MergeOutcome:
    """Decide a proposal: approve (default: every pending edit) and reject edits, then merge.

    Edits that are no longer pending when the transaction looks at them are left as they
    are and reported in `already`; the caller tells the editor what happened to them.
    """
    by_id = {e.id: e for e in proposal.edits}
    approve_ids = [e.id for e in proposal.edits if e.status == EditStatus.pending] \
        if approve is None else list(approve)
    reject_ids = [i for i in reject or [] if i not in approve_ids]
    unknown = [i for i in [*approve_ids, *reject_ids] if i not in by_id]
    if unknown:
        raise ValueError(f"proposal {proposal.id} has no edit {unknown[0]}")
    # Read before the transaction: on SQLite a second connection would wait for our own lock.
    cited = sorted({k for i in approve_ids for s in by_id[i].new_sentences() for k in s.citations
                    if is_source_id(k)})
    sources = store.sources.get_many(cited) if cited else {}
    for attempt in range(5):
        try:
            with store.engine.begin() as conn:
                outcome = _decide(conn, proposal, sources, approve_ids, reject_ids, actor, comment)
        except (ConflictError, sa.exc.IntegrityError):
            # Another proposal moved the article between our read and our write: look again.
            if attempt == 4:
                raise
            continue
        break
    if outcome.already:
        decided = store.proposals.decisions(proposal.id)
        outcome.already = {i: decided[i] for i in outcome.already}
    if outcome.revision_id is not None:
        outcome.revision = store.revisions.get(outcome.revision_id)
    return outcome


def _decide(conn: sa.Connection, proposal: Proposal, sources: dict[str, Source],
            approve_ids: list[str], reject_ids: list[str], actor: str, comment: str) -> MergeOutcome:
    outcome = MergeOutcome(proposal_id=proposal.id)
    now = utcnow()
    # Locking the topic row first makes merges of one topic queue on PostgreSQL (SQLite's
    # BEGIN IMMEDIATE already has one writer at a time).
    current = current_revision_row(conn, proposal.topic, lock=True)
    if current is None and approve_ids:
        raise ValueError(f"topic '{proposal.topic}' has no revision to merge into")
    rows = {r.id: r for r in conn.execute(sa.select(edits.c.id, edits.c.status, edits.c.payload)
                                          .where(edits.c.proposal_id == proposal.id))}
    edits_now = {i: Edit.model_validate(r.payload) for i, r in rows.items()}
    pending = {i for i, r in rows.items() if r.status == EditStatus.pending.value}
    outcome.already = {i: EditDecision(EditStatus(rows[i].status))
                       for i in [*approve_ids, *reject_ids] if i not in pending}
    outcome.rejected = swap_edit_status(conn, [i for i in reject_ids if i in pending],
                                        EditStatus.rejected, by=actor, at=now)
    article = revision_of(current).article if current is not None else None
    candidates = [i for i in approve_ids if i in pending]
    applicable = [i for i in candidates if edit_applies(article, edits_now[i])]
    stale = [i for i in candidates if i not in applicable]
    moved = swap_edit_status(conn, applicable, EditStatus.merged, by=actor, at=now)
    refused = swap_edit_status(conn, stale, EditStatus.refused, by=actor, at=now)
    outcome.refused = {i: refusal(edits_now[i], proposal.topic) for i in refused}
    outcome.merged = [i for i in applicable if i in moved]
    if outcome.merged:
        new_article = apply_edits(article, [edits_now[i] for i in outcome.merged], sources)
        if new_article == article:
            # Only held-back sentences: approving them changes no text, so no new revision;
            # the current one is recorded as the one that "applied" them.
            record_applied(conn, outcome.merged, current.id)
        else:
            outcome.revision_id = commit_revision(
                conn, proposal.topic, new_article, base_revision_id=current.id, actor=actor,
                comment=comment or f"proposal {proposal.id}", edit_ids=outcome.merged)
    if outcome.merged or outcome.rejected or outcome.refused:
        settle_proposal(conn, proposal.id, comment=comment or None,
                        merged_revision_id=outcome.revision_id)
        outcome.finished_run = _finish_run(conn, proposal.id)
        _settle_sources(conn, proposal, edits_now, outcome, now)
    return outcome


def _finish_run(conn: sa.Connection, proposal_id: int) -> int | None:
    """The run that proposed it ends `done` with the decision, whatever the order of events."""
    run_id = conn.execute(sa.select(proposals.c.run_id)
                          .where(proposals.c.id == proposal_id)).scalar_one_or_none()
    if run_id is None:
        return None
    done = conn.execute(sa.update(runs).where(runs.c.id == run_id, runs.c.status.in_(FINISHABLE))
                        .values(status=RunStatus.done.value, finished_at=utcnow(),
                                proposal_id=proposal_id, error_category=None, error=None))
    return run_id if done.rowcount else None


def _settle_sources(conn: sa.Connection, proposal: Proposal, edits_now: dict[str, Edit],
                    outcome: MergeOutcome, now) -> None:
    absorbed = {s for i in outcome.merged for s in edits_now[i].source_ids}
    rejected = {s for i in outcome.rejected for s in edits_now[i].source_ids} - absorbed
    refused = {s for i in outcome.refused for s in edits_now[i].source_ids} - absorbed - rejected
    topic = proposal.topic

    def move(ids: set[str], status: SourceStatus, reason: str | None,
             unless: tuple[str, ...] = ()) -> None:
        if not ids:
            return
        query = sa.update(topic_sources).where(topic_sources.c.topic == topic,
                                               topic_sources.c.source_id.in_(sorted(ids)))
        if unless:
            query = query.where(topic_sources.c.status.notin_(unless))
        conn.execute(query.values(status=status.value, reason=reason, updated_at=now))

    move(absorbed, SourceStatus.absorbed, None)
    move(rejected, SourceStatus.irrelevant, "edit rejected by an editor",
         unless=(SourceStatus.absorbed.value,))
    # A refused edit's sources go back to `new` for the next refresh, unless another open
    # edit of the topic already carries them (or they made it into the article elsewhere).
    carried = _carried_elsewhere(conn, topic, proposal.id, refused)
    for edit_id in outcome.refused:
        heading = edits_now[edit_id].heading
        move(set(edits_now[edit_id].source_ids) & (refused - carried), SourceStatus.new,
             f"its edit in proposal {proposal.id} was refused: section '{heading}' changed "
             "since the proposal was drafted", unless=(SourceStatus.absorbed.value,))


def _carried_elsewhere(conn: sa.Connection, topic: str, proposal_id: int, ids: set[str]) -> set[str]:
    if not ids:
        return set()
    rows = conn.execute(sa.select(edits.c.payload).join(proposals, proposals.c.id == edits.c.proposal_id)
                        .where(proposals.c.topic == topic, proposals.c.id != proposal_id,
                               edits.c.status == EditStatus.pending.value))
    return {s for r in rows for s in (r.payload or {}).get("source_ids", [])} & ids
