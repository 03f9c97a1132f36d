"""Sentence-aligned diffs of one section, and the gate's verdicts in an editor's words.

A section diff is a list of rows, one per sentence: unchanged, changed (old and new paired,
with word highlights inside), added or removed, each carrying its paragraph so a deleted
clause of paragraph 1 never shows up inside paragraph 2. Every new sentence is numbered
(1, 2, ... within its edit, the number `review approve --include N.K` and the web's ticks
use) and carries its verdict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from agent.diff import Chunk, word_diff
from agent.models import Sentence, Source, Verdict, VerdictLabel

PAIR_MIN_RATIO = 0.45  # a new sentence this close to an old one rewrites it; below, it is added

CHECK_WORDS = {
    "structure": "the citation check (does it cite a source that has text?)",
    "wrong_source": "the topic check (is the cited page about this?)",
    "numbers": "the number check (every number, date and amount must be in the source)",
    "entities": "the name check (every name must be in the source)",
    "negation": "the negation check (does the source say the opposite?)",
    "deterministic": "code: every number and name was found in the cited source",
    "judge": "the checking model, whose quote code found in the source",
    "quote_verification": "code: the checking model's quotes were looked up in the sources",
}


@dataclass
class Row:
    """One sentence of the diff; `number` is set on new sentences that need a verdict."""

    kind: str  # same, changed, added, removed, moved
    paragraph: int
    old: Sentence | None = None
    new: Sentence | None = None
    old_words: list[Chunk] = field(default_factory=list)
    new_words: list[Chunk] = field(default_factory=list)
    number: int | None = None
    verdict: Verdict | None = None

    @property
    def verified(self) -> bool:
        return self.verdict is not None and self.verdict.label == VerdictLabel.supported


def _key(sentence: Sentence) -> tuple[str, tuple[str, ...]]:
    return sentence.text, tuple(sentence.citations)


def _ratio(a: Sentence, b: Sentence) -> float:
    return SequenceMatcher(a=a.text.lower().split(), b=b.text.lower().split(), autojunk=False).ratio()


def _pair(old: list[int], new: list[int], olds: list[Sentence], news: list[Sentence]) -> list[tuple]:
    """Pair a replaced block's sentences in order by similarity; the rest are added or removed."""
    out: list[tuple] = []
    i = 0
    for j in new:
        best, best_at = PAIR_MIN_RATIO, None
        for at in range(i, len(old)):
            ratio = _ratio(olds[old[at]], news[j])
            if ratio >= best:
                best, best_at = ratio, at
        if best_at is None:
            out.append((None, j))
            continue
        out += [(old[at], None) for at in range(i, best_at)]
        out.append((old[best_at], j))
        i = best_at + 1
    out += [(old[at], None) for at in range(i, len(old))]
    # Between paired sentences, what goes comes before what is added (as a diff reads).
    ordered: list[tuple] = []
    run: list[tuple] = []
    for item in out + [(-1, -1)]:
        if item[0] is not None and item[1] is not None:
            ordered += [x for x in run if x[1] is None] + [x for x in run if x[1] is not None]
            run = []
            if item != (-1, -1):
                ordered.append(item)
        else:
            run.append(item)
    return ordered


def _split(chunks: list[Chunk]) -> tuple[list[Chunk], list[Chunk]]:
    old = [c for c in chunks if c.op != "insert"]
    new = [c for c in chunks if c.op != "delete"]
    return old, new


def align(old_paragraphs: list[list[Sentence]], new_paragraphs: list[list[Sentence]],
          verdicts: list[Verdict]) -> list[Row]:
    """Rows that turn the old section into the new one, sentence by sentence."""
    olds = [s for p in old_paragraphs for s in p]
    news = [s for p in new_paragraphs for s in p]
    new_para = [n for n, p in enumerate(new_paragraphs) for _ in p]
    old_keys = {_key(s) for s in olds}
    fresh = [j for j, s in enumerate(news) if _key(s) not in old_keys]
    number_of = {j: n for n, j in enumerate(fresh, start=1)}
    matcher = SequenceMatcher(a=[_key(s) for s in olds], b=[_key(s) for s in news], autojunk=False)
    rows: list[Row] = []

    def paragraph_near(j: int | None) -> int:
        if j is not None and j < len(news):
            return new_para[j]
        return new_para[-1] if news else 0

    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            rows += [Row("same", new_para[b0 + k], olds[a0 + k], news[b0 + k]) for k in range(a1 - a0)]
            continue
        for o, n in _pair(list(range(a0, a1)), list(range(b0, b1)), olds, news):
            if n is None:  # a removed sentence sits beside the new text that follows it
                if _key(olds[o]) not in {_key(s) for s in news}:
                    rows.append(Row("removed", paragraph_near(b1), olds[o], None,
                                    old_words=[Chunk("delete", olds[o].text)]))
                continue
            number = number_of.get(n)
            verdict = verdicts[number - 1] if number and number <= len(verdicts) else None
            if number is None:
                rows.append(Row("moved", new_para[n], None, news[n], number=None))
            elif o is None:
                rows.append(Row("added", new_para[n], None, news[n],
                                new_words=[Chunk("insert", news[n].text)], number=number,
                                verdict=verdict))
            else:
                # Words only: citation markers are shown (and linked) beside the sentence.
                chunks = word_diff([[Sentence(text=olds[o].text)]], [[Sentence(text=news[n].text)]])
                old_words, new_words = _split(chunks)
                rows.append(Row("changed", new_para[n], olds[o], news[n], old_words, new_words,
                                number, verdict))
    return rows


def label_of(verdict: Verdict | None) -> str:
    return "verified" if verdict and verdict.label == VerdictLabel.supported else (
        verdict.label.value if verdict else "unchecked")


def summary(rows: list[Row]) -> str:
    """"2 verified, 1 unsupported, 1 uncited" for the edit's new sentences."""
    counts = Counter(label_of(r.verdict) for r in rows if r.number is not None)
    order = ["verified", "partially", "unsupported", "contradicted", "uncited", "unchecked"]
    parts = [f"{counts[name]} {name}" for name in order if counts[name]]
    return ", ".join(parts) if parts else "no new sentences"


def check_words(verdict: Verdict | None) -> str:
    if verdict is None:
        return "no check ran on this sentence"
    return CHECK_WORDS.get(verdict.stage, verdict.stage.replace("_", " "))


def _numbers_reason(sentence: Sentence, verdict: Verdict, sources: Mapping[str, Source]) -> str:
    from agent.citations.numbers import extract_quantities

    texts = [sources[k].text for k in sentence.citations if k in sources]
    stated = [q for t in texts for q in extract_quantities(t)]
    for mine in extract_quantities(sentence.text):
        if any(mine.matches(other) for other in stated):
            continue
        same_kind = [o for o in stated if o.kind and o.kind == mine.kind and o.date is None]
        if same_kind:
            return f"The source says {same_kind[0].text}, not {mine.text}."
        return f"No cited source states {mine.text}."
    return "A number in the sentence is not in the cited source."


def plain_reason(sentence: Sentence, verdict: Verdict | None, sources: Mapping[str, Source]) -> str:
    """Why a sentence was not verified, as an editor would say it."""
    if verdict is None:
        return "No check ran on this sentence."
    if verdict.label == VerdictLabel.supported:
        return "The cited source states it."
    reason = verdict.reason or ""
    if verdict.label == VerdictLabel.uncited:
        return "It cites no source."
    if verdict.stage == "structure":
        if "no text" in reason:
            return "The cited source has no stored text to check against."
        return "It cites a source absorb does not know."
    if verdict.stage == "wrong_source":
        return "The cited page is about something else."
    if verdict.stage == "numbers":
        return _numbers_reason(sentence, verdict, sources)
    if verdict.stage == "entities" and ":" in reason:
        names = reason.split(":", 1)[1].strip()
        return f"No cited source mentions {names}."
    if verdict.stage == "negation":
        return "The source says the opposite."
    if verdict.stage == "quote_verification":
        return "The quotes offered as evidence are not in the cited sources."
    if verdict.label == VerdictLabel.partially:
        return "The sources support only part of it."
    if verdict.label == VerdictLabel.contradicted:
        return "The sources say otherwise."
    return "No passage of the cited sources supports it."
