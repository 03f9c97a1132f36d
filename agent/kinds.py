"""The vocabulary of absorb's domain types: kinds, statuses and labels, and the pure helpers
that make slugs and source ids. No pydantic here, so the CLI can name statuses in its --help
without loading the models; `agent.models` re-exports every name.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime, timezone
from enum import StrEnum

SOURCE_ID_PREFIX = "src_"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def slugify(text: str) -> str:
    """Lower-case ASCII slug: "LLMs as Knowledge Bases" -> "llms-as-knowledge-bases"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug or "section"


def is_source_id(key: str) -> bool:
    """A citation key is either a source id or an unresolved marker kept verbatim."""
    return key.startswith(SOURCE_ID_PREFIX)


def source_id_for(url: str | None, text: str) -> str:
    """Stable id: hash of the canonical URL, else of the whitespace-folded lower-cased text."""
    basis = url if url else " ".join(text.split()).lower()
    return SOURCE_ID_PREFIX + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]


MAX_ID = 2**63 - 1
"""The largest integer the store holds (SQLite INTEGER, PostgreSQL bigint): an id or number
given above it names nothing, and is refused where it is parsed."""


class SourceKind(StrEnum):
    tweet = "tweet"
    blog = "blog"
    paper = "paper"
    web = "web"
    expert = "expert"
    news = "news"
    feed = "feed"
    file = "file"
    other = "other"


class SourceStatus(StrEnum):
    new = "new"
    proposed = "proposed"
    absorbed = "absorbed"
    irrelevant = "irrelevant"
    duplicate = "duplicate"
    undecided = "undecided"
    """Triage gave no answer for it twice; tried again on `sources retry` or a new triage prompt."""
    held_back = "held_back"
    """Drafted for a section but nothing of it passed the gate (or the draft used nothing of
    it); drafted again when new sources reach that section, on `sources retry`, or under
    another model or prompt."""


class VerdictLabel(StrEnum):
    supported = "supported"
    partially = "partially"
    unsupported = "unsupported"
    contradicted = "contradicted"
    uncited = "uncited"


class ProposalStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    partially_approved = "partially_approved"
    rejected = "rejected"
    merged = "merged"
    stale = "stale"


class EditStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    merged = "merged"
    refused = "refused"


class RunStatus(StrEnum):
    admitted = "admitted"
    running = "running"
    waiting_review = "waiting_review"
    done = "done"
    failed = "failed"
    deferred = "deferred"
    interrupted = "interrupted"  # its process died or was stopped; the next refresh continues it
