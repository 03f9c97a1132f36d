"""Fakes shipped for tests and the demo: one scripted chat model, plus the fake OpenAI server.

`FakeChatModel` answers by node: the node of a request is the `task: <name>` first line of
its system message (every prompt renders one, see agent.prompting). Script it with a dict
node -> list of replies (consumed in order) or node -> callable(messages) -> reply. A reply
is a pydantic object or dict (the structured answer), a str (sent verbatim: invalid JSON
is a str), an AIMessage (returned as is, e.g. `truncated_reply()`), or an exception to raise.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers.openai_tools import (PydanticToolsParser,
                                                        make_invalid_tool_call, parse_tool_call)
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field, PrivateAttr

from agent.fake_server import FakeOpenAIServer, Fault
from agent.prompting import task_of_messages

__all__ = ["FakeCall", "FakeChatModel", "FakeOpenAIServer", "Fault", "UnscriptedCall",
           "truncated_reply"]


class UnscriptedCall(LookupError):
    """The fake was asked for a node it has no reply for: a test forgot to script it."""


@dataclass
class FakeCall:
    """One request the fake received."""

    node: str | None
    messages: list[BaseMessage]
    method: str | None = None
    schema_name: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        return "\n\n".join(str(message.content) for message in self.messages)


def truncated_reply(text: str = '{"text": "cut off mid') -> AIMessage:
    """An answer that stopped at the output token limit."""
    return AIMessage(content=text, response_metadata={"finish_reason": "length"})


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class FakeChatModel(BaseChatModel):
    """A chat model that answers from a script, records every prompt and reports usage."""

    responses: dict[str, Any] = Field(default_factory=dict)
    default: Any = None
    model_name: str = "fake-model"
    cached_tokens: int = 0
    calls: list[FakeCall] = Field(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "absorb-fake"

    def calls_for(self, node: str) -> list[FakeCall]:
        return [call for call in self.calls if call.node == node]

    def script(self, node: str, *replies: Any) -> None:
        """Append replies to a node's queue (or start one)."""
        with self._lock:
            queue = self.responses.get(node)
            if callable(queue):
                raise ValueError(f"node {node!r} is answered by a callable; replace it instead")
            self.responses[node] = [*(queue or []), *replies]

    def _next_reply(self, node: str | None, messages: list[BaseMessage]) -> Any:
        with self._lock:
            scripted = self.responses.get(node) if node is not None else None
            if isinstance(scripted, list) and scripted:
                reply = scripted.pop(0)
            elif callable(scripted):
                reply = scripted
            elif self.default is not None:
                reply = self.default
            else:
                raise UnscriptedCall(f"FakeChatModel has no reply scripted for node {node!r}")
        return reply(messages) if callable(reply) and not isinstance(reply, type) else reply

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        node = task_of_messages(messages)
        tools = kwargs.get("tools") or []
        response_format = kwargs.get("response_format")
        call = FakeCall(node=node, messages=list(messages),
                        method="function_calling" if tools else
                        ("json_schema" if response_format else None),
                        schema_name=(tools[0]["function"]["name"] if tools else
                                     (response_format or {}).get("json_schema", {}).get("name")))
        with self._lock:
            self.calls.append(call)
        reply = self._next_reply(node, messages)
        if isinstance(reply, BaseException):
            raise reply
        message = reply if isinstance(reply, AIMessage) else self._message(reply, tools)
        if message.usage_metadata is None:
            input_tokens = _tokens(call.prompt)
            output_tokens = _tokens(str(message.content) + json.dumps(
                [tool_call["args"] for tool_call in message.tool_calls]))
            message.usage_metadata = {
                "input_tokens": input_tokens, "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
                "input_token_details": {"cache_read": min(self.cached_tokens, input_tokens)},
            }
        message.response_metadata.setdefault("model_name", self.model_name)
        message.response_metadata.setdefault("finish_reason", "stop")
        call.usage = dict(message.usage_metadata)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None,
                         **kwargs: Any) -> ChatResult:
        # Scripts do no I/O, so answering inline avoids a thread hop per call.
        return self._generate(messages, stop=stop, **kwargs)

    @staticmethod
    def _message(reply: Any, tools: list[dict]) -> AIMessage:
        if isinstance(reply, BaseModel):
            reply = reply.model_dump(mode="json")
        text = reply if isinstance(reply, str) else json.dumps(reply)
        if not tools:
            return AIMessage(content=text)
        name = tools[0]["function"]["name"]
        raw_call = {"id": "call_fake", "type": "function",
                    "function": {"name": name, "arguments": text}}
        # Let LangChain sort the call into tool_calls or invalid_tool_calls, as for a real reply.
        return AIMessage(content="", additional_kwargs={"tool_calls": [raw_call]},
                         **_parsed_tool_calls(raw_call))

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None,
                   **kwargs: Any) -> Runnable:
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        if tool_choice:
            kwargs["tool_choice"] = {"type": "function", "function": {"name": tool_choice}}
        return self.bind(tools=formatted, **kwargs)

    def with_structured_output(self, schema: Any, *, method: str = "json_schema",
                               include_raw: bool = False, **kwargs: Any) -> Runnable:
        """Like ChatOpenAI's: `json_schema` answers JSON content, `function_calling` a tool call."""
        tool = convert_to_openai_tool(schema)
        name = tool["function"]["name"]
        if method == "function_calling":
            llm = self.bind_tools([schema], tool_choice=name)
            parser: Runnable = PydanticToolsParser(tools=[schema], first_tool_only=True)
        elif method in ("json_schema", "json_mode"):
            llm = self.bind(response_format={"type": "json_schema", "json_schema": {
                "name": name, "schema": tool["function"]["parameters"], "strict": True}})
            parser = RunnableLambda(lambda message: schema.model_validate_json(message.content))
        else:
            raise ValueError(f"unknown structured output method {method!r}")
        if not include_raw:
            return llm | parser
        parse = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser,
                                           parsing_error=lambda _: None)
        keep_raw = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parse.with_fallbacks([keep_raw],
                                                           exception_key="parsing_error")


def _parsed_tool_calls(raw_call: dict) -> dict[str, list]:
    try:
        parsed = parse_tool_call(raw_call, return_id=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure makes the call invalid
        return {"tool_calls": [], "invalid_tool_calls": [make_invalid_tool_call(raw_call, str(exc))]}
    return {"tool_calls": [parsed] if parsed else [], "invalid_tool_calls": []}

