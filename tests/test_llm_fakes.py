"""The shipped fakes: FakeChatModel for graph tests, FakeOpenAIServer's per-task scripting."""

from __future__ import annotations

import pytest
from langchain_core.messages import BaseMessage
from pydantic import BaseModel

from agent.llm import InMemoryCallRecorder, LLMError, build_chat_model, call_structured
from agent.prompting import load_prompt
from agent.testing import (FakeChatModel, FakeOpenAIServer, Fault, UnscriptedCall,
                           truncated_reply)

METHODS = ["json_schema", "function_calling"]


class Relevance(BaseModel):
    relevant: bool
    reason: str = ""


def triage_messages(sources: str = "<<<SOURCE id=src_1>>>") -> list[BaseMessage]:
    return load_prompt("triage").render(topic_title="Absorb", topic_scope="Wikis",
                                        section_outline="history: History", sources=sources)


def draft_messages() -> list[BaseMessage]:
    return load_prompt("draft_section").render(
        topic_title="Absorb", section_outline="history: History", section_heading="History",
        section_text="", sources="none", citable="(none)")


@pytest.mark.parametrize("method", METHODS)
async def test_fake_model_answers_by_node_with_both_methods(method):
    fake = FakeChatModel(responses={"triage": [Relevance(relevant=True, reason="on topic")],
                                    "draft_section": [{"relevant": False}]})
    triage = await call_structured(fake, Relevance, triage_messages(), node="triage",
                                   method=method)
    draft = await call_structured(fake, Relevance, draft_messages(), node="draft", method=method)
    assert triage == Relevance(relevant=True, reason="on topic")
    assert draft == Relevance(relevant=False)
    assert [call.node for call in fake.calls] == ["triage", "draft_section"]
    assert {call.method for call in fake.calls} == {method}
    assert fake.calls[0].schema_name == "Relevance"


def test_fake_model_records_prompts_and_token_counts():
    fake = FakeChatModel(responses={"triage": lambda messages: {"relevant": "src_9" in
                                                                messages[-1].content}},
                         cached_tokens=3)
    runnable = fake.with_structured_output(Relevance, include_raw=True)
    output = runnable.invoke(triage_messages("about src_9"))
    assert output["parsed"] == Relevance(relevant=True)
    [call] = fake.calls_for("triage")
    assert "about src_9" in call.prompt
    assert call.usage["input_tokens"] > 0 and call.usage["output_tokens"] > 0
    assert output["raw"].usage_metadata["input_token_details"]["cache_read"] == 3


async def test_fake_model_replies_drive_the_reask_and_error_paths():
    fake = FakeChatModel()
    fake.script("triage", "not json", {"relevant": True}, truncated_reply(),
                truncated_reply(), LLMError("quota", "no credit"))
    recorder = InMemoryCallRecorder()
    assert (await call_structured(fake, Relevance, triage_messages(), node="triage",
                                  recorder=recorder)).relevant
    assert "could not be used" in fake.calls[1].messages[-1].content
    with pytest.raises(LLMError) as truncated:
        await call_structured(fake, Relevance, triage_messages(), node="triage")
    assert truncated.value.category == "truncated"
    with pytest.raises(LLMError, match="quota"):
        await call_structured(fake, Relevance, triage_messages(), node="triage")
    assert len(recorder.calls) == 2 and recorder.calls[0].model == "fake-model"
    with pytest.raises(UnscriptedCall, match="triage"):
        await call_structured(fake, Relevance, triage_messages(), node="triage")


async def test_fake_server_scripts_replies_per_task(monkeypatch):
    with FakeOpenAIServer(default=Fault.bad_request()) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("ABSORB_REQUESTS_PER_SECOND", "0")
        server.script_task("triage", {"relevant": True, "reason": "queued"})
        server.on_task("draft_section", lambda request: {"relevant": False,
                                                         "reason": request["model"]})
        model = build_chat_model("draft")
        first = await call_structured(model, Relevance, triage_messages(), node="triage")
        draft = await call_structured(model, Relevance, draft_messages(), node="draft")
        assert (first.reason, draft.reason) == ("queued", "gpt-4.1-mini")
        with pytest.raises(LLMError, match="bad_request"):
            await call_structured(model, Relevance, triage_messages(), node="triage")
        assert len(server.requests_for("triage")) == 2
        assert len(server.requests_for("draft_section")) == 1


async def test_fake_server_says_when_a_task_is_unscripted(monkeypatch):
    with FakeOpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        with pytest.raises(LLMError, match="no reply scripted for task 'triage'") as caught:
            await call_structured(build_chat_model("triage"), Relevance, triage_messages(),
                                  node="triage")
        assert caught.value.category == "bad_request" and server.request_count == 1



def test_a_client_that_resets_its_connection_leaves_no_traceback(capfd):
    """An HTTP client that drops a kept-alive connection with a reset (as one that timed out
    or was cancelled does) is normal traffic, not an error for the server to print."""
    import json
    import socket
    import struct
    import time

    from agent.fake_server import FakeOpenAIServer

    body = json.dumps({"model": "m", "messages": [{"role": "system", "content": "task: ok"}]})
    with FakeOpenAIServer() as server:
        server.on_task("ok", lambda _request: {"relevant": True})
        host, port = server.base_url.split("//")[1].split("/")[0].split(":")
        client = socket.create_connection((host, int(port)))
        client.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                        f"application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
        assert client.recv(65536).startswith(b"HTTP/1.")  # answered; the server now waits
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # for the next request on the connection, which is reset instead
        time.sleep(0.3)
    assert server.requests_for("ok")
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Connection reset" not in err, err
