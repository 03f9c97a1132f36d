"""Triage: ids checked in code after a fixed-schema answer, and lexical triage for models too small to triage."""

from __future__ import annotations

import json

import pytest

from agent.markdown import parse_page
from agent.models import Source, Topic
from agent.triage import lexical_decisions, plan_tasks
from tests.test_refresh_e2e import TOPIC, server, topic_with_sources  # noqa: F401 - fixtures


def test_one_schema_for_every_call_and_invented_ids_are_dropped_in_code(
        cli, topic_with_sources, server):
    """The schemas carry no per-call id enums (a provider caches the request's prefix, schema
    first); what the model makes up is checked after the answer instead."""
    store = topic_with_sources
    ids = {s.title: s.id for s, _ in store.sources.for_topic(TOPIC)}
    cooling, diloco = ids["Meta liquid cooling shift"], ids["DiLoCo training across regions"]

    def triage(request):
        return {"decisions": [
            {"source_id": "src_made_up_by_the_model", "relevant": True, "sections": ["overview"]},
            # A heading where an id belongs still finds its section; an unknown id does not.
            {"source_id": cooling, "relevant": True,
             "sections": ["Physical Infrastructure Boom", "no-such-section"]},
            {"source_id": diloco, "relevant": True, "sections": ["training-and-compute-efficiency"]},
            {"source_id": ids["A recipe for banana bread"], "relevant": False}]}

    def draft(request):
        source = next(sid for sid in (cooling, diloco) if sid in json.dumps(request))
        return {"paragraphs": [{"sentences": [
            {"text": "Meta is moving to full-facility liquid cooling.", "citations": [source, "Introduction"]},
            {"text": "It trained a model somewhere.", "citations": ["src_0123456789abcdef"]}]}]}

    server.on_task("triage", triage)
    server.on_task("draft_section", draft)
    # The revision repeats the made-up id: dropped again, the sentence repeats, the loop stops.
    server.on_task("revise_section", lambda request: {"paragraphs": [{"sentences": [
        {"text": "It trained a model somewhere.", "citations": ["src_0123456789abcdef"]}]}]})
    result = cli("refresh", TOPIC, "--no-gather", "--json")
    data = json.loads(result.out)
    assert data.get("proposal_id"), (result.out, result.err)
    proposal = store.proposals.get(data["proposal_id"])
    assert {e.section_id for e in proposal.edits} == {"physical-infrastructure-boom"}
    boom = proposal.edits[0]
    old = {s.text for s in boom.old_sentences}
    assert [(s.text, s.citations) for s in boom.new_sentences() if s.text not in old] == [
        ("Meta is moving to full-facility liquid cooling.", [cooling])]
    held = {d.sentence.text: d.sentence.citations for d in boom.dropped}
    assert held == {"It trained a model somewhere.": []}  # its only id was made up
    # One revision per drafted section: a revision that repeats a failed sentence ends its loop.
    assert len(server.requests_for("revise_section")) == 2
    drafts = server.requests_for("draft_section")
    assert len(drafts) == 2
    assert len({json.dumps(r["response_format"]) for r in drafts}) == 1
    assert "enum" not in json.dumps(drafts[0]["response_format"])
    assert f"Ids you may cite: {cooling}" in json.dumps(drafts[0]) + json.dumps(drafts[1])
    triage_schema = json.dumps(server.requests_for("triage")[0]["response_format"])
    assert cooling not in triage_schema and "physical-infrastructure-boom" not in triage_schema


def test_lexical_triage_routes_by_shared_words(seed_path):
    article = parse_page(seed_path.read_text()).article
    topic = Topic(slug="ai", title=article.title, scope=article.summary)
    cooling = Source(id="src_cool", title="Liquid cooling for gigawatt data centers",
                     text="Hyperscalers building gigawatt data centers adopt liquid cooling and "
                          "behind-the-meter natural gas power for GPUs.")
    bread = Source(id="src_bread", title="Banana bread", text="Mash bananas, add flour, bake.")
    decisions = {d.source_id: d for d in lexical_decisions(topic, article, [cooling, bread])}
    assert decisions["src_cool"].relevant
    assert decisions["src_cool"].sections == ["physical-infrastructure-boom"]
    assert not decisions["src_bread"].relevant
    tasks = plan_tasks(article, list(decisions.values()), {"src_cool", "src_bread"})
    assert [(t.section_id, t.source_ids) for t in tasks] == [("physical-infrastructure-boom", ["src_cool"])]


def test_lexical_mode_makes_no_triage_call(cli, topic_with_sources, server, monkeypatch):
    monkeypatch.setenv("ABSORB_TRIAGE_MODE", "lexical")
    data = json.loads(cli("refresh", TOPIC, "--no-gather", "--json").out)
    assert data["status"] == "waiting_review"
    assert server.requests_for("triage") == []
    assert {e["section"] for e in data["edits"]} == {"Physical Infrastructure Boom"}


def test_a_draft_takes_at_most_k_sources_and_the_rest_wait_for_the_next_run(
        cli, topic_with_sources, server, monkeypatch):
    monkeypatch.setenv("ABSORB_DRAFT_MAX_SOURCES", "1")
    store = topic_with_sources
    ids = {s.title: s.id for s, _ in store.sources.for_topic(TOPIC)}
    cooling, diloco = ids["Meta liquid cooling shift"], ids["DiLoCo training across regions"]
    # Triage sends both to one section, DiLoCo first: the cooling source shares more words
    # with that section, so it is the one drafted.
    server.on_task("triage", lambda request: {"decisions": [
        {"source_id": diloco, "relevant": True, "sections": ["physical-infrastructure-boom"]},
        {"source_id": cooling, "relevant": True, "sections": ["physical-infrastructure-boom"]},
        {"source_id": ids["A recipe for banana bread"], "relevant": False}]})
    first = cli("refresh", TOPIC, "--no-gather", "--json")
    data = json.loads(first.out)
    assert "1 sources wait for the next run (at most 1 per section draft)" in data["outcome"], data
    drafts = server.requests_for("draft_section")
    assert len(drafts) == 1 and cooling in json.dumps(drafts[0]) and diloco not in json.dumps(drafts[0])
    listed = {row["id"]: row for row in json.loads(cli("sources", "list", TOPIC, "--json").out)}
    assert listed[cooling]["status"] == "proposed"
    assert listed[diloco]["status"] == "new"
    assert "took its 1 most relevant sources (ABSORB_DRAFT_MAX_SOURCES)" in listed[diloco]["reason"]
    assert len(server.requests_for("triage")) == 1
    second = json.loads(cli("refresh", TOPIC, "--no-gather", "--json").out)
    drafts = server.requests_for("draft_section")
    assert len(drafts) == 2 and diloco in json.dumps(drafts[1])
    assert len(server.requests_for("triage")) == 1  # triage's answer was remembered, not asked again
    assert "wait for the next run" not in second["outcome"]
    listed = {row["id"]: row for row in json.loads(cli("sources", "list", TOPIC, "--json").out)}
    assert listed[diloco]["status"] != "new" and "reason" not in listed[diloco]


def test_a_call_the_budget_cannot_afford_is_not_sent(cli, topic_with_sources, server, monkeypatch):
    monkeypatch.setenv("ABSORB_TOKEN_BUDGET", "200")  # the triage prompt alone needs more
    result = cli("refresh", TOPIC, "--no-gather", "--json")
    assert result.code != 0 or json.loads(result.out)["status"] != "waiting_review"
    assert "needs about" in result.out + result.err
    assert server.requests == []


def test_bounded_tasks_keep_new_sources_first_then_the_closest_then_triage_order(seed_path):
    from agent.triage import SectionTask, bound_tasks, known_sections

    article = parse_page(seed_path.read_text()).article
    close = "Liquid cooling for gigawatt data centers, GPUs and behind-the-meter power."
    sources = {sid: Source(id=sid, title=title, text=text) for sid, title, text in [
        ("src_far_first", "A note", "Bananas and bread."),
        ("src_close", "Cooling", close),
        ("src_far_second", "Another note", "Flour and sugar."),
        ("src_held", "Held", close)]}
    task = SectionTask("physical-infrastructure-boom", "Physical Infrastructure Boom", False,
                       ["src_far_first", "src_held", "src_close", "src_far_second"])
    left = bound_tasks([task], article, sources, 2, held={"src_held"})
    assert task.source_ids == ["src_far_first", "src_close"]  # kept in their triage order
    assert left == {"src_held": ["physical-infrastructure-boom"],
                    "src_far_second": ["physical-infrastructure-boom"]}
    assert bound_tasks([task], article, sources, 0) == {}  # 0: no limit
    assert known_sections(["Physical Infrastructure Boom", "no-such", "overview", "overview"],
                          article) == ["physical-infrastructure-boom", "overview"]


def test_triage_asks_in_as_few_calls_as_the_batch_size_allows_of_even_sizes() -> None:
    from agent.triage import TRIAGE_BATCH, batches

    items = [Source(id=f"s{n}", text="x") for n in range(2 * TRIAGE_BATCH + 3)]
    sizes = [len(b) for b in batches(items)]
    assert len(sizes) == 3 and max(sizes) - min(sizes) <= 1 and max(sizes) <= TRIAGE_BATCH
    assert [s for b in batches(items) for s in b] == items  # every source once, in order
    assert [len(b) for b in batches(items[:TRIAGE_BATCH])] == [TRIAGE_BATCH]
    assert batches([]) == []
