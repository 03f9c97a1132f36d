"""Held back is not absorbed, and is not drafted again until something changes: a new source
for its section, the editor's retry, or another draft prompt or model (real ChatOpenAI path
against the fake server)."""

from __future__ import annotations

import json

import pytest

from agent.fake_server import FakeOpenAIServer
from agent.models import Source, source_id_for
from tests.scripted import extractive_draft, faithful_judge, sources_of, triage_by_title

TOPIC = "ai-infrastructure"
DILOCO = ("DiLoCo training across regions", "Decoupled DiLoCo trained a 12B Gemma model over four "
          "US regions. It isolates hardware failures and reintegrates recovered units.")
FOLLOW_UP = ("DiLoCo follow-up", "A second DiLoCo run spanned six regions. It finished on time.")


def _source(title: str, text: str) -> Source:
    return Source(id=source_id_for(None, text), title=title, kind="blog", text=text,
                  content_hash=source_id_for(None, text))


@pytest.fixture
def server(monkeypatch):
    with FakeOpenAIServer() as fake:
        fake.on_task("triage", triage_by_title({"DiLoCo": ["training-and-compute-efficiency"]}))
        wrong = extractive_draft(lambda s: s.replace("12B", "70B"))
        fake.on_task("draft_section", wrong)
        fake.on_task("revise_section", wrong)
        fake.on_task("judge", faithful_judge)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        yield fake


def test_held_back_waits_for_something_new_in_its_section(cli, seed_path, server, monkeypatch):
    from agent.store import open_store

    assert cli("import", seed_path, "--topic", TOPIC).code == 0
    store = open_store()
    held = _source(*DILOCO)
    store.sources.add_to_topic(TOPIC, [held])
    data = json.loads(cli("refresh", TOPIC, "--no-gather", "--json").out)
    assert data["proposal_id"] is None  # nothing passed: nothing to decide
    assert dict((s.id, st) for s, st in store.sources.for_topic(TOPIC))[held.id] == "held_back"
    calls = server.request_count
    assert json.loads(cli("refresh", TOPIC, "--no-gather", "--json").out)["outcome"] == "no new sources"
    assert server.request_count == calls

    # A new source reaches the same section: the held-back one is drafted again beside it.
    store.sources.add_to_topic(TOPIC, [_source(*FOLLOW_UP)])
    before = len(server.requests_for("draft_section"))
    cli("refresh", TOPIC, "--no-gather", "--json")
    drafted = server.requests_for("draft_section")[before:]
    assert len(drafted) == 1
    assert {sid for sid, _, _ in sources_of(drafted[0])} == {held.id, _source(*FOLLOW_UP).id}

    # Another draft model: what was held back under the old one is tried again.
    calls = server.request_count
    monkeypatch.setenv("ABSORB_DRAFT_MODEL", "another-model")
    cli("refresh", TOPIC, "--no-gather", "--json")
    assert server.request_count > calls
    store.close()
