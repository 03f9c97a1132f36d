"""Rewriting one section on an editor's request: the prompt and what the rewrite may lose.

The rewrite sees the section's own sources, the editor's instructions and the headings and
lead sentences of the neighbouring sections, so it does not repeat them.
"""

from __future__ import annotations

from langchain_core.messages import BaseMessage

from agent.drafting import DRAFT_SOURCE_CHARS, citable_ids, citable_line, render_section
from agent.models import Article, Section, Sentence, Source
from agent.prompting import load_prompt
from agent.citations.text import content_token_set as content_words
from agent.triage import section_outline, source_block

KEPT_FACT_SHARE = 0.6


def neighbours(article: Article, section: Section) -> str:
    index = next(i for i, s in enumerate(article.sections) if s.id == section.id)
    lines = []
    for other in article.sections[max(0, index - 1): index] + article.sections[index + 1: index + 2]:
        lead = other.sentences()[0].text if other.sentences() else ""
        lines.append(f"{other.heading}: {lead}")
    return "\n".join(lines) or "(none)"


def rewrite_messages(article: Article, section: Section | None, sources: list[Source],
                     instructions: str) -> tuple[list[BaseMessage], str]:
    if section is None:
        raise ValueError("a rewrite needs an existing section")
    prompt = load_prompt("rewrite_section")
    messages = prompt.render(
        topic_title=article.title, section_outline=section_outline(article),
        section_heading=section.heading, section_text=render_section(section.paragraphs),
        neighbour_sections=neighbours(article, section),
        editor_instructions=instructions.strip() or "(none: improve clarity and organisation)",
        sources=source_block(sources, DRAFT_SOURCE_CHARS),
        citable=citable_line(citable_ids([s.id for s in sources], section)))
    return messages, f"rewrite_section@{prompt.version}"


def dropped_facts(old: list[Sentence], new: list[Sentence]) -> list[Sentence]:
    """Old sentences whose content words the new text mostly lacks: shown to the editor."""
    carried = content_words(" ".join(s.text for s in new))
    lost = []
    for sentence in old:
        words = content_words(sentence.text)
        if words and len(words & carried) / len(words) < KEPT_FACT_SHARE:
            lost.append(sentence)
    return lost


def rank_new_sources(section: Section, candidates: list[Source], limit: int = 8) -> list[Source]:
    """New sources of the topic that share the most content words with the section."""
    wanted = content_words(section.heading + " " + section.text())
    scored = []
    for source in candidates:
        overlap = len(wanted & content_words(f"{source.title} {source.text[:4000]}"))
        if overlap >= 3:
            scored.append((overlap, source.id, source))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [source for _, _, source in scored[:limit]]
