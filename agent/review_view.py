"""What an editor sees of a proposal, shared by the web page and `absorb review show`: per
edit a sentence-aligned diff with verdicts in words, its verified quotes, what it removes,
what was held back, who decided it, when and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.approval import changes_nothing
from agent.diff import old_paragraphs
from agent.models import Article, Edit, EditStatus, Proposal, Sentence, Source, Verdict, is_source_id
from agent.sentence_diff import Row, align, check_words, label_of, plain_reason, summary
from agent.store.errors import NotFound
from agent.store.rows import DecisionRow

if TYPE_CHECKING:
    from agent.store import Store


@dataclass
class Quote:
    number: int | None
    source_id: str
    text: str
    start: int
    end: int


@dataclass
class Line:
    """One row of the diff with everything said about its new sentence."""

    row: Row
    label: str = ""
    reason: str = ""
    check: str = ""
    technical: str = ""
    quotes: list[Quote] = field(default_factory=list)
    taken: bool | None = None  # after approval: was this new sentence taken into the article?
    skipped: int = 0  # a run of this many unchanged sentences, folded


@dataclass
class Held:
    sentence: Sentence
    verdict: Verdict
    reason: str
    technical: str


@dataclass
class Card:
    number: int
    edit: Edit
    applies: bool
    lines: list[Line]
    summary: str
    noop: bool
    held: list[Held]
    removed: list[Sentence]
    sources: list[tuple[int | None, Source]]
    decisions: list[DecisionRow]
    in_article: list[list[tuple[Sentence, str]]]  # the section as it would read: (sentence, how)
    shown: list[Line] = field(default_factory=list)  # lines with far unchanged runs folded

    @property
    def needs_decision(self) -> bool:
        return not self.noop

    @property
    def decided(self) -> bool:
        return self.edit.status != EditStatus.pending

    @property
    def last(self) -> DecisionRow | None:
        return self.decisions[-1] if self.decisions else None

    @property
    def unverified(self) -> list[Line]:
        return [line for line in self.lines if line.row.number is not None and not line.row.verified]


@dataclass
class Page:
    proposal: Proposal
    topic_title: str
    base_number: int | None
    current_number: int | None
    cards: list[Card]
    numbering: dict[str, int]

    @property
    def to_decide(self) -> list[Card]:
        return [c for c in self.cards if c.needs_decision]

    @property
    def decided_count(self) -> int:
        return sum(c.decided for c in self.to_decide)


def technical(verdict: Verdict | None) -> str:
    if verdict is None:
        return "no verdict recorded"
    parts = [f"{verdict.label.value} by stage '{verdict.stage}'"]
    if verdict.reason:
        parts.append(verdict.reason)
    parts += verdict.hints
    if verdict.suggested_citation:
        parts.append(f"an uncited source states it: {verdict.suggested_citation}")
    return "; ".join(parts)


def topic_numbering(store: Store, proposal: Proposal, frame_article) -> dict[str, int]:
    """The topic's stable [N] for every source the article and the proposal show."""
    from agent.numbering import numbers_for

    extra = [k for edit in proposal.edits
             for k in [*edit.source_ids, *(c for s in edit.new_sentences() for c in s.citations),
                       *(c for d in edit.dropped for c in d.sentence.citations)]]
    return numbers_for(store, proposal.topic, frame_article, extra=extra)


def _card(number: int, edit: Edit, base_section, applies: bool, numbering: dict[str, int],
          sources: dict[str, Source], decisions: list[DecisionRow]) -> Card:
    shown = edit
    last = decisions[-1] if decisions else None
    if last is not None and last.action == "merged" and last.original:
        # Show what was proposed, each new sentence marked taken or left out.
        shown = Edit.model_validate(last.original).model_copy(update={"status": edit.status})
    old = old_paragraphs(shown, base_section)
    rows = align(old, shown.new_paragraphs, shown.verdicts)
    left_out = set((last.sentences or {}).get("left_out", [])) if last and last.sentences else set()
    lines = []
    for row in rows:
        line = Line(row)
        if row.number is not None:
            line.label = label_of(row.verdict)
            line.reason = plain_reason(row.new, row.verdict, sources)
            line.check = check_words(row.verdict)
            line.technical = technical(row.verdict)
            line.quotes = [Quote(numbering.get(q.source_id), q.source_id, q.text, q.start, q.end)
                           for q in (row.verdict.quotes if row.verdict else [])]
            if edit.status == EditStatus.merged:
                line.taken = row.number not in left_out
        lines.append(line)
    held = [Held(d.sentence, d.verdict, plain_reason(d.sentence, d.verdict, sources), technical(d.verdict))
            for d in edit.dropped]
    keys = [k for k in [*edit.source_ids, *(k for r in rows if r.number for k in r.new.citations),
                        *(k for d in edit.dropped for k in d.sentence.citations)] if is_source_id(k)]
    refs = [(numbering.get(k), sources[k]) for k in dict.fromkeys(keys) if k in sources]
    return Card(number=number, edit=edit, applies=applies,
                lines=lines, summary=summary(rows), noop=changes_nothing(edit), held=held,
                removed=[r.old for r in rows if r.kind == "removed"], sources=refs,
                decisions=decisions, in_article=_in_article(lines), shown=fold(lines))


CONTEXT = 1  # unchanged sentences shown on each side of a change; longer runs are folded


def fold(lines: list[Line]) -> list[Line]:
    """Unchanged sentences far from any change fold into one "n unchanged sentences" line."""
    changed = [i for i, line in enumerate(lines) if line.row.kind not in ("same", "moved")]
    keep = {j for i in changed for j in range(i - CONTEXT, i + CONTEXT + 1)}
    out: list[Line] = []
    for i, line in enumerate(lines):
        if i in keep or line.row.kind not in ("same", "moved"):
            out.append(line)
        elif out and out[-1].skipped:
            out[-1].skipped += 1
        else:
            out.append(Line(line.row, skipped=1))
    return out


def _in_article(lines: list[Line]) -> list[list[tuple[Sentence, str]]]:
    paragraphs: list[list[tuple[Sentence, str]]] = []
    last = None
    for line in lines:
        row = line.row
        if row.new is None:
            continue
        how = "same" if row.number is None else ("verified" if row.verified else "unverified")
        if row.paragraph != last:
            paragraphs.append([])
            last = row.paragraph
        paragraphs[-1].append((row.new, how))
    return paragraphs


def _applies(current, sections: dict, edit: Edit) -> bool:
    """edit_applies on just the edit's section (looking sections up by id, once per page)."""
    from agent.apply import edit_applies

    if current is None:
        return False
    if edit.kind == "lead":  # the lead and the sentences it draws on: the whole article
        return edit_applies(current.article, edit)
    found = sections.get(edit.section_id)
    return edit_applies(Article.model_construct(title="", summary="", sources={},
                                                sections=[found] if found else []), edit)


def build_page(store: Store, proposal: Proposal) -> Page:
    topic = store.topics.get(proposal.topic)
    current = store.revisions.current(proposal.topic)
    try:
        base = (current if current is not None and current.id == proposal.base_revision_id else
                store.revisions.get(proposal.base_revision_id) if proposal.base_revision_id else None)
    except NotFound:
        base = None
    frame = current or base
    numbering = topic_numbering(store, proposal, frame.article if frame else None)
    wanted = [k for e in proposal.edits for k in [*e.source_ids, *(c for s in e.new_sentences()
              for c in s.citations), *(c for d in e.dropped for c in d.sentence.citations)]
              if is_source_id(k)]
    stored = store.sources.get_many(list(dict.fromkeys(wanted)))
    listed = frame.article.sources if frame else {}
    sources = {**listed, **stored}
    decisions = store.decisions.for_proposal(proposal.id)
    base_sections = {s.id: s for s in base.article.sections} if base else {}
    current_sections = {s.id: s for s in current.article.sections} if current else {}
    cards = [_card(n, e, base_sections.get(e.section_id), _applies(current, current_sections, e), numbering,
                   sources, decisions.get(e.id, [])) for n, e in enumerate(proposal.edits, start=1)]
    return Page(proposal, topic.title, base.number if base else None,
                current.number if current else None, cards, numbering)


def editor_name(actor: str) -> str:
    """'editor:alice' -> 'alice'; runs and imports read as they are."""
    return actor.split(":", 1)[1] if actor.startswith("editor:") else actor.replace("run:", "run ")


def page_json(page: Page, base: dict | None = None) -> dict:
    """`review show --json`: the earlier view's fields plus rows, summaries and decisions."""
    data = dict(base or {})
    data["decided"], data["to_decide"] = page.decided_count, len(page.to_decide)
    edits = data.setdefault("edits", [{} for _ in page.cards])
    for card, out in zip(page.cards, edits):
        out.update({
            "summary": card.summary, "changes_nothing": card.noop,
            "rows": [{"kind": line.row.kind, "paragraph": line.row.paragraph,
                      "old": line.row.old.text if line.row.old else None,
                      "new": line.row.new.text if line.row.new else None,
                      "number": line.row.number, "label": line.label or None,
                      "reason": line.reason or None, "check": line.check or None,
                      "taken": line.taken} for line in card.lines],
            "no_longer_stated": [s.text for s in card.removed],
            "decisions": [{"action": d.action, "by": editor_name(d.actor), "at": d.decided_at.isoformat(),
                           "comment": d.comment, "sentences": d.sentences} for d in card.decisions]})
    return data
