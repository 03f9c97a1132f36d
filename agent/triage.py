"""Triage: which new sources matter to a topic, and which sections each one touches.

The model answers in batches (one call per handful of sources) with `TriageAnswer`, the same
schema for every call; code turns the answers into one task per affected section, ignoring
ids the model invented (`first_answers`, `known_sections`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field

from agent.models import Article, Source, Topic, slugify
from agent.prompting import delimit_source, load_prompt
from agent.citations.text import content_token_set as content_words

TRIAGE_BATCH = 16
TRIAGE_SOURCE_CHARS = 1500
LEXICAL_MIN_SHARED = 5
LEXICAL_MIN_SCOPE = 3


class Relation(StrEnum):
    new = "new"
    corroborating = "corroborating"
    contradicting = "contradicting"
    duplicate = "duplicate"


class SourceDecision(BaseModel):
    source_id: str = Field(description="The id of the source exactly as given.")
    relevant: bool = Field(description="Does the source say something within the article's scope?")
    sections: list[str] = Field(default_factory=list,
                                description="Ids of existing sections the source bears on.")
    new_section: str | None = Field(None, description="Heading of a new section, only if the "
                                    "source is relevant and fits no existing section.")
    relation: Relation = Field(Relation.new, description="How the source relates to the article.")
    reason: str = Field("", description="One sentence: why.")
    mentions: list[str] = Field(default_factory=list, description="The people and organisations "
                                "the source names, each once, as written (at most 24).")


class TriageAnswer(BaseModel):
    decisions: list[SourceDecision] = Field(description="One decision per source, in order.")


@dataclass
class SectionTask:
    section_id: str
    heading: str
    new_section: bool
    source_ids: list[str] = field(default_factory=list)


def known_sections(ids: list[str], article: Article) -> list[str]:
    """The section ids of an answer that name a section of the article, in order, each once.

    The schema takes ids as plain strings (one schema for every call, so a provider can cache
    the request's prefix); the ids are checked here instead. An answer that gives a heading
    instead of an id is mapped to that section's id."""
    existing = {s.id for s in article.sections}
    by_heading = {slugify(s.heading): s.id for s in article.sections}
    found = []
    for raw in ids:
        key = str(raw).strip()
        section_id = key if key in existing else by_heading.get(slugify(key))
        if section_id and section_id not in found:
            found.append(section_id)
    return found


def lexical_decisions(topic: Topic, article: Article, sources: list[Source]) -> list[SourceDecision]:
    """Triage without a model: a source goes to the section it shares the most content words
    with, if it shares enough with that section and with the topic's scope."""
    from agent.mentions import source_names

    scope = content_words(topic.scope or article.summary) | content_words(article.title)
    sections = [(s.id, content_words(f"{s.heading} {s.text()}")) for s in article.sections]
    decisions = []
    for source in sources:
        words = content_words(f"{source.title} {source.text[:TRIAGE_SOURCE_CHARS * 3]}")
        best_id, best = max(((sid, len(words & sw)) for sid, sw in sections), key=lambda x: x[1],
                            default=(None, 0))
        relevant = (best_id is not None and best >= LEXICAL_MIN_SHARED
                    and len(words & scope) >= LEXICAL_MIN_SCOPE)
        decisions.append(SourceDecision(
            source_id=source.id, relevant=relevant, sections=[best_id] if relevant else [],
            reason=f"lexical triage: {best} words shared with the closest section",
            mentions=source_names(source)))
    return decisions


def section_outline(article: Article) -> str:
    return "\n".join(f"{s.id}: {s.heading}" for s in article.sections)


def source_block(sources: list[Source], limit: int = TRIAGE_SOURCE_CHARS) -> str:
    blocks = []
    for source in sources:
        text = source.text if len(source.text) <= limit else source.text[:limit] + " …"
        blocks.append(delimit_source(source.id, source.title, text))
    return "\n\n".join(blocks)


def triage_messages(topic: Topic, article: Article, batch: list[Source]) -> list[BaseMessage]:
    return load_prompt("triage").render(
        topic_title=article.title, topic_scope=topic.scope or article.summary,
        section_outline=section_outline(article), sources=source_block(batch))


def batches(sources: list[Source], size: int = TRIAGE_BATCH) -> list[list[Source]]:
    """At most `size` sources per call, in as few calls as that allows, of even sizes: each
    call repeats the instructions, scope and outline (about 500 tokens on the seed, under
    the 1,024 a provider caches), so 22 sources are two calls of 11, not 8 + 8 + 6."""
    if not sources:
        return []
    count = -(-len(sources) // size)
    step, extra = divmod(len(sources), count)
    cut, out = 0, []
    for n in range(count):
        width = step + (n < extra)
        out.append(sources[cut:cut + width])
        cut += width
    return out


def plan_tasks(article: Article, decisions: list[SourceDecision], known: set[str]) -> list[SectionTask]:
    """One task per affected section; unknown source or section ids from the model are ignored."""
    tasks: dict[str, SectionTask] = {}
    existing = {s.id: s for s in article.sections}
    for decision in decisions:
        if decision.source_id not in known or not decision.relevant:
            continue
        targets = known_sections(decision.sections, article)
        if not targets and decision.new_section:
            heading = " ".join(decision.new_section.split())[:80]
            key = slugify(heading)
            if key in existing:
                targets = [key]
            else:
                task = tasks.setdefault(key, SectionTask(key, heading, True))
                if decision.source_id not in task.source_ids:
                    task.source_ids.append(decision.source_id)
                continue
        for section_id in targets:
            task = tasks.setdefault(section_id, SectionTask(section_id, existing[section_id].heading, False))
            if decision.source_id not in task.source_ids:
                task.source_ids.append(decision.source_id)
    order = {s.id: i for i, s in enumerate(article.sections)}
    return sorted(tasks.values(), key=lambda t: (order.get(t.section_id, len(order)), t.section_id))


def irrelevant_ids(decisions: list[SourceDecision], known: set[str]) -> list[str]:
    """Sources the model judged off-topic (or that touch no section): never triaged again."""
    return [d.source_id for d in decisions if d.source_id in known
            and (not d.relevant or (not d.sections and not d.new_section))]


def first_answers(decisions: list[SourceDecision], asked: list[str]) -> list[SourceDecision]:
    """One decision per asked source (the first the model gave); others are ignored."""
    wanted, seen, kept = set(asked), set(), []
    for decision in decisions:
        if decision.source_id in wanted and decision.source_id not in seen:
            seen.add(decision.source_id)
            kept.append(decision)
    return kept


def unanswered(decisions: list[SourceDecision], asked: list[str]) -> list[str]:
    """Asked sources the answer left out, in the order they were asked."""
    answered = {d.source_id for d in decisions}
    return [sid for sid in asked if sid not in answered]


def bound_tasks(tasks: list[SectionTask], article: Article, sources: dict[str, Source],
                limit: int, held: set[str] | None = None) -> dict[str, list[str]]:
    """Cut each task to its `limit` most relevant sources, in place; returns each source left
    out with the ids of the sections that left it out.

    Most relevant first: new sources before ones held back earlier (`held`), then the most
    content words shared with the section, then triage order. A draft's input then grows
    with K, not with the night's intake (200 new sources once gave each draft ~28).
    `limit` 0 means no limit."""
    left_out: dict[str, list[str]] = {}
    if limit <= 0:
        return left_out
    held = held or set()
    for task in tasks:
        if len(task.source_ids) <= limit:
            continue
        section = article.section(task.section_id) if not task.new_section else None
        wanted = content_words(f"{task.heading} {section.text() if section else ''}")

        def rank(item: tuple[int, str]) -> tuple[bool, int, int]:
            index, sid = item
            source = sources.get(sid)
            words = content_words(f"{source.title} {source.text[:TRIAGE_SOURCE_CHARS * 3]}") if source else set()
            return sid in held, -len(words & wanted), index

        ranked = [sid for _, sid in sorted(enumerate(task.source_ids), key=rank)]
        keep = set(ranked[:limit])
        for sid in ranked[limit:]:
            left_out.setdefault(sid, []).append(task.section_id)
        task.source_ids = [sid for sid in task.source_ids if sid in keep]
    return left_out
