"""`review approve` and `review reject` killed with SIGKILL at random points: the store is
always in a state the rerun finishes (the decision landed whole or not at all, the run that
proposed it ends `done`), and the next refresh never reports a merged proposal as waiting.

ABSORB_KILL_COUNT raises the number of kills per command (the issue's measurement is 50).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter

import pytest

from agent.fake_server import FakeOpenAIServer
from agent.models import EditStatus, RunStatus
from tests.test_races import ABSORB, in_revisions, make_topic, one_edit_proposal

KILLS = int(os.environ.get("ABSORB_KILL_COUNT", "1"))
TOPIC = "killed"


def _env(database_url: str, **extra: str) -> dict:
    return {**os.environ, "ABSORB_DATABASE_URL": database_url, "NO_COLOR": "1", **extra}


def _consistent(store, pid: int, text: str, action: str) -> str:
    """Whatever the kill left: the edit is pending or decided as asked, and the article, the
    run and the source say the same."""
    proposal = store.proposals.get(pid)
    status = proposal.edits[0].status
    run = store.runs.get(proposal.run_id)
    holding = in_revisions(store, TOPIC, text)
    if status == EditStatus.pending:
        assert holding == [] and run.status == RunStatus.waiting_review, (holding, run.status)
    else:
        assert status == (EditStatus.merged if action == "approve" else EditStatus.rejected)
        assert bool(holding) == (status == EditStatus.merged), holding
        assert run.status == RunStatus.done, run.status
    return status.value


def test_sigkill_at_random_points_of_approve_and_reject(store, database_url):
    env = _env(database_url)
    make_topic(store, TOPIC)
    started = time.monotonic()  # how long one command takes here, to aim the kills inside it
    pid, _, _ = one_edit_proposal(store, TOPIC, 0)
    reference = subprocess.run([ABSORB, "review", "approve", str(pid)], env=env,
                               capture_output=True, text=True, timeout=120)
    assert reference.returncode == 0, reference.stderr
    duration = time.monotonic() - started
    left: Counter = Counter()
    rng = random.Random(14)
    for n in range(1, 2 * KILLS + 1):
        action = "approve" if n % 2 else "reject"
        pid, text, _ = one_edit_proposal(store, TOPIC, n)
        process = subprocess.Popen([ABSORB, "review", action, str(pid)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.1, 1.1) * duration)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        found = ("finished before the kill" if process.returncode == 0 else
                 _consistent(store, pid, text, action))
        left[(action, found)] += 1
        print(f"kill {n}: {action} -> {found}", flush=True)
        rerun = subprocess.run([ABSORB, "review", action, str(pid)], env=env,
                               capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        assert _consistent(store, pid, text, action) == ("merged" if action == "approve" else "rejected")
    print(f"\nkills on {store.engine.dialect.name} ({duration:.1f}s per command): {dict(left)}")
    with FakeOpenAIServer() as server:
        refreshed = subprocess.run([ABSORB, "refresh", TOPIC, "--json"], capture_output=True,
                                   text=True, timeout=120, env=_env(
                                       database_url, OPENAI_BASE_URL=server.base_url,
                                       OPENAI_API_KEY="test-key"))
    assert refreshed.returncode == 0, refreshed.stderr
    assert "waiting" not in refreshed.stderr and json.loads(refreshed.stdout)["proposal_id"] is None
    assert not [r for r in store.runs.list(topic=TOPIC) if r.status != RunStatus.done]


def test_a_run_left_running_by_a_dead_process_is_interrupted_and_settled(cli, monkeypatch):
    """The issue's stuck run: a decision landed, but the run row still says `running` and its
    process is gone. It reads as `interrupted`, and the next refresh finishes it instead of
    parking it again as "waiting for review" for a merged proposal."""
    from agent.store import open_store

    store = open_store()
    make_topic(store, TOPIC)
    pid, text, _ = one_edit_proposal(store, TOPIC)
    run_id = store.proposals.get(pid).run_id
    dead = subprocess.Popen(["true"])
    dead.wait()
    store.runs.update(run_id, status=RunStatus.running)
    assert store.runs.lock_topic(TOPIC, f"{os.uname().nodename}:{dead.pid}:refresh:dead")
    approved = cli("review", "approve", pid)
    assert approved.code == 0 and "merged edits 1; revision 2" in approved.err, approved.err
    assert store.runs.get(run_id).status == RunStatus.done
    # The same stuck state with no decision: `absorb runs` shows it interrupted, not running.
    pid2, _, _ = one_edit_proposal(store, TOPIC, 2)
    run2 = store.proposals.get(pid2).run_id
    store.runs.update(run2, status=RunStatus.running)
    runs = json.loads(cli("runs", "--json").out)
    assert next(r for r in runs if r["id"] == run2)["status"] == "interrupted"
    assert cli("review", "reject", pid2).code == 0
    with FakeOpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        refreshed = subprocess.run([ABSORB, "refresh", TOPIC], capture_output=True, text=True,
                                   timeout=120, env={**os.environ, "NO_COLOR": "1"})
    assert refreshed.returncode == 0, refreshed.stderr
    assert "waiting" not in refreshed.stderr and "no new sources" in refreshed.stderr
    assert {r.status for r in store.runs.list(topic=TOPIC)} == {RunStatus.done}
    assert in_revisions(store, TOPIC, text) == [2]
    store.close()


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("ABSORB_REQUESTS_PER_SECOND", "0")
