"""Secrets never leave: a provider that echoes the API key in its errors (as OpenAI's 401
does) must not get the key printed, stored in runs, or written into checkpoints. A canary
key is planted and every output and every file under ABSORB_HOME is searched for it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from agent.cli.main import run
from agent.fake_server import FakeOpenAIServer, Fault
from agent.redact import scrub
from tests.conftest import REPO

ABSORB = REPO / ".venv" / "bin" / "absorb"
CANARY = "sk-canary-3f9d1c7be55a4e0c9d2b8a61f0e4c7aa"
TOPIC = "ai-infrastructure"


def _echoing(status: int, code: str, template: str):
    """A reply that quotes the Authorization header it was sent, like a careless proxy."""
    def reply(_request: dict) -> Fault:
        return Fault("error", status, code, template.format(auth=f"Bearer {CANARY}", key=CANARY))
    return reply


def test_canary_key_is_found_nowhere(absorb_home: Path, seed_path: Path, tmp_path: Path):
    if not ABSORB.exists():
        pytest.skip(f"console script not installed at {ABSORB}")
    bus = tmp_path / "bus.jsonl"
    bus.write_text('{"title": "Cooling", "text": "Meta moves to full-facility liquid cooling."}\n')
    outputs: list[str] = []
    with FakeOpenAIServer() as server:
        server.on_task("triage", _echoing(401, "invalid_api_key",
                                          "Incorrect API key provided: {auth}. You can find your API "
                                          "key at https://platform.openai.com/account/api-keys."))
        env = {**os.environ, "ABSORB_HOME": str(absorb_home), "OPENAI_BASE_URL": server.base_url,
               "OPENAI_API_KEY": CANARY, "ABSORB_REQUESTS_PER_SECOND": "0"}

        def absorb(*args: object) -> subprocess.CompletedProcess:
            done = subprocess.run([str(ABSORB), *map(str, args)], env=env, capture_output=True,
                                  text=True, timeout=300)
            outputs.extend([done.stdout, done.stderr])
            return done

        # Setting up needs no model: in this process, into the same ABSORB_HOME.
        assert run(["import", str(seed_path), "--topic", TOPIC]) == 0
        assert run(["sources", "import", str(bus), "--topic", TOPIC]) == 0
        failed = absorb("refresh", TOPIC)
        assert failed.returncode == 3 and "[auth]" in failed.stderr, failed.stderr
        server.on_task("triage", _echoing(400, "invalid_request_error",
                                          "Invalid header 'Authorization: {auth}' (key {key})"))
        again = absorb("refresh", TOPIC, "--json")
        assert again.returncode == 3, again.stderr
        runs = absorb("runs", "--json")
        assert "[redacted]" in runs.stdout  # the error is kept, without the key
        assert any(CANARY in h.get("authorization", h.get("Authorization", ""))
                   for h in server.headers)  # the key really was sent, and echoed back
    leaks = [i for i, text in enumerate(outputs) if CANARY in text or CANARY[3:] in text]
    assert leaks == [], [outputs[i][:300] for i in leaks]
    files = [p for p in absorb_home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files)
    assert [p for p in files if CANARY[3:].encode() in p.read_bytes()] == []


def test_scrub_removes_keys_tokens_and_the_configured_secrets(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "plain-configured-key-42")
    monkeypatch.setenv("ABSORB_EDITOR_TOKENS", "ann:" + "t" * 40)
    text = ("Incorrect API key provided: Bearer sk-proj-AbC123xyz; key plain-configured-key-42; "
            '{"api_key": "zzzzzzzzzzzz"} cookie for ' + "t" * 40)
    cleaned = scrub(text)
    for secret in ("sk-proj-AbC123xyz", "plain-configured-key-42", "zzzzzzzzzzzz", "t" * 40):
        assert secret not in cleaned
    assert cleaned.startswith("Incorrect API key provided: Bearer [redacted]")



def test_the_database_password_is_a_configured_secret(monkeypatch):
    monkeypatch.setenv("ABSORB_DATABASE_URL", "postgresql+psycopg://absorb:p%40ss-Xy7Qw93@db/absorb")
    cleaned = scrub("login failed for absorb with p@ss-Xy7Qw93 (url ...:p%40ss-Xy7Qw93@db)")
    assert "Xy7Qw93" not in cleaned and cleaned.count("[redacted]") == 2


def test_a_batch_topic_that_hits_a_bug_reports_it_without_the_key(cli, store, monkeypatch):
    """Not a model error: a driver's or a library's message carrying a secret is scrubbed in
    the night's report (stdout and stderr) and in the run row `absorb runs` shows."""
    import json

    import agent.runner
    from tests.test_batch import seed_topic

    key = "plain-configured-key-77"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    seed_topic(store, "alpha-labs")

    def broken(_store):
        raise RuntimeError(f"could not open the checkpoints with Bearer {key}")

    monkeypatch.setattr(agent.runner, "checkpointer", broken)
    result = cli("refresh", "--all", "--no-gather", "--json")
    assert result.code == 1, result.err
    row = json.loads(result.out)["topics"][0]
    assert row["status"] == "failed" and "could not open the checkpoints" in row["error"]
    runs = cli("runs", "--json")
    assert "could not open the checkpoints" in runs.out
    for text in (result.out, result.err, runs.out):
        assert key not in text
    assert "[redacted]" in row["error"]
