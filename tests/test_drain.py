"""Drain means drain, against a provider that hangs: SIGTERM during `absorb refresh --all`
(the installed console script, default flags) exits 75 well within systemd's stop timeout
with every topic `deferred (shutdown)`, and the next batch finishes them; Ctrl-C of a single
`absorb refresh` leaves its run `interrupted`, and the rerun continues the same run.

The suite uses a 2 s grace (ABSORB_DRAIN_GRACE); the default is 20 s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from agent.fake_replies import Fault
from agent.fake_server import FakeOpenAIServer
from agent.models import RunStatus
from tests.test_batch import script_server, seed_topic
from tests.test_races import ABSORB

TOPICS = ("alpha-labs", "beta-works", "gamma-corp")
GRACE = float(os.environ.get("ABSORB_TEST_DRAIN_GRACE", "2"))


@pytest.fixture
def store():
    from agent.store import open_store

    opened = open_store()
    yield opened
    opened.close()


def _env(server: FakeOpenAIServer, **extra: str) -> dict:
    env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test-key",
           "ABSORB_REQUESTS_PER_SECOND": "0", "NO_COLOR": "1", "COLUMNS": "250"}
    env.pop("ABSORB_DRAIN_GRACE", None)
    return {**env, **({"ABSORB_DRAIN_GRACE": str(GRACE)} if GRACE != 20 else {}), **extra}


def _hanging(server: FakeOpenAIServer) -> None:
    for task in ("triage", "draft_section", "revise_section", "judge"):
        server.on_task(task, lambda _request: Fault.hang(300))


def _wait_for(condition, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def sigterm_once_called(process: subprocess.Popen, server: FakeOpenAIServer,
                        topics: int) -> tuple[str, str, float]:
    """SIGTERM once every topic's first call hangs at the fake; (stdout, stderr, seconds to exit)."""
    try:
        _wait_for(lambda: len(server.requests_for("triage")) >= topics, "every topic's call")
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        return out, err, time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()


def test_sigterm_drains_a_batch_whose_provider_hangs(store):
    for slug in TOPICS:
        seed_topic(store, slug)
    with FakeOpenAIServer() as server:
        _hanging(server)
        batch = subprocess.Popen([ABSORB, "refresh", "--all"], env=_env(server),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, stderr, took = sigterm_once_called(batch, server, len(TOPICS))
        calls = server.request_count
    assert batch.returncode == 75, stderr
    assert took < 30 and took < GRACE + 15, took
    assert calls == len(TOPICS), calls  # no retry started after the signal
    runs = {r.topic: r for r in store.runs.list()}
    assert {t: (r.status.value, r.error_category) for t, r in runs.items()} == {
        t: ("deferred", "shutdown") for t in TOPICS}, stderr
    for slug in TOPICS:
        assert any(slug in line and "deferred" in line and "shutdown" in line
                   for line in stderr.splitlines()), stderr
    with FakeOpenAIServer() as server:
        script_server(server)
        again = subprocess.run([ABSORB, "refresh", "--all"], env=_env(server), capture_output=True,
                               text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    after = {r.topic: r for r in store.runs.list()}
    assert {t: after[t].id for t in TOPICS} == {t: runs[t].id for t in TOPICS}  # continued
    assert {after[t].status for t in TOPICS} <= {RunStatus.waiting_review, RunStatus.done}
    print(f"\nSIGTERM to exit: {took:.1f}s with a {GRACE:g}s grace; {calls} calls")


def test_ctrl_c_of_one_refresh_leaves_its_run_interrupted_and_the_rerun_continues_it(store):
    seed_topic(store, "alpha-labs")
    with FakeOpenAIServer() as server:
        _hanging(server)
        refresh = subprocess.Popen([ABSORB, "refresh", "alpha-labs"], env=_env(server),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(lambda: server.requests_for("triage"), "the triage call")
            refresh.send_signal(signal.SIGINT)
            _, stderr = refresh.communicate(timeout=60)
        finally:
            if refresh.poll() is None:
                refresh.kill()
    assert refresh.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    [run] = store.runs.list()
    assert run.status == RunStatus.interrupted
    with FakeOpenAIServer() as server:
        script_server(server)
        rerun = subprocess.run([ABSORB, "refresh", "alpha-labs", "--json"], env=_env(server),
                               capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["run_id"] == run.id
    assert store.runs.get(run.id).status in (RunStatus.waiting_review, RunStatus.done)


def test_a_second_ctrl_c_exits_at_once_and_leaves_the_run_resumable(store):
    seed_topic(store, "alpha-labs")
    with FakeOpenAIServer() as server:
        _hanging(server)
        batch = subprocess.Popen([ABSORB, "refresh", "--all"], env=_env(server, ABSORB_DRAIN_GRACE="60"),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(lambda: server.requests_for("triage"), "the triage call")
            batch.send_signal(signal.SIGINT)
            _wait_for(lambda: "draining" in (batch.stderr.readline() or ""), "the drain notice", 30)
            signalled = time.monotonic()
            batch.send_signal(signal.SIGINT)
            batch.wait(30)
            took = time.monotonic() - signalled
        finally:
            if batch.poll() is None:
                batch.kill()
    assert batch.returncode == 75 and took < 5, (batch.returncode, took)  # not the 60 s grace
    [run] = store.runs.list()  # read after its process died: no live holder, so interrupted
    assert run.status == RunStatus.interrupted  # resumable: the next batch continues it
    assert store.runs.latest_unfinished("alpha-labs", "refresh").id == run.id
