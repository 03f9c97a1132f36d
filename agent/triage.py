"""Triage: which new sources matter to a topic, and which sections each one touches.

The model answers in batches (one call per handful of sources); code turns the answers
into one task per affected section, ignoring ids the model invented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field

from agent.models import Article, Source, Topic, slugify
from agent.prompting import delimit_source, load_prompt

TRIAGE_BATCH = 8
TRIAGE_SOURCE_CHARS = 1500


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


class TriageAnswer(BaseModel):
    decisions: list[SourceDecision] = Field(description="One decision per source, in order.")


@dataclass
class SectionTask:
    section_id: str
    heading: str
    new_section: bool
    source_ids: list[str] = field(default_factory=list)


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
