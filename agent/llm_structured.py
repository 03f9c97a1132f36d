"""Structured answers: the runnable that asks a chat model for one schema object (built once
per model, schema and method), and the object recovered from an answer a server wrapped in
prose or a markdown fence. agent.llm calls these; retries and errors stay there."""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI
from langchain_openai.chat_models.base import _oai_structured_outputs_parser
from openai.lib._parsing._completions import type_to_response_format_param
from pydantic import BaseModel, ValidationError

from agent.llm_errors import _FIXED_DETAILS, LLMError

Schema = TypeVar("Schema", bound=BaseModel)

# The structured-output runnables built so far: per model (by identity; chat models are
# pydantic objects, unhashable), per schema and method, least recently used first.
# `with_structured_output` converts the schema to JSON Schema and builds a chain of five
# runnables, about 3 ms of CPU, once per call before this cache. A runnable refers to its
# model, so entries keep their model alive: both levels are bounded (a process has a few
# models, tests make many; a schema built per call would otherwise grow it without end).
_RUNNABLES: OrderedDict[int, tuple[BaseChatModel, OrderedDict]] = OrderedDict()
_RUNNABLES_LOCK = threading.Lock()
MODELS_CACHED, RUNNABLES_PER_MODEL = 8, 64


def structured_runnable(model: BaseChatModel, schema: type[BaseModel], method: str) -> Runnable:
    """`model.with_structured_output(schema, method=method, include_raw=True)`, built once per
    model, schema and method. The runnable holds no per-call state (a call's messages and
    config are arguments of `ainvoke`), so concurrent calls share it."""
    key = (schema, method)
    with _RUNNABLES_LOCK:
        entry = _RUNNABLES.get(id(model))
        if entry is not None and entry[0] is model and key in entry[1]:
            _RUNNABLES.move_to_end(id(model))
            entry[1].move_to_end(key)
            return entry[1][key]
    if isinstance(model, ChatOpenAI) and method == "json_schema" and not model.use_responses_api:
        runnable: Runnable | JsonSchemaOutput = JsonSchemaOutput(model, schema)
    else:
        runnable = model.with_structured_output(schema, method=method, include_raw=True)
    with _RUNNABLES_LOCK:
        entry = _RUNNABLES.get(id(model))
        if entry is None or entry[0] is not model:
            entry = _RUNNABLES[id(model)] = (model, OrderedDict())
        _RUNNABLES.move_to_end(id(model))
        entry[1][key] = runnable
        while len(entry[1]) > RUNNABLES_PER_MODEL:
            entry[1].popitem(last=False)
        while len(_RUNNABLES) > MODELS_CACHED:
            _RUNNABLES.popitem(last=False)
    return runnable


class JsonSchemaOutput:
    """ChatOpenAI's `with_structured_output(schema, method="json_schema", include_raw=True)`,
    the same request and the same {raw, parsed, parsing_error} answer, for less CPU.

    LangChain binds the pydantic class, so the SDK converts it to a strict JSON Schema on
    every call (~1.5 ms) and parses the answer into a generic ParsedChatCompletion, and the
    answer then passes five runnables, each with its own callback and config setup. Here the
    SDK's own conversion runs once per schema, the model is bound to its result, and the
    answer is validated here, as the SDK would: `model_validate_json` of the content, a
    refusal or an empty content through LangChain's own parser (same errors as before).
    An invalid answer is a `parsing_error` here where the SDK raised it from the call: both
    end as the same `invalid_output` LLMError with the same detail, answer and tokens.

    The response format goes in the request body through the SDK's `extra_body`, not as
    `response_format=`: given one, LangChain takes the SDK's `parse` path, which costs ~2 ms
    of CPU per call (the typed transform of the format, a ParsedChatCompletion built from
    the answer) for a format given as a dict, whose content it never parses. The request
    body is the same JSON. What that path added for such a format is its check of the
    finish reason, done here: an answer cut off at the token limit (even one that happens to
    be whole JSON) is `truncated`, one stopped by a content filter is `content_filter`.
    """

    def __init__(self, model: ChatOpenAI, schema: type[BaseModel]) -> None:
        self.schema = schema
        self.response_format = type_to_response_format_param(schema)
        # A bound extra_body replaces the model's own (llama.cpp's max_tokens): keep both.
        self.bound = model.bind(extra_body={**(model.extra_body or {}),
                                            "response_format": self.response_format})

    def _parse(self, raw: Any) -> dict:
        finish_reason = (getattr(raw, "response_metadata", None) or {}).get("finish_reason")
        if finish_reason in _FINISH_ERRORS:
            category = _FINISH_ERRORS[finish_reason]
            return {"raw": raw, "parsed": None,
                    "parsing_error": LLMError(category, _FIXED_DETAILS[category])}
        try:
            content = raw.content if isinstance(raw.content, str) else ""
            if content and not raw.additional_kwargs.get("refusal"):
                parsed: Any = self.schema.model_validate_json(content)
            else:
                parsed = _oai_structured_outputs_parser(raw, schema=self.schema)
        except Exception as exc:  # noqa: BLE001 - like LangChain's fallback: kept as parsing_error
            return {"raw": raw, "parsed": None, "parsing_error": exc}
        return {"raw": raw, "parsed": parsed, "parsing_error": None}

    async def ainvoke(self, messages: list[BaseMessage]) -> dict:
        return self._parse(await self.bound.ainvoke(messages))

    def invoke(self, messages: list[BaseMessage]) -> dict:
        return self._parse(self.bound.invoke(messages))


# Finish reasons the SDK's parse path raised for (LengthFinishReasonError and
# ContentFilterFinishReasonError): an answer that ended so is not used, whatever its content.
_FINISH_ERRORS = {"length": "truncated", "content_filter": "content_filter"}

_FENCED = re.compile(r"```[A-Za-z]*[ \t]*\n(.*?)\n?[ \t]*```", re.S)


def embedded_answer(answer: str | None, schema: type[Schema]) -> Schema | None:
    """The one schema-valid JSON object inside prose or a markdown fence, else None. Never
    completes a truncated object: what is not whole JSON is no answer."""
    if not answer or "{" not in answer:
        return None
    candidates = [m.group(1) for m in _FENCED.finditer(answer)]
    candidates.append(answer[answer.find("{"):answer.rfind("}") + 1])
    for candidate in candidates:
        try:
            return schema.model_validate(json.loads(candidate))
        except (ValueError, ValidationError):
            continue
    return None


def answer_text(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw.content, str) and raw.content:
        return raw.content
    calls = [*getattr(raw, "invalid_tool_calls", []), *getattr(raw, "tool_calls", [])]
    for tool_call in calls:
        args = tool_call.get("args")
        if args:
            return args if isinstance(args, str) else str(args)
    return None
