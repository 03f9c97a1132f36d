"""Merging approved edits into a new article revision, safely and at most once per edit.

An edit carries the section's sentences as they were at the proposal's base revision. It
applies to the current revision only while that section is unchanged; otherwise it is
refused (the editor can redraft), so approving a stale proposal never overwrites newer
text. Applied edit ids are recorded with the revision in one transaction: merging the same
edit twice is a no-op, even when a crashed run is resumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.models import (Article, Edit, EditStatus, Proposal, ProposalStatus, Revision,
                          Section, Source, is_source_id)
from agent.store import ConflictError, Store


@dataclass
class MergeOutcome:
    proposal_id: int
    revision: Revision | None = None
    merged: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)


def edit_applies(article: Article, edit: Edit) -> bool:
    """True while the edit's section is as it was at the base (or, if new, still absent)."""
    section = article.section(edit.section_id)
    if edit.new_section:
        return section is None
    return section is not None and section.sentences() == edit.old_sentences


def refusal(edit: Edit) -> str:
    return (f"section '{edit.heading}' changed since the proposal was drafted; redraft it "
            f"(`absorb rewrite TOPIC {edit.section_id}` or `absorb propose TOPIC --section "
            f"{edit.section_id} --file FILE.md`)")


def apply_edits(article: Article, edits: list[Edit], sources: dict[str, Source]) -> Article:
    """A new article with the edits' sections replaced or appended; others untouched."""
    updated = article.model_copy(deep=True)
    for edit in edits:
        new_section = Section(id=edit.section_id, heading=edit.heading,
                              paragraphs=[list(p) for p in edit.new_paragraphs if p])
        if edit.new_section:
            if new_section.paragraphs:  # a new section whose every sentence was held back adds nothing
                updated.sections.append(new_section)
        else:
            index = next(i for i, s in enumerate(updated.sections) if s.id == edit.section_id)
            updated.sections[index] = new_section
        for sentence in edit.new_sentences():
            for key in sentence.citations:
                if is_source_id(key) and key not in updated.sources and key in sources:
                    # Revisions list sources without their text: the text lives in the store once.
                    updated.sources[key] = sources[key].model_copy(update={"text": ""})
    return updated


def merge_proposal(store: Store, proposal: Proposal, *, approve: list[str] | None = None,
                   reject: list[str] | None = None, actor: str, comment: str = "") -> MergeOutcome:
    """Decide a proposal: approve (default: every pending edit) and reject edits, then merge."""
    outcome = MergeOutcome(proposal_id=proposal.id)
    by_id = {e.id: e for e in proposal.edits}
    approve_ids = [e.id for e in proposal.edits if e.status == EditStatus.pending] \
        if approve is None else approve
    unknown = [i for i in [*approve_ids, *(reject or [])] if i not in by_id]
    if unknown:
        raise ValueError(f"proposal {proposal.id} has no edit {unknown[0]}")
    already = store.revisions.applied(approve_ids)
    outcome.already = sorted(already)
    for attempt in range(3):
        current = store.revisions.current(proposal.topic)
        if current is None:
            raise ValueError(f"topic '{proposal.topic}' has no revision to merge into")
        to_apply: list[Edit] = []
        outcome.refused = {}
        for edit_id in approve_ids:
            edit = by_id[edit_id]
            if edit_id in already:
                continue
            if edit_applies(current.article, edit):
                to_apply.append(edit)
            else:
                outcome.refused[edit_id] = refusal(edit)
        if not to_apply:
            break
        cited = {k for e in to_apply for s in e.new_sentences() for k in s.citations if is_source_id(k)}
        sources = store.sources.get_many(sorted(cited)) if cited else {}
        article = apply_edits(current.article, to_apply, sources)
        if article == current.article:
            # Only held-back sentences: approving them changes no text, so no revision.
            outcome.merged = [e.id for e in to_apply]
            break
        try:
            outcome.revision = store.revisions.commit(
                proposal.topic, article, base_revision_id=current.id, actor=actor,
                comment=comment or f"proposal {proposal.id}", edit_ids=[e.id for e in to_apply])
        except ConflictError:
            if attempt == 2:
                raise
            already = store.revisions.applied(approve_ids)  # someone else may have merged them
            continue
        outcome.merged = [e.id for e in to_apply]
        break
    outcome.rejected = list(reject or [])
    _record_decisions(store, proposal, outcome, comment)
    return outcome


def _record_decisions(store: Store, proposal: Proposal, outcome: MergeOutcome, comment: str) -> None:
    store.proposals.set_edit_status(outcome.merged + outcome.already, EditStatus.merged)
    store.proposals.set_edit_status(outcome.rejected, EditStatus.rejected)
    store.proposals.set_edit_status(list(outcome.refused), EditStatus.refused)
    refreshed = store.proposals.get(proposal.id)
    statuses = [e.status for e in refreshed.edits]
    if any(s == EditStatus.pending for s in statuses):
        status = ProposalStatus.pending
    elif all(s == EditStatus.merged for s in statuses):
        status = ProposalStatus.merged
    elif any(s == EditStatus.merged for s in statuses):
        status = ProposalStatus.partially_approved
    elif all(s == EditStatus.rejected for s in statuses):
        status = ProposalStatus.rejected
    else:
        status = ProposalStatus.stale
    store.proposals.set_status(proposal.id, status, comment=comment or None,
                               merged_revision_id=outcome.revision.id if outcome.revision else None)
    decided = {e.id: e for e in refreshed.edits}
    absorbed = {s for i in outcome.merged + outcome.already for s in decided[i].source_ids}
    rejected = {s for i in outcome.rejected for s in decided[i].source_ids} - absorbed
    if absorbed:
        store.sources.set_status(proposal.topic, sorted(absorbed), "absorbed")
    if rejected:
        store.sources.set_status(proposal.topic, sorted(rejected), "irrelevant",
                                 reason="edit rejected by an editor")
