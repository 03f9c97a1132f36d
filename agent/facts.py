"""One fact, one place: sections are drafted in parallel and cannot see each other, so one
proposal can add the same sentence to two sections. It stays where it fits best."""

from __future__ import annotations

from rapidfuzz import fuzz

from agent.citations.text import content_token_set as content_words
from agent.drafting import _key, _replaced_old
from agent.models import Article, DroppedSentence, Edit, Section, Sentence, Verdict

# Two new sentences citing a common source and at least this alike (rapidfuzz ratio) are one fact.
DUPLICATE_SIMILARITY = 85


def _fit(sentence: Sentence, section: Section | None, heading: str) -> int:
    words = content_words(sentence.text)
    return len(words & content_words(f"{heading} {section.text() if section else ''}"))


def same_fact(a: Sentence, b: Sentence) -> bool:
    """Near-duplicates: they cite a common source and read almost the same."""
    return bool(set(a.citations) & set(b.citations)) and fuzz.ratio(
        " ".join(a.text.lower().split()), " ".join(b.text.lower().split())) >= DUPLICATE_SIMILARITY


def keep_once(edits: list[Edit], article: Article) -> tuple[list[Edit], int]:
    """Sections are drafted in parallel and cannot see each other: a near-duplicate new
    sentence in several edits stays in the section it fits best (most shared content words,
    then article order) and is dropped from the others, the drop shown. Returns the edits that
    still change the article and how many sentences were dropped."""
    order = {s.id: i for i, s in enumerate(article.sections)}
    ranked = sorted(edits, key=lambda e: order.get(e.section_id, len(order)))

    def fresh(edit: Edit) -> list[Sentence]:
        old = {_key(s) for s in edit.old_sentences}
        return [s for s in edit.new_sentences() if _key(s) not in old]

    dropped = 0
    for index, edit in enumerate(ranked):
        for sentence in list(fresh(edit)):
            rivals = [(other, twin) for other in ranked[:index] + ranked[index + 1:]
                      for twin in fresh(other) if same_fact(sentence, twin)]
            if not rivals:
                continue
            mine = (_fit(sentence, article.section(edit.section_id), edit.heading), -index)
            best = max(rivals, key=lambda r: (_fit(r[1], article.section(r[0].section_id),
                                                   r[0].heading), -ranked.index(r[0])))
            theirs = (_fit(best[1], article.section(best[0].section_id), best[0].heading),
                      -ranked.index(best[0]))
            if mine >= theirs:
                continue
            _drop_sentence(edit, sentence, f"also added to '{best[0].heading}', where it fits better")
            dropped += 1
    kept = [e for e in edits if [s for p in e.new_paragraphs for s in p] != e.old_sentences]
    return kept, dropped


def _drop_sentence(edit: Edit, sentence: Sentence, reason: str) -> None:
    old_keys = {_key(s) for s in edit.old_sentences}
    fresh = [s for s in edit.new_sentences() if _key(s) not in old_keys]
    position = fresh.index(sentence)
    if position < len(edit.verdicts):
        verdict = edit.verdicts.pop(position)
    else:
        verdict = Verdict(label="supported", stage="duplicate")
    present = {_key(s) for s in edit.new_sentences()}
    previous = _replaced_old(sentence, edit.old_sentences)
    restore = previous if previous is not None and _key(previous) not in present else None
    paragraphs = [[restore if s == sentence else s for s in p if s != sentence or restore]
                  for p in edit.new_paragraphs]
    edit.new_paragraphs = [p for p in paragraphs if p]
    edit.dropped.append(DroppedSentence(sentence=sentence, verdict=verdict.model_copy(
        update={"stage": "duplicate", "reason": reason})))
    cited = {c for s in edit.new_sentences() if _key(s) not in old_keys for c in s.citations}
    edit.source_ids = [i for i in edit.source_ids if i in cited]
