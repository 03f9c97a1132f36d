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
import sys
import threading
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agent.fake_replies import (Fault, Reply, ReplyFactory, completion_body, error_body,
                                task_of)

__all__ = ["FakeOpenAIServer", "Fault", "Reply", "ReplyFactory", "task_of"]


class _QuietServer(ThreadingHTTPServer):
    """A client that gives up on a hanging request (a timeout, a drained run) resets the
    connection; that is what the test meant to happen, not an error to print a traceback for."""

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001 - socketserver's
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


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
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
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
            return 400, error_body("fake_server_unscripted",
                                    f"FakeOpenAIServer has no reply scripted for task {task!r}")
        if isinstance(reply, Fault) and reply.kind == "error":
            return reply.status, error_body(reply.code, reply.message)
        if isinstance(reply, Fault) and reply.kind == "hang":
            self._released.wait(reply.seconds)
            return 200, None
        body = completion_body(request_json, reply, call_id=str(next(self._ids)),
                               cached_tokens=self.cached_tokens)
        with self._lock:
            self.responses.append(body)
        return 200, body

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
            self._send(404, error_body("not_found", f"no route {self.path}"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, error_body("not_found", f"no route {self.path}"))
            return
        try:
            request_json = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send(400, error_body("invalid_json", "request body is not JSON"))
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
