"""Domain types of absorb: topics, sources, article revisions, proposals, verdicts, runs.

These are plain pydantic models. The store persists them; graphs pass them around; the
CLI and web render them. Citations inside sentences are stable source ids, never the
numbers a rendered page shows, so renumbering never looks like a change.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from pydantic import BaseModel, Field

# The vocabulary lives in agent.kinds (no pydantic, cheap for the CLI to import); agent.models
# stays the one place to import every domain type from.
from agent.kinds import (SOURCE_ID_PREFIX, EditStatus, ProposalStatus, RunStatus, SourceKind,  # noqa: F401
                         SourceStatus, VerdictLabel, is_source_id, slugify, source_id_for, utcnow)


class Topic(BaseModel):
    slug: str
    title: str
    scope: str = Field("", description="One paragraph that triage judges relevance against.")
    current_revision_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Source(BaseModel):
    id: str
    url: str | None = None
    title: str = ""
    kind: str = SourceKind.web.value
    author: str | None = None
    published_at: str | None = Field(None, description="ISO date or datetime as given.")
    text: str = Field("", description="Untrusted source text, normalised; never instructions.")
    content_hash: str = ""
    duplicate_of: str | None = None


class Sentence(BaseModel):
    text: str = Field(description="The sentence prose, without citation markers.")
    citations: list[str] = Field(
        default_factory=list,
        description="Source ids this sentence cites, in marker order; unresolved markers "
        "from imported pages (e.g. 'web:3') are kept verbatim.",
    )


class Section(BaseModel):
    id: str = Field(description="Stable id: slug of the first heading.")
    heading: str
    paragraphs: list[list[Sentence]] = Field(default_factory=list)

    def sentences(self) -> list[Sentence]:
        return [s for paragraph in self.paragraphs for s in paragraph]

    def text(self) -> str:
        return "\n\n".join(" ".join(s.text for s in p) for p in self.paragraphs)


class Article(BaseModel):
    """The content of one revision: what import produces and export renders."""

    title: str
    summary: str = Field("", description="The lead as plain text (what triage reads as scope).")
    lead: list[Sentence] = Field(
        default_factory=list, description="The lead with its citations, once a lead edit (or an "
        "import of a cited lead) wrote it; empty while the lead is only `summary`'s plain text.")
    sections: list[Section] = Field(default_factory=list)
    sources: dict[str, Source] = Field(
        default_factory=dict, description="Every source the article cites or lists, by id."
    )

    def section(self, key: str) -> Section | None:
        """The section `key` names: by id, else by heading, else by the heading's slug, each
        tried over every section before the next (a heading "🔥🔥" slugifies as "section",
        which another section's id may be)."""
        wanted = key.strip().lower()
        slug = slugify(key)
        for matches in (lambda s: s.id == wanted, lambda s: s.heading.lower() == wanted,
                        lambda s: s.id == slug):
            found = next((s for s in self.sections if matches(s)), None)
            if found is not None:
                return found
        return None

    def ambiguous(self, key: str) -> list[Section]:
        """The sections `key` names by heading when it names more than one (and is no id)."""
        if any(s.id == key.strip() for s in self.sections):
            return []
        wanted = key.strip().lower()
        same = [s for s in self.sections if s.heading.lower() == wanted]
        return same if len(same) > 1 else []

    def cited_ids(self) -> list[str]:
        """Source ids in order of first citation: the numbering a rendered page shows."""
        seen: dict[str, None] = {}
        for section in self.sections:
            for sentence in section.sentences():
                for key in sentence.citations:
                    if is_source_id(key):
                        seen.setdefault(key, None)
        return list(seen)

    def content_sha256(self) -> str:
        payload = self.model_dump(mode="json")
        if not payload["lead"]:  # revisions written before the lead had citations hash as they did
            del payload["lead"]
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class Revision(BaseModel):
    id: int
    topic: str
    number: int = Field(description="1, 2, 3 ... per topic, without gaps.")
    parent_id: int | None
    article: Article
    actor: str = Field(description="'import', 'run:<id>' or 'editor:<name>'.")
    comment: str = ""
    sha256: str
    created_at: datetime


class RevisionEntry(BaseModel):
    """A revision without its article: what a topic's history lists (a long-lived topic has
    hundreds of revisions, and parsing each article cost ~1 ms)."""

    id: int
    topic: str
    number: int
    parent_id: int | None
    actor: str
    comment: str = ""
    sha256: str
    created_at: datetime


class EvidenceQuote(BaseModel):
    source_id: str
    text: str = Field(description="Exact text found in the source.")
    start: int = Field(description="Character offset in the source text.")
    end: int


class Verdict(BaseModel):
    label: VerdictLabel
    stage: str = Field(description="The check that decided: structure, wrong_source, numbers, "
                       "entities, judge, quote_verification, ...")
    reason: str = ""
    quotes: list[EvidenceQuote] = Field(default_factory=list)
    hints: list[str] = Field(default_factory=list)
    redundant_citations: list[str] = Field(default_factory=list)
    suggested_citation: str | None = None

    @property
    def passed(self) -> bool:
        return self.label == VerdictLabel.supported


class DroppedSentence(BaseModel):
    sentence: Sentence
    verdict: Verdict


class Edit(BaseModel):
    id: str = Field(description="Unique; merging the same edit twice is a no-op.")
    kind: str = Field("section", description="'section', or 'lead': the lead above the sections "
                      "(section_id '_lead'), rewritten from the article's own sentences.")
    section_id: str
    heading: str
    new_section: bool = False
    old_sentences: list[Sentence] = Field(default_factory=list)
    new_paragraphs: list[list[Sentence]] = Field(default_factory=list)
    verdicts: list[Verdict] = Field(
        default_factory=list, description="One per new sentence, in reading order."
    )
    dropped: list[DroppedSentence] = Field(default_factory=list)
    lost_facts: list[Sentence] = Field(
        default_factory=list, description="Old sentences a rewrite no longer carries.")
    rationale: str = ""
    source_ids: list[str] = Field(default_factory=list, description="Sources that led to it.")
    drawn_from: list[Sentence] = Field(
        default_factory=list, description="A lead edit: the article sentences its new sentences "
        "draw on; it applies only while the article still states every one of them.")
    status: EditStatus = EditStatus.pending

    def new_sentences(self) -> list[Sentence]:
        """Every sentence of the edit's text, old ones it keeps included."""
        return [s for p in self.new_paragraphs for s in p]

    def added_sentences(self) -> list[Sentence]:
        """The sentences the edit adds: its text without the ones it keeps from the old."""
        old = {(s.text, tuple(s.citations)) for s in self.old_sentences}
        return [s for s in self.new_sentences() if (s.text, tuple(s.citations)) not in old]


class Proposal(BaseModel):
    id: int
    topic: str
    run_id: int | None
    base_revision_id: int | None
    status: ProposalStatus = ProposalStatus.pending
    edits: list[Edit] = Field(default_factory=list)
    comment: str = ""
    actor: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    merged_revision_id: int | None = None


class Run(BaseModel):
    id: int
    kind: str
    topic: str
    status: RunStatus
    thread_id: str
    started_at: datetime
    finished_at: datetime | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    error_category: str | None = None
    error: str | None = None
    proposal_id: int | None = None


class LLMCall(BaseModel):
    run_id: int | None
    node: str
    section: str | None = None
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    latency_ms: float = 0.0
    cost: float = 0.0
    prompt_version: str = ""
