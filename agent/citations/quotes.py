"""Quote verification in code: find a judge's quote in a source, tolerant of case,
whitespace, curly quotes, dashes and ellipses, and return it with its exact offsets."""

from __future__ import annotations

import re
from functools import lru_cache

from rapidfuzz import fuzz

from agent.citations.text import folded
from agent.models import EvidenceQuote

MIN_QUOTE_CHARS = 8
# Fuzzy matching only for long quotes, where one typo should not void real evidence; the
# verified text is always the source's own span, so a changed number cannot sneak through.
FUZZY_MIN_CHARS = 40
FUZZY_MIN_SCORE = 96.0
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…|\[\.\.\.\])\s*")
_TRIM = " \t\n\"'“”‘’.,;:"


@lru_cache(maxsize=256)
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
        needle = folded(part)[0]
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
