"""A scripted OpenAI-compatible HTTP server on 127.0.0.1 for tests, benchmarks and the demo.

It speaks just enough of POST /v1/chat/completions for `ChatOpenAI.with_structured_output`
to work with both `json_schema` (answer JSON in `content`) and `function_calling` (answer a
tool call), and it can misbehave on purpose (see `Fault`). Replies are chosen per request:
the queue of the request's task (the `task: <name>` first line of the system message), then
that task's handler, then the shared queue, then `default`.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union

from pydantic import BaseModel

TASK_MARKER = "task:"


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
    def content_filter(cls) -> Fault:
        return cls("content_filter")


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


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class FakeOpenAIServer:
    """Real HTTP on a free loopback port, in a daemon thread; use as a context manager."""

    def __init__(self, *replies: Reply | ReplyFactory, default: Reply | ReplyFactory | None = None,
                 delay: float = 0.0, cached_tokens: int = 0) -> None:
        self.default = default
        self.delay = delay
        self.cached_tokens = cached_tokens
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.responses: list[dict] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._queue: deque[Reply | ReplyFactory] = deque(replies)
        self._task_queues: dict[str, deque[Reply | ReplyFactory]] = defaultdict(deque)
        self._task_handlers: dict[str, ReplyFactory] = {}
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # scripting -------------------------------------------------------------------------
    def script(self, *replies: Reply | ReplyFactory) -> None:
        """Queue replies for requests of any task, consumed one per request."""
        with self._lock:
            self._queue.extend(replies)

    def script_task(self, task: str, *replies: Reply | ReplyFactory) -> None:
        """Queue replies for requests whose system prompt starts with `task: <task>`."""
        with self._lock:
            self._task_queues[task].extend(replies)

    def on_task(self, task: str, handler: ReplyFactory) -> None:
        """Answer every request of `task` that has no queued reply with handler(request_json)."""
        with self._lock:
            self._task_handlers[task] = handler

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def requests_for(self, task: str) -> list[dict]:
        with self._lock:
            return [request for request in self.requests if task_of(request) == task]

    # lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeOpenAIServer is not started; use it as a context manager")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> FakeOpenAIServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._released.clear()
        # A short poll keeps stop() (which waits for the next poll) from slowing every test.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,),
                                        name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # answering -------------------------------------------------------------------------
    def _next_reply(self, request_json: dict) -> Reply | None:
        task = task_of(request_json)
        with self._lock:
            self.requests.append(request_json)
            if task is not None and self._task_queues.get(task):
                chosen: Reply | ReplyFactory | None = self._task_queues[task].popleft()
            elif task is not None and task in self._task_handlers:
                chosen = self._task_handlers[task]
            elif self._queue:
                chosen = self._queue.popleft()
            else:
                chosen = self.default
        return chosen(request_json) if callable(chosen) else chosen

    def answer(self, request_json: dict, headers: dict[str, str]) -> tuple[int, dict | None]:
        """(status, body) for one request; body None means hang up without answering."""
        with self._lock:
            self.headers.append(headers)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return self._answer(request_json)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, request_json: dict) -> tuple[int, dict | None]:
        reply = self._next_reply(request_json)
        if self.delay:
            self._released.wait(self.delay)
        if reply is None:
            task = task_of(request_json)
            return 400, _error_body("fake_server_unscripted",
                                    f"FakeOpenAIServer has no reply scripted for task {task!r}")
        if isinstance(reply, Fault) and reply.kind == "error":
            return reply.status, _error_body(reply.code, reply.message)
        if isinstance(reply, Fault) and reply.kind == "hang":
            self._released.wait(reply.seconds)
            return 200, None
        body = self._completion(request_json, reply)
        with self._lock:
            self.responses.append(body)
        return 200, body

    def _completion(self, request_json: dict, reply: Reply) -> dict:
        finish_reason = "stop"
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if isinstance(reply, Fault):
            if reply.kind == "refusal":
                message["refusal"] = reply.message
            elif reply.kind == "content_filter":
                finish_reason = "content_filter"
            else:
                message["content"] = reply.content
                finish_reason = "length"
        else:
            text = reply if isinstance(reply, str) else json.dumps(
                reply.model_dump(mode="json") if isinstance(reply, BaseModel) else reply)
            tool = _requested_tool(request_json)
            if tool is not None and finish_reason == "stop":
                message["tool_calls"] = [{"id": f"call_{next(self._ids)}", "type": "function",
                                          "function": {"name": tool, "arguments": text}}]
                finish_reason = "tool_calls"
            else:
                message["content"] = text
        prompt_tokens = _estimate_tokens(json.dumps(request_json.get("messages", [])))
        answer_text = json.dumps(message)
        completion_tokens = _estimate_tokens(answer_text)
        return {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request_json.get("model", "fake-model"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason,
                         "logprobs": None}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": min(self.cached_tokens, prompt_tokens)},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        }


def _requested_tool(request_json: dict) -> str | None:
    tools = request_json.get("tools") or []
    if not tools:
        return None
    choice = request_json.get("tool_choice")
    if isinstance(choice, dict):
        return choice.get("function", {}).get("name")
    return tools[0].get("function", {}).get("name")


def _error_body(code: str | None, message: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": code}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeOpenAIServer

    def log_message(self, format: str, *args: object) -> None:
        # The test output is no place for an access log.
        return

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
        else:
            self._send(404, _error_body("not_found", f"no route {self.path}"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, _error_body("not_found", f"no route {self.path}"))
            return
        try:
            request_json = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send(400, _error_body("invalid_json", "request body is not JSON"))
            return
        status, body = self.fake.answer(request_json, {k.lower(): v for k, v in self.headers.items()})
        if body is None:
            self.close_connection = True
            return
        self._send(status, body)

    def _send(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout); nothing left to tell it.
            self.close_connection = True
