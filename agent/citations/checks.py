"""The deterministic stages of the gate (structure, wrong source, numbers, entities,
negation, evidence windows). Each stage holds a claim back only when it is sure, and says
what it is sure of; what it is not sure of becomes a hint for the judge, or, without a
judge, goes to the one lexical-support rule (`lexical_decision`). Every stage runs on every
claim, so the evaluation can tell what each one alone costs and catches."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.citations.context import ArticleContext
from agent.citations.entities import (extract_entities_marked, name_status, ordinary_opener,
                                      swapped_form)
from agent.citations.negation import negation_mismatch, sure_negation_mismatch
from agent.citations.numbers import missing_quantities, number_findings
from agent.citations.rules import DEFAULT_RULES, GateRules
from agent.citations.instructions import drawn_from_order
from agent.citations.text import TOKEN_RE, content_token_set, content_tokens, stem
from agent.citations.windows import Window, best_pair_overlap, best_pair_share, best_windows
from agent.models import Source, Verdict, VerdictLabel

# The stages that can hold a claim back alone, in the order their reasons are reported.
STAGES = ("structure", "instruction", "wrong_source", "numbers", "entities", "negation")
MIN_TOKENS_FOR_OVERLAP = 3
WINDOWS_PER_SOURCE = 3
SUGGEST_MIN_OVERLAP = 0.6
# Evidence this close to the claim that negates what the claim asserts outright is a mismatch.
CLOSE_EVIDENCE_OVERLAP = 0.6


@dataclass
class Screening:
    """What the deterministic stages found for one claim."""

    failure: Verdict | None = None
    sure: dict[str, Verdict] = field(default_factory=dict)  # every stage that is sure
    missing_entities: list[str] = field(default_factory=list)  # names only partly in the text
    weak_missing_entities: list[str] = field(default_factory=list)  # clause-initial words
    established: list[str] = field(default_factory=list)  # names the article establishes
    number_hints: list[str] = field(default_factory=list)
    negation: str | None = None
    windows: dict[str, list[Window]] = field(default_factory=dict)
    suggested_citation: str | None = None
    global_share: float = 1.0  # claim words in all cited text
    local_share: float = 1.0  # claim words in the best two adjacent sentences
    counted: bool = False  # enough claim words for the shares to mean anything

    @property
    def hints(self) -> list[str]:
        hints = [f"name not found in the cited text: {name}" for name in
                 self.missing_entities + self.weak_missing_entities]
        hints += [f"name not in the cited text, established by the article: {name}"
                  for name in self.established]
        hints += [f"number not found in the cited text: {number}" for number in self.number_hints]
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
        if overlap >= best and not missing_quantities(text, [source_view(source)], sure_only=True):
            best_id, best = key, overlap
    return best_id


def _capitalised_mid_sentence(word: str, text: str) -> bool:
    for match in re.finditer(r"(?<!\w)" + re.escape(word) + r"(?!\w)", text):
        before = text[: match.start()].rstrip()
        if before and before[-1] not in ".!?:;\"“”'‘’(\n":
            return True
    return False


def _lower_in_text(word: str, text: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(word.lower()) + r"(?!\w)", text) is not None


def _screen_names(screening: Screening, text: str, joined: str,
                  context: ArticleContext | None) -> str | None:
    """Sort the sentence's names; return the reason when a name is surely absent."""
    background = context.text if context is not None else ""
    absent: list[str] = []
    swaps: list[str] = []
    for name, strong in extract_entities_marked(text):
        if not strong:
            if ordinary_opener(name) or _lower_in_text(name, joined):
                continue  # "Named after ...", "Critics said ...": an ordinary word
            strong = _capitalised_mid_sentence(name, joined + "\n" + background)
        status = name_status(name, joined)
        if status == "found":
            continue
        if background and name_status(name, background) == "found":
            screening.established.append(name)
        elif not strong:
            screening.weak_missing_entities.append(name)
        elif (other := swapped_form(name, joined)) is not None:
            absent.append(name)
            swaps.append(f"{name} (the cited text names {other})")
        elif status == "partial":
            screening.missing_entities.append(name)
        else:
            absent.append(name)
    screening.missing_entities = absent + screening.missing_entities
    plain = [name for name in absent if not any(swap.startswith(f"{name} (") for swap in swaps)]
    reasons = []
    if plain:
        reasons.append("names not in any cited source (in no normalised or alias form; a name "
                       "with most or its rarest words missing counts as missing): " + ", ".join(plain))
    if swaps:
        reasons.append("names the cited text writes with another word: " + ", ".join(swaps))
    return "; ".join(reasons) or None


def _claim_words(text: str, established: list[str]) -> frozenset[str]:
    """The claim's content words for overlap: no digits (the numbers stage checks them), and
    not the words of names the article already establishes."""
    skip = {stem(w.lower()) for name in established for w in TOKEN_RE.findall(name)}
    return frozenset(t for t in content_tokens(text)
                     if not any(c.isdigit() for c in t) and t not in skip)


def screen(text: str, citations: list[str], sources: Mapping[str, Source],
           others: Mapping[str, Source], context: ArticleContext | None = None,
           rules: GateRules = DEFAULT_RULES) -> Screening:
    """Run every stage for one claim; `failure` is the first stage that is sure, if any."""
    screening = Screening()
    reason = None
    if not citations:
        reason = _fail(VerdictLabel.uncited, "structure", "the sentence cites no source")
    for key in citations:
        if reason is None and key not in sources:
            reason = _fail(VerdictLabel.unsupported, "structure",
                           f"citation {key!r} does not resolve to a known source")
        elif reason is None and not sources[key].text.strip():
            reason = _fail(VerdictLabel.unsupported, "structure",
                           f"source {key!r} has no text to check against")
    if reason is not None:
        screening.sure["structure"] = screening.failure = reason
        return screening
    for key in citations:
        order = drawn_from_order(text, sources[key].text)
        if order is not None:
            screening.sure["instruction"] = _fail(
                VerdictLabel.unsupported, "instruction",
                f"its words come from an instruction inside source {key!r} addressed to the "
                f"model, not from what the source states: {order[:120]!r}")
            break
    views = [source_view(sources[key]) for key in citations]
    joined = "\n".join(views)
    for key in citations:
        screening.windows[key] = best_windows(text, key, sources[key].text, WINDOWS_PER_SOURCE)
    # entities first: names the article establishes do not count against the overlap
    entity_reason = _screen_names(screening, text, joined, context)
    # wrong source: sure only when the claim's words are nearly absent from the cited text
    words = _claim_words(text, screening.established)
    if len(words) >= MIN_TOKENS_FOR_OVERLAP:
        screening.counted = True
        cited_words = frozenset().union(*(content_token_set(view) for view in views))
        screening.global_share = len(words & cited_words) / len(words)
        screening.local_share = max(best_pair_share(words, view) for view in views)
    if rules.wrong_source(screening.global_share, screening.local_share, screening.counted):
        screening.sure["wrong_source"] = _fail(
            VerdictLabel.unsupported, "wrong_source",
            f"the cited text shares few content words with the sentence "
            f"({screening.global_share:.0%} overall, {screening.local_share:.0%} in its best "
            f"passage)", suggested_citation=suggest_source(text, citations, others))
    findings = number_findings(text, views)
    screening.number_hints = [f.text for f in findings if not f.sure]
    sure_numbers = [f.text for f in findings if f.sure]
    if sure_numbers:
        screening.sure["numbers"] = _fail(
            VerdictLabel.unsupported, "numbers", "not in any cited source: " + ", ".join(sure_numbers),
            suggested_citation=suggest_source(text, citations, others))
    if entity_reason:
        screening.sure["entities"] = _fail(VerdictLabel.unsupported, "entities", entity_reason,
                                           hints=screening.hints)
    ranked = sorted((w for key in citations for w in screening.windows[key]),
                    key=lambda w: -w.overlap)
    if ranked:
        sure_negation = sure_negation_mismatch(text, ranked[0].text, ranked[0].overlap)
        if sure_negation:
            screening.sure["negation"] = _fail(VerdictLabel.unsupported, "negation", sure_negation)
    evidence = [w.text for key in citations for w in screening.windows[key][:2]]
    close = [w.text for key in citations for w in screening.windows[key][:2]
             if w.overlap >= CLOSE_EVIDENCE_OVERLAP]
    screening.negation = negation_mismatch(text, evidence, close)
    screening.failure = next((screening.sure[s] for s in STAGES if s in screening.sure), None)
    return screening


def lexical_decision(screening: Screening, rules: GateRules = DEFAULT_RULES) -> str | None:
    """Without a judge, the claims no stage is sure of pass or fail by this one rule; the
    reason it fails, or None when it passes. See `GateRules.lexical_support`."""
    return rules.lexical_support(screening.local_share if screening.counted else 1.0,
                                 screening.missing_entities, screening.weak_missing_entities,
                                 screening.number_hints)
