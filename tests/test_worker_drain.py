"""SIGTERM to `absorb worker` drains like `refresh --all` does: no model call or retry starts,
calls in flight get the grace, the jobs in hand end `deferred (shutdown)` (not cancelled, not
failed), the worker exits 75, and the next worker continues the same runs to a proposal."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import sqlalchemy as sa

from agent.fake_server import FakeOpenAIServer
from tests.test_batch import script_server
from tests.test_batch_queue import seeded_pg_store
from tests.test_drain import GRACE, _hanging, sigterm_once_called
from tests.test_races import ABSORB

TOPICS = ("alpha-labs", "beta-works")


@pytest.fixture
def pg_store(postgres_url, monkeypatch):
    yield from seeded_pg_store(postgres_url, monkeypatch, TOPICS)


def _env(server: FakeOpenAIServer, absorb_home, postgres_url: str) -> dict:
    env = {**os.environ, "ABSORB_HOME": str(absorb_home), "ABSORB_DATABASE_URL": postgres_url,
           "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test-key",
           "ABSORB_REQUESTS_PER_SECOND": "0", "ABSORB_DRAIN_GRACE": str(GRACE), "NO_COLOR": "1"}
    return env


def test_sigterm_drains_a_worker_whose_provider_hangs(cli, pg_store, postgres_url, absorb_home):
    store = pg_store
    queued = cli("refresh", "--all", "--queue", "--no-gather", "--json")
    assert queued.code == 0, queued.err
    with FakeOpenAIServer() as server:
        _hanging(server)
        worker = subprocess.Popen([ABSORB, "worker", "--concurrency", "2", "--json"],
                                  env=_env(server, absorb_home, postgres_url),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err, took = sigterm_once_called(worker, server, len(TOPICS))
        calls = server.request_count
    assert worker.returncode == 75, err
    assert took < GRACE + 15, took
    assert calls == len(TOPICS), calls  # nothing started after the signal
    report = {t["topic"]: t for t in json.loads(out)["topics"]}
    assert {t: (r["status"], r["error_category"]) for t, r in report.items()} == {
        t: ("deferred", "shutdown") for t in TOPICS}, err
    runs = {r.topic: r for r in store.runs.list()}
    assert {t: (r.status.value, r.error_category) for t, r in runs.items()} == {
        t: ("deferred", "shutdown") for t in TOPICS}
    with FakeOpenAIServer() as server:
        script_server(server)
        queued = cli("refresh", "--all", "--queue", "--no-gather", "--json")
        assert queued.code == 0, queued.err
        again = subprocess.run([ABSORB, "worker", "--burst", "--json"],
                               env=_env(server, absorb_home, postgres_url),
                               capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    after = {r.topic: r for r in store.runs.list()}
    assert {t: after[t].id for t in TOPICS} == {t: runs[t].id for t in TOPICS}  # continued
    assert {after[t].status.value for t in TOPICS} == {"waiting_review"}
    with store.engine.connect() as conn:
        states = dict(conn.execute(sa.text(
            "SELECT status, count(*) FROM procrastinate_jobs GROUP BY status")).all())
    assert "doing" not in states and "todo" not in states, states
    print(f"\nworker SIGTERM to exit: {took:.1f}s with a {GRACE:g}s grace; {calls} calls")
