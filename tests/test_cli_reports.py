"""What refresh, runs and the overnight batch report, read as a user reads them: feed failures
per topic, no claim of a gather that did not happen, counts that say what they count."""

from __future__ import annotations

import json
import shutil

import pytest


TOPIC = "ai-infrastructure"


@pytest.fixture
def world(seed_world):
    shell, server = seed_world
    assert shell(f"absorb import agent/demo/seed.md --topic {TOPIC}").code == 0
    return shell, server


def test_runs_says_when_there_are_none(world):
    shell, _ = world
    ran = shell("absorb runs")
    assert ran.code == 0 and ran.out == "" and "no runs yet" in ran.err, ran


def test_no_gather_claims_no_gather_and_counts_say_what_they_count(world):
    shell, _ = world
    assert shell(f"absorb sources import agent/demo/seed.md --topic {TOPIC}").code == 0
    ran = shell(f"absorb refresh {TOPIC} --no-gather")
    assert ran.code == 0, ran
    assert "gather_sources" not in ran.err, ran
    # The lead was written by the import and nothing changed since: no lead step runs.
    assert "load_article" in ran.err and "update_lead" not in ran.err, ran
    edit_lines = [line for line in ran.out.splitlines() if line.strip()]
    assert edit_lines and all("new sentences, " in line and "held back" in line
                              for line in edit_lines), ran
    # "N new sentences" counts what the edit adds, not the old sentences it keeps.
    from agent.store import open_store

    store = open_store(f"sqlite:///{shell.env['ABSORB_HOME']}/absorb.db")
    try:
        (proposal,) = store.proposals.list(topic=TOPIC)
        for edit, line in zip(proposal.edits, edit_lines, strict=True):
            old = {(s.text, tuple(s.citations)) for s in edit.old_sentences}
            added = [s for p in edit.new_paragraphs for s in p if (s.text, tuple(s.citations)) not in old]
            assert line.split("\t")[2].startswith(f"{len(added)} new sentences, "), (line, len(added))
        assert any(edit.old_sentences for edit in proposal.edits)  # the count was put to the test
    finally:
        store.close()


def test_the_overnight_report_names_a_feed_that_failed(world, tmp_path):
    shell, _ = world
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "note.md").write_text("# Liquid cooling notes\n\nRacks above 100 kW need liquid "
                                    "cooling, operators say.\n")
    assert shell(f"absorb feeds add {TOPIC} {folder} --name inbox").code == 0
    shutil.rmtree(folder)  # the folder feed is gone by the night it is pulled
    night = shell("absorb refresh --all --json")
    assert night.code in (0, 75), night
    row = next(t for t in json.loads(night.out)["topics"] if t["topic"] == TOPIC)
    assert row["feed_errors"] and "inbox" in row["feed_errors"][0], row
    assert "inbox" in night.err, night  # and in the table on stderr


def test_a_night_with_nothing_to_do_says_why(tmp_path):
    """Found by running the batch night after night: with topics but nothing new, it said
    `no topics`, as if the store were empty."""
    from tests.cli_world import Shell, ok, workdir

    shell = Shell(tmp_path / "home", workdir(tmp_path), OPENAI_API_KEY="sk-test",
                  OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    assert ok(shell("absorb refresh --all")).err.strip().endswith("no topics")
    ok(shell("absorb import agent/demo/seed.md --topic t1"))
    ok(shell("absorb import agent/demo/seed.md --topic t2"))
    said = ok(shell("absorb refresh --all")).err
    assert "nothing to refresh: 2 topics, none with new sources" in said and "no topics" not in said
