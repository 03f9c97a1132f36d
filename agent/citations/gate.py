"""The citation gate: deterministic stages for every claim, then (with a model) judge calls
for the claims no stage is sure of, each call holding only claims that cite the same
sources; quotes verified in code, verdicts cached.

`check`/`acheck` take the claims of one section; `check_many`/`acheck_many` take
`ClaimGroup`s from several sections of a run and pack their claims into judge calls across
the groups (claims citing the same sources share a call whichever section they come from).
Sections that run concurrently submit to the gate's per-run `batch()` instead
(agent/citations/batcher.py), which packs what they submit at about the same time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.citations.batcher import JudgeBatcher
from agent.citations.cache import VerdictCache, source_hash, verdict_cache_key
from agent.citations.checks import Screening, screen
from agent.citations.context import ArticleContext
from agent.citations.judge import ClaimJudgement, Judge, JudgeRequest, plan_batches
from agent.citations.rules import DEFAULT_RULES, GateRules
from agent.citations.verify import judged_verdict, settled_verdict
from agent.llm_usage import CallRecorder, TokenBudget
from agent.models import Source, Verdict
from agent.settings import Settings

# Bumped whenever a deterministic stage changes, so cached verdicts of older rules expire.
DETERMINISTIC_VERSION = "deterministic-3"
MAX_CONCURRENT_CALLS = 4


@dataclass
class Claim:
    """One sentence to check, with the source ids it cites."""

    text: str
    citations: list[str] = field(default_factory=list)


@dataclass
class ClaimGroup:
    """The claims of one section with the sources they may cite and the article around them."""

    claims: list[Claim]
    sources: Mapping[str, Source]
    candidates: Mapping[str, Source] | None = None
    context: ArticleContext | None = None


@dataclass
class _Pending:
    group: int
    index: int
    claim: Claim
    key: str
    screening: Screening
    sources: Mapping[str, Source]
    others: Mapping[str, Source]


class CitationGate:
    """Checks claims against their cited sources; see DESIGN.md, "The citation gate"."""

    def __init__(self, judge_model: Any | None = None, *, method: str = "json_schema",
                 cache: VerdictCache | None = None, recorder: CallRecorder | None = None,
                 run_id: int | None = None, budget: TokenBudget | None = None,
                 settings: Settings | None = None, rules: GateRules | None = None) -> None:
        self.judge = Judge(judge_model, method, recorder=recorder, run_id=run_id, budget=budget,
                           settings=settings) if judge_model is not None else None
        self.cache = cache
        self.rules = rules or DEFAULT_RULES
        self._batcher: JudgeBatcher | None = None

    @property
    def version(self) -> str:
        rules = f"{DETERMINISTIC_VERSION}:{self.rules}"
        return rules if self.judge is None else f"{self.judge.version}+{rules}"

    def screen(self, claim: Claim, sources: Mapping[str, Source],
               candidates: Mapping[str, Source] | None = None,
               context: ArticleContext | None = None) -> Screening:
        """The deterministic stages' findings for one claim (every stage, for evaluation)."""
        return screen(claim.text, claim.citations, sources, {**(candidates or {}), **sources},
                      context, self.rules)

    def _prepare(self, groups: Sequence[ClaimGroup]) -> tuple[list[list[Verdict | None]], list[_Pending]]:
        verdicts: list[list[Verdict | None]] = []
        pending: list[_Pending] = []
        version = self.version
        keys = []
        for group in groups:
            context_key = group.context.key() if group.context is not None else ""
            keys.append([verdict_cache_key(claim.text, claim.citations, group.sources,
                                           f"{version}|{context_key}" if context_key else version)
                         for claim in group.claims])
        # One lookup for the whole check rather than one per claim.
        known = self.cache.get_many([k for row in keys for k in row]) if self.cache is not None else {}
        for number, group in enumerate(groups):
            others = {**(group.candidates or {}), **group.sources}
            row: list[Verdict | None] = [None] * len(group.claims)
            verdicts.append(row)
            for index, claim in enumerate(group.claims):
                key = keys[number][index]
                cached = known.get(key)
                if cached is not None:
                    row[index] = cached
                    continue
                screening = screen(claim.text, claim.citations, group.sources, others,
                                   group.context, self.rules)
                verdict = settled_verdict(claim.text, claim.citations, screening, group.sources,
                                          self.rules, judge=self.judge is not None)
                if verdict is not None:
                    row[index] = verdict
                    self._store(key, verdict)
                else:
                    pending.append(_Pending(number, index, claim, key, screening, group.sources,
                                            others))
        return verdicts, pending

    def _store(self, key: str, verdict: Verdict) -> None:
        if self.cache is not None:
            self.cache.put(key, verdict)

    def _batches(self, pending: list[_Pending]) -> list[tuple[list[JudgeRequest], list[_Pending], Mapping[str, Source]]]:
        """Judge calls: claims citing the same sources (same ids and texts) share one."""
        by_request: dict[int, _Pending] = {}
        requests = []
        for item in pending:
            cited = sorted(set(item.claim.citations))
            # Two sections' claims share a call only if their cited sources are the same texts.
            identity = [f"{key}@{source_hash(item.sources[key])}" for key in cited]
            request = JudgeRequest("", item.claim.text, identity, item.screening.hints,
                                   item.screening.windows)
            by_request[id(request)] = item
            requests.append(request)
        batches = []
        for batch in plan_batches(requests):
            items = [by_request[id(request)] for request in batch]
            renumbered = [JudgeRequest(f"c{n}", item.claim.text, list(item.claim.citations),
                                       item.screening.hints, item.screening.windows)
                          for n, item in enumerate(items, start=1)]
            batches.append((renumbered, items, items[0].sources))
        return batches

    def _finish(self, verdicts: list[list[Verdict | None]], batch: list[_Pending],
                judgements: Mapping[str, ClaimJudgement]) -> None:
        for n, item in enumerate(batch, start=1):
            judgement = judgements.get(f"c{n}")
            verdict = judged_verdict(item.claim.text, item.claim.citations, judgement,
                                     item.screening, item.sources, item.others)
            verdicts[item.group][item.index] = verdict
            if judgement is not None:  # a missing judgement is the model's slip, not a verdict
                self._store(item.key, verdict)

    def check_many(self, groups: Sequence[ClaimGroup]) -> list[list[Verdict]]:
        """One list of verdicts per group, in order; judge calls packed across the groups."""
        verdicts, pending = self._prepare(groups)
        if self.judge is not None:
            for requests, items, sources in self._batches(pending):
                self._finish(verdicts, items, self.judge.judge(requests, sources))
        return [[v for v in row if v is not None] for row in verdicts]

    async def _ajudge(self, verdicts: list[list[Verdict | None]],
                      pending: list[_Pending]) -> dict[int, BaseException]:
        """Judge the pending claims, calls running concurrently, verdicts written in place.
        Returns, per group index, the error of a failed call that held one of its claims
        (the other groups' verdicts are complete)."""
        if self.judge is None or not pending:
            return {}
        judge = self.judge
        limit = asyncio.Semaphore(MAX_CONCURRENT_CALLS)

        async def run(requests: list[JudgeRequest], sources: Mapping[str, Source]) -> dict[str, ClaimJudgement]:
            async with limit:
                return await judge.ajudge(requests, sources)

        batches = self._batches(pending)
        results = await asyncio.gather(*(run(requests, sources) for requests, _, sources in batches),
                                       return_exceptions=True)
        failed: dict[int, BaseException] = {}
        for (_, items, _), result in zip(batches, results, strict=True):
            if isinstance(result, BaseException):
                for item in items:
                    failed.setdefault(item.group, result)
            else:
                self._finish(verdicts, items, result)
        return failed

    async def acheck_many(self, groups: Sequence[ClaimGroup]) -> list[list[Verdict]]:
        """As `check_many`, with judge calls running concurrently through `ainvoke`."""
        verdicts, pending = self._prepare(groups)
        failed = await self._ajudge(verdicts, pending)
        if failed:
            raise next(iter(failed.values()))
        return [[v for v in row if v is not None] for row in verdicts]

    def batch(self, members: Iterable[str] = ()) -> JudgeBatcher:
        """This gate's per-run batcher (made on first use), with `members` joined: the
        sections of a run submit to it so that their judge calls are packed across them."""
        if self._batcher is None:
            self._batcher = JudgeBatcher(self)
        self._batcher.join(*members)
        return self._batcher

    def check(self, claims: list[Claim], sources: Mapping[str, Source],
              candidates: Mapping[str, Source] | None = None,
              context: ArticleContext | None = None) -> list[Verdict]:
        """One verdict per claim, in order. Without a judge model the deterministic stages
        and the lexical-support rule decide."""
        return self.check_many([ClaimGroup(claims, sources, candidates, context)])[0]

    async def acheck(self, claims: list[Claim], sources: Mapping[str, Source],
                     candidates: Mapping[str, Source] | None = None,
                     context: ArticleContext | None = None) -> list[Verdict]:
        """As `check`, with judge calls running concurrently through `ainvoke`."""
        return (await self.acheck_many([ClaimGroup(claims, sources, candidates, context)]))[0]
