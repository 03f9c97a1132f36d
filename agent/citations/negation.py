"""Negation: whether a sentence and the evidence closest to it disagree on "not".

A disagreement is *sure* only against evidence that states nearly all of the sentence's
content words: "Anthropic has not leased X" beside "Anthropic has leased X". A sentence that
says "not allowed" where the source says "prohibited" shares too few words with any
evidence for that, so its negation is only a hint for the judge.
"""

from __future__ import annotations

import re

from agent.citations.text import content_tokens

NEGATION_CUES = re.compile(
    r"\b(?:not(?! only\b)|never|no|none|nobody|nothing|neither|nor|without|cannot|unable|"
    r"fail(?:s|ed)? to)\b|n['’]t\b", re.I)
# Share of the sentence's content words an evidence sentence must state before a negation
# that differs between them is a contradiction rather than a rewording.
SURE_NEGATION_OVERLAP = 0.75


def negation_cues(text: str) -> list[str]:
    return [m.group(0).lower() for m in NEGATION_CUES.finditer(text)]


def _negated_scope_shared(sentence: str, text: str) -> re.Match[str] | None:
    """A negation cue in `text` whose next few content words are words of the sentence."""
    claim_words = set(content_tokens(sentence))
    for match in NEGATION_CUES.finditer(text):
        scope = content_tokens(text[match.end() : match.end() + 60])[:3]
        if scope and sum(word in claim_words for word in scope) >= min(2, len(scope)):
            return match
    return None


def negation_mismatch(sentence: str, evidence: list[str], close: list[str] | None = None) -> str | None:
    """Why the sentence and its best evidence disagree on negation, or None.

    Only the best-matching evidence sentences count: a negation elsewhere on a long page says
    nothing about this claim. A negation the sentence dropped is looked for only in `close`
    evidence (sentences that state most of the claim), defaulting to all evidence."""
    claim_cues = negation_cues(sentence)
    evidence_cues = [cue for text in evidence for cue in negation_cues(text)]
    if claim_cues and not evidence_cues:
        return f"the sentence says {claim_cues[0]!r} but the cited text has no negation"
    close = evidence if close is None else close
    if close:
        nearest = negation_cues(close[0])
        if len(claim_cues) > len(nearest):
            return (f"the sentence has {len(claim_cues)} negation(s) ({', '.join(claim_cues)}), "
                    f"its closest evidence {len(nearest)}")
    if claim_cues or not evidence_cues:
        return None
    for text in close:
        match = _negated_scope_shared(sentence, text)
        if match:
            return (f"the cited text says {match.group(0)!r} "
                    f"{text[match.end():match.end() + 40].strip()!r}; the sentence has no negation")
    return None


def sure_negation_mismatch(sentence: str, nearest: str, overlap: float) -> str | None:
    """A contradiction in negation against one evidence sentence stating nearly all of the
    sentence (overlap = share of the sentence's content words it contains), or None."""
    if overlap < SURE_NEGATION_OVERLAP:
        return None
    claim_cues, evidence_cues = negation_cues(sentence), negation_cues(nearest)
    if bool(claim_cues) == bool(evidence_cues):
        return None
    if claim_cues:
        return (f"the sentence says {claim_cues[0]!r}; the evidence that states the rest of it "
                f"has no negation")
    match = _negated_scope_shared(sentence, nearest)
    if match is None:
        return None
    return (f"the evidence that states the rest of the sentence says {match.group(0)!r} "
            f"{nearest[match.end():match.end() + 40].strip()!r}; the sentence has no negation")
