"""The one place that builds chat models, and the structured-call helper every graph node uses.

Retries live here and only here: the SDK is built with `max_retries=0`, transient errors
(rate limit, 5xx, timeout, connection) are retried with jittered exponential backoff bounded
in attempts and by a total deadline per call (an attempt gets only the time left of it; no
call or retry starts while the process drains, see agent.shutdown), an unusable answer (invalid JSON, no tool call, cut off at the token
limit) is asked again once with the problem fed back, and everything else fails at once as
an `LLMError` whose category says why.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI
import openai
from pydantic import BaseModel, ValidationError
from tenacity import (AsyncRetrying, RetryCallState, Retrying, retry_if_exception,
                      stop_after_attempt, stop_before_delay, wait_exponential_jitter)

from agent.llm_errors import (CATEGORIES, NOT_CONFIGURED_MESSAGE, REASKABLE, TRANSIENT, LLMError,
                              LLMNotConfigured, classify)
from agent.llm_structured import answer_text, embedded_answer, structured_runnable
from agent.llm_usage import (CallRecorder, InMemoryCallRecorder, TokenBudget, TokenUsage, cost_usd,
                             estimate_input_tokens, usage_from_exception, usage_from_message)
from agent.models import LLMCall
from agent import shutdown
from agent.ratelimit import blocking_slot, concurrency_slot, shared_rate_limiter
from agent.settings import Settings, get_settings

__all__ = [
    "CATEGORIES", "NOT_CONFIGURED_MESSAGE", "PLACEHOLDER_API_KEY", "TRANSIENT", "CallRecorder",
    "InMemoryCallRecorder", "LLMError", "LLMNotConfigured", "TokenBudget", "build_chat_model",
    "call_structured", "call_structured_sync",
]

log = logging.getLogger(__name__)

# Local OpenAI-compatible servers ignore the key, but the SDK refuses to start without one.
PLACEHOLDER_API_KEY = "not-needed"

Schema = TypeVar("Schema", bound=BaseModel)


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """Loading the CA bundle costs ~26 ms of CPU; a batch builds clients for every run."""
    return ssl.create_default_context()


class AbsorbChatOpenAI(ChatOpenAI):
    """ChatOpenAI whose messages reach the SDK as `extra_body`, so the same JSON goes out.

    The SDK runs every request body through its typed transform, which walks each message
    against the union of message TypedDicts and hashes the `Literal` of all model names on
    the way (~1/4 of the SDK's CPU per call in a batch). Messages LangChain has already made
    plain JSON (strings, no files or audio) come out of it unchanged, so they skip it: the
    body gets an empty `messages` that `extra_body` overrides at the same place, which is
    how the SDK merges `extra_body`. The response format already travels so
    (agent/llm_structured.py)."""

    def _get_request_payload(self, input_: Any, *, stop: list[str] | None = None,
                             **kwargs: Any) -> dict:
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)
        messages = payload.get("messages")
        if isinstance(messages, list) and all(_plain(m) for m in messages):
            payload["extra_body"] = {**(payload.get("extra_body") or {}), "messages": messages}
            payload["messages"] = []
        return payload


def _plain(message: Any) -> bool:
    """A message dict of strings only (text content, no parts, tool calls or audio)."""
    return isinstance(message, dict) and all(
        isinstance(value, str) for value in message.values())


def build_chat_model(role: str, settings: Settings | None = None) -> BaseChatModel:
    """A ChatOpenAI for a role (triage, draft, judge) with timeout, token cap and shared pacing."""
    settings = settings or get_settings()
    if not settings.openai_api_key and not settings.openai_base_url:
        raise LLMNotConfigured(NOT_CONFIGURED_MESSAGE)
    extra: dict[str, Any] = {}
    if settings.openai_base_url and "api.openai.com" not in settings.openai_base_url:
        # ChatOpenAI sends only max_completion_tokens; llama.cpp and Ollama read max_tokens,
        # and without a cap a small model in JSON mode can write until its context is full.
        extra["extra_body"] = {"max_tokens": settings.max_output_tokens}
    return AbsorbChatOpenAI(
        model=settings.model_for(role),
        api_key=settings.openai_api_key or PLACEHOLDER_API_KEY,
        base_url=settings.openai_base_url,
        timeout=settings.timeout,
        max_retries=0,
        max_tokens=settings.max_output_tokens,
        rate_limiter=shared_rate_limiter(settings.requests_per_second),
        use_responses_api=False,
        # Our own async client per model: langchain-openai's default one is cached for the
        # whole process and bound to the first event loop, so a second asyncio.run (the demo,
        # a worker's next job) failed with "Event loop is closed".
        http_async_client=openai.DefaultAsyncHttpxClient(timeout=settings.timeout,
                                                         verify=_tls_context()),
        **extra,
    )


async def call_structured(model: BaseChatModel, schema: type[Schema],
                          messages: Sequence[BaseMessage], *, node: str,
                          section: str | None = None, run_id: int | None = None,
                          prompt_version: str = "", recorder: CallRecorder | None = None,
                          method: str | None = None, budget: TokenBudget | None = None,
                          settings: Settings | None = None, label: str | None = None) -> Schema:
    """Ask `model` for one `schema` object; raises LLMError on any failure. `label` names the
    call in its retry warnings where no section does (triage's "batch 2 of 3")."""
    call = _StructuredCall(model, schema, node=node, section=section, run_id=run_id,
                           prompt_version=prompt_version, recorder=recorder, budget=budget,
                           settings=settings or get_settings(), label=label)
    runnable = call.runnable(method)
    conversation = list(messages)
    for ask in (1, 2):
        try:
            return await AsyncRetrying(**call.retry_policy())(call.attempt_async, runnable,
                                                              conversation)
        except LLMError as error:
            if ask == 2 or error.category not in REASKABLE:
                raise
            conversation = [*conversation, call.feedback(error)]
    raise AssertionError("unreachable: the second ask returns or raises")


def call_structured_sync(model: BaseChatModel, schema: type[Schema],
                         messages: Sequence[BaseMessage], *, node: str,
                         section: str | None = None, run_id: int | None = None,
                         prompt_version: str = "", recorder: CallRecorder | None = None,
                         method: str | None = None, budget: TokenBudget | None = None,
                         settings: Settings | None = None) -> Schema:
    """`call_structured` for sync code (sync graph nodes run in worker threads)."""
    call = _StructuredCall(model, schema, node=node, section=section, run_id=run_id,
                           prompt_version=prompt_version, recorder=recorder, budget=budget,
                           settings=settings or get_settings())
    runnable = call.runnable(method)
    conversation = list(messages)
    for ask in (1, 2):
        try:
            return Retrying(**call.retry_policy())(call.attempt_sync, runnable, conversation)
        except LLMError as error:
            if ask == 2 or error.category not in REASKABLE:
                raise
            conversation = [*conversation, call.feedback(error)]
    raise AssertionError("unreachable: the second ask returns or raises")


class _StructuredCall:
    """State shared by the attempts of one structured call: accounting and error mapping."""

    def __init__(self, model: BaseChatModel, schema: type[BaseModel], *, node: str,
                 section: str | None, run_id: int | None, prompt_version: str,
                 recorder: CallRecorder | None, budget: TokenBudget | None,
                 settings: Settings, label: str | None = None) -> None:
        self.model = model
        self.schema = schema
        self.node = node
        self.section = section
        self.label = label
        self.run_id = run_id
        self.prompt_version = prompt_version
        self.recorder = recorder
        self.budget = budget
        self.settings = settings
        self.model_name = str(getattr(model, "model_name", None) or getattr(model, "model", None)
                              or type(model).__name__)
        self.attempts = 0
        self.method = settings.structured_method
        self.deadline_at: float | None = None  # monotonic; set by the first async attempt

    def runnable(self, method: str | None) -> Runnable:
        self.method = method or self.settings.structured_method
        return structured_runnable(self.model, self.schema, self.method)

    def retry_policy(self) -> dict[str, Any]:
        settings = self.settings
        backoff = wait_exponential_jitter(multiplier=settings.retry_initial_delay,
                                          max=settings.retry_max_delay,
                                          jitter=settings.retry_initial_delay)

        def wait(state: RetryCallState) -> float:
            # A server that says when to come back knows better than our exponential guess.
            error = state.outcome.exception() if state.outcome else None
            hinted = getattr(error, "retry_after", None) or 0.0
            if shutdown.draining():
                return 0.0  # the next attempt pauses the run at once
            return max(backoff(state), min(hinted, settings.retry_max_delay))

        return {
            "retry": retry_if_exception(lambda exc: isinstance(exc, LLMError) and exc.transient),
            "stop": (stop_after_attempt(settings.max_retries + 1)
                     | stop_before_delay(settings.retry_deadline)),
            "wait": wait,
            "before_sleep": self._log_retry,
            "reraise": True,
        }

    def _log_retry(self, state: RetryCallState) -> None:
        # "draft (overview): attempt 1 failed [rate_limit], retrying in 2.1 s: ..." (the call,
        # its section, how long the pause is), not the error's own "draft: model call failed".
        error = state.outcome.exception() if state.outcome else None
        pause = state.next_action.sleep if state.next_action else 0.0
        named = self.section or self.label
        where = f"{self.node} ({named})" if named else str(self.node)
        if isinstance(error, LLMError):
            why = f"[{error.category}], retrying in {pause:.1f} s: {error.explained}"
        else:
            why = f"retrying in {pause:.1f} s: {error}"
        log.warning("%s: attempt %d failed %s", where, state.attempt_number, why)

    async def attempt_async(self, runnable: Runnable, conversation: list[BaseMessage]) -> BaseModel:
        self._before_attempt(conversation)
        if self.deadline_at is None:
            self.deadline_at = time.monotonic() + self.settings.retry_deadline
        left = self.deadline_at - time.monotonic()
        if left <= 0:
            raise LLMError("timeout", f"no answer within the call's {self.settings.retry_deadline:g}s "
                           "deadline (ABSORB_RETRY_DEADLINE)", node=self.node, model=self.model_name)

        async def attempt() -> tuple[dict | None, float, Exception | None]:
            async with concurrency_slot(self.settings.concurrency):
                started = time.perf_counter()
                try:
                    # The SDK's own timeout is per request; the call's deadline bounds them all.
                    async with asyncio.timeout(left):
                        return await runnable.ainvoke(conversation), started, None
                except Exception as exc:  # noqa: BLE001 - classified below, in the caller's task
                    return None, started, exc

        output, started, failure = await shutdown.guarded(attempt())
        if failure is not None and (recovered := self._recovered(failure, started)) is not None:
            return recovered
        if failure is not None:
            if isinstance(failure, TimeoutError):
                failure = LLMError("timeout", f"no answer within the {left:.0f}s left of the "
                                   "call's deadline", node=self.node, model=self.model_name)
            error = self._failed(failure, started)
            if error is None:
                raise failure
            raise error from failure
        return self._answered(output, started)

    def attempt_sync(self, runnable: Runnable, conversation: list[BaseMessage]) -> BaseModel:
        self._before_attempt(conversation)
        with blocking_slot(self.settings.concurrency):
            started = time.perf_counter()
            try:
                output = runnable.invoke(conversation)
            except Exception as exc:
                if (recovered := self._recovered(exc, started)) is not None:
                    return recovered
                error = self._failed(exc, started)
                if error is None:
                    raise
                raise error from exc
        return self._answered(output, started)

    def _before_attempt(self, conversation: Sequence[BaseMessage] = ()) -> None:
        shutdown.check()  # draining: no call or retry starts, the run pauses
        self.attempts += 1
        if self.budget is not None:
            self.budget.check(self.node, estimate_input_tokens(conversation))

    def _recovered(self, exc: Exception, started: float) -> BaseModel | None:
        """The answer of a json_schema call whose content is the JSON object wrapped in prose or
        a markdown fence (the SDK's parse rejects it whole, with the content as the input)."""
        if not isinstance(exc, ValidationError):
            return None
        errors = exc.errors()
        content = errors[0].get("input") if errors and errors[0].get("type") == "json_invalid" else None
        recovered = embedded_answer(content if isinstance(content, str) else None, self.schema)
        if recovered is not None:
            self._account(usage_from_exception(exc), started)
        return recovered

    def _failed(self, exc: Exception, started: float) -> LLMError | None:
        self._account(usage_from_exception(exc), started)
        error = classify(exc, node=self.node, model=self.model_name)
        if error is None:
            return None
        error.attempts = self.attempts
        if (error.category in ("server", "bad_request") and self.method == "json_schema"
                and self.settings.openai_base_url):
            # llama.cpp answers response_format json_schema with a 500, others with a 400.
            error.hint = ("if this server does not support json_schema response formats, "
                          "set ABSORB_STRUCTURED_METHOD=function_calling")
        return error

    def _answered(self, output: dict, started: float) -> BaseModel:
        raw = output.get("raw")
        self._account(usage_from_message(raw), started)
        parsed, parsing_error = output.get("parsed"), output.get("parsing_error")
        finish_reason = (getattr(raw, "response_metadata", None) or {}).get("finish_reason")
        answer = answer_text(raw)
        if parsing_error is None and parsed is not None:
            try:
                if isinstance(parsed, self.schema):
                    return parsed
                return self.schema.model_validate(parsed)
            except ValidationError as exc:
                error = classify(exc) or LLMError("invalid_output", str(exc))
        elif finish_reason == "length":
            error = LLMError("truncated", "the answer was cut off at the output token limit",
                             answer_text=answer)
        elif isinstance(parsing_error, LLMError):
            # agent.llm_structured: an answer whose finish reason rules it out (content filter)
            error = parsing_error
            error.answer_text = error.answer_text or answer
        elif (embedded := embedded_answer(answer, self.schema)) is not None:
            # Servers that ignore response_format (Ollama, LM Studio, some vLLM builds) wrap
            # the JSON in prose or a markdown fence; the object itself is still checked whole.
            return embedded
        elif parsing_error is not None:
            error = classify(parsing_error) or LLMError("invalid_output", str(parsing_error))
            error.answer_text = error.answer_text or answer
        else:
            # function_calling with no (or an unparseable) tool call gives None, not an error.
            error = LLMError("invalid_output", f"the answer held no valid {self.schema.__name__}",
                             answer_text=answer)
        error.node, error.model, error.attempts = self.node, self.model_name, self.attempts
        raise error

    def _account(self, usage: TokenUsage | None, started: float) -> None:
        """Count and record an attempt that produced an answer: its tokens were paid for."""
        if usage is None:
            return
        if self.budget is not None:
            self.budget.spend(usage.total)
        if self.recorder is not None:
            self.recorder.record(LLMCall(
                run_id=self.run_id, node=self.node, section=self.section, model=self.model_name,
                input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                cached_tokens=usage.cached_tokens,
                latency_ms=(time.perf_counter() - started) * 1000,
                cost=cost_usd(usage, self.settings.price_for(self.model_name)),
                prompt_version=self.prompt_version))

    def feedback(self, error: LLMError) -> HumanMessage:
        """The extra user turn of the one re-ask: what went wrong and what to do instead."""
        if error.category == "truncated":
            problem = "Your previous answer was cut off at the output token limit."
            request = "Answer again, complete and shorter: fewer and more concise sentences."
        else:
            problem = f"Your previous answer could not be used: {error.detail}"
            request = (f"Answer again with only one valid {self.schema.__name__} object that "
                       "matches the required schema exactly.")
        previous = (error.answer_text or "").strip()
        shown = f"\nYour previous answer was:\n{previous[:1500]}\n" if previous else "\n"
        return HumanMessage(f"{problem}{shown}{request}")
