"""`absorb refresh --all`: isolated topics, report, locks, night budget, estimates."""

from __future__ import annotations

import json

import pytest

from agent.fake_replies import Fault
from agent.fake_server import FakeOpenAIServer
from agent.models import Article, Section, Sentence, Source, source_id_for
from tests.scripted import extractive_draft, faithful_judge, triage_by_title, user_text

SECTIONS = {"cooling": "Cooling", "training": "Training"}


def seed_topic(store, slug: str, *, sources_per_section: int = 1) -> None:
    """A small two-section article and one new source per section (titles route triage)."""
    title = slug.replace("-", " ").title()
    store.topics.create(slug, title, scope=f"Everything about {title}.")
    sections = [Section(id=sid, heading=heading, paragraphs=[[Sentence(
        text=f"{heading} of {title} has been studied for years.", citations=[])]])
        for sid, heading in SECTIONS.items()]
    store.revisions.commit(slug, Article(title=title, summary=f"{title}.", sections=sections),
                           base_revision_id=None, actor="import")
    items = []
    for sid in SECTIONS:
        for n in range(sources_per_section):
            text = (f"{title} reported {sid} news number {n + 1} on 3 March 2026. "
                    f"The {sid} team at {title} confirmed the result.")
            items.append(Source(id=source_id_for(None, text), title=f"{title} {sid} update {n + 1}",
                                kind="blog", text=text, content_hash=source_id_for(None, text)))
    store.sources.add_to_topic(slug, items)
    store.sources.trust(slug, [i.id for i in items], via="test")  # `--review auto` merges only trusted


def article_title(request: dict) -> str:
    for line in user_text(request).splitlines():
        if line.startswith("Article: "):
            return line[len("Article: "):].strip()
    return ""


def script_server(server: FakeOpenAIServer, failing: str | None = None) -> None:
    """Triage routes by title; drafts are extractive; the judge quotes. `failing` gets 500s."""
    routes = {sid: [sid] for sid in SECTIONS}
    handlers = {"triage": triage_by_title(routes), "draft_section": extractive_draft(),
                "revise_section": extractive_draft(), "judge": faithful_judge}

    def wrap(handler):
        def answer(request: dict):
            if failing and failing in json.dumps(request):
                return Fault.server_error()
            return handler(request)
        return answer

    for task, handler in handlers.items():
        server.on_task(task, wrap(handler))




@pytest.fixture
def server(monkeypatch):
    with FakeOpenAIServer() as fake:
        script_server(fake)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("ABSORB_RETRY_INITIAL_DELAY", "0.01")
        monkeypatch.setenv("ABSORB_RETRY_MAX_DELAY", "0.02")
        monkeypatch.setenv("ABSORB_REQUESTS_PER_SECOND", "0")
        yield fake


def test_one_failing_topic_does_not_stop_the_others(cli, store, server):
    for slug in ("alpha-labs", "beta-works", "gamma-corp"):
        seed_topic(store, slug)
    script_server(server, failing="Gamma Corp")
    result = cli("refresh", "--all", "--no-gather", "--concurrency", "3", "--json")
    assert result.code == 1, result.err
    assert "Traceback" not in result.err
    report = {t["topic"]: t for t in json.loads(result.out)["topics"]}
    assert set(report) == {"alpha-labs", "beta-works", "gamma-corp"}
    for slug in ("alpha-labs", "beta-works"):
        row = report[slug]
        assert row["status"] == "waiting_review" and row["proposal_id"], (row["error"], result.err)
        assert row["edits"] == 2 and row["held_back"] == 0
        assert row["input_tokens"] > 0 and row["duration_s"] > 0 and row["error_category"] is None
    failed = report["gamma-corp"]
    assert failed["status"] == "failed" and failed["error_category"] == "server", failed["error"]
    assert failed["proposal_id"] is None and "500" in failed["error"]
    assert "gamma-corp" in result.err and "failed" in result.err  # the table on stderr
    runs = json.loads(cli("runs", "--json").out)
    assert sorted(r["status"] for r in runs) == ["failed", "waiting_review", "waiting_review"]
    # Nothing left to do for the two finished topics; the failed one is tried again.
    again = json.loads(cli("refresh", "--all", "--no-gather", "--json").out)
    assert {t["topic"] for t in again["topics"]} == {"gamma-corp"}


def test_a_topic_locked_by_a_live_batch_is_left_alone(cli, store, server):
    seed_topic(store, "alpha-labs")
    seed_topic(store, "beta-works")
    assert store.runs.lock_topic("beta-works", "elsewhere:1:batch:x", 600)
    result = cli("refresh", "--all", "--no-gather", "--json")
    assert result.code == 75
    report = {t["topic"]: t for t in json.loads(result.out)["topics"]}
    assert report["alpha-labs"]["status"] == "waiting_review"
    assert report["beta-works"]["status"] == "locked" and "elsewhere" in report["beta-works"]["error"]
    assert not [r for r in store.runs.list() if r.topic == "beta-works"]
    assert store.runs.topic_lock_holder("alpha-labs") is None  # released after its run


def test_a_dead_local_holder_does_not_block_the_rerun(store):
    from agent.batch import acquire_topic

    seed_topic(store, "alpha-labs")
    dead = "{host}:999999999:batch:dead"
    import socket

    assert store.runs.lock_topic("alpha-labs", dead.format(host=socket.gethostname()), 600)
    assert acquire_topic(store, "alpha-labs", "me", 60) is None
    assert store.runs.topic_lock_holder("alpha-labs") == "me"
    assert acquire_topic(store, "alpha-labs", "someone-else", 60) == "me"


def test_estimate_covers_what_a_topic_spends(cli, store, server):
    from agent.batch_budget import estimate_topic
    from agent.settings import get_settings

    seed_topic(store, "alpha-labs", sources_per_section=3)
    estimate = estimate_topic(store, "alpha-labs", get_settings())
    assert estimate.sources == 6 and estimate.call_ceiling > get_settings().max_output_tokens
    data = json.loads(cli("refresh", "--all", "--no-gather", "--json").out)
    spent = data["spent_tokens"]
    assert 0 < spent <= estimate.tokens
    assert data["topics"][0]["estimate_tokens"] == estimate.tokens
    assert estimate_topic(store, "alpha-labs", get_settings()).tokens == 0  # nothing new left


def test_a_night_below_every_estimate_still_runs_what_it_can_pay_for(cli, store, server):
    """Found by running the batch night after night: with a budget below each topic's estimate
    (a new installation's estimate assumes the worst: here some six times what a topic
    spends), every topic was deferred every night, and the history that corrects the estimate
    comes only from runs that ran. Now a topic that does not fit, once no other run holds
    tokens, starts on what the night has left and stops before a call it cannot pay for."""
    from agent.batch_budget import estimate_topic
    from agent.settings import get_settings

    for slug in ("alpha-labs", "beta-works", "gamma-corp"):
        seed_topic(store, slug)
    estimate = estimate_topic(store, "alpha-labs", get_settings())
    budget = estimate.tokens - 1  # no topic's estimate fits: each was deferred every night
    result = cli("refresh", "--all", "--no-gather", "--concurrency", "1",
                 "--budget-tokens", str(budget), "--json")
    data = json.loads(result.out)
    statuses = [t["status"] for t in data["topics"]]
    assert result.code == (75 if "deferred" in statuses else 0), result.err
    assert statuses.count("waiting_review") >= 2, result.err  # not deferred every night
    assert all(t["estimate_tokens"] > budget for t in data["topics"])
    assert data["spent_tokens"] <= budget
    deferred = [t for t in data["topics"] if t["status"] == "deferred"]
    for topic in deferred:  # the last one started on what was left and paused before a call
        assert topic["error_category"] == "budget"
        assert not store.proposals.list(topic=topic["topic"])  # never half a proposal
    rerun = cli("refresh", "--all", "--no-gather", "--budget-tokens", str(budget), "--json")
    assert rerun.code == 0, rerun.err
    second = json.loads(rerun.out)
    assert [(t["topic"], t["run_id"]) for t in second["topics"]] == [
        (t["topic"], t["run_id"]) for t in deferred]  # the same runs, continued
    assert second["spent_tokens"] <= budget
    assert len(store.proposals.list()) == 3


def test_night_budget_defers_what_cannot_pay_for_a_call_and_the_next_night_resumes_it(
        cli, store, server):
    from agent.batch_budget import estimate_topic
    from agent.settings import get_settings

    for slug in ("alpha-labs", "beta-works", "gamma-corp"):
        seed_topic(store, slug)
    ceiling = max(estimate_topic(store, slug, get_settings()).call_ceiling
                  for slug in ("alpha-labs", "beta-works", "gamma-corp"))
    result = cli("refresh", "--all", "--no-gather", "--concurrency", "1",
                 "--budget-tokens", str(ceiling - 1), "--json")
    assert result.code == 75, result.err
    data = json.loads(result.out)
    assert [t["status"] for t in data["topics"]] == ["deferred"] * 3
    assert data["spent_tokens"] == 0 and not server.requests  # not a single call
    for deferred in data["topics"]:
        assert deferred["error_category"] == "budget" and deferred["run_id"]
        assert "left of the night's" in deferred["error"]
    rerun = cli("refresh", "--all", "--no-gather", "--json")
    second = json.loads(rerun.out)
    assert rerun.code == 0, rerun.err
    assert [(t["topic"], t["status"], t["run_id"]) for t in second["topics"]] == [
        (t["topic"], "waiting_review", t["run_id"]) for t in data["topics"]]  # the same runs
    assert len(store.proposals.list()) == 3


async def test_the_batch_freezes_what_start_up_made_and_thaws_it_after(store, monkeypatch):
    """gc.freeze() for the batch's run: full collections skip start-up's objects; after it,
    the collector sees every object again (nothing stays frozen past the batch)."""
    import gc

    from agent.batch import Batch, BatchOptions, BatchReport, run_batch
    from agent.runner import Models
    from agent.settings import get_settings

    seen: list[int] = []

    async def run(self, topics):
        seen.append(gc.get_freeze_count())
        return BatchReport()

    monkeypatch.setattr(Batch, "run", run)
    before = gc.get_freeze_count()
    await run_batch(store, BatchOptions(topics=["any"]), get_settings(),
                    models=Models(None, None, None), handle_signals=False)
    assert seen and seen[0] > before
    assert gc.get_freeze_count() == before
