"""Rewriting one section on demand through the real ChatOpenAI path: only that section
changes, the gate applies, the editor's instructions reach the prompt."""

from __future__ import annotations

import json

import pytest

from agent.fake_server import FakeOpenAIServer
from agent.models import Source, source_id_for
from tests.scripted import extractive_draft, faithful_judge

TOPIC = "ai-infrastructure"
POWER = ("AI infrastructure is shifting toward gigawatt campuses with nuclear and off-grid power. "
         "Efficient training techniques and edge computing reduce the energy footprint of inference.")


@pytest.fixture
def seeded(cli, seed_path):
    from agent.store import open_store

    assert cli("import", seed_path, "--topic", TOPIC).code == 0
    store = open_store()
    store.sources.add_to_topic(TOPIC, [
        Source(id=source_id_for(None, POWER), title="Where AI infrastructure goes next", kind="blog",
               text=POWER, content_hash=source_id_for(None, POWER)),
        Source(id=source_id_for(None, "Bake bread."), title="Bread", text="Bake bread at home.",
               content_hash="x")])
    store.sources.trust(TOPIC, [source_id_for(None, POWER)], via="test")  # auto merges only trusted
    yield store
    store.close()


@pytest.fixture
def server(monkeypatch):
    with FakeOpenAIServer() as fake:
        fake.on_task("rewrite_section", extractive_draft())
        fake.on_task("judge", faithful_judge)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        yield fake


def test_rewrite_touches_only_the_named_section(cli, seeded, server):
    before = json.loads(cli("show", TOPIC, "--format", "json").out)
    result = cli("rewrite", TOPIC, "future directions", "--with-new", "--json",
                 "--instructions", "Keep it to two sentences; mention nuclear power.")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["status"] == "waiting_review" and len(data["edits"]) == 1
    edit = seeded.proposals.get(data["proposal_id"]).edits[0]
    assert edit.section_id == "future-directions"
    assert edit.new_sentences()[0].text.startswith("AI infrastructure is shifting toward gigawatt")
    assert all(v.passed and v.quotes for v in edit.verdicts)
    assert [s.text[:30] for s in edit.lost_facts] == ["The convergence of physical sc"]
    prompt = json.dumps(server.requests_for("rewrite_section")[0])
    assert "Keep it to two sentences; mention nuclear power." in prompt
    assert "Bake bread" not in prompt  # unrelated new sources are not drawn in
    assert "Challenges and Trends: Trends include cloud-first" in prompt  # neighbour lead
    assert json.loads(cli("show", TOPIC, "--format", "json").out) == before


def test_auto_review_merges_only_that_section(cli, seeded, server):
    before = json.loads(cli("show", TOPIC, "--format", "json").out)
    data = json.loads(cli("rewrite", TOPIC, "Future Directions", "--with-new", "--review", "auto",
                          "--json").out)
    assert data["merged_revision_id"]
    after = json.loads(cli("show", TOPIC, "--format", "json").out)
    changed = [a["id"] for a, b in zip(after["sections"], before["sections"]) if a != b]
    assert changed == ["future-directions"]


def test_unknown_section_lists_the_sections(cli, seeded):
    result = cli("rewrite", TOPIC, "No Such Section")
    assert result.code == 2
    assert "no section 'No Such Section'" in result.err and "'Future Directions'" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_a_model_that_drafts_nothing_is_said_so(tmp_path, seed_path):
    """Found by trying `absorb rewrite` with a model that answers `{}`: the run said the rewrite
    'changed nothing that passed the citation gate' and exited 0, when the draft failed twice
    and no sentence ever reached the gate."""
    from tests.cli_world import Shell, ok, workdir
    from tests.generic_model import GenericModel

    with FakeOpenAIServer(default=GenericModel("empty")) as fake:
        shell = Shell(tmp_path / "home", workdir(tmp_path), fake)
        ok(shell(f"absorb import {seed_path} --topic ai"))
        ok(shell(f"absorb sources import {seed_path} --topic ai"))
        ran = shell("absorb rewrite ai 'Physical Infrastructure Boom' --with-new "
                    "--instructions 'Lead with cooling.'")
        assert fake.requests and not fake.requests_for("judge")
    assert ran.code == 3, ran  # a model failure, as the README's exit table says
    assert "failed (invalid_output)" in ran.err and "no usable draft" in ran.err, ran
    assert "citation gate" not in ran.err and "Traceback" not in ran.err, ran
