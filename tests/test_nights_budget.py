"""The night budget estimates from this installation's history: on the seed topic the
formula's guess is several times the spend; once a seed night is recorded the estimate is
close to what a topic of that shape spends (real ChatOpenAI path, fake server)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from agent.fake_server import FakeOpenAIServer
from tests import nights_model


@pytest.fixture
def server(monkeypatch):
    with FakeOpenAIServer() as fake:
        nights_model.script(fake)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        yield fake


def _night(cli, seed_path, topic: str) -> tuple[int, int]:
    from agent.batch_budget import estimate_topic
    from agent.settings import get_settings
    from agent.store import open_store

    assert cli("import", seed_path, "--topic", topic).code == 0
    assert cli("sources", "import", seed_path, "--topic", topic).code == 0
    store = open_store()
    with store.engine.begin() as conn:  # a cold verdict cache, as for never-judged sentences
        conn.execute(sa.text("DELETE FROM verdict_cache"))
    estimate = estimate_topic(store, topic, get_settings()).tokens
    store.close()
    data = json.loads(cli("refresh", topic, "--no-gather", "--json").out)
    return estimate, data["input_tokens"] + data["output_tokens"]


def test_the_estimate_learns_from_recorded_nights(cli, seed_path, server):
    formula, spent = _night(cli, seed_path, "ai-infrastructure")
    assert formula > 3 * spent  # no history yet: today's conservative formula
    learned, spent_again = _night(cli, seed_path, "seed-copy")
    assert spent_again <= learned <= 1.6 * spent_again


def test_recorded_rates_sum_each_runs_calls_by_node(store):
    """Rates from the store's history: revise counts as draft, a run with one call of another
    prompt version or model is left out whole, runs beyond the history's length are ignored."""
    from agent.budget_history import expected_versions, recorded_rates
    from agent.models import LLMCall
    from agent.nights import record_work
    from agent.settings import get_settings

    settings = get_settings()
    versions = expected_versions(settings)
    store.topics.create("hist", "Hist", scope="History.")

    def run(calls: list[tuple[str, int, int]], *, triaged: int, sections: int, claims: int,
            foreign: bool = False) -> None:
        made = store.runs.create("refresh", "hist", {})
        for node, tokens_in, tokens_out in calls:
            prompt, model = versions[node]
            store.runs.record(LLMCall(run_id=made.id, node=node, model=model + "-2026",
                                      prompt_version=prompt + ("x" if foreign else ""),
                                      input_tokens=tokens_in, output_tokens=tokens_out))
        record_work(store, made.id, "hist", triaged=triaged, sections=sections, claims=claims)

    run([("triage", 100, 10), ("draft", 400, 50), ("revise", 200, 20), ("judge", 90, 9),
         ("judge", 60, 6)], triaged=12, sections=2, claims=5)
    run([("triage", 50, 5), ("draft", 300, 30), ("judge", 30, 3)], triaged=10, sections=1, claims=3)
    run([("triage", 9999, 9), ("draft", 9999, 9)], triaged=50, sections=9, claims=9, foreign=True)
    rates = recorded_rates(store, settings)
    assert rates.runs == 2
    assert rates.tokens_per_source == pytest.approx((110 + 55) / 22)
    assert rates.sections_per_source == pytest.approx(3 / 22)
    assert rates.tokens_per_section == pytest.approx((450 + 220 + 330) / 3)
    assert rates.claims_per_section == pytest.approx(8 / 3)
    assert rates.tokens_per_claim == pytest.approx((99 + 66 + 33) / 8)
