"""Quote verification in code: find a judge's quote in a source, tolerant of case,
whitespace, curly quotes, dashes and ellipses, and return it with its exact offsets."""

from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache

from rapidfuzz import fuzz

from agent.citations.text import SOURCE_CACHE_SIZE, content_tokens, fold, folded, sentence_spans
from agent.models import EvidenceQuote

MIN_QUOTE_CHARS = 8
# Fuzzy matching only for long quotes, where one typo should not void real evidence; the
# verified text is always the source's own span, so a changed number cannot sneak through.
FUZZY_MIN_CHARS = 40
FUZZY_MIN_SCORE = 96.0
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…|\[\.\.\.\])\s*")
_TRIM = " \t\n\"'“”‘’.,;:"


@lru_cache(maxsize=SOURCE_CACHE_SIZE)
def _folded_source(text: str) -> tuple[str, tuple[int, ...]]:
    folded_text, origin = folded(text)
    return folded_text, tuple(origin)


def locate(quote: str, source_id: str, text: str) -> list[EvidenceQuote]:
    """Spans of `text` that the quote reproduces (one per ellipsis-separated part); empty if
    any part is missing."""
    parts = [p.strip(_TRIM) for p in _ELLIPSIS.split(quote)]
    parts = [p for p in parts if p]
    if not parts:
        return []
    folded_text, origin = _folded_source(text)
    found: list[EvidenceQuote] = []
    cursor = 0
    for part in parts:
        needle = fold(part)
        if len(needle) < MIN_QUOTE_CHARS and len(parts) == 1:
            return []  # a two-word "quote" proves nothing
        position = folded_text.find(needle, cursor)
        length = len(needle)
        if position < 0 and len(needle) >= FUZZY_MIN_CHARS:
            alignment = fuzz.partial_ratio_alignment(needle, folded_text, score_cutoff=FUZZY_MIN_SCORE)
            if alignment is not None:
                position, length = alignment.dest_start, alignment.dest_end - alignment.dest_start
        if position < 0:
            return []
        start = origin[position]
        end = origin[position + length - 1] + 1
        found.append(EvidenceQuote(source_id=source_id, text=text[start:end], start=start, end=end))
        cursor = position + length
    return found


_TERMINATED = re.compile(r"[.!?][\"'”’)\]]*$")
MAX_QUOTED_SENTENCES = 3
MIN_QUOTED_WORDS = 4


def whole_sentences(claim: str, source_id: str, text: str) -> EvidenceQuote | None:
    """The span of `text` when the claim is one to three of its sentences copied whole (case,
    quotes, dashes and spacing aside), each ending where the source's sentence ends: such a
    claim says exactly what the source says, no qualifier dropped, so no judge is needed.
    None for anything less (a clause, a truncated last line, a short fragment)."""
    core = fold(claim).strip(_TRIM)
    if len(content_tokens(claim)) < MIN_QUOTED_WORDS or not core:
        return None
    folded_text, origin = _folded_source(text)
    if core not in folded_text:  # most claims: one search of the cached fold
        return None
    spans = sentence_spans(text)
    for first, (start, _) in enumerate(spans):
        for _, end in spans[first:first + MAX_QUOTED_SENTENCES]:
            piece = text[start:end].rstrip()
            # The piece's fold is the cached fold's characters that came from it: folding
            # goes character by character, and the only difference, a space where the piece
            # starts with whitespace, is trimmed by the strip either way.
            candidate = folded_text[bisect_left(origin, start):
                                    bisect_left(origin, start + len(piece))].strip(_TRIM)
            if len(candidate) > len(core):
                break
            if candidate == core and _TERMINATED.search(piece):
                return EvidenceQuote(source_id=source_id, text=piece, start=start,
                                     end=start + len(piece))
    return None
