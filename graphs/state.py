"""State and per-run context of the refresh, section and rewrite graphs.

State holds only JSON-ready values (dicts of the domain models) so checkpoints stay
portable; live objects (store, models, gate) arrive per run through the context.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.language_models import BaseChatModel

from agent.citations import CitationGate
from agent.llm_usage import CallRecorder, TokenBudget
from agent.models import Article, Revision, Source
from agent.settings import Settings
from agent.store import Store


@dataclass(kw_only=True)
class RunContext:
    """What every node of one run may use; never checkpointed."""

    store: Store
    """The article and source store."""
    run_id: int
    """The run's row in the store; every LLM call is recorded against it."""
    triage_model: BaseChatModel | None = None
    """Model for triage (not needed by rewrite)."""
    draft_model: BaseChatModel | None = None
    """Model that drafts and revises sections (None when resuming at review)."""
    gate: CitationGate
    """The citation gate run on every new sentence."""
    recorder: CallRecorder
    """Where LLM calls are recorded."""
    budget: TokenBudget
    """Token budget of this run."""
    settings: Settings
    """Process settings (structured-output method, timeouts...)."""
    review: Literal["manual", "auto"] = "manual"
    """manual parks the run for an editor; auto merges edits whose sentences all passed."""
    gather: bool = True
    """Pull the topic's registered feeds first."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Mode-specific options (rewrite: instructions, section, with_new)."""
    _articles: dict[int, Article] = field(default_factory=dict, repr=False)
    _sources: dict[str, Source] = field(default_factory=dict, repr=False)
    _lead_staleness: dict[str, Any] = field(default_factory=dict, repr=False)
    """graphs/lead.py: the staleness found by load_article, for the lead step to reuse."""

    def base_article(self, revision_id: int) -> Article:
        """The article of a revision, read from the store once per run instead of in every
        node. Revisions are append-only, never changed once written (the topic's pointer
        moves by compare-and-swap at merge, which reads the current revision itself), so
        the copy cannot go stale. Nodes only read it."""
        article = self._articles.get(revision_id)
        if article is None:
            article = self._articles[revision_id] = self.store.revisions.get(revision_id).article
        return article

    def keep_article(self, revision: Revision) -> None:
        """A revision a node read anyway (load_article, the current one): later nodes of the
        run take its article from here."""
        self._articles.setdefault(revision.id, revision.article)

    def sources(self, ids: Iterable[str]) -> dict[str, Source]:
        """`store.sources.get_many(ids)`, each source read once per run: a section's sources
        were read again by its draft, its check and every revision. A source's text is fixed
        once stored (provenance only fills one stored without text), so the run keeps the
        copy it read first; ids not (yet) stored are looked up again."""
        wanted = list(ids)
        missing = [i for i in dict.fromkeys(wanted) if i not in self._sources]
        if missing:
            self._sources.update(self.store.sources.get_many(missing))
        # In id order, as SQLite answers `get_many` (its IN list is searched sorted).
        return {i: self._sources[i] for i in sorted(set(wanted)) if i in self._sources}


class SectionTaskState(TypedDict, total=False):
    """Input of one section subagent, sent by `Send`."""

    topic: str
    base_revision_id: int
    section_id: str
    heading: str
    new_section: bool
    source_ids: list[str]
    mode: Literal["update", "rewrite"]
    instructions: str


class SectionState(SectionTaskState, total=False):
    """The section subgraph's working state."""

    paragraphs: list[list[dict]]
    rationale: str
    verdicts: list[dict]
    failures: list[dict]
    attempts: int
    max_revisions: int
    failure: dict
    failed_before: list[list]
    """Keys (text, citations) of every sentence that failed the gate in an earlier round."""
    repeated: bool
    """The last revision returned only sentences that had failed already: the loop ends."""
    finished: bool
    """check_section finalized the section itself (nothing to revise): the subgraph ends."""
    claims_checked: int
    """New sentences sent to the citation gate, over every round (the budget learns from it)."""
    edits: Annotated[list[dict], operator.add]
    section_failures: Annotated[list[dict], operator.add]
    section_reports: Annotated[list[dict], operator.add]


class SectionOutput(TypedDict):
    edits: Annotated[list[dict], operator.add]
    section_failures: Annotated[list[dict], operator.add]
    section_reports: Annotated[list[dict], operator.add]
    """Per finished section: its task's sources and the sentences held back (for assemble)."""


class RefreshState(TypedDict, total=False):
    """One refresh (or rewrite) run of one topic."""

    topic: str
    base_revision_id: int | None
    source_ids: list[str]
    gather_report: dict
    tasks: list[SectionTaskState]
    deferred: list[str]
    edits: Annotated[list[dict], operator.add]
    section_failures: Annotated[list[dict], operator.add]
    section_reports: Annotated[list[dict], operator.add]
    lead_edit: dict | None
    """graphs/lead.py: the lead edit of this run, if the lead was stale."""
    lead_note: str
    lead_stale: bool
    """Set by load_article: whether the lead step runs (absent in runs checkpointed before it)."""
    proposal_id: int | None
    decision: dict
    merged_revision_id: int | None
    outcome: str
    section_id: str
    instructions: str
    with_new: bool
