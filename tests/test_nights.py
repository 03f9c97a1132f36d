"""Night after night on the seed topic, through the installed `absorb` as a subprocess, against
a fake model that leaves every fourth source out of its triage answer, invents a year for some
sources (the gate holds those back) and repeats its mistake when asked to revise."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agent.fake_server import FakeOpenAIServer
from tests import nights_model
from tests.nights_model import Absorb
from tests.scripted import sources_of, user_text

TOPIC = "ai-infrastructure"


@pytest.fixture
def night_model():
    with FakeOpenAIServer() as fake:
        nights_model.script(fake)
        yield fake


@pytest.fixture
def absorb(tmp_path, night_model, seed_path):
    run = Absorb(tmp_path / "home", night_model)
    run("import", seed_path, "--topic", TOPIC)
    run("sources", "import", seed_path, "--topic", TOPIC)
    return run


def _statuses(absorb: Absorb) -> dict[str, dict]:
    return {row["id"]: row for row in absorb.json("sources", "list", TOPIC, "--json")}


def _proposals(home: str) -> list:
    from agent.store import open_store

    store = open_store(f"sqlite:///{Path(home) / 'absorb.db'}")
    try:
        return store.proposals.list(topic=TOPIC)
    finally:
        store.close()


def test_every_source_is_decided_once_and_idle_nights_cost_nothing(absorb, night_model):
    absorb("refresh", TOPIC)  # night 1
    night1 = list(night_model.requests)
    sources = _statuses(absorb)
    assert not [s for s in sources.values() if s["status"] == "new"]
    undecided = [s for s in sources.values() if s["status"] == "undecided"]
    assert undecided and all("triage gave no answer twice" in s["reason"] for s in undecided)
    held = [s for s in sources.values() if s["status"] == "held_back"]
    assert any("2031" in s["reason"] for s in held)  # the invented year, with the gate's reason
    # The omitted sources were asked again once, only those, in one call.
    triage = [r for r in night1 if nights_model.task_name(r) == "triage"]
    asked = [[sid for sid, _, _ in sources_of(r)] for r in triage]
    first, again = asked[:-1], asked[-1]
    omitted = [ids[i] for ids in first for i in range(3, len(ids), 4)]
    assert again == omitted and len(triage) == len(first) + 1
    # A revision that repeats its mistake ends the loop after one round, and it is sent only
    # the failing sentences and the sources they cite.
    revisions = [r for r in night1 if nights_model.task_name(r) == "revise_section"]
    assert revisions and all(len(sources_of(r)) == 1 for r in revisions)
    revised = [re.search(r"^Section: (.*)$", user_text(r), re.M)[1] for r in revisions]
    assert len(revised) == len(set(revised))  # no section revised twice
    assert {s["reason"].split("'")[1] for s in held if "2031" in s["reason"]} <= set(revised)

    before = night_model.request_count
    absorb("refresh", TOPIC)  # night 2, nothing new (night 4 below, after the retry, too)
    assert night_model.request_count == before

    proposals = _proposals(absorb.env["ABSORB_HOME"])
    assert len(proposals) == 1
    for edit in proposals[0].edits:  # every edit changes its section
        assert [s for p in edit.new_paragraphs for s in p] != edit.old_sentences
    # The capex source was routed to two sections and written into both: kept once.
    capex = [s for e in proposals[0].edits for s in e.new_sentences()
             if s.text.startswith("Amazon's capex in the last 3 years")]
    assert len(capex) == 1
    absorb("review", "approve", proposals[0].id)
    article = absorb.json("show", TOPIC, "--format", "json")
    cited = {c for section in article["sections"] for p in section["paragraphs"] for s in p
             for c in s["citations"]}
    for sid, row in _statuses(absorb).items():
        if row["status"] == "absorbed" and row["chars"]:  # not the seed's own references
            assert sid in cited, f"{row['title']} absorbed but no merged sentence cites it"
    # Audit reads the merged sentences' sources' text, as the gate did: none is suspect.
    audit = absorb.json("audit", TOPIC, "--json")
    merged_ids = {sid for sid, row in _statuses(absorb).items() if row["chars"]}
    assert not [f for f in audit["findings"]
                if f["kind"] == "suspect_citation" and f["citation"] in merged_ids]

    # The editor asks for another try: only then are they triaged and drafted again.
    absorb("sources", "retry", TOPIC)
    retried = {sid for sid, row in _statuses(absorb).items() if row["status"] == "new"}
    assert retried == {s["id"] for s in undecided + held}
    before = night_model.request_count
    absorb("refresh", TOPIC)
    assert night_model.request_count > before
    before = night_model.request_count
    absorb("refresh", TOPIC)
    assert night_model.request_count == before


def test_a_section_whose_every_sentence_is_held_back_files_nothing(absorb, night_model):
    always_wrong = nights_model.extractive_draft(lambda s: s[:-1] + " in 2031.")
    night_model.on_task("draft_section", always_wrong)
    night_model.on_task("revise_section", always_wrong)
    result = absorb("refresh", TOPIC, "--json")
    data = json.loads(result.stdout)
    assert data["proposal_id"] is None and data["edits"] == []
    assert "held back" in data["outcome"]
    assert _proposals(absorb.env["ABSORB_HOME"]) == []
    rows = _statuses(absorb)
    assert not [r for r in rows.values() if r["status"] in ("new", "proposed")]
    assert [r for r in rows.values() if r["status"] == "held_back"]
    # Absorbed are only the seed's own references (title only), absorbed by the import.
    assert all(r["chars"] == 0 for r in rows.values() if r["status"] == "absorbed")


def test_a_rewrite_with_nothing_to_read_says_so_without_a_model_call(absorb, night_model):
    done = absorb("rewrite", TOPIC, "overview")  # the seed's references are titles only
    lines = [line for line in done.stderr.splitlines() if "nothing to read" in line]
    assert len(lines) == 1 and "no model was called" in lines[0]
    assert night_model.request_count == 0
    assert _proposals(absorb.env["ABSORB_HOME"]) == []
