"""Triage: which new sources matter to a topic, and which sections each one touches.

The model answers in batches (one call per handful of sources); code turns the answers
into one task per affected section, ignoring ids the model invented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field, create_model

from agent.models import Article, Source, Topic, slugify
from agent.prompting import delimit_source, load_prompt
from agent.citations.text import content_token_set as content_words

TRIAGE_BATCH = 8
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


def answer_schema(source_ids: list[str], section_ids: list[str]) -> type[TriageAnswer]:
    """TriageAnswer whose ids can only be the ones in this call's prompt: constrained decoding
    (json_schema, or a grammar on local servers) then cannot invent ids."""
    if not source_ids:
        return TriageAnswer
    section_type = Literal[tuple(section_ids)] if section_ids else str  # type: ignore[valid-type]
    decision = create_model(
        "SourceDecision", __base__=SourceDecision,
        source_id=(Literal[tuple(source_ids)], Field(description="The id of the source exactly as given.")),  # type: ignore[valid-type]
        sections=(list[section_type], Field(default_factory=list,
                                            description="Ids of existing sections the source bears on.")))
    return create_model("TriageAnswer", __base__=TriageAnswer,
                        decisions=(list[decision], Field(description="One decision per source, in order.")))


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
    return [sources[i:i + size] for i in range(0, len(sources), size)]


def plan_tasks(article: Article, decisions: list[SourceDecision], known: set[str]) -> list[SectionTask]:
    """One task per affected section; unknown source or section ids from the model are ignored."""
    tasks: dict[str, SectionTask] = {}
    existing = {s.id: s for s in article.sections}
    for decision in decisions:
        if decision.source_id not in known or not decision.relevant:
            continue
        targets = [sid for sid in decision.sections if sid in existing]
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
