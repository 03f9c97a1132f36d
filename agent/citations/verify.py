"""Stage 7 and the final word: verify the judge's quotes in code, re-check numbers, names
and negation against them, and find citations that add nothing."""

from __future__ import annotations

from collections.abc import Mapping

from rapidfuzz import fuzz

from agent.citations.checks import Screening, lexical_decision, source_view
from agent.citations.entities import entity_in_text, extract_entities
from agent.citations.negation import sure_negation_mismatch
from agent.citations.instructions import ORDER
from agent.citations.judge import ClaimJudgement
from agent.citations.numbers import extract_quantities, missing_quantities
from agent.citations.quotes import locate, whole_sentences
from agent.citations.rules import DEFAULT_RULES, GateRules
from agent.citations.text import content_token_set, content_tokens
from agent.models import EvidenceQuote, Source, Verdict, VerdictLabel

ENTITY_FUZZY_MIN = 85.0


def deterministic_verdict(text: str, citations: list[str], screening: Screening,
                          sources: Mapping[str, Source], rules: GateRules = DEFAULT_RULES) -> Verdict:
    """The verdict without a judge: a stage that is sure holds the claim back; the rest
    pass or fail by the lexical-support rule."""
    if screening.failure is not None:
        return screening.failure
    hints = screening.hints
    failed = lexical_decision(screening, rules)
    if failed:
        return Verdict(label=VerdictLabel.unsupported, stage="lexical", hints=hints, reason=failed)
    quotes = [EvidenceQuote(source_id=key, text=windows[0].text, start=windows[0].start,
                            end=windows[0].end)
              for key, windows in screening.windows.items() if windows]
    return Verdict(label=VerdictLabel.supported, stage="deterministic", hints=hints, quotes=quotes,
                   reason="no stage found a problem and its best passage states most of its words",
                   redundant_citations=redundant_by_coverage(text, citations, sources))


def quoted_verdict(text: str, citations: list[str], screening: Screening,
                   sources: Mapping[str, Source]) -> Verdict | None:
    """Supported without a judge when the sentence is whole sentences of a cited source,
    copied as they stand, and no stage found anything to hint at; None otherwise. Text that
    addresses the model is never such a quote (the instruction stage's rule)."""
    if screening.failure is not None or screening.hints:
        return None
    for key in citations:
        quote = whole_sentences(text, key, sources[key].text)
        if quote is not None and not ORDER.search(quote.text):
            others = [k for k in citations if k != key]
            return Verdict(label=VerdictLabel.supported, stage="quote", quotes=[quote],
                           reason=f"the sentence is copied whole from source {key}",
                           redundant_citations=others)
    return None


def settled_verdict(text: str, citations: list[str], screening: Screening,
                    sources: Mapping[str, Source], rules: GateRules = DEFAULT_RULES, *,
                    judge: bool = False) -> Verdict | None:
    """The verdict reached without a judge call: a whole-sentence quote, else a sure stage,
    else (with no judge to ask) the lexical rule. None when the judge must decide."""
    verdict = quoted_verdict(text, citations, screening, sources)
    if verdict is None and (not judge or screening.failure is not None):
        verdict = deterministic_verdict(text, citations, screening, sources, rules)
    return verdict


def redundant_by_coverage(text: str, citations: list[str], sources: Mapping[str, Source]) -> list[str]:
    """Citations whose share of the claim (words, numbers, names) the others already cover."""
    if len(citations) < 2:
        return []
    claim_tokens = set(content_tokens(text))
    quantities = extract_quantities(text)
    names = extract_entities(text)
    coverage: dict[str, set[str]] = {}
    for key in citations:
        view = source_view(sources[key])
        covered = {f"w:{t}" for t in claim_tokens & content_token_set(view)}
        covered |= {f"n:{i}" for i, q in enumerate(quantities)
                    if not missing_quantities(q.text, [view], sure_only=True)}
        covered |= {f"e:{name}" for name in names if entity_in_text(name, view)}
        coverage[key] = covered
    redundant: list[str] = []
    for key in reversed(citations):
        others = [coverage[k] for k in citations if k != key and k not in redundant]
        if others and coverage[key] <= set().union(*others):
            redundant.append(key)
    return [key for key in citations if key in redundant]


def _entity_covered(name: str, quotes: list[EvidenceQuote]) -> bool:
    joined = "\n".join(q.text for q in quotes)
    return entity_in_text(name, joined) or any(
        fuzz.partial_ratio(name.lower(), q.text.lower()) >= ENTITY_FUZZY_MIN for q in quotes)


def judged_verdict(text: str, citations: list[str], judgement: ClaimJudgement | None,
                   screening: Screening, sources: Mapping[str, Source],
                   others: Mapping[str, Source]) -> Verdict:
    """Turn one judgement into a verdict; only quotes found in cited text count as support."""
    hints = screening.hints
    if judgement is None:
        return Verdict(label=VerdictLabel.unsupported, stage="judge", hints=hints,
                       reason="the judge returned no judgement for this sentence")
    verified: list[EvidenceQuote] = []
    suggested: str | None = None
    unverified: list[str] = []
    ordered: list[str] = []
    for quote in judgement.quotes:
        order = ([quote.source_id] if quote.source_id in citations else []) + [
            key for key in citations if key != quote.source_id]
        found: list[EvidenceQuote] = []
        for key in order:
            found = locate(quote.text, key, sources[key].text)
            if found:
                verified.extend(found)
                break
        if found and any(ORDER.search(q.text) for q in found):
            # text that orders the model about ("mark it verified") states nothing
            ordered.append(quote.text)
            verified = [q for q in verified if q not in found]
            continue
        if found:
            continue
        for key, source in others.items():
            if key not in citations and locate(quote.text, key, source.text):
                suggested = suggested or key
                break
        else:
            unverified.append(quote.text)
    label = VerdictLabel(judgement.label)
    base = dict(hints=hints, quotes=verified, suggested_citation=suggested)
    if label != VerdictLabel.supported:
        return Verdict(label=label, stage="judge", reason=judgement.reason, **base)
    if not verified and ordered:
        return Verdict(label=VerdictLabel.unsupported, stage="instruction",
                       reason="the judge's only quote is an instruction inside the source "
                       f"addressed to the model, not a statement: {ordered[0][:120]!r}", **base)
    if not verified:
        where = (f"; the quoted text is in uncited source {suggested}" if suggested
                 else "; no quote was found in the cited sources")
        return Verdict(label=VerdictLabel.unsupported, stage="quote_verification",
                       reason="the judge gave no verifiable quote" + where, **base)
    quote_texts = [q.text for q in verified]
    # Digits must be in the quotes; a spelled-out number the judge accepted may be worded
    # otherwise in the source ("the other two" after naming two).
    missing_numbers = missing_quantities(text, quote_texts, sure_only=True)
    if missing_numbers:
        return Verdict(label=VerdictLabel.unsupported, stage="numbers",
                       reason="not in any verified quote: " + ", ".join(missing_numbers), **base)
    uncovered = [name for name in screening.missing_entities if not _entity_covered(name, verified)]
    if uncovered:
        return Verdict(label=VerdictLabel.unsupported, stage="entities",
                       reason="names not in any verified quote: " + ", ".join(uncovered), **base)
    # A negation the quotes state in other words ("prohibited" for "not allowed") is the
    # judge's call; only a quote that says the rest of the sentence with the opposite
    # polarity overrules it.
    words = set(content_tokens(text))
    for quote in quote_texts:
        overlap = len(words & content_token_set(quote)) / len(words) if words else 0.0
        contradiction = sure_negation_mismatch(text, quote, overlap)
        if contradiction:
            return Verdict(label=VerdictLabel.unsupported, stage="negation", reason=contradiction,
                           **base)
    quoted_sources = {q.source_id for q in verified}
    reason = judgement.reason
    if unverified:
        reason += f" ({len(unverified)} quote(s) not found in the sources were ignored)"
    return Verdict(label=VerdictLabel.supported, stage="judge", reason=reason,
                   redundant_citations=[key for key in citations if key not in quoted_sources]
                   if len(quoted_sources) < len(citations) else [], **base)
