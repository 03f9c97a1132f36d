"""Extractive drafting (ABSORB_DRAFT_MODE=extract): the model chooses source sentences by id,
code inserts them verbatim and verifies their quotes, and one slow call costs its section.

The end-to-end tests run the installed `absorb` console script against the fake
OpenAI-compatible server, so every request goes through the real ChatOpenAI path; the fake
model misbehaves as small models do: ids it was not offered, the same id twice, a hang.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agent.citations import Claim
from agent.extract import (MAX_CANDIDATES, ExtractAnswer, ExtractChoice, apply_choices,
                           candidates, verify_extracts)
from agent.fake_replies import Fault
from agent.fake_server import FakeOpenAIServer
from agent.models import Section, Sentence, Source, source_id_for
from tests.scripted import sources_of, user_text

ABSORB = str(Path(sys.executable).with_name("absorb"))
TOPIC = "ai-infrastructure"
COOLING = ("Meta's VP of Infrastructure Dan Rabinovich says rack thermal density is scaling "
           "from 30 kW to 600 kW. Meta is moving to full-facility liquid cooling across its "
           "new data centers. It also")
DILOCO = ("Decoupled DiLoCo trained a 12B Gemma model over four US regions. It isolates "
          "hardware failures and reintegrates recovered units. Decoupled DiLoCo keeps training "
          "running when chips in one data center fail.")
ROUTES = {"physical-infrastructure-boom": "Meta liquid cooling", "training-and-compute-efficiency":
          "DiLoCo across regions"}


def _source(title: str, text: str) -> Source:
    key = source_id_for(None, text)
    return Source(id=key, title=title, kind="blog", text=text, content_hash=key)


def test_candidates_are_whole_new_sentences_closest_to_the_section():
    section = Section(id="cooling", heading="Data center cooling", paragraphs=[[Sentence(
        text="Meta is moving to full-facility liquid cooling across its new data centers.",
        citations=["src_0000000000000001"])]])
    filler = _source("Cooling notes", " ".join(f"Liquid cooling at Meta's {site} data center "
                                               f"uses {what}." for site, what in [
        ("Ohio", "rear-door heat exchangers"), ("Texas", "direct-to-chip cold plates"),
        ("Iowa", "immersion tanks for dense racks"), ("Oregon", "evaporative towers outside")]))
    offered = candidates(section.heading, section, [_source("Meta", COOLING), filler])
    texts = [c.text for c in offered]
    assert any(t.startswith("Meta's VP of Infrastructure Dan Rabinovich") for t in texts)
    assert not any(t.startswith("Meta is moving") for t in texts)  # the section says it already
    assert not any(t.startswith("It also") for t in texts)  # clipped and dangling
    assert len(offered) <= MAX_CANDIDATES
    assert sum(c.source_id == filler.id for c in offered) == 2  # a few sentences per source
    assert [c.id for c in offered] == [f"s{i}" for i in range(1, len(offered) + 1)]


def test_a_chosen_sentence_is_inserted_once_verbatim_and_unknown_ids_are_ignored():
    offered = candidates("Training", None, [_source("DiLoCo", DILOCO)])
    answer = ExtractAnswer(chosen=[ExtractChoice(id="s9", paragraph=1),
                                   ExtractChoice(id="s1", paragraph=7),
                                   ExtractChoice(id="s1", paragraph=1)])
    applied = apply_choices([], answer, offered)
    assert [s.text for p in applied.paragraphs for s in p] == [offered[0].text]
    assert applied.paragraphs[0][0].citations == [offered[0].source_id]
    assert "s9" in applied.rationale and "1 repeated" in applied.rationale


def test_a_verbatim_sentence_is_verified_in_code_and_a_changed_one_is_not():
    source = _source("DiLoCo", DILOCO)
    sentence = "Decoupled DiLoCo trained a 12B Gemma model over four US regions."
    verdicts = verify_extracts([Claim(sentence, [source.id]),
                                Claim(sentence.replace("12B", "70B"), [source.id])],
                               {source.id: source})
    assert verdicts[0].passed and verdicts[0].stage == "verbatim"
    quote = verdicts[0].quotes[0]
    # the source's own span: the whole sentence (the gate trims end punctuation off quotes)
    assert quote.text == sentence[:-1] and DILOCO[quote.start:quote.end] == quote.text
    assert not verdicts[1].passed and verdicts[1].stage == "numbers"


def _misbehaving_chooser(hang_on: str | None = None):
    """Offered ids only in the schema; the model still answers an id it was not offered and
    repeats one, and on one section it may hang."""
    def handle(request: dict) -> dict | Fault:
        text = user_text(request)
        if hang_on and f"Section: {hang_on}" in text:
            return Fault.hang(8)
        ids = [sid for sid, _, _ in sources_of(request)]
        return {"chosen": [{"id": "s42", "paragraph": 1}, {"id": ids[0], "paragraph": 1},
                           {"id": ids[0], "paragraph": 2}]}
    return handle


def _triage(request: dict) -> dict:
    decisions = []
    for source_id, title, _ in sources_of(request):
        sections = [sid for sid, key in ROUTES.items() if key in title]
        decisions.append({"source_id": source_id, "relevant": bool(sections), "sections": sections,
                          "new_section": None, "relation": "new", "reason": "scripted"})
    return {"decisions": decisions}


@pytest.fixture
def topic(cli, seed_path):
    from agent.store import open_store

    assert cli("import", seed_path, "--topic", TOPIC).code == 0
    store = open_store()
    store.sources.add_to_topic(TOPIC, [_source("Meta liquid cooling", COOLING),
                                       _source("DiLoCo across regions", DILOCO)])
    store.close()


def _refresh(fake: FakeOpenAIServer, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "test-key",
                   "ABSORB_DRAFT_MODE": "extract", **env}
    return subprocess.run([ABSORB, "refresh", TOPIC, "--no-gather"], env=environment,
                          capture_output=True, text=True, timeout=120)


def _refresh_in_process(cli, monkeypatch, fake: FakeOpenAIServer, **env: str):
    """The same command in-process (a second interpreter start costs seconds on 2 cores)."""
    for name, value in {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "test-key",
                        "ABSORB_DRAFT_MODE": "extract", **env}.items():
        monkeypatch.setenv(name, value)
    return cli("refresh", TOPIC, "--no-gather")


def _proposal():
    from agent.store import open_store

    store = open_store()
    try:
        return store.proposals.get(1), {s.id: s for s, _ in store.sources.for_topic(TOPIC)}
    finally:
        store.close()


def test_extract_mode_inserts_offered_sentences_verbatim_with_verified_quotes(topic):
    with FakeOpenAIServer() as fake:
        fake.on_task("triage", _triage)
        fake.on_task("draft_extract", _misbehaving_chooser())
        result = _refresh(fake)
        drafts = fake.requests_for("draft_extract")
        judged = fake.requests_for("judge")
    assert result.returncode == 0, result.stderr
    assert len(drafts) == 2 and not judged  # one call per section, no judge call at all
    schema = str(drafts[0]["response_format"])  # ABSORB_STRUCTURED_METHOD=json_schema
    assert "s42" not in schema and "'enum': ['s1'" in schema
    assert "'minItems': 1" in schema and "'maxItems': 2" in schema
    proposal, sources = _proposal()
    accepted = [(e.section_id, s, v) for e in proposal.edits for s, v in zip(
        [s for s in e.new_sentences() if s not in e.old_sentences], e.verdicts, strict=True)]
    assert {section for section, _, _ in accepted} == set(ROUTES)
    assert len(accepted) == 2  # the unknown id and the repeat added nothing
    for section_id, sentence, verdict in accepted:
        source = sources[sentence.citations[0]]
        assert ROUTES[section_id] in source.title  # a sentence of a source routed there
        assert verdict.stage == "verbatim" and verdict.quotes[0].text == sentence.text[:-1]
        assert sentence.text in " ".join(source.text.split())
    assert "ignored ids not offered: s42" in proposal.edits[0].rationale


def test_a_section_whose_call_hangs_is_held_back_and_the_others_finish(topic, cli, monkeypatch):
    with FakeOpenAIServer() as fake:
        fake.on_task("triage", _triage)
        fake.on_task("draft_extract", _misbehaving_chooser(hang_on="Training and Compute Efficiency"))
        result = _refresh_in_process(cli, monkeypatch, fake, ABSORB_TIMEOUT="1.5",
                                     ABSORB_SECTION_TIMEOUTS="true", ABSORB_MAX_RETRIES="0")
    assert result.code == 0, result.err
    assert re.search(r"section 'Training and Compute Efficiency' failed \(timeout\)", result.err)
    proposal, _ = _proposal()
    assert [e.section_id for e in proposal.edits] == ["physical-infrastructure-boom"]
    from agent.store import open_store

    store = open_store()
    try:  # the held-back section's source stays new for the next refresh
        fresh = {s.title for s, _ in store.sources.for_topic(TOPIC, status="new")}
    finally:
        store.close()
    assert fresh == {"DiLoCo across regions"}


def test_without_section_timeouts_a_hung_section_still_fails_the_run(topic, cli, monkeypatch):
    with FakeOpenAIServer() as fake:
        fake.on_task("triage", _triage)
        fake.on_task("draft_extract", _misbehaving_chooser(hang_on="Training and Compute Efficiency"))
        result = _refresh_in_process(cli, monkeypatch, fake, ABSORB_TIMEOUT="1.5",
                                     ABSORB_MAX_RETRIES="0")
    assert result.code == 3
    assert "failed (timeout)" in result.err and "Traceback" not in result.err


def test_a_failing_section_stops_the_run_without_langgraph_noise(seed_path, tmp_path):
    """One request at a time (the local server's setting): sections queued behind the one
    that failed are cancelled unstarted, which LangGraph used to report as a coroutine
    'arun_with_retry' that was never awaited."""
    from agent.cli.main import run
    from agent.store import open_store

    assert run(["import", str(seed_path), "--topic", TOPIC]) == 0
    store = open_store()
    sections = [s.id for s in store.revisions.current(TOPIC).article.sections][:3]
    store.sources.add_to_topic(TOPIC, [_source(f"Cooling report {i}", COOLING.replace(
        "Meta", f"Meta{i}")) for i in range(3)])
    store.close()

    def triage(request: dict) -> dict:
        return {"decisions": [{"source_id": sid, "relevant": True, "new_section": None,
                               "sections": [sections[int(title.split()[-1])]],
                               "relation": "new", "reason": "scripted"}
                              for sid, title, _ in sources_of(request)]}

    with FakeOpenAIServer() as fake:
        fake.on_task("triage", triage)
        fake.on_task("draft_extract", lambda request: Fault.unauthorized())
        result = _refresh(fake, ABSORB_CONCURRENCY="1")
    assert result.returncode == 3, result.stderr
    assert "failed (auth)" in result.stderr
    assert "never awaited" not in result.stderr and "Traceback" not in result.stderr
