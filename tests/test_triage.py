"""Triage: ids constrained to the call's own, and lexical triage for models too small to triage."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from agent.markdown import parse_page
from agent.models import Source, Topic
from agent.triage import answer_schema, lexical_decisions, plan_tasks
from tests.test_refresh_e2e import TOPIC, server, topic_with_sources  # noqa: F401 - fixtures


def test_answer_schema_admits_only_this_calls_ids():
    schema = answer_schema(["src_a", "src_b"], ["overview", "future-directions"])
    ok = schema.model_validate({"decisions": [{"source_id": "src_a", "relevant": True,
                                               "sections": ["overview"]}]})
    assert ok.decisions[0].sections == ["overview"]
    for bad in ({"source_id": "src_made_up", "relevant": True},
                {"source_id": "src_a", "relevant": True, "sections": ["no-such-section"]}):
        with pytest.raises(ValidationError):
            schema.model_validate({"decisions": [bad]})
    enum = json.dumps(schema.model_json_schema())
    assert '"src_a"' in enum and '"future-directions"' in enum


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


def test_draft_schema_admits_only_citable_ids():
    from agent.drafting import draft_schema

    schema = draft_schema(["src_a", "web:3"])
    good = {"paragraphs": [{"sentences": [{"text": "A fact.", "citations": ["src_a", "web:3"]}]}]}
    assert schema.model_validate(good).paragraphs[0].sentences[0].citations == ["src_a", "web:3"]
    with pytest.raises(ValidationError):
        schema.model_validate({"paragraphs": [{"sentences": [
            {"text": "A fact.", "citations": ["Introduction"]}]}]})
