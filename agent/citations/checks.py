"""The deterministic stages of the gate (structure, wrong source, numbers, entities and
negation, evidence windows): cheap checks that decide alone or brief the judge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.citations.entities import entity_in_text, extract_entities_marked, negation_mismatch
from agent.citations.numbers import missing_quantities
from agent.citations.text import content_token_set, content_tokens
from agent.citations.windows import Window, best_pair_overlap, best_windows
from agent.models import Source, Verdict, VerdictLabel

# A claim shares "almost no content words" with its source below these shares: of the whole
# source, and of the best two adjacent sentences (support is local on long pages).
MIN_GLOBAL_OVERLAP = 0.34
MIN_LOCAL_OVERLAP = 0.25
MIN_TOKENS_FOR_OVERLAP = 3
WINDOWS_PER_SOURCE = 3
SUGGEST_MIN_OVERLAP = 0.6
# Evidence this close to the claim that negates what the claim asserts outright is a mismatch.
CLOSE_EVIDENCE_OVERLAP = 0.6


@dataclass
class Screening:
    """What the deterministic stages found for one claim."""

    failure: Verdict | None = None
    missing_entities: list[str] = field(default_factory=list)
    weak_missing_entities: list[str] = field(default_factory=list)
    negation: str | None = None
    windows: dict[str, list[Window]] = field(default_factory=dict)
    suggested_citation: str | None = None

    @property
    def hints(self) -> list[str]:
        hints = [f"name not found in the cited text: {name}" for name in
                 self.missing_entities + self.weak_missing_entities]
        if self.negation:
            hints.append(f"negation: {self.negation}")
        return hints


def source_view(source: Source) -> str:
    """What a claim may draw on: the title counts as part of the source."""
    return f"{source.title}\n{source.text}" if source.title else source.text


def _fail(label: VerdictLabel, stage: str, reason: str, **extra: object) -> Verdict:
    return Verdict(label=label, stage=stage, reason=reason, **extra)


def suggest_source(text: str, cited: list[str], others: Mapping[str, Source]) -> str | None:
    """An uncited source that states the claim clearly better than the cited ones do."""
    cited_best = max((best_pair_overlap(text, source_view(others[key])) for key in cited
                      if key in others), default=0.0)
    best_id, best = None, max(SUGGEST_MIN_OVERLAP, cited_best + 0.2)
    for key, source in others.items():
        if key in cited or not source.text.strip():
            continue
        overlap = best_pair_overlap(text, source_view(source))
        if overlap >= best and not missing_quantities(text, [source_view(source)]):
            best_id, best = key, overlap
    return best_id


def screen(text: str, citations: list[str], sources: Mapping[str, Source],
           others: Mapping[str, Source]) -> Screening:
    """Run stages 1-5 for one claim; `failure` is set when a stage alone decides."""
    screening = Screening()
    # 1. structure
    if not citations:
        screening.failure = _fail(VerdictLabel.uncited, "structure", "the sentence cites no source")
        return screening
    for key in citations:
        if key not in sources:
            screening.failure = _fail(VerdictLabel.unsupported, "structure",
                                      f"citation {key!r} does not resolve to a known source")
            return screening
        if not sources[key].text.strip():
            screening.failure = _fail(VerdictLabel.unsupported, "structure",
                                      f"source {key!r} has no text to check against")
            return screening
    views = [source_view(sources[key]) for key in citations]
    # 2. wrong source
    claim_tokens = set(content_tokens(text))
    if len(claim_tokens) >= MIN_TOKENS_FOR_OVERLAP:
        cited_tokens = frozenset().union(*(content_token_set(view) for view in views))
        global_share = len(claim_tokens & cited_tokens) / len(claim_tokens)
        local_share = max(best_pair_overlap(text, view) for view in views)
        if global_share < MIN_GLOBAL_OVERLAP or local_share < MIN_LOCAL_OVERLAP:
            suggestion = suggest_source(text, citations, others)
            screening.failure = _fail(
                VerdictLabel.unsupported, "wrong_source",
                f"the cited text shares few content words with the sentence "
                f"({global_share:.0%} overall, {local_share:.0%} in its best passage)",
                suggested_citation=suggestion)
            return screening
    # 3. numbers
    missing = missing_quantities(text, views)
    if missing:
        screening.failure = _fail(
            VerdictLabel.unsupported, "numbers",
            "not in any cited source: " + ", ".join(missing),
            suggested_citation=suggest_source(text, citations, others))
        return screening
    # 5. evidence windows (before 4: negation is judged against the best passages only)
    for key, view in zip(citations, views):
        screening.windows[key] = best_windows(text, key, sources[key].text, WINDOWS_PER_SOURCE)
    # 4. entities and negation: hints for the judge
    joined = "\n".join(views)
    for name, strong in extract_entities_marked(text):
        if not entity_in_text(name, joined):
            (screening.missing_entities if strong else screening.weak_missing_entities).append(name)
    evidence = [w.text for key in citations for w in screening.windows[key][:2]]
    close = [w.text for key in citations for w in screening.windows[key][:2]
             if w.overlap >= CLOSE_EVIDENCE_OVERLAP]
    screening.negation = negation_mismatch(text, evidence, close)
    return screening
