"""Editor review: the proposal lifecycle, approve / reject per edit, editors' own proposals.

Every decision goes through one path, `merge_proposal`: one transaction decides the edits by
compare-and-swap, merges, and finishes the run that proposed them (a run parked at review
has nothing left to do: its thread is not resumed). Decisions are final per edit: deciding
an edit twice changes nothing, and the opposite decision fails saying how it was decided.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.apply import edit_applies
from agent.markdown import parse_sentence, reference_numbering, split_sentences
from agent.models import (Article, Edit, EditStatus, Proposal, ProposalStatus, Revision, Sentence,
                          is_source_id, slugify)

if TYPE_CHECKING:  # `review list` reads through agent.store.lite, without SQLAlchemy
    from agent.store import Store
    from agent.store.proposals import EditDecision

APPROVE, REJECT = "approve", "reject"
OPEN_STATUSES = (ProposalStatus.pending.value, ProposalStatus.stale.value,
                 ProposalStatus.approved.value)
_SOURCE_MARKER = re.compile(r"\[(src_[0-9a-f]{16})\]")
_REFERENCE_LINE = re.compile(r"^\s*\d+\.\s*\[\d+\]")


class ReviewError(ValueError):
    """A decision or proposal an editor asked for that cannot be made; one line for the user."""


class DecisionConflict(ReviewError):
    """The edit was already decided the other way (perhaps by a racing editor a moment ago)."""

    def __init__(self, proposal_id: int, number: int, edit_id: str, decided: EditDecision) -> None:
        self.proposal_id, self.edit_number, self.edit_id = proposal_id, number, edit_id
        self.status, self.by, self.at = decided.status.value, decided.by, decided.at
        self.revision_number = decided.revision_number
        super().__init__(f"edit {number} of proposal {proposal_id} {describe(decided)}")


def describe(decided: EditDecision) -> str:
    """How an edit stands, for a reply: "is already merged in revision 3", "was rejected by ..."."""
    when = f" at {decided.at:%Y-%m-%d %H:%M:%S} UTC" if decided.at else ""
    by = decided.by or "an editor"
    if decided.status == EditStatus.merged:
        return f"is already merged in revision {decided.revision_number or '?'}"
    if decided.status == EditStatus.rejected:
        return f"was rejected by {by}{when}"
    if decided.status == EditStatus.refused:
        return f"was refused{when}: its section changed since the proposal was drafted"
    return f"is {decided.status.value}"


@dataclass
class Decision:
    """What one approve or reject did, edit by edit (1-based numbers as shown)."""

    proposal: Proposal
    merged: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    unchanged: list[int] = field(default_factory=list)
    # Edits in scope that were decided already (before this call, or by a racing one).
    already: dict[int, str] = field(default_factory=dict)
    revision: Revision | None = None
    resumed_run: int | None = None  # the run this decision finished

    @property
    def nothing(self) -> bool:
        return not (self.merged or self.rejected or self.refused)


def stale_edits(proposal: Proposal, current: Revision | None) -> set[str]:
    """Undecided edits whose own section changed since the base (others stay decidable)."""
    if current is None or current.id == proposal.base_revision_id:
        return set()
    return {e.id for e in proposal.edits
            if e.status == EditStatus.pending and not edit_applies(current.article, e)}


def sync_status(store: Store, proposal: Proposal) -> Proposal:
    """A proposal is stale once every undecided edit's section changed under it."""
    if proposal.status not in (ProposalStatus.pending, ProposalStatus.stale):
        return proposal
    undecided = [e.id for e in proposal.edits if e.status == EditStatus.pending]
    if not undecided:
        return proposal
    stale = stale_edits(proposal, store.revisions.current(proposal.topic))
    status = ProposalStatus.stale if set(undecided) <= stale else ProposalStatus.pending
    if status != proposal.status:
        if not store.proposals.mark(proposal.id, status, only_from=(proposal.status,)):
            return store.proposals.get(proposal.id)  # decided meanwhile: show that instead
        proposal = proposal.model_copy(update={"status": status})
    return proposal


def list_proposals(store: Store, status: str = "open", topic: str | None = None) -> list[Proposal]:
    """Proposals by status: open (needs a decision), all, or one ProposalStatus value."""
    if status not in ("open", "all") and status not in {s.value for s in ProposalStatus}:
        allowed = ", ".join(["open", "all", *(s.value for s in ProposalStatus)])
        raise ReviewError(f"unknown status '{status}' (one of: {allowed})")
    # Open ones are read by their stored status: reading them whole (and repairing half-made
    # decisions) can only close them, and a decided proposal never opens again; so thousands
    # of decided proposals are not read for the default listing.
    stored = OPEN_STATUSES if status == "open" else None
    found = [sync_status(store, p) for p in store.proposals.list(topic=topic, statuses=stored)]
    if status == "open":
        return [p for p in found if p.status.value in OPEN_STATUSES]
    return found if status == "all" else [p for p in found if p.status.value == status]


def sections_touched(store: Store, proposal: Proposal) -> list[dict]:
    """Per edit: the section it touches, its status, and whether that section changed since."""
    stale = stale_edits(proposal, store.revisions.current(proposal.topic))
    return [{"section": e.section_id, "heading": e.heading, "status": e.status.value,
             "stale": e.id in stale} for e in proposal.edits]


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


_OPPOSITE = {APPROVE: EditStatus.rejected, REJECT: EditStatus.merged}
_WANTED = {APPROVE: EditStatus.merged, REJECT: EditStatus.rejected}


async def decide(store: Store, proposal_id: int, action: str, refs: list[str] | None = None, *,
                 actor: str, comment: str = "") -> Decision:
    """Approve or reject the given edits (default: every undecided one) and merge.

    Each edit moves off `pending` once, by compare-and-swap inside the merge transaction.
    Asking for the opposite of how an edit stands (a named edit, or the only outcome this
    call could have had) raises DecisionConflict saying how and when it was decided.
    """
    if action not in (APPROVE, REJECT):
        raise ReviewError(f"unknown action '{action}'")
    proposal = store.proposals.get(proposal_id)
    ids = resolve_edits(proposal, refs) if refs else [e.id for e in proposal.edits]
    numbers = {e.id: n for n, e in enumerate(proposal.edits, start=1)}
    decided = store.proposals.decisions(proposal.id)
    opposite = [i for i in ids if decided[i].status == _OPPOSITE[action]]
    if refs and opposite:  # naming a decided edit is a mistake only when it asks the opposite
        raise DecisionConflict(proposal.id, numbers[opposite[0]], opposite[0], decided[opposite[0]])
    todo = [i for i in ids if decided[i].status == EditStatus.pending]
    before = {i: decided[i] for i in ids if i not in todo}
    if todo:
        store.runs.reap(proposal.topic)  # a dead refresh's run must not stay `running`
        from agent.merge import merge_proposal

        outcome = merge_proposal(store, proposal, approve=todo if action == APPROVE else [],
                                 reject=todo if action == REJECT else [], actor=actor,
                                 comment=comment)
        before.update(outcome.already)
    else:
        outcome = None
    result = Decision(proposal=sync_status(store, store.proposals.get(proposal.id)))
    if outcome is not None:
        result.merged = [numbers[i] for i in outcome.merged]
        result.rejected = [numbers[i] for i in outcome.rejected]
        result.refused = {numbers[i]: reason for i, reason in outcome.refused.items()}
        result.revision = outcome.revision
        result.resumed_run = outcome.finished_run
    result.already = {numbers[i]: describe(d) for i, d in sorted(before.items(), key=lambda x: numbers[x[0]])}
    result.unchanged = sorted(result.already)
    if result.nothing and before and not any(d.status == _WANTED[action] for d in before.values()):
        lost = next((i for i in ids if before.get(i) and before[i].status == _OPPOSITE[action]), None)
        if lost is not None:
            raise DecisionConflict(proposal.id, numbers[lost], lost, before[lost])
    return result


def parse_section_text(text: str, article: Article,
                       numbering: dict[str, int] | None = None) -> tuple[str | None, list[list[Sentence]]]:
    """An editor's section: the heading if the text has one, and its cited sentences.

    Accepts what `absorb show` prints for a section (a `## Heading`, prose with [N] markers
    numbered as the current article numbers them, optionally its reference list, which is
    ignored) or bare prose; `[src_...]` markers cite any stored source by id.
    """
    numbers = {n: sid for sid, n in (numbering or reference_numbering(article)).items()}
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
    from agent.numbering import numbers_for

    heading, paragraphs = parse_section_text(text, article, numbers_for(store, topic, article))
    twins = article.ambiguous(section_ref)
    if twins:
        raise ReviewError(f"{len(twins)} sections of {topic} are headed '{section_ref.strip()}': "
                          f"name one by its id ({', '.join(s.id for s in twins)})")
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
    from agent.citations import CitationGate, Claim  # the gate loads the LLM layer: only here

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
