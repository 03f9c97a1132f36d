"""Scale-out on PostgreSQL: `refresh --all --queue` enqueues one job per topic and two
`absorb worker --burst` processes drain the queue, each topic refreshed exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
import sqlalchemy as sa

from agent.fake_server import FakeOpenAIServer
from tests.test_batch import article_title, script_server, seed_topic

TOPICS = [f"topic-{n}" for n in range(6)]


def seeded_pg_store(postgres_url: str, monkeypatch, topics):
    """A PostgreSQL store (ABSORB_DATABASE_URL pointing at it) with each topic seeded."""
    from agent.store import open_store

    monkeypatch.setenv("ABSORB_DATABASE_URL", postgres_url)
    store = open_store(postgres_url)
    for slug in topics:
        seed_topic(store, slug)
    yield store
    store.close()


@pytest.fixture
def pg_store(postgres_url, monkeypatch):
    yield from seeded_pg_store(postgres_url, monkeypatch, TOPICS)


def test_two_burst_workers_drain_the_queue_once_per_topic(cli, pg_store, postgres_url, absorb_home):
    store = pg_store
    with FakeOpenAIServer(delay=0.05) as server:
        script_server(server)
        env = {**os.environ, "ABSORB_HOME": str(absorb_home), "ABSORB_DATABASE_URL": postgres_url,
               "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test-key",
               "ABSORB_REQUESTS_PER_SECOND": "0"}
        queued = cli("refresh", "--all", "--queue", "--no-gather", "--json")
        assert queued.code == 0, queued.err
        rows = json.loads(queued.out)
        assert sorted(r["topic"] for r in rows if r["status"] == "queued") == TOPICS
        again = json.loads(cli("refresh", "--all", "--queue", "--no-gather", "--json").out)
        assert {r["status"] for r in again} == {"already_queued"}  # the queueing lock
        workers = [subprocess.Popen([sys.executable, "-m", "agent.cli.main", "worker", "--burst",
                                     "--concurrency", "2", "--json"], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(2)]
        outputs = [w.communicate(timeout=120) for w in workers]
        triaged = Counter(article_title(r) for r in server.requests_for("triage"))
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err
    done = [t["topic"] for out, _ in outputs for t in json.loads(out)["topics"]]
    assert sorted(done) == TOPICS  # every topic once, across both workers
    assert all(n == 1 for n in triaged.values()) and len(triaged) == len(TOPICS)
    for slug in TOPICS:
        runs = store.runs.list(topic=slug)
        assert [r.status.value for r in runs] == ["waiting_review"]
        assert len(store.proposals.list(topic=slug)) == 1
    with store.engine.connect() as conn:
        states = dict(conn.execute(sa.text(
            "SELECT status, count(*) FROM procrastinate_jobs GROUP BY status")).all())
    assert states == {"succeeded": len(TOPICS)}
    # Nothing new: the next enqueue has nothing to queue.
    last = json.loads(cli("refresh", "--all", "--queue", "--no-gather", "--json").out)
    assert last == []


def test_queue_needs_postgresql(cli, store):
    if store.engine.dialect.name == "postgresql":
        pytest.skip("only meaningful on SQLite")
    result = cli("refresh", "--all", "--queue")
    assert result.code == 2 and "PostgreSQL" in result.err and "Traceback" not in result.err
    worker = cli("worker", "--burst")
    assert worker.code == 2 and "PostgreSQL" in worker.err
