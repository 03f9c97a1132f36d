"""Verdict cache: a verdict depends only on the sentence, the exact text of the sources it
cites and the judge prompt version, so those make the key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Protocol

from agent.models import Source, Verdict


def source_hash(source: Source) -> str:
    """The stored content hash when there is one, else a hash of the text itself."""
    return source.content_hash or hashlib.sha256(source.text.encode("utf-8")).hexdigest()


def verdict_cache_key(sentence_text: str, citations: Sequence[str], sources: Mapping[str, Source],
                      prompt_version: str) -> str:
    """Stable key of one verdict; a cited id with no source hashes as missing."""
    cited = []
    for key in citations:
        source = sources.get(key)
        cited.append([key, source_hash(source) if source is not None else None])
    payload = json.dumps([" ".join(sentence_text.split()), cited, prompt_version],
                         ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class VerdictCache(Protocol):
    """Where verdicts are kept between runs; the store provides a database-backed one."""

    def get(self, key: str) -> Verdict | None: ...

    def get_many(self, keys: Sequence[str]) -> dict[str, Verdict]:
        """The cached verdicts among `keys` (one lookup for a whole check, where it can)."""
        ...

    def put(self, key: str, verdict: Verdict) -> None: ...


class InMemoryVerdictCache:
    """A dict-backed cache for one process and for tests."""

    def __init__(self) -> None:
        self._verdicts: dict[str, Verdict] = {}
        self.hits = 0

    def get(self, key: str) -> Verdict | None:
        verdict = self._verdicts.get(key)
        if verdict is not None:
            self.hits += 1
            return verdict.model_copy(deep=True)
        return None

    def get_many(self, keys: Sequence[str]) -> dict[str, Verdict]:
        found = {}
        for key in dict.fromkeys(keys):
            verdict = self.get(key)
            if verdict is not None:
                found[key] = verdict
        return found

    def put(self, key: str, verdict: Verdict) -> None:
        self._verdicts[key] = verdict.model_copy(deep=True)

    def __len__(self) -> int:
        return len(self._verdicts)
