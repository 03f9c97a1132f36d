"""Token accounting for model calls: usage extraction, cost, the per-run budget and call recorders."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from langchain_core.messages import BaseMessage

from agent.llm_errors import LLMError, response_json
from agent.models import LLMCall
from agent.settings import ModelPrice, Settings


@dataclass(frozen=True)
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


def usage_from_message(message: BaseMessage | None) -> TokenUsage | None:
    """Usage LangChain put on an AIMessage (`input_token_details.cache_read` for cached)."""
    metadata = getattr(message, "usage_metadata", None)
    if not metadata:
        return None
    details = metadata.get("input_token_details") or {}
    return TokenUsage(int(metadata.get("input_tokens") or 0),
                      int(metadata.get("output_tokens") or 0),
                      int(details.get("cache_read") or 0))


def usage_from_exception(exc: BaseException) -> TokenUsage | None:
    """Usage of an answer the SDK rejected while parsing (invalid JSON, cut off at length)."""
    completion = getattr(exc, "completion", None)
    usage = getattr(completion, "usage", None)
    if usage is not None:
        details = getattr(usage, "prompt_tokens_details", None)
        return TokenUsage(usage.prompt_tokens or 0, usage.completion_tokens or 0,
                          (getattr(details, "cached_tokens", None) or 0) if details else 0)
    body = response_json(exc)
    raw = body.get("usage") if body else None
    if not isinstance(raw, dict):
        return None
    details = raw.get("prompt_tokens_details") or {}
    return TokenUsage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0),
                      int(details.get("cached_tokens") or 0))


def estimate_input_tokens(messages: Sequence[BaseMessage]) -> int:
    """A cheap estimate of a prompt's input tokens (about 4 characters a token for
    English text), for the budget check before a call; the provider's count is recorded after."""
    return sum(len(message.text if hasattr(message, "text") else str(message.content))
               for message in messages) // 4


def cost_usd(usage: TokenUsage, price: ModelPrice) -> float:
    """Cached input tokens are billed at the cached rate, the rest of the input at full rate."""
    cached = min(usage.cached_tokens, usage.input_tokens)
    return ((usage.input_tokens - cached) * price.input + cached * price.cached
            + usage.output_tokens * price.output) / 1_000_000


@runtime_checkable
class CallRecorder(Protocol):
    """Where every model call that produced an answer is written (the store has a DB one)."""

    def record(self, call: LLMCall) -> None: ...


class InMemoryCallRecorder:
    """Keeps calls in a list; thread-safe because sync graph nodes run in worker threads."""

    def __init__(self) -> None:
        self.calls: list[LLMCall] = []
        self._lock = threading.Lock()

    def record(self, call: LLMCall) -> None:
        with self._lock:
            self.calls.append(call)

    def for_node(self, node: str) -> list[LLMCall]:
        with self._lock:
            return [call for call in self.calls if call.node == node]

    @property
    def input_tokens(self) -> int:
        return sum(call.input_tokens for call in self.calls)

    @property
    def output_tokens(self) -> int:
        return sum(call.output_tokens for call in self.calls)

    @property
    def cost(self) -> float:
        return sum(call.cost for call in self.calls)


class TokenBudget:
    """Input+output tokens one run may spend; `limit` 0 or None means no limit."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit or None
        self.used = 0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenBudget:
        """A fresh budget of ABSORB_TOKEN_BUDGET tokens, one per run."""
        return cls(settings.token_budget)

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.used >= self.limit

    def check(self, node: str | None = None, needed: int = 0) -> None:
        """Raise LLMError("budget") before a call that the run can no longer afford: the
        budget is spent, or what is left is less than the call's `needed` input tokens
        (`estimate_input_tokens`), so the prompt is not sent only to be cut off."""
        if self.exhausted:
            raise LLMError("budget", f"token budget spent: {self.used} of {self.limit} tokens",
                           node=node)
        if self.limit is not None and needed > self.limit - self.used:
            raise LLMError("budget", f"token budget: this call needs about {needed} input tokens "
                           f"and {self.limit - self.used} of {self.limit} are left", node=node)

    def spend(self, tokens: int) -> None:
        with self._lock:
            self.used += tokens
