"""Evidence windows: the few sentences of a source that best match a claim (BM25 over the
source's own sentences), so long pages reach the judge as a handful of lines."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from agent.citations.text import SOURCE_CACHE_SIZE, content_tokens, sentence_spans

BM25_K1 = 1.2
BM25_B = 0.75


@dataclass(frozen=True)
class Window:
    """One evidence sentence of a source with its offsets and match score."""

    source_id: str
    start: int
    end: int
    text: str
    score: float
    overlap: float  # share of the claim's content words this sentence contains


@dataclass(frozen=True)
class _Index:
    spans: tuple[tuple[int, int], ...]
    bags: tuple[Counter[str], ...]
    lengths: tuple[int, ...]
    document_frequency: Counter[str]
    average_length: float


@lru_cache(maxsize=SOURCE_CACHE_SIZE)
def _index(text: str) -> _Index:
    spans = sentence_spans(text)
    bags = tuple(Counter(content_tokens(text[start:end])) for start, end in spans)
    lengths = tuple(sum(bag.values()) for bag in bags)
    frequency: Counter[str] = Counter()
    for bag in bags:
        frequency.update(bag.keys())
    average = (sum(lengths) / len(lengths)) if lengths else 0.0
    return _Index(spans, bags, lengths, frequency, average or 1.0)


def best_windows(claim: str, source_id: str, text: str, limit: int = 3) -> list[Window]:
    """The `limit` sentences of `text` that best match `claim`, best first."""
    index = _index(text)
    query = set(content_tokens(claim))
    if not index.spans or not query:
        return []
    count = len(index.spans)
    scored: list[tuple[float, int, float]] = []
    for position, bag in enumerate(index.bags):
        shared = query.intersection(bag)
        if not shared:
            continue
        norm = BM25_K1 * (1 - BM25_B + BM25_B * index.lengths[position] / index.average_length)
        score = 0.0
        for token in shared:
            frequency = index.document_frequency[token]
            idf = math.log(1 + (count - frequency + 0.5) / (frequency + 0.5))
            score += idf * bag[token] * (BM25_K1 + 1) / (bag[token] + norm)
        scored.append((score, position, len(shared) / len(query)))
    scored.sort(key=lambda item: (-item[0], item[1]))
    windows = []
    for score, position, overlap in scored[:limit]:
        start, end = index.spans[position]
        windows.append(Window(source_id, start, end, text[start:end], score, overlap))
    return windows


def best_pair_overlap(claim: str, text: str) -> float:
    """Largest share of the claim's content words found in two adjacent source sentences:
    a claim is usually supported locally, not by words scattered across a page."""
    return best_pair_share(frozenset(content_tokens(claim)), text)


def best_pair_share(query: frozenset[str], text: str) -> float:
    """As `best_pair_overlap`, for a given set of the claim's tokens."""
    index = _index(text)
    if not query or not index.bags:
        return 0.0
    best = 0
    previous: set[str] = set()
    for bag in index.bags:
        current = query.intersection(bag)
        best = max(best, len(current | previous))
        previous = current
    return best / len(query)
