"""Approval that knows the verdicts: an editor's approve takes an edit's verified sentences;
an unverified one goes in only when ticked, and then carries a mark in the article until a
later check verifies it. Also: undo of a rejection, and who decided what, when and why.

This sits on agent.review.decide (which owns the compare-and-swap of each edit's status):
approving first narrows a pending edit's content to the sentences taken (old wording kept
where an unverified rewrite is left out), then decides it; the original is kept with the
decision record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.diff import old_paragraphs
from agent.models import Edit, EditStatus, Proposal, ProposalStatus, Sentence, Verdict, VerdictLabel
from agent.review import APPROVE, REJECT, Decision, ReviewError, decide, resolve_edits
from agent.sentence_diff import Row, align
from agent.store.rows import sentence_key

if TYPE_CHECKING:
    from agent.store import Store

ALL = "all"


@dataclass
class Choice:
    """What approving one edit takes: sentence numbers by kind."""

    verified: list[int] = field(default_factory=list)
    unverified_taken: list[int] = field(default_factory=list)
    left_out: list[int] = field(default_factory=list)
    removed: int = 0
    """Sentences of the section as it is that the approved edit no longer states."""

    def as_json(self) -> dict:
        return {"verified": self.verified, "unverified_taken": self.unverified_taken,
                "left_out": self.left_out}


def rows_of(edit: Edit) -> list[Row]:
    return align(old_paragraphs(edit), edit.new_paragraphs, edit.verdicts)


def changes_nothing(edit: Edit) -> bool:
    """All it drafted was held back: its text is the section as it was."""
    return [s for p in edit.new_paragraphs for s in p] == list(edit.old_sentences) and not edit.new_section


def narrow(edit: Edit, include: set[int] | str) -> tuple[Edit, Choice, list[tuple[Sentence, str]]]:
    """The edit as approved: verified sentences, ticked ones, the old wording elsewhere.

    Returns the narrowed edit, what was taken, and the unverified sentences taken with their labels.
    """
    rows = iter([r for r in rows_of(edit) if r.new is not None])
    choice, taken_unverified = Choice(), []
    paragraphs: list[list[Sentence]] = []
    verdicts: list[Verdict] = []
    for paragraph in edit.new_paragraphs:
        out: list[Sentence] = []
        for sentence in paragraph:
            row = next(rows)
            if row.number is None:
                out.append(sentence)
                continue
            verdict = row.verdict or Verdict(label=VerdictLabel.unsupported, stage="unchecked",
                                             reason="no check ran on this sentence")
            if row.verified:
                choice.verified.append(row.number)
            elif include == ALL or row.number in include:
                choice.unverified_taken.append(row.number)
                taken_unverified.append((sentence, verdict.label.value))
            else:
                choice.left_out.append(row.number)
                if row.kind == "changed" and row.old is not None:
                    out.append(row.old)  # the rewrite is not taken: the old wording stays
                continue
            out.append(sentence)
            verdicts.append(verdict)
        if out:
            paragraphs.append(out)
    # Merging absorbs the edit's sources: only those its taken sentences cite.
    fresh_rows = [r for r in rows_of(edit) if r.number is not None]
    left = set(choice.left_out)
    cited = {k for r in fresh_rows if r.number not in left for k in r.new.citations}
    sources = [k for k in edit.source_ids if k in cited or not left]
    narrowed = edit.model_copy(update={"new_paragraphs": paragraphs, "verdicts": verdicts,
                                       "source_ids": sources})
    kept = {sentence_key(s) for p in paragraphs for s in p}
    choice.removed = sum(1 for s in edit.old_sentences if sentence_key(s) not in kept)
    return narrowed, choice, taken_unverified


def _unverified_numbers(edit: Edit) -> set[int]:
    return {r.number for r in rows_of(edit) if r.number is not None and not r.verified}


def _pending_in_scope(proposal: Proposal, refs: list[str] | None) -> list[Edit]:
    ids = resolve_edits(proposal, refs) if refs else [e.id for e in proposal.edits]
    return [e for e in proposal.edits if e.id in ids and e.status == EditStatus.pending]


async def _settle_noops(store: Store, proposal_id: int, actor: str) -> None:
    """Edits that change nothing need no decision: once nothing else waits, they are closed."""
    proposal = store.proposals.get(proposal_id)
    pending = [e for e in proposal.edits if e.status == EditStatus.pending]
    if pending and all(changes_nothing(e) for e in pending):
        try:
            await decide(store, proposal_id, APPROVE, [e.id for e in pending], actor=actor,
                         comment="")  # keeps the proposal's comment
        except ReviewError:  # another editor closed them first
            return


async def approve(store: Store, proposal_id: int, refs: list[str] | None = None, *, actor: str,
                  comment: str = "", include: dict[str, set[int]] | None = None,
                  include_unverified: bool = False) -> tuple[Decision, dict[str, Choice]]:
    """Approve edits (default: every undecided one) taking verified sentences, plus the
    unverified ones ticked in `include` (edit id -> sentence numbers) or all of them."""
    proposal = store.proposals.get(proposal_id)
    todo = _pending_in_scope(proposal, refs)
    include = include or {}
    for edit_id, numbers in include.items():
        edit = next((e for e in proposal.edits if e.id == edit_id), None)
        allowed = _unverified_numbers(edit) if edit else set()
        wrong = sorted(set(numbers) - allowed)
        if wrong:
            shown = ", ".join(map(str, sorted(allowed))) or "none"
            raise ReviewError(f"edit {edit_id} has no unverified sentence {wrong[0]} "
                              f"(its unverified sentences: {shown})")
    choices: dict[str, Choice] = {}
    originals: dict[str, dict] = {}
    marks: dict[str, list[tuple[Sentence, str]]] = {}
    numbers = {e.id: n for n, e in enumerate(proposal.edits, start=1)}
    narrowed_edits = {}
    for edit in todo:
        ticked: set[int] | str = ALL if include_unverified else include.get(edit.id, set())
        narrowed, choice, unverified = narrow(edit, ticked)
        if choice.left_out and edit.old_sentences and not narrowed.new_sentences():
            # Leaving out what was not verified would leave nothing of the section: the
            # edit's text replaces it, and its only new sentences are the unverified ones.
            n = numbers[edit.id]
            raise ReviewError(
                f"approving edit {n} without its unverified sentences would empty section "
                f"'{edit.heading}' (its {len(edit.old_sentences)} sentences are not in the edit): "
                f"take them with --include {n}.K or --include-unverified, or reject the edit")
        narrowed_edits[edit.id] = (narrowed, choice, unverified)
    for edit in todo:
        narrowed, choice, unverified = narrowed_edits[edit.id]
        choices[edit.id], marks[edit.id] = choice, unverified
        if narrowed.new_paragraphs != edit.new_paragraphs:
            if store.decisions.narrow(edit.id, narrowed.model_dump(mode="json")):
                originals[edit.id] = edit.model_dump(mode="json")
    try:
        result = await decide(store, proposal_id, APPROVE, refs, actor=actor, comment=comment)
    finally:
        after = {e.id: e for e in store.proposals.get(proposal_id).edits}
        for edit_id, payload in originals.items():
            if after[edit_id].status != EditStatus.merged:  # not merged after all
                store.decisions.restore(edit_id, payload)
    decided = {e.id for e in todo if numbers[e.id] in result.merged}
    for edit in todo:
        if edit.id not in decided and numbers[edit.id] not in result.refused:
            continue
        status = "merged" if edit.id in decided else "refused"
        store.decisions.record(edit.id, proposal_id, status, actor=actor, comment=comment,
                               sentences=choices[edit.id].as_json(), original=originals.get(edit.id))
        if edit.id in decided:
            store.decisions.mark_unverified(proposal.topic, marks[edit.id], edit_id=edit.id,
                                            proposal_id=proposal_id, actor=actor)
            verified = [r.new for r in rows_of(edit) if r.verified and r.new is not None]
            store.decisions.clear_unverified(proposal.topic, [sentence_key(s) for s in verified],
                                             by=f"proposal {proposal_id}")
    await _settle_noops(store, proposal_id, actor)
    return result, choices


async def reject(store: Store, proposal_id: int, refs: list[str] | None = None, *, actor: str,
                 comment: str = "") -> Decision:
    proposal = store.proposals.get(proposal_id)
    todo = _pending_in_scope(proposal, refs)
    result = await decide(store, proposal_id, REJECT, refs, actor=actor, comment=comment)
    numbers = {e.id: n for n, e in enumerate(proposal.edits, start=1)}
    for edit in todo:
        if numbers[edit.id] in result.rejected:
            store.decisions.record(edit.id, proposal_id, "rejected", actor=actor, comment=comment)
    await _settle_noops(store, proposal_id, actor)
    return result


def undo(store: Store, proposal_id: int, ref: str, *, actor: str) -> Proposal:
    """A rejected edit is undecided again; a merged one stays (its text is in the article)."""
    proposal = store.proposals.get(proposal_id)
    edit_id = resolve_edits(proposal, [ref])[0]
    number = [e.id for e in proposal.edits].index(edit_id) + 1
    edit = proposal.edits[number - 1]
    if edit.status == EditStatus.merged:
        raise ReviewError(f"edit {number} of proposal {proposal_id} is merged into the article; "
                          "undo works for rejections (propose a new edit to change the section)")
    if edit.status == EditStatus.pending:
        raise ReviewError(f"edit {number} of proposal {proposal_id} is not decided yet")
    if edit.status == EditStatus.refused or not store.decisions.reopen(edit_id):
        raise ReviewError(f"edit {number} of proposal {proposal_id} is {edit.status.value}; "
                          "only a rejection can be undone")
    store.decisions.record(edit_id, proposal_id, "undone", actor=actor)
    if proposal.status != ProposalStatus.pending:
        store.proposals.mark(proposal_id, ProposalStatus.pending)
    if edit.source_ids:
        store.sources.set_status(proposal.topic, list(edit.source_ids), "proposed")
    return store.proposals.get(proposal_id)


def parse_includes(proposal: Proposal, values: Iterable[str], default_edit: str | None) -> dict[str, set[int]]:
    """`--include N.K` (edit N, sentence K) or `--include K` with one `--edit N`."""
    out: dict[str, set[int]] = {}
    for value in values:
        edit_ref, _, sentence = value.strip().rpartition(".")
        edit_ref = edit_ref or default_edit or ""
        if not edit_ref or not sentence.isdigit():
            raise ReviewError(f"--include {value!r}: give EDIT.SENTENCE, e.g. 1.3 "
                              "(sentence numbers as `absorb review show` prints them)")
        edit_id = resolve_edits(proposal, [edit_ref])[0]
        out.setdefault(edit_id, set()).add(int(sentence))
    return out
