"""The three journeys, as users run them: the installed `absorb` with its default flags, as
subprocesses, against the fake model on 127.0.0.1 (the real ChatOpenAI path). Each journey
also meets a model that misbehaves the way real ones do."""

from __future__ import annotations

import json

import pytest

from agent.fake_server import FakeOpenAIServer
from tests.cli_world import SEED_ROUTES, Shell, forgetful, parroting_draft, seed_model, workdir
from tests.cli_world import ok as _ok
from tests.scripted import triage_by_title

TOPIC = "ai-infrastructure"
SEED = "agent/demo/seed.md"


def _sections(markdown: str) -> dict[str, str]:
    """The exported page cut at its section headings (heading -> its text)."""
    parts, current = {}, None
    for line in markdown.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            parts[current] = ""
        elif current is not None:
            parts[current] += line + "\n"
    return parts


@pytest.fixture
def world(seed_world):
    return seed_world


def test_editor_journey(world):
    shell, server = world
    _ok(shell(f"absorb import {SEED} --topic {TOPIC}"))
    _ok(shell(f"absorb sources import {SEED} --topic {TOPIC}"))
    before = _ok(shell(f"absorb show {TOPIC} --format md")).out
    refreshed = _ok(shell(f"absorb refresh {TOPIC}"))
    assert "proposal 1 waiting" in refreshed.err, refreshed
    shown = _ok(shell("absorb review show 1 --json"))
    proposal = json.loads(shown.out)
    edits = proposal["edits"]
    assert len(edits) == 2, proposal
    _ok(shell("absorb review show 1"))
    approved = _ok(shell("absorb review approve 1 --edit 1"))
    assert "merged" in approved.err, approved
    rejected = _ok(shell("absorb review reject 1 --edit 2 --comment 'off topic'"))
    assert "rejected" in rejected.err, rejected
    after = _ok(shell(f"absorb show {TOPIC} --format md")).out
    old, new = _sections(before), _sections(after)
    changed = {name for name in old if old[name] != new.get(name)} - {"References"}
    # only the approved edit's section changed; the rejected one and all others are as they were
    assert len(changed) == 1, changed
    assert new["References"].count("\n") > old["References"].count("\n")  # its source is listed
    history = _ok(shell(f"absorb history {TOPIC}")).out.strip().splitlines()
    assert len(history) == 2 and "import" in history[0], history
    assert len(server.requests_for("triage")) >= 1


def test_overnight_journey(world):
    shell, server = world
    topics = ["infra-a", "infra-b", "infra-c"]
    for topic in topics:
        _ok(shell(f"absorb import {SEED} --topic {topic}"))
        _ok(shell(f"absorb sources import {SEED} --topic {topic}"))
    night = _ok(shell("absorb refresh --all --json"))
    report = json.loads(night.out)
    assert sorted(t["topic"] for t in report["topics"]) == topics
    assert {t["status"] for t in report["topics"]} == {"waiting_review"}, report
    calls = server.request_count
    assert calls > 0
    second = _ok(shell("absorb refresh --all --json"))
    assert server.request_count == calls, "a night with nothing new called the model"
    assert {t["status"] for t in json.loads(second.out)["topics"]} <= {"unchanged"}
    runs = _ok(shell("absorb runs --json"))
    assert sorted(r["topic"] for r in json.loads(runs.out)) == topics
    usage = json.loads(_ok(shell("absorb usage --json")).out)
    assert {r["topic"] for r in usage} == set(topics)
    assert sum(r["calls"] for r in usage) == calls


def test_overnight_against_a_model_that_leaves_sources_out(tmp_path):
    with FakeOpenAIServer() as server:
        seed_model(server, triage=forgetful(triage_by_title(SEED_ROUTES)))
        shell = Shell(tmp_path / "home", workdir(tmp_path), server)
        _ok(shell(f"absorb import {SEED} --topic {TOPIC}"))
        _ok(shell(f"absorb sources import {SEED} --topic {TOPIC}"))
        _ok(shell("absorb refresh --all --json"))
        calls = server.request_count
        statuses = json.loads(_ok(shell(f"absorb sources list {TOPIC} --json")).out)
        assert all(s["status"] != "new" for s in statuses), statuses
        _ok(shell("absorb refresh --all --json"))
        assert server.request_count == calls, "the omitted sources were paid for again"


def test_rewrite_journey(world):
    shell, server = world
    _ok(shell(f"absorb import {SEED} --topic {TOPIC}"))
    _ok(shell(f"absorb sources import {SEED} --topic {TOPIC}"))
    _ok(shell(f"absorb refresh {TOPIC}"))
    _ok(shell("absorb review approve 1 --edit 1"))
    before = _sections(_ok(shell(f"absorb show {TOPIC} --format md")).out)
    rewritten = _ok(shell(f"absorb rewrite {TOPIC} 'Physical Infrastructure Boom' "
                          "--instructions 'Lead with the cooling shift.'"))
    assert "proposal 2 waiting" in rewritten.err, rewritten
    prompt = json.dumps(server.requests_for("rewrite_section")[-1])
    assert "Lead with the cooling shift." in prompt
    _ok(shell("absorb review show 2"))
    _ok(shell("absorb review approve 2"))
    after = _sections(_ok(shell(f"absorb show {TOPIC} --format md")).out)
    assert before["Physical Infrastructure Boom"] != after["Physical Infrastructure Boom"]
    assert {k: v for k, v in before.items() if k != "Physical Infrastructure Boom"} == \
        {k: v for k, v in after.items() if k != "Physical Infrastructure Boom"}


def test_a_model_that_copies_its_instructions_changes_nothing(tmp_path):
    with FakeOpenAIServer() as server:
        seed_model(server)
        for task in ("draft_section", "revise_section"):
            server.on_task(task, parroting_draft)
        shell = Shell(tmp_path / "home", workdir(tmp_path), server)
        _ok(shell(f"absorb import {SEED} --topic {TOPIC}"))
        _ok(shell(f"absorb sources import {SEED} --topic {TOPIC}"))
        before = _ok(shell(f"absorb show {TOPIC} --format md")).out
        refreshed = _ok(shell(f"absorb refresh {TOPIC} --review auto"))
        assert "held back" in refreshed.output, refreshed
        assert _ok(shell(f"absorb show {TOPIC} --format md")).out == before
        assert _ok(shell(f"absorb history {TOPIC}")).out.count("\n") == 1


def test_rate_limited_triage_batches_say_which_batch_waits(world):
    """The seed's 22 new sources go to triage in two batches at once; both are rate limited
    once. Each retry warning names its batch, so the two lines are not the same line twice."""
    from agent.fake_server import Fault

    shell, server = world
    _ok(shell(f"absorb import {SEED} --topic {TOPIC}"))
    _ok(shell(f"absorb sources import {SEED} --topic {TOPIC}"))
    server.script_task("triage", Fault.rate_limit(), Fault.rate_limit())
    ran = _ok(shell(f"absorb refresh {TOPIC}"))  # default flags
    waits = sorted(line for line in ran.err.splitlines() if "attempt 1 failed [rate_limit]" in line)
    assert len(waits) == 2, ran
    assert "triage (batch 1 of 2): attempt 1" in waits[0] and "triage (batch 2 of 2): attempt 1" in waits[1], waits
    assert "proposal 1 waiting" in ran.err and len(server.requests_for("triage")) == 4
