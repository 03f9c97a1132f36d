"""Issue 18, memory: the gate's caches keyed by a whole source text (its words, sentences,
numbers, a folded copy) hold at most SOURCE_CACHE_SIZE sources, so a night of long pages
keeps the memory it reached after the first few dozen sources instead of growing with every
page (before, ~1.6 MiB stayed per 50,000-character page, up to 256-1,024 pages per cache)."""

from __future__ import annotations

import gc
import tracemalloc

from agent.citations import CitationGate, Claim
from agent.citations.entities import _source_profile
from agent.citations.names import _text_index
from agent.citations.numbers import extract_quantities
from agent.citations.quotes import _folded_source
from agent.citations.text import SOURCE_CACHE_SIZE, content_token_set
from agent.citations.windows import _index
from agent.models import Source

WORDS = ("grid power cooling rack Lumora Orvane megawatt turbine nuclear plant said would build "
         "data centre in Oslo Berlin percent capacity").split()


def page(n: int) -> str:
    """A long page unlike every other (its numbers differ), about 5,000 characters."""
    return " ".join(" ".join(WORDS[(n + i + k) % len(WORDS)] for k in range(12)).capitalize()
                    + f" in {1900 + i} it was {n}.{i} percent." for i in range(50))


def check_pages(gate: CitationGate, start: int, count: int) -> None:
    for n in range(start, start + count):
        source = Source(id="s", text=page(n))
        gate.check([Claim(f"Lumora said it would build a data centre in Oslo in {1900 + n % 50}.",
                          ["s"])], {"s": source})
        gate.check([Claim("Orvane built a nuclear plant in Berlin last year.", ["s"])], {"s": source})


def test_the_caches_of_whole_source_texts_stay_bounded_and_memory_stops_growing() -> None:
    gate = CitationGate()
    tracemalloc.start()  # before the first page: what an evicted entry frees is counted too
    try:
        held = []
        for block in range(3):
            check_pages(gate, block * SOURCE_CACHE_SIZE, SOURCE_CACHE_SIZE)
            gc.collect()
            held.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    for cache in (_index, _folded_source, content_token_set, _text_index, extract_quantities,
                  _source_profile):
        assert cache.cache_info().maxsize == SOURCE_CACHE_SIZE
        assert cache.cache_info().currsize <= SOURCE_CACHE_SIZE
    # The third block of pages adds what the word caches learn of its new words, not pages.
    assert held[2] - held[1] < 0.25 * held[0], held
