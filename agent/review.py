"""Editor review: the proposal lifecycle, approve / reject per edit, editors' own proposals.

Every decision goes through one path: a proposal whose run is parked at review resumes that
LangGraph thread (`Command(resume=...)`), so the run finishes normally and its merge node
merges; any other proposal (manual, or its thread is gone) merges through the same
`merge_proposal`. Decisions are final per edit, and deciding an edit twice changes nothing.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from agent.citations import CitationGate, Claim
from agent.markdown import parse_sentence, reference_numbering, split_sentences
from agent.merge import edit_applies, merge_proposal, refusal
from agent.models import (Article, Edit, EditStatus, Proposal, ProposalStatus, Revision, RunStatus,
                          Sentence, is_source_id, slugify)
from agent.store import NotFound, Store

APPROVE, REJECT = "approve", "reject"
OPEN_STATUSES = (ProposalStatus.pending.value, ProposalStatus.stale.value,
                 ProposalStatus.approved.value)
_SOURCE_MARKER = re.compile(r"\[(src_[0-9a-f]{16})\]")
_REFERENCE_LINE = re.compile(r"^\s*\d+\.\s*\[\d+\]")


class ReviewError(ValueError):
    """A decision or proposal an editor asked for that cannot be made; one line for the user."""


@dataclass
class Decision:
    """What one approve or reject did, edit by edit (1-based numbers as shown)."""

    proposal: Proposal
    merged: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    unchanged: list[int] = field(default_factory=list)
    revision: Revision | None = None
    resumed_run: int | None = None

    @property
    def nothing(self) -> bool:
        return not (self.merged or self.rejected or self.refused)


def is_stale(store: Store, proposal: Proposal, current: Revision | None) -> bool:
    """Its base is no longer current for a reason other than this proposal's own merges."""
    base = proposal.base_revision_id
    if base is None or current is None or current.id == base:
        return False
    ours = store.proposals.revision_ids(proposal.id)
    revision = current
    while revision.id != base:
        if revision.id not in ours or revision.parent_id is None:
            return True
        revision = store.revisions.get(revision.parent_id)
    return False


def sync_status(store: Store, proposal: Proposal) -> Proposal:
    """Mark an undecided proposal stale once the article moved on under it."""
    if proposal.status != ProposalStatus.pending:
        return proposal
    if not any(e.status == EditStatus.pending for e in proposal.edits):
        return proposal
    if is_stale(store, proposal, store.revisions.current(proposal.topic)):
        store.proposals.mark(proposal.id, ProposalStatus.stale)
        return store.proposals.get(proposal.id)
    return proposal


def list_proposals(store: Store, status: str = "open", topic: str | None = None) -> list[Proposal]:
    """Proposals by status: open (needs a decision), all, or one ProposalStatus value."""
    if status not in ("open", "all") and status not in {s.value for s in ProposalStatus}:
        allowed = ", ".join(["open", "all", *(s.value for s in ProposalStatus)])
        raise ReviewError(f"unknown status '{status}' (one of: {allowed})")
    found = [sync_status(store, p) for p in store.proposals.list(topic=topic)]
    if status == "open":
        return [p for p in found if p.status.value in OPEN_STATUSES]
    return found if status == "all" else [p for p in found if p.status.value == status]


def resolve_edits(proposal: Proposal, refs: list[str]) -> list[str]:
    """Edit ids for references given as 1-based numbers (as shown) or ids."""
    ids = [e.id for e in proposal.edits]
    resolved: list[str] = []
    for ref in refs:
        ref = ref.strip()
        if ref.isdigit() and 1 <= int(ref) <= len(ids):
            edit_id = ids[int(ref) - 1]
        elif ref in ids:
            edit_id = ref
        else:
            raise ReviewError(f"proposal {proposal.id} has no edit '{ref}' "
                              f"(edits are numbered 1-{len(ids)}, or give an edit id)")
        if edit_id not in resolved:
            resolved.append(edit_id)
    return resolved


def _check_final(proposal: Proposal, ids: list[str], action: str) -> None:
    number = {e.id: n for n, e in enumerate(proposal.edits, start=1)}
    for edit in proposal.edits:
        if edit.id not in ids:
            continue
        if action == APPROVE and edit.status == EditStatus.rejected:
            raise ReviewError(f"edit {number[edit.id]} of proposal {proposal.id} was rejected; "
                              "decisions are final (propose the text again to change it)")
        if action == REJECT and edit.status == EditStatus.merged:
            raise ReviewError(f"edit {number[edit.id]} of proposal {proposal.id} is already "
                              "merged; propose a new edit to change the section")


async def thread_parked(store: Store, run_id: int) -> bool:
    """The run waits at review and its LangGraph checkpoint still exists."""
    from agent.runner import checkpointer

    run = store.runs.get(run_id)
    if run.status != RunStatus.waiting_review:
        return False
    async with checkpointer(store) as saver:
        found = await saver.aget_tuple({"configurable": {"thread_id": run.thread_id}})
    return found is not None


async def decide(store: Store, proposal_id: int, action: str, refs: list[str] | None = None, *,
                 actor: str, comment: str = "") -> Decision:
    """Approve or reject the given edits (default: every undecided one) and merge."""
    from agent.runner import resume_review

    if action not in (APPROVE, REJECT):
        raise ReviewError(f"unknown action '{action}'")
    proposal = sync_status(store, store.proposals.get(proposal_id))
    ids = resolve_edits(proposal, refs) if refs else [e.id for e in proposal.edits]
    if refs:  # naming a decided edit is a mistake only when it asks for the opposite decision
        _check_final(proposal, ids, action)
    todo = [e.id for e in proposal.edits if e.id in ids and e.status == EditStatus.pending]
    numbers = {e.id: n for n, e in enumerate(proposal.edits, start=1)}
    if not todo:
        return Decision(proposal=proposal, unchanged=[numbers[i] for i in ids])
    before = store.revisions.current(proposal.topic)
    decision = {"approve": todo if action == APPROVE else [],
                "reject": todo if action == REJECT else [], "actor": actor, "comment": comment}
    outcome = Decision(proposal=proposal)
    run_id = proposal.run_id
    if run_id is not None and not _run_exists(store, run_id):
        run_id = None
    if action == APPROVE:
        store.proposals.mark(proposal.id, ProposalStatus.approved)
    if run_id is not None and await thread_parked(store, run_id):
        result = await resume_review(store, store.runs.get(run_id), decision)
        if result.run.status == RunStatus.failed:
            raise ReviewError(f"run {run_id} failed while merging: {result.run.error}")
        outcome.resumed_run = run_id
    else:
        merge_proposal(store, proposal, approve=decision["approve"], reject=decision["reject"],
                       actor=actor, comment=comment)
        if run_id is not None and store.runs.get(run_id).status == RunStatus.waiting_review:
            # Its checkpoint is gone: nothing will ever resume it, so it ends here.
            store.runs.update(run_id, status=RunStatus.done, finished=True)
    after = sync_status(store, store.proposals.get(proposal.id))
    outcome.proposal = after
    for edit in after.edits:
        if edit.id not in todo:
            continue
        if edit.status == EditStatus.merged:
            outcome.merged.append(numbers[edit.id])
        elif edit.status == EditStatus.rejected:
            outcome.rejected.append(numbers[edit.id])
        elif edit.status == EditStatus.refused:
            outcome.refused[numbers[edit.id]] = refusal(edit)
    current = store.revisions.current(proposal.topic)
    if current is not None and (before is None or current.id != before.id):
        outcome.revision = current
    return outcome


def _run_exists(store: Store, run_id: int) -> bool:
    try:
        store.runs.get(run_id)
    except NotFound:
        return False
    return True


def parse_section_text(text: str, article: Article) -> tuple[str | None, list[list[Sentence]]]:
    """An editor's section: the heading if the text has one, and its cited sentences.

    Accepts what `absorb show` prints for a section (a `## Heading`, prose with [N] markers
    numbered as the current article numbers them, optionally its reference list, which is
    ignored) or bare prose; `[src_...]` markers cite any stored source by id.
    """
    numbers = {n: sid for sid, n in reference_numbering(article).items()}
    by_placeholder: dict[str, str] = {}

    def placeholder(match: re.Match) -> str:
        key = f"srcid:{len(by_placeholder) + 1}"
        by_placeholder[key] = match.group(1)
        return f"[{key}]"

    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    headings: list[str] = []
    blocks: list[list[str]] = [[]]
    for line in lines:
        stripped = line.strip()
        if stripped.lower() in ("## references", "references") or _REFERENCE_LINE.match(line):
            break
        if stripped.startswith("# "):
            continue
        if stripped.startswith("## "):
            headings.append(stripped[3:].strip())
            blocks.append([])
        elif stripped:
            blocks[-1].append(stripped)
        else:
            blocks.append([])
    if len(headings) > 1:
        raise ReviewError(f"the file holds {len(headings)} sections; propose one section at a time")
    paragraphs: list[list[Sentence]] = []
    for block in (" ".join(b) for b in blocks if b):
        paragraph = []
        for raw in split_sentences(_SOURCE_MARKER.sub(placeholder, block)):
            sentence, _ = parse_sentence(raw, numbers)
            unknown = [k for k in sentence.citations if k.startswith("ref:")]
            if unknown:
                raise ReviewError(f"marker [{unknown[0][4:]}] matches no reference of the current "
                                  f"article (it has {len(numbers)}); cite [src_...] ids for new sources")
            sentence.citations = [by_placeholder.get(k, k) for k in sentence.citations]
            if sentence.text:
                paragraph.append(sentence)
        if paragraph:
            paragraphs.append(paragraph)
    if not paragraphs:
        raise ReviewError("the file has no prose for the section")
    return (headings[0] if headings else None), paragraphs


def propose(store: Store, topic: str, section_ref: str, text: str, *, actor: str,
            comment: str = "") -> Proposal:
    """An editor's own edit of one section, as a proposal with the gate's advice verdicts."""
    current = store.revisions.current(topic)
    if current is None:
        raise ReviewError(f"topic '{topic}' has no article yet: import one first")
    article = current.article
    heading, paragraphs = parse_section_text(text, article)
    section = article.section(section_ref)
    old = section.sentences() if section else []
    cited = sorted({k for p in paragraphs for s in p for k in s.citations if is_source_id(k)})
    sources = store.sources.get_many(cited)
    missing = [k for k in cited if k not in sources]
    if missing:
        raise ReviewError(f"[{missing[0]}] is not a stored source (see `absorb sources list {topic}`)")
    if section is not None and paragraphs == section.paragraphs and heading in (None, section.heading):
        raise ReviewError(f"the file matches section '{section.heading}' as it is; nothing to propose")
    old_keys = {(s.text, tuple(s.citations)) for s in old}
    fresh = [s for p in paragraphs for s in p if (s.text, tuple(s.citations)) not in old_keys]
    # No judge model: the deterministic stages are advice for the editor, never a veto.
    verdicts = CitationGate().check([Claim(s.text, list(s.citations)) for s in fresh], sources)
    old_cited = {k for s in old for k in s.citations}
    edit = Edit(id=f"editor-{uuid.uuid4().hex[:16]}",
                section_id=section.id if section else slugify(section_ref),
                heading=heading or (section.heading if section else section_ref.strip()),
                new_section=section is None, old_sentences=old, new_paragraphs=paragraphs,
                verdicts=verdicts, rationale=comment or "an editor's own edit",
                source_ids=[k for k in cited if k not in old_cited])
    return store.proposals.create(topic, run_id=None, base_revision_id=current.id, edits_=[edit],
                                  actor=actor, comment=comment)
