"""End to end through the real ChatOpenAI against the local fake OpenAI server: refresh."""

from __future__ import annotations

import json

import pytest

from agent.fake_replies import Fault
from agent.fake_server import FakeOpenAIServer
from agent.models import Source, source_id_for
from tests.scripted import extractive_draft, faithful_judge, part_of_sentence, triage_by_title

TOPIC = "ai-infrastructure"
NEW_SOURCES = [
    ("Meta liquid cooling shift", "Meta's VP of Infrastructure Dan Rabinovich says rack thermal "
     "density is scaling from 30 kW to 600 kW. Meta is moving to full-facility liquid cooling."),
    ("DiLoCo training across regions", "Decoupled DiLoCo trained a 12B Gemma model over four US "
     "regions. It isolates hardware failures and reintegrates recovered units."),
    ("A recipe for banana bread", "Mash three bananas and bake for 60 minutes at 175 C."),
]


@pytest.fixture
def topic_with_sources(cli, seed_path):
    from agent.store import open_store

    assert cli("import", seed_path, "--topic", TOPIC).code == 0
    store = open_store()
    items = [Source(id=source_id_for(None, text), title=title, kind="blog", text=text,
                    content_hash=source_id_for(None, text)) for title, text in NEW_SOURCES]
    store.sources.add_to_topic(TOPIC, items)
    store.sources.trust(TOPIC, [i.id for i in items], via="test")  # `--review auto` merges only trusted
    yield store
    store.close()


@pytest.fixture
def server(monkeypatch):
    with FakeOpenAIServer() as fake:
        fake.on_task("triage", triage_by_title({
            "liquid cooling": ["physical-infrastructure-boom"],
            "DiLoCo": ["training-and-compute-efficiency"]}))
        fake.on_task("draft_section", extractive_draft())
        fake.on_task("judge", faithful_judge)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("ABSORB_RETRY_INITIAL_DELAY", "0.01")
        monkeypatch.setenv("ABSORB_RETRY_MAX_DELAY", "0.02")
        yield fake


def test_refresh_proposes_edits_only_for_triaged_sections(cli, topic_with_sources, server):
    before = cli("show", TOPIC).out
    result = cli("refresh", TOPIC, "--no-gather", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["status"] == "waiting_review"
    assert sorted(e["section"] for e in data["edits"]) == ["Physical Infrastructure Boom",
                                                           "Training and Compute Efficiency"]
    assert all(e["sentences"] >= 1 and e["held_back"] == 0 for e in data["edits"])
    assert cli("show", TOPIC).out == before  # nothing merged without an editor
    store = topic_with_sources
    proposal = store.proposals.get(data["proposal_id"])
    boom = next(e for e in proposal.edits if e.section_id == "physical-infrastructure-boom")
    assert boom.new_sentences()[-1].text.startswith("Meta's VP of Infrastructure Dan Rabinovich")
    assert all(v.label.value == "supported" and v.quotes for v in boom.verdicts)
    statuses = {s.title: status for s, status in store.sources.for_topic(TOPIC)
                if s.title in {t for t, _ in NEW_SOURCES}}
    assert statuses["A recipe for banana bread"] == "irrelevant"
    assert statuses["Meta liquid cooling shift"] == "proposed"
    # draft requests never see sections other than their own text, and only triaged sources
    drafts = server.requests_for("draft_section")
    assert len(drafts) == 2
    assert all("banana" not in json.dumps(r) for r in drafts)
    calls = len(server.requests)
    again = cli("refresh", TOPIC, "--no-gather", "--json")
    assert json.loads(again.out)["outcome"] == "no new sources"
    assert len(server.requests) == calls


def test_auto_review_merges_into_a_new_revision(cli, topic_with_sources, server):
    before = json.loads(cli("show", TOPIC, "--format", "json").out)
    result = cli("refresh", TOPIC, "--no-gather", "--review", "auto", "--json")
    data = json.loads(result.out)
    assert data["status"] == "done" and data["merged_revision_id"]
    after = json.loads(cli("show", TOPIC, "--format", "json").out)
    assert after["revision"] == 2
    changed = [a["id"] for a, b in zip(after["sections"], before["sections"]) if a != b]
    assert changed == ["training-and-compute-efficiency", "physical-infrastructure-boom"]
    history = json.loads(cli("history", TOPIC, "--json").out)
    assert history[-1]["actor"].startswith("run:")
    statuses = {status for s, status in topic_with_sources.sources.for_topic(TOPIC)
                if s.title.startswith(("Meta liquid", "DiLoCo"))}
    assert statuses == {"absorbed"}


def test_gate_holds_back_a_changed_number(cli, topic_with_sources, server):
    server.on_task("draft_section", extractive_draft(lambda s: s.replace("12B", "70B")))
    server.on_task("revise_section", extractive_draft(lambda s: s.replace("12B", "70B")))
    data = json.loads(cli("refresh", TOPIC, "--no-gather", "--json").out)
    # Everything drafted for the section was held back: no edit of it is filed (it would change
    # nothing), the run says so, and its source is held back with the gate's reason.
    assert [e["section"] for e in data["edits"]] == ["Physical Infrastructure Boom"]
    assert "'Training and Compute Efficiency': 1 sentences held back" in data["outcome"]
    status = {s.title: (st, s.id) for s, st in topic_with_sources.sources.for_topic(TOPIC)}
    assert status["DiLoCo training across regions"][0] == "held_back"
    from agent.nights import notes

    note = next(n for n in notes(topic_with_sources, TOPIC)
                if n.source_id == status["DiLoCo training across regions"][1])
    assert note.section_ids == ["training-and-compute-efficiency"]
    assert note.detail["dropped"][0]["verdict"]["stage"] == "numbers"
    assert len(server.requests_for("revise_section")) == 1  # it repeated itself: the loop ended


@pytest.mark.parametrize("fault,category", [
    (Fault.server_error(), "server"),
    (Fault.bad_request(), "bad_request"),
    (Fault.context_length(), "context_length"),
    (Fault.unauthorized(), "auth"),
    ("{not json", "invalid_output"),
])
def test_faults_end_in_a_categorised_failed_run(cli, topic_with_sources, server, fault, category):
    before = cli("show", TOPIC).out
    server.on_task("triage", lambda request: fault)
    result = cli("refresh", TOPIC, "--no-gather", "--json")
    assert result.code == 3
    assert "Traceback" not in result.err
    data = json.loads(result.out)
    assert data["status"] == "failed" and data["error_category"] == category
    assert cli("show", TOPIC).out == before
    runs = json.loads(cli("runs", "--json").out)
    assert runs[0]["status"] == "failed" and runs[0]["error_category"] == category


def test_rate_limit_once_then_completes(cli, topic_with_sources, server):
    triage = triage_by_title({"DiLoCo": ["training-and-compute-efficiency"]})
    server.script_task("triage", Fault.rate_limit())
    server.on_task("triage", triage)
    data = json.loads(cli("refresh", TOPIC, "--no-gather", "--json").out)
    assert data["status"] == "waiting_review"
    assert len(server.requests_for("triage")) == 2


def test_timeout_is_categorised(cli, topic_with_sources, server, monkeypatch):
    monkeypatch.setenv("ABSORB_TIMEOUT", "0.5")
    monkeypatch.setenv("ABSORB_MAX_RETRIES", "1")
    server.on_task("triage", lambda request: Fault.hang(3))
    data = json.loads(cli("refresh", TOPIC, "--no-gather", "--json").out)
    assert data["error_category"] == "timeout"


def test_no_model_configured_is_one_clear_line(cli, topic_with_sources, monkeypatch):
    result = cli("refresh", TOPIC, "--no-gather")
    assert result.code == 3
    assert "OPENAI_API_KEY" in result.err and "Traceback" not in result.err


def test_usage_reports_tokens_per_node_and_section(cli, topic_with_sources, server):
    server.on_task("draft_section", extractive_draft(part_of_sentence))  # judged, not quoted
    result = cli("refresh", TOPIC, "--no-gather", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    rows = json.loads(cli("usage", "--run", str(data["run_id"]), "--json").out)
    nodes = {(r["node"], r["section"]) for r in rows}
    assert ("triage", None) in nodes
    assert ("draft", "physical-infrastructure-boom") in nodes
    assert any(n == "judge" for n, _ in nodes)
    assert sum(r["input_tokens"] for r in rows) == data["input_tokens"]


@pytest.fixture
def on_database(database_url):
    """Parametrises a test over SQLite and PostgreSQL before the topic fixture opens the store."""
    return database_url


def test_refresh_checkpoints_and_merges_on_each_database(on_database, cli, topic_with_sources, server):
    data = json.loads(cli("refresh", TOPIC, "--no-gather", "--json").out)
    assert data["status"] == "waiting_review"
    store = topic_with_sources
    assert store.engine.url.get_backend_name() == on_database.split(":")[0].split("+")[0]
    from agent.merge import merge_proposal

    proposal = store.proposals.get(data["proposal_id"])
    outcome = merge_proposal(store, proposal, actor="editor:test", comment="checked")
    assert len(outcome.merged) == 2
    assert store.revisions.current(TOPIC).number == 2


def test_a_topic_being_refreshed_elsewhere_is_refused(cli, topic_with_sources, server):
    store = topic_with_sources
    assert store.runs.lock_topic(TOPIC, "otherhost:1:batch:abc", 600)
    result = cli("refresh", TOPIC, "--no-gather")
    assert result.code == 4  # README: 4 = another run holds the topic
    assert "being worked on by otherhost:1:batch:abc" in result.err
    assert server.request_count == 0
    store.runs.unlock_topic(TOPIC, "otherhost:1:batch:abc")
    assert cli("refresh", TOPIC, "--no-gather").code == 0
    assert store.runs.topic_lock_holder(TOPIC) is None  # released after the command


def test_a_section_whose_draft_stays_invalid_is_given_up_alone(cli, topic_with_sources, server):
    good = extractive_draft()

    def broken_for_training(request: dict):
        return "{not json" if "Section to update: Training" in json.dumps(request) else good(request)

    server.on_task("draft_section", broken_for_training)
    result = cli("refresh", TOPIC, "--no-gather", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert [e["section"] for e in data["edits"]] == ["Physical Infrastructure Boom"]
    assert "section 'Training and Compute Efficiency' failed (invalid_output)" in data["outcome"]
    statuses = {s.title: status for s, status in topic_with_sources.sources.for_topic(TOPIC)}
    assert statuses["DiLoCo training across regions"] == "new"  # retried by the next run
    assert statuses["Meta liquid cooling shift"] == "proposed"


def test_additions_mode_keeps_every_old_sentence(cli, topic_with_sources, server, monkeypatch):
    monkeypatch.setenv("ABSORB_DRAFT_MODE", "additions")
    server.on_task("draft_additions", extractive_draft())
    data = json.loads(cli("refresh", TOPIC, "--no-gather", "--json").out)
    assert server.requests_for("draft_section") == []
    assert len(server.requests_for("draft_additions")) == 2
    proposal = topic_with_sources.proposals.get(data["proposal_id"])
    for edit in proposal.edits:
        new = edit.new_sentences()
        assert new[: len(edit.old_sentences)] == edit.old_sentences
        assert len(new) == len(edit.old_sentences) + 1


def test_max_revisions_zero_drops_failures_without_revising(cli, topic_with_sources, server,
                                                            monkeypatch):
    monkeypatch.setenv("ABSORB_MAX_REVISIONS", "0")
    server.on_task("draft_section", extractive_draft(lambda s: s.replace("12B", "70B")))
    data = json.loads(cli("refresh", TOPIC, "--no-gather", "--json").out)
    assert server.requests_for("revise_section") == []
    held = {e["section"]: e["held_back"] for e in data["edits"]}
    assert held == {"Physical Infrastructure Boom": 0}  # the held-back section files no edit
    assert "'Training and Compute Efficiency': 1 sentences held back" in data["outcome"]


def test_a_judge_that_never_answers_validly_holds_everything_back(cli, topic_with_sources, server):
    server.on_task("judge", lambda request: "{not json")
    # Parts of source sentences, not whole ones: only the judge could pass them.
    server.on_task("draft_section", extractive_draft(part_of_sentence))
    server.on_task("revise_section", extractive_draft(part_of_sentence))
    result = cli("refresh", TOPIC, "--no-gather", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["proposal_id"] is None and data["edits"] == []  # a proposal would change nothing
    from agent.nights import notes

    reasons = {d["verdict"]["reason"] for n in notes(topic_with_sources, TOPIC)
               for d in n.detail["dropped"]}
    assert any("judge gave no usable answer (invalid_output)" in r for r in reasons)
