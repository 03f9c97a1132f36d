"""A refresh killed with SIGKILL mid-run resumes from its checkpoints: finished drafts are
not paid for again and nothing is merged twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from agent.fake_server import FakeOpenAIServer
from tests.scripted import extractive_draft, faithful_judge, triage_by_title
from tests.test_refresh_e2e import TOPIC, topic_with_sources  # noqa: F401 - fixture

KILL_TIMEOUT = 60


# The checkpoints of absorb before its saver answered on the event loop: LangGraph's
# AsyncSqliteSaver (aiosqlite) on the same file, as an upgraded store still holds them.
OLD_SAVER = """
import contextlib, sys
import aiosqlite
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
import agent.checkpoints

@contextlib.asynccontextmanager
async def aiosqlite_saver(path):
    async with aiosqlite.connect(path) as conn:
        await conn.execute("PRAGMA journal_mode=WAL")
        saver = AsyncSqliteSaver(conn)
        await saver.setup()
        print("checkpoints through aiosqlite", file=sys.stderr, flush=True)
        yield saver

agent.checkpoints._shared_sqlite_saver = aiosqlite_saver
from agent.cli.main import main
sys.argv = ["absorb", *sys.argv[1:]]
main()
"""


def _absorb(env: dict, *args: str, old_saver: bool = False) -> subprocess.Popen:
    command = ["-c", OLD_SAVER] if old_saver else ["-m", "agent.cli.main"]
    return subprocess.Popen([sys.executable, *command, *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("killed", ["this absorb", "absorb with the aiosqlite saver"])
def test_sigkill_then_rerun_does_not_redraft_finished_sections(topic_with_sources, absorb_home, killed):
    release = threading.Event()
    draft = extractive_draft()

    def slow_for_training(request: dict) -> dict:
        if "Section to update: Training" in json.dumps(request) and not release.is_set():
            release.wait(KILL_TIMEOUT)  # keeps this section's draft in flight until the kill
        return draft(request)

    with FakeOpenAIServer() as server:
        server.on_task("triage", triage_by_title({
            "liquid cooling": ["physical-infrastructure-boom"],
            "DiLoCo": ["training-and-compute-efficiency"]}))
        server.on_task("draft_section", slow_for_training)
        server.on_task("judge", faithful_judge)
        env = {**os.environ, "ABSORB_HOME": str(absorb_home), "OPENAI_BASE_URL": server.base_url,
               "OPENAI_API_KEY": "test-key", "ABSORB_REQUESTS_PER_SECOND": "0"}
        first = _absorb(env, "refresh", TOPIC, "--no-gather", "--review", "auto", "--json",
                        old_saver=killed != "this absorb")
        deadline = time.monotonic() + KILL_TIMEOUT
        # Wait until the other section has been drafted and judged, and its checkpoint written.
        while len(server.requests_for("judge")) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        release.set()
        assert ("checkpoints through aiosqlite" in first.stderr.read()) == (killed != "this absorb")
        drafts_before = [json.dumps(r) for r in server.requests_for("draft_section")]
        assert len(drafts_before) == 2  # both drafts were asked; one had been answered
        second = _absorb(env, "refresh", TOPIC, "--no-gather", "--review", "auto", "--json")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        result = json.loads(out)
        drafts = [json.dumps(r) for r in server.requests_for("draft_section")]
        boom_drafts = [d for d in drafts if "Section to update: Physical Infrastructure Boom" in d]
        assert len(boom_drafts) == 1  # finished before the kill: not drafted again
        assert len(drafts) == 3  # only the interrupted section was asked again
    assert result["status"] == "done" and result["run_id"] == 1  # the same run, resumed
    store = topic_with_sources
    history = store.revisions.history(TOPIC)
    assert [r.number for r in history] == [1, 2]
    assert len(store.proposals.list(topic=TOPIC)) == 1


async def test_the_sqlite_checkpoints_are_as_durable_as_the_store(store):
    """WAL without an fsync per commit, like the store's own connection: a killed process
    loses no checkpoint (the test above), and a checkpoint write costs no fsync."""
    from agent.checkpoints import checkpointer

    if store.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's saver has no such setting")
    async with checkpointer(store) as saver:
        assert saver.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        checkpoints = saver.conn.execute("PRAGMA synchronous").fetchone()[0]
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == checkpoints == 1  # NORMAL
