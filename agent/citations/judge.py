"""The LLM judge: one structured-output call per batch of claims that cite the same
sources, with source excerpts and claims fenced as data; returns raw judgements for code to
verify."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from langchain_core.messages import BaseMessage

from agent.citations.fence import fence, neutralise
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
    """Claims that cite exactly the same sources share a call, up to MAX_CLAIMS_PER_CALL;
    claims citing anything else never do, so no claim is judged beside a source it does not
    cite (an untrusted source in the same call could otherwise steer its verdict)."""
    groups: dict[tuple[str, ...], list[JudgeRequest]] = {}
    for request in requests:
        groups.setdefault(tuple(sorted(set(request.citations))), []).append(request)
    return [group[start : start + MAX_CLAIMS_PER_CALL]
            for group in groups.values() for start in range(0, len(group), MAX_CLAIMS_PER_CALL)]


def render_batch(batch: Sequence[JudgeRequest],
                 sources: Mapping[str, Source]) -> tuple[list[BaseMessage], str]:
    """The messages for one batch and the prompt version: the instructions first (the same
    for every call, so providers can cache them), then the cited sources' windows and the
    claims, each inside delimiters that their text cannot forge."""
    prompt = load_prompt(PROMPT_NAME)
    cited = sorted({key for request in batch for key in request.citations})
    excerpts: dict[str, dict[int, Window]] = {key: {} for key in cited}
    for request in batch:
        for key, windows in request.windows.items():
            for window in windows:
                excerpts.setdefault(key, {})[window.start] = window
    source_blocks = []
    for key in cited:
        by_start = excerpts[key]
        lines = [by_start[start].text for start in sorted(by_start)]
        source_blocks.append(delimit_source(key, neutralise(sources[key].title),
                                            neutralise("\n...\n".join(lines))))
    claim_blocks = []
    for request in batch:
        cites = ",".join(safe_id(key) for key in request.citations)
        block = fence("CLAIM", f"id={request.claim_id} cites={cites}", request.text)
        if request.hints:
            block += f"\nchecks for {request.claim_id}: " + neutralise("; ".join(request.hints))
        claim_blocks.append(block)
    messages = prompt.render(sources="\n\n".join(source_blocks), claims="\n\n".join(claim_blocks))
    return messages, prompt.version


def safe_id(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_:.\-]", "_", key) or "unknown"


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
