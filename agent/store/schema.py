"""Table definitions of the store (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Revisions are append-only; a topic's current revision moves only by compare-and-swap.
Applied edits have their own table so that merging an edit twice is a no-op.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)

topics = sa.Table(
    "topics", metadata,
    sa.Column("slug", sa.String(200), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("scope", sa.Text, nullable=False, server_default=""),
    sa.Column("current_revision_id", sa.Integer, nullable=True),
    sa.Column("created_at", TS, nullable=False),
)

revisions = sa.Table(
    "revisions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("topic", sa.String(200), sa.ForeignKey("topics.slug"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("revisions.id"), nullable=True),
    sa.Column("article", sa.JSON, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    # agent.store.rows.lead_key of the article (migration 0005): the lead step finds the
    # revision that last wrote the lead without parsing the topic's whole history.
    sa.Column("lead_sha", sa.String(64), nullable=True),
    sa.UniqueConstraint("topic", "number", name="uq_revisions_topic_number"),
    # Newest first within a topic, read from the index alone (no article row is touched).
    sa.Index("ix_revisions_lead", "topic", "number", "lead_sha"),
)

sources = sa.Table(
    "sources", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("url", sa.Text, nullable=True),
    sa.Column("canonical_url", sa.Text, nullable=True, index=True),
    sa.Column("title", sa.Text, nullable=False, server_default=""),
    sa.Column("kind", sa.String(40), nullable=False, server_default="web"),
    sa.Column("author", sa.Text, nullable=True),
    sa.Column("published_at", sa.String(40), nullable=True),
    sa.Column("text", sa.Text, nullable=False, server_default=""),
    sa.Column("content_hash", sa.String(64), nullable=False, server_default="", index=True),
    sa.Column("duplicate_of", sa.String(40), nullable=True),
    sa.Column("minhash", sa.LargeBinary, nullable=True),
    sa.Column("origin", sa.Text, nullable=True),
    sa.Column("created_at", TS, nullable=False),
    # A canonical URL the page itself declared: a hint shown to editors, never the identity.
    sa.Column("declared_url", sa.Text, nullable=True),
)

topic_sources = sa.Table(
    "topic_sources", metadata,
    sa.Column("topic", sa.String(200), sa.ForeignKey("topics.slug"), primary_key=True),
    sa.Column("source_id", sa.String(40), sa.ForeignKey("sources.id"), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("added_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

feeds = sa.Table(
    "feeds", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("topic", sa.String(200), sa.ForeignKey("topics.slug"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("input", sa.Text, nullable=False),
    sa.Column("format", sa.String(20), nullable=False, server_default="auto"),
    sa.Column("etag", sa.Text, nullable=True),
    sa.Column("last_modified", sa.Text, nullable=True),
    sa.Column("state", sa.JSON, nullable=True),
    sa.Column("last_pulled_at", TS, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("trusted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("topic", "name", name="uq_feeds_topic_name"),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("topic", sa.String(200), sa.ForeignKey("topics.slug"), nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("thread_id", sa.String(100), nullable=False, unique=True),
    sa.Column("options", sa.JSON, nullable=True),
    sa.Column("started_at", TS, nullable=False),
    sa.Column("finished_at", TS, nullable=True),
    sa.Column("input_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("output_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cached_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cost", sa.Float, nullable=False, server_default="0"),
    sa.Column("error_category", sa.String(40), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("proposal_id", sa.Integer, nullable=True),
    sa.Column("worker", sa.String(200), nullable=True),
)

llm_calls = sa.Table(
    "llm_calls", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, nullable=True, index=True),
    sa.Column("node", sa.String(60), nullable=False),
    sa.Column("section", sa.String(200), nullable=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("input_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("output_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cached_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("latency_ms", sa.Float, nullable=False, server_default="0"),
    sa.Column("cost", sa.Float, nullable=False, server_default="0"),
    sa.Column("prompt_version", sa.String(60), nullable=False, server_default=""),
    sa.Column("created_at", TS, nullable=False),
)

proposals = sa.Table(
    "proposals", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("topic", sa.String(200), sa.ForeignKey("topics.slug"), nullable=False, index=True),
    sa.Column("run_id", sa.Integer, nullable=True, unique=True),
    sa.Column("base_revision_id", sa.Integer, nullable=True),
    sa.Column("status", sa.String(30), nullable=False, index=True),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
    sa.Column("actor", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("decided_at", TS, nullable=True),
    sa.Column("merged_revision_id", sa.Integer, nullable=True),
)

edits = sa.Table(
    "edits", metadata,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("proposal_id", sa.Integer, sa.ForeignKey("proposals.id"), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("section_id", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    # Who moved the status off pending, and when (races room, issue 14).
    sa.Column("decided_by", sa.String(200), nullable=True),
    sa.Column("decided_at", TS, nullable=True),
)

applied_edits = sa.Table(
    "applied_edits", metadata,
    sa.Column("edit_id", sa.String(80), primary_key=True),
    sa.Column("revision_id", sa.Integer, sa.ForeignKey("revisions.id"), nullable=False),
    sa.Column("applied_at", TS, nullable=False),
)

verdict_cache = sa.Table(
    "verdict_cache", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("verdict", sa.JSON, nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

topic_locks = sa.Table(
    "topic_locks", metadata,
    sa.Column("topic", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("acquired_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
)

# -- web room (issue 16): who decided each edit, and merged sentences no check verified -----

edit_decisions = sa.Table(
    "edit_decisions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("edit_id", sa.String(80), nullable=False, index=True),
    sa.Column("proposal_id", sa.Integer, nullable=False, index=True),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
    sa.Column("sentences", sa.JSON, nullable=True),
    sa.Column("original", sa.JSON, nullable=True),
    sa.Column("decided_at", TS, nullable=False),
)

unverified_sentences = sa.Table(
    "unverified_sentences", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("topic", sa.String(200), nullable=False, index=True),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("label", sa.String(20), nullable=False),
    sa.Column("edit_id", sa.String(80), nullable=False),
    sa.Column("proposal_id", sa.Integer, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("cleared_at", TS, nullable=True),
    sa.Column("cleared_by", sa.String(200), nullable=True),
)

# -- security room (issue 15): trust per topic, and a source's history ----------------------

# Sources a topic trusts: `--review auto` merges only sentences whose every citation is here.
trusted_sources = sa.Table(
    "trusted_sources", metadata,
    sa.Column("topic", sa.String(200), sa.ForeignKey("topics.slug"), primary_key=True),
    sa.Column("source_id", sa.String(40), sa.ForeignKey("sources.id"), primary_key=True),
    sa.Column("via", sa.String(200), nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

# What happened to a source's row after it was stored (its text filled by its own fetch).
source_history = sa.Table(
    "source_history", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source_id", sa.String(40), sa.ForeignKey("sources.id"), nullable=False, index=True),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

# -- nights room (issue 13): citation numbers per topic, sources held back or undecided -------

# A source's reference number on a topic, for the life of the topic (never reused).
citation_numbers = sa.Table(
    "citation_numbers", metadata,
    sa.Column("topic", sa.String(200), sa.ForeignKey("topics.slug"), primary_key=True),
    sa.Column("source_id", sa.String(40), primary_key=True),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.UniqueConstraint("topic", "number", name="uq_citation_numbers_topic_number"),
)

# Why a source of a topic is undecided or held back, and under which prompt and model: it is
# tried again only when the editor asks or when that prompt or model changes.
source_notes = sa.Table(
    "source_notes", metadata,
    sa.Column("topic", sa.String(200), sa.ForeignKey("topics.slug"), primary_key=True),
    sa.Column("source_id", sa.String(40), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("section_ids", sa.JSON, nullable=False),
    sa.Column("prompt_version", sa.String(80), nullable=False),
    sa.Column("model", sa.String(200), nullable=False, server_default=""),
    sa.Column("run_id", sa.Integer, nullable=True),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

# What a refresh run worked on (nights room): the night budget estimates from these and the
# run's recorded calls.
run_work = sa.Table(
    "run_work", metadata,
    sa.Column("run_id", sa.Integer, primary_key=True),
    sa.Column("topic", sa.String(200), nullable=False),
    sa.Column("triaged_sources", sa.Integer, nullable=False),
    sa.Column("drafted_sections", sa.Integer, nullable=False),
    sa.Column("judged_claims", sa.Integer, nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

# The people and organisations each source names (page room, issue 19): extracted once, when
# the source is triaged (the triage answer's `mentions`, or agent.mentions' extractor under
# lexical triage). `key` is the alias-normalised name (agent.mentions.alias_key); `name` is
# the name as the source wrote it.
source_mentions = sa.Table(
    "source_mentions", metadata,
    sa.Column("source_id", sa.String(40), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("origin", sa.String(20), nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

# The strip of names an imported page carried ("Together AI 9, Harrison Chase 8, ..."): shown
# until absorb has recorded names of its own for the topic (page room, issue 19).
page_strips = sa.Table(
    "page_strips", metadata,
    sa.Column("topic", sa.String(200), sa.ForeignKey("topics.slug"), primary_key=True),
    sa.Column("names", sa.JSON, nullable=False),
    sa.Column("created_at", TS, nullable=False),
)
