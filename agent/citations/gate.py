"""The citation gate: deterministic stages for every claim, then (with a model) one judge
call per group of claims sharing sources, quotes verified in code, verdicts cached."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.citations.cache import VerdictCache, verdict_cache_key
from agent.citations.checks import Screening, screen
from agent.citations.judge import ClaimJudgement, Judge, JudgeRequest, plan_batches
from agent.citations.verify import deterministic_verdict, judged_verdict
from agent.llm_usage import CallRecorder, TokenBudget
from agent.models import Source, Verdict
from agent.settings import Settings

# Bumped whenever a deterministic stage changes, so cached verdicts of older rules expire.
DETERMINISTIC_VERSION = "deterministic-1"
MAX_CONCURRENT_CALLS = 4


@dataclass
class Claim:
    """One sentence to check, with the source ids it cites."""

    text: str
    citations: list[str] = field(default_factory=list)


@dataclass
class _Pending:
    index: int
    claim: Claim
    key: str
    screening: Screening


class CitationGate:
    """Checks claims against their cited sources; see DESIGN.md, "The citation gate"."""

    def __init__(self, judge_model: Any | None = None, *, method: str = "json_schema",
                 cache: VerdictCache | None = None, recorder: CallRecorder | None = None,
                 run_id: int | None = None, budget: TokenBudget | None = None,
                 settings: Settings | None = None) -> None:
        self.judge = Judge(judge_model, method, recorder=recorder, run_id=run_id, budget=budget,
                           settings=settings) if judge_model is not None else None
        self.cache = cache

    @property
    def version(self) -> str:
        if self.judge is None:
            return DETERMINISTIC_VERSION
        return f"{self.judge.version}+{DETERMINISTIC_VERSION}"

    def _prepare(self, claims: list[Claim], sources: Mapping[str, Source],
                 candidates: Mapping[str, Source] | None) -> tuple[list[Verdict | None], list[_Pending], dict[str, Source]]:
        others = {**(candidates or {}), **sources}
        verdicts: list[Verdict | None] = [None] * len(claims)
        pending: list[_Pending] = []
        version = self.version
        for index, claim in enumerate(claims):
            key = verdict_cache_key(claim.text, claim.citations, sources, version)
            cached = self.cache.get(key) if self.cache is not None else None
            if cached is not None:
                verdicts[index] = cached
                continue
            screening = screen(claim.text, claim.citations, sources, others)
            if self.judge is None or screening.failure is not None:
                verdict = deterministic_verdict(claim.text, claim.citations, screening, sources)
                verdicts[index] = verdict
                self._store(key, verdict)
            else:
                pending.append(_Pending(index, claim, key, screening))
        return verdicts, pending, others

    def _store(self, key: str, verdict: Verdict) -> None:
        if self.cache is not None:
            self.cache.put(key, verdict)

    def _requests(self, pending: list[_Pending]) -> list[list[JudgeRequest]]:
        requests = [JudgeRequest(f"c{item.index + 1}", item.claim.text, list(item.claim.citations),
                                 item.screening.hints, item.screening.windows) for item in pending]
        return plan_batches(requests)

    def _finish(self, verdicts: list[Verdict | None], pending: list[_Pending],
                judgements: dict[str, ClaimJudgement], sources: Mapping[str, Source],
                others: Mapping[str, Source]) -> list[Verdict]:
        for item in pending:
            judgement = judgements.get(f"c{item.index + 1}")
            verdict = judged_verdict(item.claim.text, item.claim.citations, judgement,
                                     item.screening, sources, others)
            verdicts[item.index] = verdict
            if judgement is not None:  # a missing judgement is the model's slip, not a verdict
                self._store(item.key, verdict)
        return [v for v in verdicts if v is not None]

    def check(self, claims: list[Claim], sources: Mapping[str, Source],
              candidates: Mapping[str, Source] | None = None) -> list[Verdict]:
        """One verdict per claim, in order. Without a judge model only stages 1-5 run."""
        verdicts, pending, others = self._prepare(claims, sources, candidates)
        judgements: dict[str, ClaimJudgement] = {}
        if self.judge is not None:
            for batch in self._requests(pending):
                judgements.update(self.judge.judge(batch, sources))
        return self._finish(verdicts, pending, judgements, sources, others)

    async def acheck(self, claims: list[Claim], sources: Mapping[str, Source],
                     candidates: Mapping[str, Source] | None = None) -> list[Verdict]:
        """As `check`, with judge calls running concurrently through `ainvoke`."""
        verdicts, pending, others = self._prepare(claims, sources, candidates)
        judgements: dict[str, ClaimJudgement] = {}
        if self.judge is not None and pending:
            judge = self.judge
            limit = asyncio.Semaphore(MAX_CONCURRENT_CALLS)

            async def run(batch: list[JudgeRequest]) -> dict[str, ClaimJudgement]:
                async with limit:
                    return await judge.ajudge(batch, sources)

            for result in await asyncio.gather(*(run(b) for b in self._requests(pending))):
                judgements.update(result)
        return self._finish(verdicts, pending, judgements, sources, others)
