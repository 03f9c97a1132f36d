"""`absorb audit TOPIC --fix`: the confident repair suggestions as one ordinary proposal.

One edit per section; each repaired sentence keeps its words and takes the suggested
citations. The gate gives its verdicts as it does for an editor's own edit (advice, the
deterministic stages), and the proposal is reviewed like any other: nothing merges here.
"""

from __future__ import annotations

import uuid

from agent.citations import CitationGate, Claim
from agent.models import Edit, Proposal, Revision, Sentence, is_source_id
from agent.repair import Suggestion
from agent.store import Store


def side_by_side(suggestion: Suggestion, numbering: dict[str, int]) -> str:
    """`“sentence…” [6] -> [2]`: the old and the new citations of one sentence."""
    def marks(keys: list[str]) -> str:
        return "".join(f"[{numbering.get(k, k)}]" for k in keys) or "(none)"

    text = suggestion.sentence if len(suggestion.sentence) <= 70 else suggestion.sentence[:69] + "\u2026"
    return f"\u201c{text}\u201d {marks(suggestion.citations)} -> {marks(suggestion.new_citations())}"


def fix_edits(store: Store, revision: Revision, suggestions: list[Suggestion],
              numbering: dict[str, int]) -> list[Edit]:
    """An edit per section that has a confident suggestion whose citations differ."""
    confident: dict[str, dict[int, Suggestion]] = {}
    for suggestion in suggestions:
        if suggestion.confidence == "confident" and suggestion.new_citations() != suggestion.citations:
            confident.setdefault(suggestion.section_id, {})[suggestion.sentence_index] = suggestion
    edits = []
    gate = CitationGate()  # no judge model: the deterministic stages, advice for the editor
    for section in revision.article.sections:
        chosen = confident.get(section.id)
        if not chosen:
            continue
        index = 0
        paragraphs: list[list[Sentence]] = []
        fresh: list[Sentence] = []
        for paragraph in section.paragraphs:
            row = []
            for sentence in paragraph:
                suggestion = chosen.get(index)
                if suggestion is not None:
                    sentence = Sentence(text=sentence.text, citations=suggestion.new_citations())
                    fresh.append(sentence)
                row.append(sentence)
                index += 1
            paragraphs.append(row)
        cited = sorted({k for s in fresh for k in s.citations if is_source_id(k)})
        sources = store.sources.get_many(cited)
        verdicts = gate.check([Claim(s.text, list(s.citations)) for s in fresh], sources)
        old_cited = {k for s in section.sentences() for k in s.citations}
        lines = [side_by_side(chosen[i], numbering) for i in sorted(chosen)]
        edits.append(Edit(id=f"repair-{uuid.uuid4().hex[:16]}", section_id=section.id,
                          heading=section.heading, old_sentences=section.sentences(),
                          new_paragraphs=paragraphs, verdicts=verdicts,
                          rationale="citation repair (absorb audit --fix): " + "; ".join(lines),
                          source_ids=[k for k in cited if k not in old_cited]))
    return edits


def fix_proposal(store: Store, topic: str, revision: Revision, suggestions: list[Suggestion],
                 numbering: dict[str, int], *, actor: str) -> Proposal | None:
    edits = fix_edits(store, revision, suggestions, numbering)
    if not edits:
        return None
    return store.proposals.create(topic, run_id=None, base_revision_id=revision.id, edits_=edits,
                                  actor=actor, comment="citation repair from absorb audit --fix")
