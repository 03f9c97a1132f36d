"""Runs and sources end in a true state: a refused (stale) edit gives its sources back,
staleness is judged per section, a rewrite with no model leaves no run behind, and one
model call's retries stop at its total deadline."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from pydantic import BaseModel

from agent.fake_replies import Fault
from agent.fake_server import FakeOpenAIServer
from agent.models import Sentence
from tests.test_races import make_topic, one_edit_proposal

TOPIC = "state"


@pytest.fixture
def store():
    from agent.store import open_store

    opened = open_store()
    make_topic(opened, TOPIC)
    yield opened
    opened.close()


def _rewrite_cooling(store, text: str = "An editor rewrote cooling meanwhile.") -> None:
    current = store.revisions.current(TOPIC)
    article = current.article.model_copy(deep=True)
    article.section("cooling").paragraphs = [[Sentence(text=text)]]
    store.revisions.commit(TOPIC, article, base_revision_id=current.id, actor="editor:other")


def test_a_refused_edit_gives_its_sources_back_to_new_with_the_reason(cli, store):
    pid, text, source_id = one_edit_proposal(store, TOPIC)
    _rewrite_cooling(store)
    assert json.loads(cli("review", "list", "--json").out)[0]["status"] == "stale"
    result = cli("review", "approve", pid)
    assert result.code == 4 and "edit 1 refused: section 'Cooling' changed" in result.err
    links = {s.id: status for s, status in store.sources.for_topic(TOPIC)}
    assert links[source_id] == "new"  # the next refresh drafts it again
    shown = json.loads(cli("sources", "show", source_id, "--json").out)
    assert f"its edit in proposal {pid} was refused" in json.dumps(shown)
    assert store.runs.get(store.proposals.get(pid).run_id).status.value == "done"


def test_a_refused_edit_leaves_sources_a_newer_open_proposal_carries(cli, store):
    pid, _, source_id = one_edit_proposal(store, TOPIC)
    _rewrite_cooling(store)
    # A newer refresh proposed the same source against the new text.
    newer, _, same = one_edit_proposal(store, TOPIC, tag="-newer")
    assert same == source_id
    assert cli("review", "approve", pid).code == 4
    assert {s.id: st for s, st in store.sources.for_topic(TOPIC)}[source_id] == "proposed"
    assert cli("review", "approve", newer).code == 0


def test_staleness_is_per_section(cli, store):
    pid, _, _ = one_edit_proposal(store, TOPIC)
    current = store.revisions.current(TOPIC)
    article = current.article.model_copy(deep=True)
    article.section("training").paragraphs = [[Sentence(text="Training changed, not cooling.")]]
    store.revisions.commit(TOPIC, article, base_revision_id=current.id, actor="editor:other")
    listed = json.loads(cli("review", "list", "--json").out)
    assert [(p["id"], p["status"], p["sections"][0]["stale"]) for p in listed] == [(pid, "pending", False)]
    approved = cli("review", "approve", pid)
    assert approved.code == 0 and "merged edits 1; revision 3" in approved.err


def test_a_rewrite_without_a_model_leaves_no_run_admitted(cli, store):
    result = cli("rewrite", TOPIC, "cooling")
    assert result.code != 0 and result.err.count("\n") == 1 and "Traceback" not in result.err
    assert [r.status.value for r in store.runs.list(topic=TOPIC)] == []


class Answer(BaseModel):
    text: str


def test_retries_stop_at_the_calls_total_deadline():
    from agent.llm import LLMError, build_chat_model, call_structured
    from agent.settings import get_settings

    with FakeOpenAIServer(default=Fault.hang(30)) as server:
        settings = get_settings(openai_base_url=server.base_url, openai_api_key="k", timeout=10,
                                max_retries=3, retry_deadline=1.5, retry_initial_delay=0.01,
                                requests_per_second=0)
        model = build_chat_model("draft", settings)
        started = time.monotonic()
        with pytest.raises(LLMError) as raised:
            asyncio.run(call_structured(model, Answer, [("user", "hi")], node="draft",
                                        settings=settings))
        took = time.monotonic() - started
        calls = server.request_count
    assert raised.value.category == "timeout" and "deadline" in str(raised.value)
    assert took < 4, took  # not 4 attempts x 10 s
    assert calls == 1
