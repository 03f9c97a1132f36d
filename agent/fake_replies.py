"""What the fake OpenAI server can answer: scripted replies, deliberate faults, response bodies."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

from pydantic import BaseModel

from agent.prompting import TASK_MARKER


@dataclass(frozen=True)
class Fault:
    """A deliberate misbehaviour; build one with the class methods."""

    kind: str
    status: int = 200
    code: str | None = None
    message: str = ""
    seconds: float = 0.0
    content: str = ""

    @classmethod
    def server_error(cls) -> Fault:
        return cls("error", 500, None, "The server had an error while processing your request.")

    @classmethod
    def rate_limit(cls) -> Fault:
        return cls("error", 429, "rate_limit_exceeded", "Rate limit reached for requests.")

    @classmethod
    def insufficient_quota(cls) -> Fault:
        return cls("error", 429, "insufficient_quota", "You exceeded your current quota.")

    @classmethod
    def bad_request(cls, code: str | None = None, message: str = "Invalid request.") -> Fault:
        return cls("error", 400, code, message)

    @classmethod
    def context_length(cls) -> Fault:
        return cls("error", 400, "context_length_exceeded",
                   "This model's maximum context length is 8192 tokens.")

    @classmethod
    def unauthorized(cls) -> Fault:
        return cls("error", 401, "invalid_api_key", "Incorrect API key provided.")

    @classmethod
    def not_found(cls) -> Fault:
        return cls("error", 404, "model_not_found", "The model does not exist.")

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Fault:
        """Answer nothing for `seconds` (released early when the server stops)."""
        return cls("hang", seconds=seconds)

    @classmethod
    def truncated(cls, content: str = '{"text": "cut off mid') -> Fault:
        """A 200 whose answer stopped at the output token limit (finish_reason=length)."""
        return cls("truncated", content=content)

    @classmethod
    def refusal(cls, message: str = "I can't help with that.") -> Fault:
        return cls("refusal", message=message)

    @classmethod
    def content_filter(cls, content: str = "") -> Fault:
        return cls("content_filter", content=content)


# A dict or pydantic model is the structured answer; a str is sent verbatim (content, or
# tool-call arguments), which is how tests send invalid JSON.
Reply = Union[dict, BaseModel, str, Fault]
ReplyFactory = Callable[[dict], Reply]


def task_of(request_json: dict) -> str | None:
    """The `task: <name>` marker on the first line of the first system message."""
    for message in request_json.get("messages", []):
        if message.get("role") in ("system", "developer"):
            content = message.get("content") or ""
            if isinstance(content, list):
                content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
            first_line = content.strip().splitlines()[0] if content.strip() else ""
            if first_line.lower().startswith(TASK_MARKER):
                return first_line[len(TASK_MARKER):].strip()
            return None
    return None


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def completion_body(request_json: dict, reply: Reply, *, call_id: str, cached_tokens: int) -> dict:
    """A chat.completion for a reply: JSON content, or a tool call when tools were offered."""
    finish_reason = "stop"
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if isinstance(reply, Fault):
        if reply.kind == "refusal":
            message["refusal"] = reply.message
        elif reply.kind == "content_filter":
            message["content"] = reply.content or None  # what was written before the stop
            finish_reason = "content_filter"
        else:
            message["content"] = reply.content
            finish_reason = "length"
    else:
        text = reply if isinstance(reply, str) else json.dumps(
            reply.model_dump(mode="json") if isinstance(reply, BaseModel) else reply)
        tool = requested_tool(request_json)
        if tool is not None:
            message["tool_calls"] = [{"id": f"call_{call_id}", "type": "function",
                                      "function": {"name": tool, "arguments": text}}]
            finish_reason = "tool_calls"
        else:
            message["content"] = text
    prompt_tokens = estimate_tokens(json.dumps(request_json.get("messages", [])))
    completion_tokens = estimate_tokens(json.dumps(message))
    return {
        "id": f"chatcmpl-fake-{call_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request_json.get("model", "fake-model"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason,
                     "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": min(cached_tokens, prompt_tokens)},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }


def requested_tool(request_json: dict) -> str | None:
    tools = request_json.get("tools") or []
    if not tools:
        return None
    choice = request_json.get("tool_choice")
    if isinstance(choice, dict):
        return choice.get("function", {}).get("name")
    return tools[0].get("function", {}).get("name")


def error_body(code: str | None, message: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": code}}
