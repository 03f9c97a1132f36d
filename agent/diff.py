"""Word-level diffs of one section, on text whose citations are stable source keys.

Tokens carry citation keys, not reference numbers, so renumbering elsewhere in the article
never shows up as a change; numbers are attached only when a diff is displayed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import TYPE_CHECKING

from agent.markdown import render_sentence
from agent.models import Edit, Proposal, Section, Sentence, Verdict, is_source_id
from agent.numbering import numbers_for
from agent.store.errors import NotFound

if TYPE_CHECKING:
    from agent.store import Store

PARAGRAPH = "\n\n"
# A token is a citation marker, a word, or one punctuation mark, each with its leading space.
_TOKEN = re.compile(r"\s*(?:\[[^\]\s]+\]|[\w'’]+|[^\w\s])", re.UNICODE)
_CITE = re.compile(r"^\[([^\]\s]+)\]$")
# Control characters would let source text move the cursor or recolour an editor's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Chunk:
    """A run of the diff: op is equal, delete or insert; text is ready to display."""

    op: str
    text: str


def printable(text: str) -> str:
    """Text with control characters removed: safe to write to a terminal."""
    return _CONTROL.sub("", text)


def _tokens(paragraphs: list[list[Sentence]]) -> list[tuple[str, str]]:
    """(key, raw) pairs: key compares, raw keeps the spacing for display."""
    out: list[tuple[str, str]] = []
    for index, paragraph in enumerate(paragraphs):
        if index:
            out.append((PARAGRAPH, PARAGRAPH))
        for position, sentence in enumerate(paragraph):
            rendered = render_sentence(sentence, {})
            for match in _TOKEN.finditer(rendered):
                raw = match.group(0)
                if position and match.start() == 0 and not raw[0].isspace():
                    raw = " " + raw
                out.append((raw.strip(), raw))
    return out


def _display(raw: str, numbering: dict[str, int]) -> str:
    stripped = raw.strip()
    cite = _CITE.match(stripped)
    if cite is None:
        return raw
    key = cite.group(1)
    shown = f"[{numbering[key]}]" if key in numbering else f"[{key}]"
    return raw[: len(raw) - len(raw.lstrip())] + shown


def word_diff(old: list[list[Sentence]], new: list[list[Sentence]],
              numbering: dict[str, int] | None = None) -> list[Chunk]:
    """Chunks that turn the old section into the new one, word by word."""
    numbering = numbering or {}
    before, after = _tokens(old), _tokens(new)
    matcher = SequenceMatcher(a=[k for k, _ in before], b=[k for k, _ in after], autojunk=False)
    chunks: list[Chunk] = []

    def add(op: str, tokens: list[tuple[str, str]]) -> None:
        text = "".join(_display(raw, numbering) for _, raw in tokens)
        if not text:
            return
        if chunks and chunks[-1].op == op:
            chunks[-1] = Chunk(op, chunks[-1].text + text)
        else:
            chunks.append(Chunk(op, text))

    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            add("equal", after[b0:b1])
        else:
            add("delete", before[a0:a1])
            add("insert", after[b0:b1])
    return chunks


def old_paragraphs(edit: Edit, base: Section | None = None) -> list[list[Sentence]]:
    """The section before the edit, in paragraphs when the base revision still has them
    (an edit stores its old sentences flat)."""
    if base is not None and base.sentences() == edit.old_sentences:
        return [list(p) for p in base.paragraphs if p]
    return [list(edit.old_sentences)] if edit.old_sentences else []


def edit_diff(edit: Edit, numbering: dict[str, int] | None = None,
              base: Section | None = None) -> list[Chunk]:
    return word_diff(old_paragraphs(edit, base), edit.new_paragraphs, numbering)


def sentence_verdicts(edit: Edit) -> list[tuple[Sentence, Verdict | None]]:
    """Each sentence the edit adds or rewrites, with the gate's verdict on it."""
    old = {(s.text, tuple(s.citations)) for s in edit.old_sentences}
    fresh = [s for s in edit.new_sentences() if (s.text, tuple(s.citations)) not in old]
    verdicts: list[Verdict | None] = list(edit.verdicts[: len(fresh)])
    verdicts += [None] * (len(fresh) - len(verdicts))
    return list(zip(fresh, verdicts))


def removed_sentences(edit: Edit) -> list[Sentence]:
    """Old sentences the edit no longer has."""
    kept = {(s.text, tuple(s.citations)) for s in edit.new_sentences()}
    return [s for s in edit.old_sentences if (s.text, tuple(s.citations)) not in kept]


# -- the review view of a whole proposal, shared by `absorb review show` and the web page ----

EXCERPT_CHARS = 400


@dataclass
class SourceRef:
    """A source as an editor sees it next to a diff: number, title, where it came from."""

    number: int | None
    id: str
    title: str
    kind: str
    url: str | None
    published_at: str | None
    excerpt: str


@dataclass
class SentenceView:
    sentence: Sentence
    verdict: Verdict | None
    markers: str
    rendered: str
    quotes: list[tuple[int | None, str]]


@dataclass
class EditView:
    number: int
    edit: Edit
    chunks: list[Chunk]
    applies: bool
    sentences: list[SentenceView]
    held_back: list[SentenceView]
    removed: list[Sentence]
    sources: list[SourceRef]


@dataclass
class ProposalView:
    proposal: Proposal
    topic_title: str
    base_number: int | None
    current_number: int | None
    edits: list[EditView]
    numbering: dict[str, int]


def _sentence_view(sentence: Sentence, verdict: Verdict | None,
                   numbering: dict[str, int]) -> SentenceView:
    markers = "".join(f"[{numbering[k]}]" if k in numbering else f"[{k}]" for k in sentence.citations)
    quotes = [(numbering.get(q.source_id), q.text) for q in (verdict.quotes if verdict else [])]
    return SentenceView(sentence, verdict, markers, render_sentence(sentence, numbering), quotes)


def build_view(store: Store, proposal: Proposal) -> ProposalView:
    """Everything an editor needs to decide: diffs, verdicts, quotes, sources, staleness."""
    from agent.apply import edit_applies

    topic = store.topics.get(proposal.topic)
    current = store.revisions.current(proposal.topic)
    try:
        base = store.revisions.get(proposal.base_revision_id) if proposal.base_revision_id else None
    except NotFound:
        base = None
    frame = current or base
    wanted: list[str] = []
    for edit in proposal.edits:
        cited = [k for s in edit.new_sentences() for k in s.citations]
        cited += [k for d in edit.dropped for k in d.sentence.citations]
        wanted += [k for k in [*edit.source_ids, *cited] if is_source_id(k)]
    # The topic's own numbers: what this view shows is what the merged article will show.
    numbering = numbers_for(store, proposal.topic, frame.article if frame else None, extra=wanted)
    stored = store.sources.get_many(list(dict.fromkeys(wanted)))
    listed = frame.article.sources if frame else {}
    views = []
    for number, edit in enumerate(proposal.edits, start=1):
        base_section = base.article.section(edit.section_id) if base else None
        led = [k for k in edit.source_ids if is_source_id(k)]
        cited = [k for s in edit.new_sentences() for k in s.citations if is_source_id(k)]
        refs = []
        for key in dict.fromkeys([*led, *cited]):
            source = stored.get(key) or listed.get(key)
            if source is not None:
                refs.append(SourceRef(numbering.get(key), key, source.title or (source.url or key),
                                      source.kind, source.url, source.published_at,
                                      source.text[:EXCERPT_CHARS]))
        views.append(EditView(
            number=number, edit=edit, chunks=edit_diff(edit, numbering, base_section),
            applies=edit_applies(current.article, edit) if current else False,
            sentences=[_sentence_view(s, v, numbering) for s, v in sentence_verdicts(edit)],
            held_back=[_sentence_view(d.sentence, d.verdict, numbering) for d in edit.dropped],
            removed=removed_sentences(edit), sources=refs))
    return ProposalView(proposal, topic.title, base.number if base else None,
                        current.number if current else None, views, numbering)


def view_json(view: ProposalView) -> dict:
    """The view as plain JSON for `--json` and scripts."""
    def sentence(item: SentenceView) -> dict:
        verdict = item.verdict
        return {"text": item.sentence.text, "citations": item.sentence.citations,
                "markers": item.markers, "rendered": item.rendered, "label": verdict.label.value if verdict else None,
                "stage": verdict.stage if verdict else None,
                "reason": verdict.reason if verdict else "",
                "quotes": [{"number": n, "text": t} for n, t in item.quotes]}

    proposal = view.proposal
    return {"id": proposal.id, "topic": proposal.topic, "topic_title": view.topic_title,
            "status": proposal.status.value, "run_id": proposal.run_id, "actor": proposal.actor,
            "comment": proposal.comment, "created_at": proposal.created_at.isoformat(),
            "base_revision": view.base_number, "current_revision": view.current_number,
            "merged_revision_id": proposal.merged_revision_id,
            "edits": [{"number": e.number, "id": e.edit.id, "kind": e.edit.kind,
                       "section_id": e.edit.section_id,
                       "heading": e.edit.heading, "new_section": e.edit.new_section,
                       "status": e.edit.status.value, "applies": e.applies,
                       "rationale": e.edit.rationale,
                       "diff": [{"op": c.op, "text": c.text} for c in e.chunks],
                       "sentences": [sentence(s) for s in e.sentences],
                       "held_back": [sentence(s) for s in e.held_back],
                       "removed": [s.text for s in e.removed],
                       "sources": [vars(r) for r in e.sources]} for e in view.edits]}
