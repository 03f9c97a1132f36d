"""`absorb review approve ID --edit N` takes only verified sentences, through the installed
console script: an editor's own proposal with one verified, one unsupported ("5x" where the
source says 3x) and one uncited sentence."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ABSORB = Path(sys.executable).with_name("absorb")
TOPIC = "ai"
COOLING = "Meta is moving to full-facility liquid cooling."
FIVE_X = "Rack density grows 5x per generation."
UNCITED = "TechCrunch covered the shift."
SOURCE = {"url": "https://example.org/cooling", "title": "Meta liquid cooling shift", "kind": "blog",
          "text": f"Rack density grows 3x per generation. {COOLING}"}


def run(home: Path, *args, code: int = 0) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ABSORB_", "OPENAI_"))}
    env.update(ABSORB_HOME=str(home), NO_COLOR="1")
    done = subprocess.run([str(ABSORB), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == code, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done


@pytest.fixture
def proposal(tmp_path, seed_path, absorb_home, cli) -> tuple[Path, int]:
    """Set up in-process (fast); what is under test runs through the console script."""
    assert cli("import", seed_path, "--topic", TOPIC).code == 0
    feed = tmp_path / "sources.jsonl"
    feed.write_text(json.dumps(SOURCE) + "\n")
    assert cli("sources", "import", feed, "--topic", TOPIC).code == 0
    listed = json.loads(cli("sources", "list", TOPIC, "--json").out)
    sid = next(s["id"] for s in listed if s["title"] == SOURCE["title"])
    section = cli("show", TOPIC).out.split("## LLMs as Knowledge Bases\n", 1)[1].split("\n## ", 1)[0]
    text = (section.rstrip() + f" {COOLING[:-1]} [{sid}]. {FIVE_X[:-1]} [{sid}]. {UNCITED}\n")
    file = tmp_path / "edit.md"
    file.write_text("## LLMs as Knowledge Bases\n\n" + text)
    made = cli("propose", TOPIC, "--section", "LLMs as Knowledge Bases", "--file", file, "--json")
    assert made.code == 0, made.err
    return absorb_home, json.loads(made.out)["id"]


def test_show_gives_the_sentence_diff_with_verdicts_in_words(proposal, cli):
    _, pid = proposal
    out = cli("review", "show", pid).out
    assert "1 verified, 1 unsupported, 1 uncited" in out
    assert "[1.1 verified]" in out and "[1.2 unsupported] The source says 3x, not 5x." in out
    assert "[1.3 uncited] It cites no source." in out
    assert "0 of 1 edits decided" in out
    data = json.loads(cli("review", "show", pid, "--json").out)
    rows = [r for r in data["edits"][0]["rows"] if r["number"]]
    assert [(r["number"], r["kind"], r["label"]) for r in rows] == [
        (1, "added", "verified"), (2, "added", "unsupported"), (3, "added", "uncited")]


def test_approve_an_edit_takes_only_its_verified_sentences(proposal, cli):
    home, pid = proposal
    done = run(home, "review", "approve", pid, "--edit", "1", "--comment", "what checks out")
    assert "took 1 new sentence" in done.stderr and "left out unverified 1.2, 1.3" in done.stderr
    text = cli("show", TOPIC).out
    assert COOLING[:-1] in text and FIVE_X[:-1] not in text and UNCITED[:-1] not in text
    shown = cli("review", "show", pid).out
    assert "[1.2 unsupported, left out]" in shown and "[1.1 verified, taken]" in shown
    assert "merged by" in shown and "“what checks out”" in shown
    decided = json.loads(cli("review", "show", pid, "--json").out)["edits"][0]["decisions"]
    assert decided[0]["action"] == "merged"
    assert decided[0]["sentences"] == {"verified": [1], "unverified_taken": [], "left_out": [2, 3]}


def test_include_unverified_takes_the_rest_and_records_it(proposal, cli):
    home, pid = proposal
    done = run(home, "review", "approve", pid, "--edit", "1", "--include-unverified")
    assert "unverified, marked in the article: 1.2, 1.3" in done.stderr
    text = cli("show", TOPIC).out
    assert COOLING[:-1] in text and FIVE_X[:-1] in text and UNCITED[:-1] in text
    decided = json.loads(cli("review", "show", pid, "--json").out)["edits"][0]["decisions"]
    assert decided[0]["sentences"]["unverified_taken"] == [2, 3]
    # The page readers see marks them too (`show --format html` is /t/TOPIC's document): the
    # mark was only on the editors' page before.
    page = run(home, "show", TOPIC, "--format", "html").stdout
    mark = ' <span class="unverified-mark"'
    cites = r'(?:<a class="cite"[^>]*>\[\d+\]</a>)*'
    assert page.count(mark) == 2
    assert re.search(re.escape(FIVE_X) + cites + re.escape(mark), page)
    assert re.search(re.escape(UNCITED) + cites + re.escape(mark), page)
    assert re.search(re.escape(COOLING) + cites + " (?!<span)", page)  # verified: no mark


def test_include_one_sentence_by_number_and_refuse_a_wrong_one(proposal, cli):
    _, pid = proposal
    wrong = cli("review", "approve", pid, "--edit", "1", "--include", "1")
    assert wrong.code == 2 and wrong.err.count("\n") == 1 and "no unverified sentence 1" in wrong.err
    assert COOLING[:-1] not in cli("show", TOPIC).out  # nothing half-done
    assert cli("review", "approve", pid, "--include", "1.2").code == 0
    text = cli("show", TOPIC).out
    assert FIVE_X[:-1] in text and UNCITED[:-1] not in text


def test_reject_then_undo_then_approve(proposal, cli):
    _, pid = proposal
    assert cli("review", "reject", pid, "--edit", "1", "--comment", "not now").code == 0
    assert json.loads(cli("review", "show", pid, "--json").out)["status"] == "rejected"
    undone = cli("review", "undo", pid, "--edit", "1")
    assert undone.code == 0 and "undecided again" in undone.err
    assert json.loads(cli("review", "show", pid, "--json").out)["status"] == "pending"
    assert cli("review", "approve", pid, "--edit", "1").code == 0
    assert COOLING[:-1] in cli("show", TOPIC).out
    merged = cli("review", "undo", pid, "--edit", "1")
    assert merged.code == 2 and "merged into the article" in merged.err


def test_a_refused_approve_leaves_the_edit_as_proposed(proposal, cli, tmp_path):
    """The section changed since the proposal (another edit of it merged first): approving
    the proposal's verified sentences is refused, and the proposal still holds every sentence
    it proposed, the unverified ones too, for the editor to read or redraft from."""
    home, pid = proposal
    before = json.loads(cli("review", "show", pid, "--json").out)["edits"][0]
    other = tmp_path / "other.md"
    other.write_text("## LLMs as Knowledge Bases\n\nA shorter section now.\n")
    made = json.loads(cli("propose", TOPIC, "--section", "LLMs as Knowledge Bases", "--file", other,
                          "--json").out)
    assert cli("review", "approve", made["id"], "--include-unverified").code == 0
    refused = run(home, "review", "approve", pid, code=4)
    assert "refused" in refused.stderr and "absorb rewrite ai " in refused.stderr  # the real slug
    after = json.loads(cli("review", "show", pid, "--json").out)["edits"][0]
    assert after["status"] == "refused"
    assert [r["new"] for r in after["rows"] if r["number"]] == [
        r["new"] for r in before["rows"] if r["number"]]
    assert {FIVE_X, UNCITED} <= {r["new"] for r in after["rows"] if r["number"]}


def test_an_approve_that_would_empty_the_section_is_refused(proposal, cli, tmp_path):
    """Found by trying the journey: an editor's proposal whose only new sentence was not
    verified replaces the section; a plain approve took no sentence and merged the
    removals, emptying the section without a word. It is refused now, and nothing changes."""
    home, _ = proposal
    before = cli("show", TOPIC).out
    mine = tmp_path / "mine.md"
    mine.write_text("## Training and Compute Efficiency\n\nTraining is now cheaper than ever.\n")
    made = json.loads(cli("propose", TOPIC, "--section", "Training and Compute Efficiency",
                          "--file", mine, "--json").out)
    refused = run(home, "review", "approve", made["id"], code=2)
    assert "would empty section 'Training and Compute Efficiency'" in refused.stderr
    assert "--include-unverified" in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert cli("show", TOPIC).out == before
    shown = json.loads(cli("review", "show", made["id"], "--json").out)
    assert shown["status"] == "pending"
    assert "Training is now cheaper than ever." in [r["new"] for r in shown["edits"][0]["rows"]]


def test_an_approve_says_how_many_sentences_it_removes(proposal, cli, tmp_path):
    home, _ = proposal
    section = cli("show", TOPIC).out.split("## LLMs as Knowledge Bases\n", 1)[1].split("\n## ", 1)[0]
    first = section.strip().split("\n")[0]
    mine = tmp_path / "shorter.md"
    mine.write_text("## LLMs as Knowledge Bases\n\n" + first.split(". ")[0].rstrip(".") + ".\n")
    made = json.loads(cli("propose", TOPIC, "--section", "LLMs as Knowledge Bases", "--file", mine,
                          "--json").out)
    done = run(home, "review", "approve", made["id"], "--include-unverified")
    assert re.search(r"removed \d+ sentences? of the section", done.stderr), done.stderr


def test_a_decision_that_moved_on_exits_4(proposal, cli):
    """The README's exit table: 4 when the article or the decision moved on. An approve of an
    edit an editor rejected (or a reject of a merged one) said so with 2, a usage error."""
    home, pid = proposal
    assert cli("review", "reject", pid, "--edit", "1").code == 0
    moved = run(home, "review", "approve", pid, "--edit", "1", code=4)
    assert "was rejected by" in moved.stderr and len(moved.stderr.splitlines()) == 1
    run(home, "review", "approve", pid, "--edit", "9", code=2)  # bad input stays 2


CTRL_C_AFTER_THE_MERGE = """
import os, signal, sys
import agent.review as review
decide = review.decide

async def decide_then_ctrl_c(*args, **kwargs):
    result = await decide(*args, **kwargs)  # committed: the revision is in the store
    os.kill(os.getpid(), signal.SIGINT)     # the editor's Ctrl-C, a moment too late
    return result

review.decide = decide_then_ctrl_c
import agent.approval
agent.approval.decide = decide_then_ctrl_c
from agent.cli.main import main
sys.argv = ["absorb", *sys.argv[1:]]
main()
"""


def test_ctrl_c_after_the_merge_is_committed_still_says_what_was_merged(proposal, cli):
    """Found by pressing Ctrl-C during `review approve`: some runs exited 130 with nothing on
    stderr although the merge was committed. Now the decision is said, then `interrupted`."""
    home, pid = proposal
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ABSORB_", "OPENAI_"))}
    env.update(ABSORB_HOME=str(home), NO_COLOR="1")
    done = subprocess.run([sys.executable, "-c", CTRL_C_AFTER_THE_MERGE, "review", "approve", str(pid)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 130, done.stderr
    assert "merged edits 1" in done.stderr and "revision 2" in done.stderr
    assert done.stderr.rstrip().endswith("interrupted")
    assert "Traceback" not in done.stderr
    assert len(json.loads(cli("history", TOPIC, "--json").out)) == 2
