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
