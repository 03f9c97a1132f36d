"""Drafting a section: the structured answer the model gives, and turning it into an Edit.

The model returns the whole section. Code decides what is new (anything not already in the
section word for word), which old sentence a new one replaces (fuzzy match), and, after the
citation gate, keeps the old text wherever a replacement failed.
"""

from __future__ import annotations

import re

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field
from rapidfuzz import fuzz

from agent.models import Article, DroppedSentence, Edit, Section, Sentence, Source, Verdict
from agent.prompting import load_prompt
from agent.triage import section_outline, source_block

DRAFT_SOURCE_CHARS = 4000
REPLACEMENT_SIMILARITY = 70
# An old sentence this close to a part of a held-back one was taken into it.
COVERED_SIMILARITY = 95
# A list marker the model copied from a prompt's list ("- ", "* ", "2. ") is no part of a sentence.
_LIST_MARKER = re.compile(r"^(?:[-*\u2022]|\d{1,2}[.)])\s+")
_INLINE_CITATION = re.compile(r"\s*\[(src_[0-9a-f]{16}|[a-z]+:\d+)\]")


class DraftSentence(BaseModel):
    text: str = Field(description="One sentence of the section, without citation markers.")
    citations: list[str] = Field(description="Ids of the sources that state this sentence.")


class DraftParagraph(BaseModel):
    sentences: list[DraftSentence]


class SectionDraft(BaseModel):
    paragraphs: list[DraftParagraph] = Field(description="The whole section after the update.")
    rationale: str = Field("", description="What changed and why, in one or two sentences.")


def citable_ids(source_ids: list[str], section: Section | None) -> list[str]:
    """Ids a draft of this section may cite: its task's sources and what the section cites now.

    `SectionDraft` takes citations as plain strings, one schema for every call (so a
    provider can cache the request's prefix); the prompt lists these ids in its per-call
    part and `to_paragraphs` drops any other id the model writes."""
    kept = [c for s in (section.sentences() if section else []) for c in s.citations]
    return list(dict.fromkeys([*source_ids, *kept]))


def citable_line(ids: list[str]) -> str:
    return ", ".join(ids) if ids else "(none)"


def render_section(paragraphs: list[list[Sentence]]) -> str:
    lines = []
    for paragraph in paragraphs:
        lines.append(" ".join(s.text + "".join(f" [{c}]" for c in s.citations) for s in paragraph))
    return "\n\n".join(lines) if lines else "(empty: this is a new section)"


def draft_messages(article: Article, heading: str, section: Section | None,
                   sources: list[Source], *, prompt: str = "draft_section") -> list[BaseMessage]:
    """prompt: draft_section (the whole section back) or draft_additions (new sentences only;
    merge_with_old keeps every old sentence then)."""
    return load_prompt(prompt).render(
        topic_title=article.title, section_outline=section_outline(article),
        section_heading=heading, section_text=render_section(section.paragraphs if section else []),
        sources=source_block(sources, DRAFT_SOURCE_CHARS),
        citable=citable_line(citable_ids([s.id for s in sources], section)))


def revise_messages(article: Article, heading: str, failures: list[tuple[Sentence, Verdict]],
                    sources: list[Source]) -> list[BaseMessage]:
    """Only the failing sentences, their verdicts and the sources they cite (or that the gate
    suggests): not the whole draft and every task source again."""
    listed = "\n".join(f"- {s.text} {''.join(f'[{c}]' for c in s.citations)} -> {v.label.value}: "
                       f"{v.reason}" for s, v in failures)
    return load_prompt("revise_section").render(
        topic_title=article.title, section_heading=heading, failures=listed,
        sources=source_block(sources, DRAFT_SOURCE_CHARS),
        citable=citable_line([s.id for s in sources]))


def revision_sources(failures: list[tuple[Sentence, Verdict]]) -> list[str]:
    """Ids a revision may need: what the failing sentences cite and what the gate suggests."""
    ids = [c for s, v in failures for c in [*s.citations, v.suggested_citation or ""]]
    return [i for i in dict.fromkeys(ids) if i.startswith("src_")]


def apply_revision(paragraphs: list[list[Sentence]], failing: list[Sentence],
                   revised: list[Sentence]) -> list[list[Sentence]]:
    """The draft with each failing sentence replaced by the revised sentence closest to it;
    failing sentences with no counterpart are dropped, unmatched revisions go after the last
    failing sentence's place."""
    failing_keys = {_key(s) for s in failing}
    pool = list(revised)
    replacement: dict[tuple, Sentence] = {}
    for sentence in failing:
        match = _replaced_old(sentence, pool) if pool else None
        if match is not None:
            replacement[_key(sentence)] = match
            pool.remove(match)
    out: list[list[Sentence]] = []
    anchor: tuple[int, int] | None = None
    for paragraph in paragraphs:
        kept: list[Sentence] = []
        for sentence in paragraph:
            if _key(sentence) in failing_keys:
                anchor = (len(out), len(kept))
                if _key(sentence) in replacement:
                    kept.append(replacement[_key(sentence)])
                    anchor = (len(out), len(kept))
            else:
                kept.append(sentence)
        out.append(kept)
    if pool:
        row, column = anchor if anchor is not None else (max(0, len(out) - 1), None)
        if not out:
            out.append([])
        column = len(out[row]) if column is None else column
        out[row][column:column] = pool
    return [p for p in out if p]


def to_paragraphs(draft: SectionDraft, allowed: list[str] | None = None) -> list[list[Sentence]]:
    """Clean the model's sentences: markers written inline become citations, blanks go, and
    with `allowed`, ids outside it (made up, a heading, prose) are dropped: a sentence left
    with no citation then fails the citation gate like any uncited one."""
    permitted = set(allowed) if allowed is not None else None
    paragraphs = []
    seen: list[Sentence] = []
    for paragraph in draft.paragraphs:
        sentences = []
        for drafted in paragraph.sentences:
            inline = _INLINE_CITATION.findall(drafted.text)
            text = " ".join(_INLINE_CITATION.sub("", drafted.text).split())
            text = re.sub(r"\s+([,.;:!?])", r"\1", text)
            text = _LIST_MARKER.sub("", text)
            citations = list(dict.fromkeys([c.strip().strip("[]") for c in drafted.citations] + inline))
            if permitted is not None:
                citations = [c for c in citations if c in permitted]
            sentence = Sentence(text=text, citations=[c for c in citations if c])
            if text and sentence not in seen:  # small models repeat themselves
                seen.append(sentence)
                sentences.append(sentence)
        if sentences:
            paragraphs.append(sentences)
    return paragraphs


def _key(sentence: Sentence) -> tuple[str, tuple[str, ...]]:
    return sentence.text, tuple(sentence.citations)


def _replaced_old(sentence: Sentence, old: list[Sentence]) -> Sentence | None:
    best, best_score = None, 0.0
    for candidate in old:
        score = fuzz.ratio(sentence.text, candidate.text)
        if score > best_score:
            best, best_score = candidate, score
    return best if best_score >= REPLACEMENT_SIMILARITY else None


def merge_with_old(old: list[list[Sentence]], drafted: list[list[Sentence]],
                   *, rewrite: bool = False) -> list[list[Sentence]]:
    """The section to check. In update mode an old sentence disappears only when a drafted
    sentence replaces it, so a model that answers with just the new sentences loses nothing."""
    if rewrite or not old:
        return drafted
    old_flat = [s for p in old for s in p]
    old_keys = {_key(s) for s in old_flat}
    drafted_flat = [s for p in drafted for s in p]
    replacements: dict[tuple, Sentence] = {}
    additions: list[Sentence] = []
    for sentence in drafted_flat:
        if _key(sentence) in old_keys:
            continue
        replaced = _replaced_old(sentence, old_flat)
        if replaced is not None and _key(replaced) not in replacements:
            replacements[_key(replaced)] = sentence
        else:
            additions.append(sentence)
    kept = {_key(s) for s in drafted_flat} | set(replacements)
    if all(_key(s) in kept for s in old_flat):
        return drafted
    merged = [[replacements.get(_key(s), s) for s in p] for p in old]
    if additions:
        merged[-1] = merged[-1] + additions
    return merged


def new_sentences(old: list[list[Sentence]], paragraphs: list[list[Sentence]]) -> list[Sentence]:
    old_keys = {_key(s) for p in old for s in p}
    return [s for p in paragraphs for s in p if _key(s) not in old_keys]


def finalize(old: list[list[Sentence]], paragraphs: list[list[Sentence]],
             verdicts: dict[tuple, Verdict]) -> tuple[list[list[Sentence]], list[Verdict], list[DroppedSentence]]:
    """Keep what passed; a failed replacement falls back to the old sentence, a failed
    addition is dropped. Returns paragraphs, the verdicts of the kept new sentences, drops."""
    old_flat = [s for p in old for s in p]
    old_keys = {_key(s) for s in old_flat}
    present = {_key(s) for p in paragraphs for s in p}
    final: list[list[Sentence]] = []
    kept_verdicts: list[Verdict] = []
    dropped: list[DroppedSentence] = []
    for paragraph in paragraphs:
        out = []
        for sentence in paragraph:
            key = _key(sentence)
            verdict = verdicts.get(key)
            if key in old_keys or verdict is None:
                out.append(sentence)
            elif verdict.passed:
                out.append(sentence)
                kept_verdicts.append(verdict)
            else:
                dropped.append(DroppedSentence(sentence=sentence, verdict=verdict))
                previous = _replaced_old(sentence, old_flat)
                # Every old sentence it stood for comes back, in the old order: the one it
                # rewrote, and any it took in whole (a model joins two into one).
                for back in old_flat:
                    if _key(back) not in present and (back is previous or fuzz.partial_ratio(
                            back.text, sentence.text) >= COVERED_SIMILARITY):
                        out.append(back)
                        present.add(_key(back))
        if out:
            final.append(out)
    return final, kept_verdicts, dropped


def build_edit(edit_id: str, section_id: str, heading: str, old_section: Section | None,
               final: list[list[Sentence]], verdicts: list[Verdict], dropped: list[DroppedSentence],
               rationale: str, source_ids: list[str]) -> Edit | None:
    """None unless the edit changes the article: a section whose every new sentence was held
    back files nothing (the run records the drops, agent/nights.py). The edit's sources are
    only those its new sentences cite: merging it absorbs nothing it does not state."""
    old = old_section.paragraphs if old_section else []
    if not final or final == old:
        return None
    old_keys = {_key(s) for p in old for s in p}
    cited = {c for p in final for s in p if _key(s) not in old_keys for c in s.citations}
    return Edit(id=edit_id, section_id=section_id, heading=heading, new_section=old_section is None,
                old_sentences=[s for p in old for s in p], new_paragraphs=final, verdicts=verdicts,
                dropped=dropped, rationale=rationale,
                source_ids=[i for i in source_ids if i in cited])
