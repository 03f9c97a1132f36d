"""The LLM judge: one structured-output call per batch of claims that share sources, with
source excerpts fenced as data; returns raw judgements for code to verify."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from langchain_core.messages import BaseMessage

from agent.citations.windows import Window
from agent.prompting import delimit_source, load_prompt
from agent.models import Source

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


class JudgeError(RuntimeError):
    """The judge model gave no usable answer twice; the gate cannot decide."""

    category = "llm"


@dataclass
class JudgeRequest:
    """One claim as the judge sees it."""

    claim_id: str
    text: str
    citations: list[str]
    hints: list[str]
    windows: dict[str, list[Window]]


def plan_batches(requests: Sequence[JudgeRequest]) -> list[list[JudgeRequest]]:
    """Claims linked by a shared cited source go in one call (union-find), at most
    MAX_CLAIMS_PER_CALL per call."""
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
    batches = []
    for group in groups.values():
        for start in range(0, len(group), MAX_CLAIMS_PER_CALL):
            batches.append(group[start : start + MAX_CLAIMS_PER_CALL])
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


def _usage(raw: Any) -> tuple[int, int]:
    usage = getattr(raw, "usage_metadata", None) or {}
    return int(usage.get("input_tokens", 0) or 0), int(usage.get("output_tokens", 0) or 0)


def _model_name(model: Any) -> str:
    return str(getattr(model, "model_name", None) or getattr(model, "model", None)
               or type(model).__name__)


class Judge:
    """Wraps a chat model with structured output; sync and async calls, usage reported."""

    def __init__(self, model: Any, method: str = "json_schema",
                 on_llm_call: Callable[..., None] | None = None) -> None:
        self.model = model
        self.runnable = model.with_structured_output(JudgeReply, method=method, include_raw=True)
        self.on_llm_call = on_llm_call

    @property
    def version(self) -> str:
        return load_prompt(PROMPT_NAME).version

    def _accept(self, result: Any, started: float, version: str, claims: int) -> JudgeReply | None:
        raw, parsed = (result.get("raw"), result.get("parsed")) if isinstance(result, dict) else (None, result)
        if isinstance(parsed, dict):
            parsed = JudgeReply.model_validate(parsed)
        if self.on_llm_call is not None:
            input_tokens, output_tokens = _usage(raw)
            self.on_llm_call(node="judge", model=_model_name(self.model), input_tokens=input_tokens,
                             output_tokens=output_tokens, latency_ms=(time.perf_counter() - started) * 1000,
                             prompt_version=version, claims=claims)
        return parsed if isinstance(parsed, JudgeReply) else None

    def judge(self, batch: Sequence[JudgeRequest], sources: Mapping[str, Source]) -> dict[str, ClaimJudgement]:
        messages, version = render_batch(batch, sources)
        for _attempt in range(2):  # one re-ask when the reply does not parse
            started = time.perf_counter()
            reply = self._accept(self.runnable.invoke(messages), started, version, len(batch))
            if reply is not None:
                return {j.claim_id: j for j in reply.judgements}
        raise JudgeError("the judge model returned no valid structured answer")

    async def ajudge(self, batch: Sequence[JudgeRequest],
                     sources: Mapping[str, Source]) -> dict[str, ClaimJudgement]:
        messages, version = render_batch(batch, sources)
        for _attempt in range(2):
            started = time.perf_counter()
            reply = self._accept(await self.runnable.ainvoke(messages), started, version, len(batch))
            if reply is not None:
                return {j.claim_id: j for j in reply.judgements}
        raise JudgeError("the judge model returned no valid structured answer")
