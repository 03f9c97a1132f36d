"""One typed error for every way a model call can fail, and the classifier that maps SDK errors onto it."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx
import openai
from langchain_core.exceptions import ModelRefusalError, OutputParserException
from pydantic import ValidationError

from agent.redact import scrub

try:  # openai>=3 speaks httpx2; its transport errors are not httpx's.
    import httpx2

    _TIMEOUT_ERRORS: tuple[type[BaseException], ...] = (httpx.TimeoutException,
                                                        httpx2.TimeoutException, TimeoutError)
    _TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httpx.TransportError,
                                                          httpx2.TransportError)
except ImportError:  # pragma: no cover - only with openai<3
    _TIMEOUT_ERRORS = (httpx.TimeoutException, TimeoutError)
    _TRANSPORT_ERRORS = (httpx.TransportError,)

CATEGORIES = frozenset({
    "rate_limit", "quota", "server", "timeout", "connection", "bad_request", "auth",
    "not_found", "context_length", "refusal", "content_filter", "invalid_output", "truncated",
    "budget", "not_configured",
})
# Worth the same request again after a pause; everything else fails the same way twice.
TRANSIENT = frozenset({"rate_limit", "server", "timeout", "connection"})
# Worth asking again once, with the problem fed back to the model.
REASKABLE = frozenset({"invalid_output", "truncated"})

NOT_CONFIGURED_MESSAGE = (
    "No model configured: set OPENAI_API_KEY, or OPENAI_BASE_URL for any OpenAI-compatible "
    "server such as vLLM, llama.cpp or Ollama (a base URL without a key uses a placeholder key)."
)

# The SDK's own wording for these dumps the whole usage object into the message.
_FIXED_DETAILS = {
    "truncated": "the answer was cut off at the output token limit",
    "content_filter": "the answer was stopped by a content filter",
}

_HINTS = {
    "auth": "check OPENAI_API_KEY",
    "quota": "the account has no quota left; retrying will not help",
    "not_found": "check ABSORB_MODEL and OPENAI_BASE_URL",
    "context_length": "the prompt is longer than the model's context window",
    "truncated": "raise ABSORB_MAX_OUTPUT_TOKENS or ask for less",
    "budget": "raise ABSORB_TOKEN_BUDGET to allow more",
}


OPENAI_DEFAULT_URL = "https://api.openai.com/v1"


def endpoint() -> str:
    """Where model calls go (the settings' OPENAI_BASE_URL, or OpenAI's own), without the
    credentials, query or fragment an address may carry: safe to print."""
    from agent.settings import get_settings  # read where every other setting is read

    raw = get_settings().openai_base_url or OPENAI_DEFAULT_URL
    try:
        parts = urlsplit(raw)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is no number
        return "OPENAI_BASE_URL (unparsable)"
    if not parts.scheme or not host:
        return "OPENAI_BASE_URL (unparsable)"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _hint(category: str) -> str | None:
    if category == "connection":
        return f"is a model server answering at {endpoint()}? check OPENAI_BASE_URL"
    return _HINTS.get(category)


class LLMError(Exception):
    """A model call that failed; `category` says how, `str()` is one line for the CLI."""

    def __init__(self, category: str, detail: str, *, node: str | None = None,
                 model: str | None = None, status_code: int | None = None,
                 retry_after: float | None = None, answer_text: str | None = None) -> None:
        if category not in CATEGORIES:
            raise ValueError(f"unknown LLMError category {category!r}")
        detail = scrub(str(detail)) or ""
        super().__init__(detail)
        self.category = category
        self.detail = " ".join(detail.split())
        self.node = node
        self.model = model
        self.status_code = status_code
        self.retry_after = retry_after
        self.answer_text = scrub(answer_text)
        self.attempts = 1
        self.hint: str | None = _hint(category)

    def __reduce__(self) -> tuple:
        # Exceptions pickle as cls(*args); ours need their category back, for checkpoints
        # and worker processes that ship errors across a process boundary.
        return (_restore, (type(self), self.args), self.__dict__)

    @property
    def transient(self) -> bool:
        return self.category in TRANSIENT

    @property
    def explained(self) -> str:
        """The detail (at most 240 characters) and the hint, as every message shows them."""
        detail = self.detail if len(self.detail) <= 240 else self.detail[:237] + "..."
        return f"{detail} ({self.hint})" if self.hint else detail

    def __str__(self) -> str:
        where = f"{self.node}: " if self.node else ""
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{where}model call failed [{self.category}]{tries}: {self.explained}"


class LLMNotConfigured(LLMError):
    """Neither an API key nor a base URL: no model can be reached."""

    def __init__(self, detail: str = NOT_CONFIGURED_MESSAGE) -> None:
        super().__init__("not_configured", detail)

    def __str__(self) -> str:
        return self.detail


def _restore(cls: type[LLMError], args: tuple) -> LLMError:
    error = Exception.__new__(cls)
    error.args = args
    return error


def classify(exc: BaseException, *, node: str | None = None,
             model: str | None = None) -> LLMError | None:
    """The LLMError for an exception raised by a model call, or None for a programming error."""
    if isinstance(exc, LLMError):
        return exc
    category, status, retry_after = _category_of(exc)
    if category is None:
        return None
    detail = _FIXED_DETAILS.get(category) or str(exc) or type(exc).__name__
    if isinstance(exc, ValidationError):
        # pydantic's message is multi-line with a URL; the first error is what the model needs.
        first = exc.errors()[0] if exc.errors() else {}
        location = ".".join(str(part) for part in first.get("loc", ()))
        detail = f"{exc.title}: {first.get('msg', 'invalid')}" + (f" at {location}" if location else "")
    return LLMError(category, detail, node=node, model=model, status_code=status,
                    retry_after=retry_after, answer_text=answer_text_of(exc))


def _category_of(exc: BaseException) -> tuple[str | None, int | None, float | None]:
    if isinstance(exc, openai.LengthFinishReasonError):
        return "truncated", None, None
    if isinstance(exc, openai.ContentFilterFinishReasonError):
        return "content_filter", None, None
    if isinstance(exc, ModelRefusalError):
        is_filter = "content filter" in str(exc).lower()
        return ("content_filter" if is_filter else "refusal"), None, None
    if isinstance(exc, openai.APIStatusError):
        return _status_category(exc), exc.status_code, _retry_after(exc)
    if isinstance(exc, openai.APITimeoutError) or isinstance(exc, _TIMEOUT_ERRORS):
        return "timeout", None, None
    if isinstance(exc, openai.APIConnectionError) or isinstance(exc, _TRANSPORT_ERRORS):
        return "connection", None, None
    if isinstance(exc, (ValidationError, json.JSONDecodeError, OutputParserException)):
        return "invalid_output", None, None
    if isinstance(exc, openai.OpenAIError):
        return "bad_request", None, None
    return None, None, None


def _status_category(exc: openai.APIStatusError) -> str:
    # Classify on the error code, not the class: a context-length 400 arrives as a generic
    # invalid-request error, and a quota 429 looks like a rate limit but never clears.
    body = exc.body if isinstance(exc.body, dict) else {}
    codes = {str(value) for value in (exc.code, body.get("code"), body.get("type")) if value}
    if "insufficient_quota" in codes:
        return "quota"
    if "context_length_exceeded" in codes:
        return "context_length"
    status = exc.status_code
    if status == 429:
        return "rate_limit"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status == 408:
        return "timeout"
    if status == 409 or status >= 500:
        return "server"
    return "bad_request"


def _retry_after(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers if exc.response is not None else {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                return None
    return None


def answer_text_of(exc: BaseException) -> str | None:
    """What the model wrote, when the SDK raised before LangChain saw the message."""
    completion = getattr(exc, "completion", None)
    if completion is not None and getattr(completion, "choices", None):
        return completion.choices[0].message.content
    body = response_json(exc)
    try:
        return body["choices"][0]["message"].get("content") if body else None
    except (KeyError, IndexError, TypeError, AttributeError):
        return None


def response_json(exc: BaseException) -> dict | None:
    """The decoded HTTP body LangChain attaches as `exc.response` to errors raised on parse."""
    response = getattr(exc, "response", None)
    if response is None or not hasattr(response, "json"):
        return None
    try:
        body = response.json()
    except (ValueError, RuntimeError):
        return None
    return body if isinstance(body, dict) else None
