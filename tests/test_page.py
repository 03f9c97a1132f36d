"""`absorb show TOPIC --format html`: the page as readers see it, through the installed absorb,
with the bus's statuses as a refresh and an editor's approval change them; source text stays
text."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest

from agent.fake_server import FakeOpenAIServer
from tests.cli_world import Shell, seed_model, workdir
from tests.cli_world import ok as _ok

TOPIC = "ai-infrastructure"
SEED = "agent/demo/seed.md"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def statuses(html: str) -> list[str]:
    return [unescape(s) for s in re.findall(r'<span class="status">([^<]*)</span>', html)]


@pytest.fixture
def world(tmp_path: Path):
    with FakeOpenAIServer() as server:
        seed_model(server)
        yield Shell(tmp_path / "home", workdir(tmp_path), server)


def test_the_bus_on_the_page_follows_refresh_and_review(world):
    shell = world
    _ok(shell(f"absorb import {SEED} --topic {TOPIC}"))
    _ok(shell(f"absorb sources import {SEED} --topic {TOPIC}"))
    _ok(shell(f"absorb refresh {TOPIC}"))
    html = _ok(shell(f"absorb show {TOPIC} --format html")).out
    assert html.startswith("<!doctype html>") and "<script" not in html
    assert "AI Infrastructure" in html and "Showing 24 of 24." in html
    assert 'href="#ref-7"' in html and 'id="ref-7"' in html and 'href="#cite-7-1"' in html
    seen = statuses(html)
    assert "in a pending proposal" in seen and "irrelevant" in seen
    assert seen.count("duplicate of Decoupled DiLoCo Enables Resilient, Self-Healing AI Training "
                      "Across Geographically Distributed, Heterogeneous Hardware") == 2
    proposal = json.loads(_ok(shell("absorb review list --json")).out)[0]["id"]
    _ok(shell(f"absorb review approve {proposal}"))
    after = statuses(_ok(shell(f"absorb show {TOPIC} --format html")).out)
    absorbed = [s for s in after if s.startswith("absorbed into ")]
    assert absorbed and all(s in ("absorbed into Training and Compute Efficiency",
                                  "absorbed into Physical Infrastructure Boom") or "held back" in s
                            for s in absorbed), after
    assert "in a pending proposal" not in after


def test_source_text_is_escaped_and_bad_input_is_one_line(tmp_path: Path):
    shell = Shell(tmp_path / "home", workdir(tmp_path))
    page = tmp_path / "evil.md"
    page.write_text(f"# Evil {HOSTILE}\n\nA lead {HOSTILE}.\n\n## Part\n\nA sentence here [1].\n\n"
                    f"1. [1]Source {HOSTILE} · web\n")
    _ok(shell(f"absorb import {page} --topic evil"))
    html = _ok(shell("absorb show evil --format html")).out
    assert "<script" not in html and "<img" not in html and "&lt;script&gt;" in html
    ran = shell("absorb show nowhere --format html")
    assert ran.code == 2 and len(ran.err.strip().splitlines()) == 1, ran
    ran = shell("absorb show evil --format html --rev 1")
    assert ran.code == 2 and "--rev" in ran.err, ran
