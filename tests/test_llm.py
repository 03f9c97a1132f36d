"""The structured-call layer through the real ChatOpenAI against the fake OpenAI server."""

from __future__ import annotations

import asyncio
import pickle
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from agent.fake_server import FakeOpenAIServer, Fault
from agent.llm import (PLACEHOLDER_API_KEY, InMemoryCallRecorder, LLMError, LLMNotConfigured,
                       TokenBudget, build_chat_model, call_structured, call_structured_sync)
from agent.llm_errors import classify
from agent.ratelimit import shared_rate_limiter
from agent.settings import get_settings

METHODS = ["json_schema", "function_calling"]


class Summary(BaseModel):
    text: str


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("ABSORB_TIMEOUT", "2")
        monkeypatch.setenv("ABSORB_MAX_RETRIES", "2")
        monkeypatch.setenv("ABSORB_RETRY_INITIAL_DELAY", "0.01")
        monkeypatch.setenv("ABSORB_RETRY_MAX_DELAY", "0.05")
        monkeypatch.setenv("ABSORB_REQUESTS_PER_SECOND", "0")
        yield fake


def messages(task: str = "draft_section") -> list[BaseMessage]:
    return [SystemMessage(f"task: {task}\nSummarise."), HumanMessage("The sky is blue.")]


async def ask(method: str = "json_schema", **kwargs) -> Summary:
    model = build_chat_model("draft")
    return await call_structured(model, Summary, messages(), node="draft", method=method, **kwargs)


@pytest.mark.parametrize("method", METHODS)
async def test_both_structured_methods_parse_the_answer(server, method):
    server.script({"text": "Blue sky."})
    assert await ask(method) == Summary(text="Blue sky.")
    request = server.requests[0]
    if method == "json_schema":
        assert request["response_format"]["json_schema"]["name"] == "Summary"
        assert "tools" not in request
    else:
        assert request["tool_choice"]["function"]["name"] == "Summary"
        assert "response_format" not in request
    assert server.request_count == 1


async def test_the_model_is_built_with_explicit_limits(server, monkeypatch):
    monkeypatch.setenv("ABSORB_JUDGE_MODEL", "judge-model")
    monkeypatch.setenv("ABSORB_MAX_OUTPUT_TOKENS", "321")
    judge = build_chat_model("judge")
    assert (judge.model_name, judge.request_timeout, judge.max_retries) == ("judge-model", 2.0, 0)
    assert build_chat_model("draft").model_name == "gpt-4.1-mini"
    server.script({"text": "x"})
    await call_structured(judge, Summary, messages(), node="judge")
    request, headers = server.requests[0], server.headers[0]
    assert request["max_completion_tokens"] == 321 and request["max_tokens"] == 321
    assert headers["authorization"] == f"Bearer {PLACEHOLDER_API_KEY}"


def test_the_rate_limiter_is_shared_per_rate():
    assert shared_rate_limiter(7.0) is shared_rate_limiter(7.0)
    assert shared_rate_limiter(0) is None


def test_no_key_and_no_base_url_is_a_clear_one_line_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(LLMNotConfigured) as caught:
        build_chat_model("draft")
    message = str(caught.value)
    assert caught.value.category == "not_configured"
    assert "OPENAI_API_KEY" in message and "OPENAI_BASE_URL" in message and "\n" not in message


async def test_server_errors_are_retried_a_bounded_number_of_times(server):
    server.default = Fault.server_error()
    with pytest.raises(LLMError) as caught:
        await ask()
    assert caught.value.category == "server"
    assert server.request_count == 3  # ABSORB_MAX_RETRIES=2: one try and two retries
    assert "[server] after 3 attempts" in str(caught.value) and "\n" not in str(caught.value)


async def test_retries_stop_at_the_deadline(server, monkeypatch):
    monkeypatch.setenv("ABSORB_MAX_RETRIES", "50")
    monkeypatch.setenv("ABSORB_RETRY_INITIAL_DELAY", "0.2")
    monkeypatch.setenv("ABSORB_RETRY_MAX_DELAY", "1")
    monkeypatch.setenv("ABSORB_RETRY_DEADLINE", "0.5")
    server.default = Fault.server_error()
    started = time.monotonic()
    with pytest.raises(LLMError, match="server"):
        await ask()
    assert time.monotonic() - started < 2.0
    assert 1 < server.request_count < 6


async def test_a_rate_limit_once_is_retried_then_succeeds(server):
    server.script(Fault.rate_limit(), {"text": "ok"})
    assert await ask() == Summary(text="ok")
    assert server.request_count == 2


async def test_a_retry_says_which_call_failed_how_and_how_long_it_waits(server, caplog):
    server.script(Fault.rate_limit(), {"text": "ok"})
    model = build_chat_model("draft")
    with caplog.at_level("WARNING", logger="agent.llm"):
        await call_structured(model, Summary, messages(), node="draft", section="overview")
    lines = [r.getMessage() for r in caplog.records if "attempt" in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("draft (overview): attempt 1 failed [rate_limit], retrying in 0.0"), lines
    assert "model call failed" not in lines[0] and "\n" not in lines[0]


@pytest.mark.parametrize(("fault", "category"), [
    (Fault.insufficient_quota(), "quota"),
    (Fault.bad_request(), "bad_request"),
    (Fault.context_length(), "context_length"),
    (Fault.unauthorized(), "auth"),
    (Fault.not_found(), "not_found"),
    (Fault.refusal(), "refusal"),
    (Fault.content_filter(), "content_filter"),
])
@pytest.mark.parametrize("method", METHODS)
async def test_permanent_failures_are_not_retried(server, fault, category, method):
    server.default = fault
    with pytest.raises(LLMError) as caught:
        await ask(method)
    assert caught.value.category == category
    assert server.request_count == 1


@pytest.mark.parametrize("method", METHODS)
async def test_invalid_json_is_asked_again_once_with_the_error(server, method):
    server.script("not json at all", {"text": "fixed"})
    assert await ask(method) == Summary(text="fixed")
    assert server.request_count == 2
    feedback = server.requests[1]["messages"][-1]
    assert feedback["role"] == "user"
    assert "could not be used" in feedback["content"]
    assert "not json at all" in feedback["content"]
    assert server.requests[1]["messages"][:2] == server.requests[0]["messages"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("wrapped", [
    'Sure! Here it is:\n\n```json\n{"text": "fenced"}\n```\nAnything else?',
    '```\n{"text": "fenced"}\n```',
    'The answer is {"text": "fenced"} as requested.'])
async def test_json_wrapped_in_prose_or_a_fence_is_taken_without_a_reask(server, method, wrapped):
    # Servers that ignore response_format (Ollama, LM Studio) answer like this.
    server.script(wrapped)
    assert await ask(method) == Summary(text="fenced")
    assert server.request_count == 1


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("answer", [
    '{"wrong_field": 1}',
    # a fence around JSON that is not the schema, then a cut-off object: still no answer
    'Here:\n```json\n{"wrong_field": 1}\n```\nand {"text": '])
async def test_an_answer_that_is_not_the_schema_twice_fails_as_invalid_output(server, method, answer):
    server.default = answer
    with pytest.raises(LLMError) as caught:
        await ask(method)
    assert caught.value.category == "invalid_output"
    assert server.request_count == 2


@pytest.mark.parametrize("method", METHODS)
async def test_a_truncated_answer_is_asked_again_once(server, method):
    server.script(Fault.truncated(), {"text": "short"})
    assert await ask(method) == Summary(text="short")
    assert "cut off" in server.requests[1]["messages"][-1]["content"]
    server.default = Fault.truncated()
    with pytest.raises(LLMError) as caught:
        await ask(method)
    assert caught.value.category == "truncated"
    assert server.request_count == 4


async def test_a_hung_server_times_out_within_bounded_time(server, monkeypatch):
    monkeypatch.setenv("ABSORB_TIMEOUT", "0.3")
    monkeypatch.setenv("ABSORB_MAX_RETRIES", "1")
    server.default = Fault.hang(10)
    started = time.monotonic()
    with pytest.raises(LLMError) as caught:
        await ask()
    assert caught.value.category == "timeout"
    assert time.monotonic() - started < 2.0
    assert server.request_count == 2


async def test_tokens_latency_and_cost_are_recorded(server):
    server.cached_tokens = 8
    server.script({"text": "ok"})
    recorder = InMemoryCallRecorder()
    await ask(recorder=recorder, run_id=7, section="history", prompt_version="draft_section@1")
    [call] = recorder.calls
    usage = server.responses[0]["usage"]
    assert (call.run_id, call.node, call.section, call.prompt_version) == (
        7, "draft", "history", "draft_section@1")
    assert call.model == "gpt-4.1-mini"
    assert (call.input_tokens, call.output_tokens, call.cached_tokens) == (
        usage["prompt_tokens"], usage["completion_tokens"], 8)
    price = get_settings().price_for("gpt-4.1-mini")
    expected = ((usage["prompt_tokens"] - 8) * price.input + 8 * price.cached
                + usage["completion_tokens"] * price.output) / 1_000_000
    assert call.cost == pytest.approx(expected) and call.cost > 0
    assert call.latency_ms > 0


async def test_a_rejected_answer_is_recorded_too(server):
    server.script("not json", {"text": "ok"})
    recorder = InMemoryCallRecorder()
    await ask(recorder=recorder)
    assert len(recorder.calls) == 2
    assert recorder.calls[0].input_tokens == server.responses[0]["usage"]["prompt_tokens"]


async def test_the_token_budget_stops_calls_before_they_are_made(server):
    from agent.llm_usage import estimate_input_tokens

    server.default = {"text": "ok"}
    needed = estimate_input_tokens(messages())
    budget = TokenBudget(limit=needed)  # just enough to send the prompt
    await ask(budget=budget)
    assert budget.exhausted and budget.used == server.responses[0]["usage"]["total_tokens"]
    with pytest.raises(LLMError) as caught:
        await ask(budget=budget)
    assert caught.value.category == "budget"
    assert server.request_count == 1
    # Budget left, but less than this prompt needs: not sent only to overrun the budget.
    with pytest.raises(LLMError, match=f"needs about {needed} input tokens and {needed - 1} "):
        await ask(budget=TokenBudget(limit=needed - 1))
    assert server.request_count == 1


async def test_concurrency_is_bounded_per_event_loop(server, monkeypatch):
    monkeypatch.setenv("ABSORB_CONCURRENCY", "2")
    server.delay = 0.2
    server.default = {"text": "ok"}
    results = await asyncio.gather(*(ask() for _ in range(5)))
    assert len(results) == 5
    assert server.max_in_flight == 2


def test_the_sync_variant_retries_and_records_alike(server):
    server.script(Fault.server_error(), "oops", {"text": "ok"})
    recorder = InMemoryCallRecorder()
    result = call_structured_sync(build_chat_model("draft"), Summary, messages(), node="draft",
                                  recorder=recorder, method="function_calling")
    assert result == Summary(text="ok")
    assert server.request_count == 3 and len(recorder.calls) == 2


def test_classification_of_transport_errors_and_programming_errors():
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    assert classify(httpx.ReadTimeout("slow", request=request)).category == "timeout"
    assert classify(httpx.ConnectError("refused", request=request)).category == "connection"
    assert classify(openai.OpenAIError("odd")).category == "bad_request"
    assert classify(KeyError("bug")) is None
    error = LLMError("rate_limit", "slow down\nplease", node="triage")
    assert error.transient and str(error) == "triage: model call failed [rate_limit]: slow down please"
    with pytest.raises(ValueError):
        LLMError("mystery", "no such category")


def test_errors_survive_pickling():
    error = LLMError("quota", "no credit", node="judge", status_code=429)
    error.attempts = 2
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.category, copy.node, copy.status_code, str(copy)) == (
        "quota", "judge", 429, str(error))
    assert str(pickle.loads(pickle.dumps(LLMNotConfigured()))) == str(LLMNotConfigured())


async def test_a_server_refusing_json_schema_suggests_function_calling(server):
    server.default = Fault.server_error()
    with pytest.raises(LLMError, match="ABSORB_STRUCTURED_METHOD=function_calling"):
        await ask("json_schema")


def test_a_second_event_loop_gets_a_working_client(monkeypatch):
    """Each command runs its own loop; a model built for the second must not reuse the first's."""
    import asyncio

    from agent.fake_server import FakeOpenAIServer
    from agent.llm import build_chat_model, call_structured
    from agent.prompting import load_prompt
    from agent.triage import TriageAnswer

    with FakeOpenAIServer(default={"decisions": []}) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        messages = load_prompt("triage").render(topic_title="t", topic_scope="s",
                                                section_outline="a: A", sources="none")
        for _ in range(2):
            answer = asyncio.run(call_structured(build_chat_model("triage"), TriageAnswer,
                                                 messages, node="triage"))
            assert answer.decisions == []
        assert server.request_count == 2


def test_structured_runnables_are_built_once_per_model_schema_and_method(server):
    from agent.llm_structured import RUNNABLES_PER_MODEL, structured_runnable

    model, other = build_chat_model("draft"), build_chat_model("draft")
    first = structured_runnable(model, Summary, "json_schema")
    assert structured_runnable(model, Summary, "json_schema") is first
    assert structured_runnable(model, Summary, "function_calling") is not first
    assert structured_runnable(other, Summary, "json_schema") is not first
    # Schemas made per call (ids as enums) must not grow the cache without end.
    made = [type(f"Made{i}", (Summary,), {}) for i in range(RUNNABLES_PER_MODEL + 1)]
    for schema in made:
        structured_runnable(model, schema, "json_schema")
    assert structured_runnable(model, made[-1], "json_schema") is structured_runnable(
        model, made[-1], "json_schema")
    assert structured_runnable(model, Summary, "json_schema") is not first  # evicted, rebuilt


class Nested(BaseModel):
    items: list[Summary]
    note: str | None = None


async def _outcome(server, replies) -> tuple:
    """What one structured call ends in, the requests it sent and the tokens it recorded."""
    server.requests.clear()
    server.script(*replies)
    recorder = InMemoryCallRecorder()
    try:
        result: object = await call_structured(build_chat_model("draft"), Nested, messages(),
                                               node="draft", method="json_schema",
                                               recorder=recorder)
    except LLMError as error:
        result = (error.category, error.detail, error.answer_text, error.attempts)
    sent = [(r["messages"], r["response_format"]) for r in server.requests]
    return result, sent, [(c.input_tokens, c.output_tokens) for c in recorder.calls]


async def test_the_lean_json_schema_path_ends_as_langchains_structured_output_did(server,
                                                                                  monkeypatch):
    """The runnable built once per schema sends the same request and ends every answer the
    way `with_structured_output(include_raw=True)` did: parsed, re-asked, or the same error."""
    import agent.llm as llm

    cases = [
        [{"items": [{"text": "a"}], "note": "n"}],
        ["not json at all", {"items": []}],
        ['{"items": [{"text": 1}]}', '{"wrong_field": 1}'],
        ["", ""],
        [Fault.refusal()],
        [Fault.content_filter()],
        [Fault.truncated(), Fault.truncated()],
    ]
    lean = [await _outcome(server, replies) for replies in cases]
    monkeypatch.setattr(llm, "structured_runnable", lambda model, schema, method: (
        model.with_structured_output(schema, method=method, include_raw=True)))
    chain = [await _outcome(server, replies) for replies in cases]
    # An empty answer's error quotes the whole message, ids and all, in both paths, and
    # the re-ask carries it: compared up to the quote.
    lean[3], chain[3] = _unquoted(lean[3]), _unquoted(chain[3])
    assert lean == chain
    assert [r[0] if isinstance(r[0], BaseModel) else r[0][0] for r in lean] == [
        Nested(items=[Summary(text="a")], note="n"), Nested(items=[]), "invalid_output",
        "invalid_output", "refusal", "content_filter", "truncated"]


def _unquoted(outcome: tuple) -> tuple:
    (category, detail, _, attempts), sent, tokens = outcome
    return ((category, detail.split("Received message")[0], attempts), len(sent), len(tokens))


async def test_the_json_schema_format_is_sent_as_the_sdk_would(server):
    """The format rides in the body through extra_body (no SDK parse path): the request
    carries the SDK's own conversion of the schema, and the local server's max_tokens."""
    from openai.lib._parsing._completions import type_to_response_format_param

    server.script({"text": "Blue sky."})
    assert await ask() == Summary(text="Blue sky.")
    request = server.requests[0]
    assert request["response_format"] == type_to_response_format_param(Summary)
    assert request["max_tokens"] == get_settings().max_output_tokens
    assert request["max_completion_tokens"] == get_settings().max_output_tokens


@pytest.mark.parametrize("fault, category, requests", [
    # As the SDK's parse path did (LengthFinishReasonError): finish_reason=length is no
    # answer, and is asked again once like any truncated answer.
    (lambda: Fault.truncated(content='{"text": "whole"}'), "truncated", 2),
    # ContentFilterFinishReasonError: never used, never asked again.
    (lambda: Fault.content_filter(content='{"text": "filtered"}'), "content_filter", 1),
])
async def test_an_answer_that_ended_for_a_reason_that_rules_it_out_is_not_used_whatever_it_holds(
        server, fault, category: str, requests: int):
    server.default = fault()
    recorder = InMemoryCallRecorder()
    with pytest.raises(LLMError) as caught:
        await ask(recorder=recorder)
    assert caught.value.category == category
    assert server.request_count == requests
    assert [c.input_tokens for c in recorder.calls] == [  # billed tokens are counted
        r["usage"]["prompt_tokens"] for r in server.responses]


@pytest.mark.parametrize("method", METHODS)
async def test_messages_skip_the_sdk_transform_but_the_request_body_is_the_same_json(server, method):
    """agent.llm.AbsorbChatOpenAI hands plain messages to the SDK as extra_body: the endpoint
    receives the body ChatOpenAI itself sends, key for key and in the same order."""
    import json

    from langchain_openai import ChatOpenAI

    from agent.llm import AbsorbChatOpenAI

    server.script({"text": "Blue sky."})
    server.script({"text": "Blue sky."})
    ours = build_chat_model("draft")
    assert type(ours) is AbsorbChatOpenAI
    theirs = ChatOpenAI(**{name: getattr(ours, name) for name in (
        "model_name", "openai_api_key", "openai_api_base", "request_timeout", "max_retries",
        "max_tokens", "extra_body", "use_responses_api")})
    for model in (ours, theirs):
        assert await call_structured(model, Summary, messages(), node="draft", method=method) \
            == Summary(text="Blue sky.")
    sent, reference = server.requests[-2:]
    assert json.dumps(sent) == json.dumps(reference)
    assert sent["messages"][1] == {"content": "The sky is blue.", "role": "user"}


@pytest.mark.parametrize(("base_url", "shown"), [
    ("", "https://api.openai.com/v1"),
    ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
    ("https://user:pw@llm.example.org/v1?api-key=k#frag", "https://llm.example.org/v1"),
    ("http://host:notaport/v1", "OPENAI_BASE_URL (unparsable)"),
    ("not a url", "OPENAI_BASE_URL (unparsable)"),
])
def test_a_connection_error_names_the_endpoint_without_credentials(monkeypatch, base_url, shown):
    from agent.llm_errors import LLMError

    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    text = str(LLMError("connection", "Connection error.", node="triage"))
    assert text == (f"triage: model call failed [connection]: Connection error. "
                    f"(is a model server answering at {shown}? check OPENAI_BASE_URL)")
    assert "pw" not in text and "api-key" not in text
