"""`absorb demo` end to end against the fake OpenAI server: configured model, the local-model
branch (its server stood in by the fake), and a clear stop when the local extra is missing."""

from __future__ import annotations

import re

import pytest

from agent import local
from agent.fake_replies import task_of
from agent.fake_server import FakeOpenAIServer
from tests.scripted import extractive_draft, faithful_judge, triage_by_title

ROUTES = {"DiLoCo": ["training-and-compute-efficiency"], "CCCL": ["training-and-compute-efficiency"]}


def _invent_a_year(sentence: str) -> str:
    """The mistake a small model makes: a detail no source states."""
    return sentence[:-1] + " in 2031." if "CCCL" in sentence else sentence


def _revise_repeating_the_mistake(request: dict) -> dict:
    """Revision sees the section's old, textless page references too; it only redrafts."""
    draft = extractive_draft(_invent_a_year)(request)
    for paragraph in draft["paragraphs"]:
        paragraph["sentences"] = [s for s in paragraph["sentences"] if s["text"] != "."]
    return draft


def _script(fake: FakeOpenAIServer) -> None:
    fake.on_task("triage", triage_by_title(ROUTES))
    fake.on_task("draft_section", extractive_draft(_invent_a_year))
    fake.on_task("draft_additions", extractive_draft(_invent_a_year))  # the local model's mode
    fake.on_task("revise_section", _revise_repeating_the_mistake)
    fake.on_task("judge", faithful_judge)


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setenv("ABSORB_RETRY_INITIAL_DELAY", "0.01")
    monkeypatch.setenv("ABSORB_RETRY_MAX_DELAY", "0.02")


def _gate_counts(err: str) -> tuple[int, int]:
    found = re.search(r"gate: (\d+) drafted sentences accepted, (\d+) held back", err)
    assert found, err
    return int(found[1]), int(found[2])


def test_demo_with_a_configured_model_leaves_a_pending_proposal(cli, monkeypatch, fast_retries):
    from agent.store import open_store

    with FakeOpenAIServer() as fake:
        _script(fake)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        result = cli("demo")
        assert result.code == 0, result.err
        assert fake.requests_for("draft_section")
    assert "tiny local model" not in result.err
    assert _gate_counts(result.err) == (1, 1)
    assert re.search(r"\+ Training and Compute Efficiency: “Decoupled DiLoCo.*\n +quote "
                     r"\[supported/quote\] from “Decoupled DiLoCo", result.out)
    assert re.search(r"- Training and Compute Efficiency: “CCCL.*” \[unsupported/numbers\] "
                     r"not in any cited source: 2031", result.out)
    assert "plan:" not in result.err  # a configured model triages: no count before it does
    assert "absorb review show 1" in result.err and "absorb serve" in result.err
    store = open_store()
    try:
        proposal = store.proposals.get(1)
        assert proposal.status.value == "pending"
        assert "2031" not in " ".join(s.text for e in proposal.edits for s in e.new_sentences())
    finally:
        store.close()


class _StandIn:
    """Takes the place of LocalServer: the fake server plays llama.cpp."""

    def __init__(self, fake: FakeOpenAIServer) -> None:
        self.base_url = fake.base_url
        self.model_name = "gemma-3-270m-q4_k_m"
        self.entered = self.exited = False

    def __enter__(self) -> _StandIn:
        self.entered = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.exited = True


def test_demo_without_a_model_runs_the_local_server_through_chat_openai(cli, monkeypatch,
                                                                      fast_retries):
    monkeypatch.setenv("ABSORB_LOCAL_MAX_OUTPUT_TOKENS", "300")
    # scripted triage stands in for the routing (lexical routing has tests of its own), and
    # a bigger GGUF's drafting mode (extract mode has tests/test_demo.py)
    monkeypatch.setenv("ABSORB_LOCAL_TRIAGE_MODE", "llm")
    monkeypatch.setenv("ABSORB_LOCAL_DRAFT_MODE", "additions")
    with FakeOpenAIServer() as fake:
        _script(fake)
        stand_in = _StandIn(fake)
        monkeypatch.setattr(local, "local_server", lambda settings, local_settings: stand_in)
        result = cli("demo")
        probes = [r for r in fake.requests if task_of(r) is None]  # the speed measurement
        requests = [r for r in fake.requests if task_of(r) is not None]
    assert result.code == 0, result.err
    assert len(probes) == 1 and "could not measure the model's speed" in result.err
    assert stand_in.entered and stand_in.exited
    assert "tiny local model" in result.err and "OPENAI_API_KEY" in result.err
    assert re.search(r"refresh took \d+s: \d+ model calls, .* \d+\.\ds a call", result.err)
    assert _gate_counts(result.err) == (1, 1)  # the invented year is held back
    # the structured-output method llama.cpp supports, and a bounded answer on every call
    assert requests and all(r.get("tool_choice", {}).get("type") == "function" for r in requests)
    assert all("response_format" not in r for r in requests)
    assert {r.get("max_tokens") for r in requests} == {300}
    assert {r["model"] for r in requests} == {"gemma-3-270m-q4_k_m"}


def test_demo_without_a_model_or_the_local_extra_says_what_is_missing(cli, monkeypatch):
    monkeypatch.setattr(local, "llama_cpp_available", lambda: False)
    result = cli("demo")
    assert result.code == 3
    assert "== 4. the knowledge bus" in result.err  # everything that needs no model still ran
    assert "error (local_model): llama-cpp-python is not installed" in result.err
    assert "[local]" in result.err and "Traceback" not in result.err


def test_demo_no_refresh_stops_after_the_bus(cli):
    result = cli("demo", "--no-refresh")
    assert result.code == 0, result.err
    assert "== 5." not in result.err
    assert re.search(r"ai-infrastructure: \d+ new", result.err)
