"""A batch killed with SIGKILL, or stopped with SIGTERM, and run again: every topic ends exactly
once and no model call of a finished node is paid for twice (requests counted at the fake
server across both processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from agent.fake_server import FakeOpenAIServer
from tests.test_batch import article_title, script_server, seed_topic

TOPICS = ("alpha-labs", "beta-works", "gamma-corp")
WAIT = 60


_SPAWNED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_orphans():
    """A failed assertion must not leave a batch process behind."""
    yield
    while _SPAWNED:
        process = _SPAWNED.pop()
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _absorb(env: dict, *args: str) -> subprocess.Popen:
    process = _popen(env, *args)
    _SPAWNED.append(process)
    return process


def _popen(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "agent.cli.main", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        time.sleep(0.05)


def _section(request: dict) -> str:
    text = json.dumps(request)
    return "training" if "Section to update: Training" in text else "cooling"


def _drafts(server: FakeOpenAIServer) -> Counter:
    return Counter((article_title(r), _section(r)) for r in server.requests_for("draft_section"))


@pytest.fixture
def seeded(store):
    for slug in TOPICS:
        seed_topic(store, slug)
    return store


def _held_server(server: FakeOpenAIServer, release: threading.Event) -> None:
    """Gamma's training draft stays in flight until `release`: the process dies around it."""
    script_server(server)
    draft = server._task_handlers["draft_section"]

    def held(request: dict) -> dict:
        if article_title(request) == "Gamma Corp" and _section(request) == "training":
            release.wait(WAIT)
        return draft(request)

    server.on_task("draft_section", held)


def _env(absorb_home, database_url: str, server: FakeOpenAIServer) -> dict:
    return {**os.environ, "ABSORB_HOME": str(absorb_home), "ABSORB_DATABASE_URL": database_url,
            "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test-key",
            "ABSORB_REQUESTS_PER_SECOND": "0"}


def test_sigkill_mid_batch_then_rerun_finishes_each_topic_once(seeded, database_url, absorb_home):
    store = seeded
    release = threading.Event()
    with FakeOpenAIServer() as server:
        _held_server(server, release)
        env = _env(absorb_home, database_url, server)
        first = _absorb(env, "refresh", "--all", "--no-gather", "--review", "auto",
                        "--concurrency", "3", "--json")
        # Alpha and beta finish; gamma's cooling section is drafted (its sentences are copied
        # whole from the source, so the gate passes them without a judge call).
        _wait_for(lambda: sum(r.status.value == "done" for r in store.runs.list()) == 2
                  and _drafts(server)[("Gamma Corp", "cooling")] == 1,
                  lambda: f"two topics and a section (runs {[r.status.value for r in store.runs.list()]}, "
                          f"drafts {dict(_drafts(server))})")
        time.sleep(1.0)  # the checked section's checkpoint is written
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        release.set()
        before = _drafts(server)
        assert before[("Gamma Corp", "training")] == 1  # in flight when the process died
        triage_before = len(server.requests_for("triage"))
        second = _absorb(env, "refresh", "--all", "--no-gather", "--review", "auto", "--json")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        report = json.loads(out)["topics"]
        after = _drafts(server)
    assert [(t["topic"], t["status"]) for t in report] == [("gamma-corp", "done")]
    # Only the draft that was in flight was asked again; triage was not repeated at all.
    assert after - before == Counter({("Gamma Corp", "training"): 1})
    assert all(after[(t.replace("-", " ").title(), s)] == 1 for t in TOPICS[:2]
               for s in ("cooling", "training"))
    assert len(server.requests_for("triage")) == triage_before == 3
    for slug in TOPICS:
        runs = [r for r in store.runs.list(topic=slug)]
        assert [r.status.value for r in runs] == ["done"]  # one run per topic, resumed not redone
        assert [r.number for r in store.revisions.history(slug)] == [1, 2]
        assert len(store.proposals.list(topic=slug)) == 1
    assert store.runs.topic_lock_holder("gamma-corp") is None


def test_sigterm_drains_and_the_next_batch_continues(seeded, database_url, absorb_home):
    store = seeded
    release = threading.Event()
    with FakeOpenAIServer() as server:
        _held_server(server, release)
        env = _env(absorb_home, database_url, server)
        first = _absorb(env, "refresh", "--all", "--no-gather", "--concurrency", "3", "--json")
        _wait_for(lambda: _drafts(server)[("Gamma Corp", "training")] == 1
                  and sum(r.status.value == "waiting_review" for r in store.runs.list()) == 2,
                  "gamma's held draft")
        first.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        release.set()  # the running node finishes; nothing after it starts
        out, err = first.communicate(timeout=WAIT)
        assert first.returncode == 75, err
        drained = {t["topic"]: t for t in json.loads(out)["topics"]}
        assert drained["gamma-corp"]["status"] == "deferred"
        assert drained["gamma-corp"]["error_category"] == "shutdown"
        held = _drafts(server)[("Gamma Corp", "training")]
        second = _absorb(env, "refresh", "--all", "--no-gather", "--json")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        assert _drafts(server)[("Gamma Corp", "training")] == held == 1  # its answer was kept
    gamma = store.runs.list(topic="gamma-corp")
    assert [r.status.value for r in gamma] == ["waiting_review"] and gamma[0].id == drained[
        "gamma-corp"]["run_id"]
    assert len(store.proposals.list(topic="gamma-corp")) == 1
