"""The LLM judge: one structured-output call per batch of claims that share sources, with
source excerpts fenced as data; returns raw judgements for code to verify."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from langchain_core.messages import BaseMessage

from agent.citations.windows import Window
from agent.llm import call_structured, call_structured_sync
from agent.llm_usage import CallRecorder, TokenBudget
from agent.models import Source
from agent.prompting import delimit_source, load_prompt
from agent.settings import Settings

MAX_CLAIMS_PER_CALL = 8
PROMPT_NAME = "judge"


class JudgedQuote(BaseModel):
    source_id: str = Field(description="Id of the source the quote is copied from.")
    text: str = Field(description="Exact text copied from that source, character for character.")


class ClaimJudgement(BaseModel):
    claim_id: str = Field(description="The id of the claim, e.g. 'c1'.")
    label: Literal["supported", "partially", "unsupported", "contradicted"] = Field(
        description="How far the cited sources support the claim.")
    # No defaults: strict structured-output servers require every field to be required.
    quotes: list[JudgedQuote] = Field(description="Verbatim supporting quotes; empty if none.")
    reason: str = Field(description="One sentence: why this label.")


class JudgeReply(BaseModel):
    judgements: list[ClaimJudgement] = Field(description="One judgement per claim id.")


@dataclass
class JudgeRequest:
    """One claim as the judge sees it."""

    claim_id: str
    text: str
    citations: list[str]
    hints: list[str]
    windows: dict[str, list[Window]]


def plan_batches(requests: Sequence[JudgeRequest]) -> list[list[JudgeRequest]]:
    """Claims linked by a shared cited source go in one call (union-find); small groups are
    then packed together up to MAX_CLAIMS_PER_CALL, so the judge's instructions are paid
    for once per call rather than once per source."""
    parent = list(range(len(requests)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    owner: dict[str, int] = {}
    for index, request in enumerate(requests):
        for key in request.citations:
            if key in owner:
                parent[root(index)] = root(owner[key])
            else:
                owner[key] = index
    groups: dict[int, list[JudgeRequest]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(root(index), []).append(request)
    batches: list[list[JudgeRequest]] = []
    for group in groups.values():
        for start in range(0, len(group), MAX_CLAIMS_PER_CALL):
            chunk = group[start : start + MAX_CLAIMS_PER_CALL]
            home = next((b for b in batches if len(b) + len(chunk) <= MAX_CLAIMS_PER_CALL), None)
            if home is None:
                batches.append(list(chunk))
            else:
                home.extend(chunk)
    return batches


def render_batch(batch: Sequence[JudgeRequest],
                 sources: Mapping[str, Source]) -> tuple[list[BaseMessage], str]:
    """The messages for one batch (each source's windows fenced as data) and the prompt version."""
    prompt = load_prompt(PROMPT_NAME)
    excerpts: dict[str, dict[int, Window]] = {}
    for request in batch:
        for key, windows in request.windows.items():
            for window in windows:
                excerpts.setdefault(key, {})[window.start] = window
    source_blocks = []
    for key, by_start in excerpts.items():
        lines = [by_start[start].text for start in sorted(by_start)]
        source_blocks.append(delimit_source(key, sources[key].title, "\n...\n".join(lines)))
    claim_blocks = []
    for request in batch:
        block = f"[{request.claim_id}] cites {', '.join(request.citations)}: {request.text}"
        if request.hints:
            block += "\n  hints: " + "; ".join(request.hints)
        claim_blocks.append(block)
    messages = prompt.render(sources="\n\n".join(source_blocks), claims="\n".join(claim_blocks))
    return messages, prompt.version


class Judge:
    """Wraps a chat model; every call goes through agent.llm's structured call, so judge
    calls get the same classified retries, re-ask on invalid output, budget and records."""

    def __init__(self, model: Any, method: str = "json_schema", *,
                 recorder: CallRecorder | None = None, run_id: int | None = None,
                 budget: TokenBudget | None = None, settings: Settings | None = None) -> None:
        self.model = model
        self.options = {"node": "judge", "method": method, "recorder": recorder, "run_id": run_id,
                        "budget": budget, "settings": settings}

    @property
    def version(self) -> str:
        return load_prompt(PROMPT_NAME).version

    def judge(self, batch: Sequence[JudgeRequest], sources: Mapping[str, Source]) -> dict[str, ClaimJudgement]:
        messages, version = render_batch(batch, sources)
        reply = call_structured_sync(self.model, JudgeReply, messages, prompt_version=version,
                                     **self.options)
        return {j.claim_id: j for j in reply.judgements}

    async def ajudge(self, batch: Sequence[JudgeRequest],
                     sources: Mapping[str, Source]) -> dict[str, ClaimJudgement]:
        messages, version = render_batch(batch, sources)
        reply = await call_structured(self.model, JudgeReply, messages, prompt_version=version,
                                      **self.options)
        return {j.claim_id: j for j in reply.judgements}
