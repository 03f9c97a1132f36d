"""Editor review from the terminal: propose, list, show, approve / reject per edit, staleness."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from agent.markdown import decode_page, parse_page
from agent.models import (Edit, EvidenceQuote, Sentence, Source, Verdict, VerdictLabel,
                          source_id_for)

TOPIC = "ai"
HOSTILE = "Attack <img src=x onerror=alert(1)> and <script>alert(2)</script> in a source."
COOLING = "Meta is moving to full-facility liquid cooling."


def _source(title: str, text: str) -> Source:
    return Source(id=source_id_for(None, text), title=title, kind="blog", text=text,
                  content_hash=source_id_for(None, text))


def _verdict(source: Source, quote: str) -> Verdict:
    start = source.text.index(quote)
    return Verdict(label=VerdictLabel.supported, stage="judge", reason="stated verbatim",
                   quotes=[EvidenceQuote(source_id=source.id, text=quote, start=start,
                                         end=start + len(quote))])


def _append(store, section_id: str, edit_id: str, sentence: Sentence, verdict: Verdict,
            source: Source) -> Edit:
    section = store.revisions.current(TOPIC).article.section(section_id)
    paragraphs = [list(p) for p in section.paragraphs]
    paragraphs[-1] = paragraphs[-1] + [sentence]
    return Edit(id=edit_id, section_id=section.id, heading=section.heading,
                old_sentences=section.sentences(), new_paragraphs=paragraphs, verdicts=[verdict],
                rationale="added what the source states", source_ids=[source.id])


def seed_topic(store, seed_path) -> None:
    article = parse_page(decode_page(seed_path.read_bytes())).article
    store.topics.create(TOPIC, article.title, scope=article.summary)
    store.revisions.commit(TOPIC, article, base_revision_id=None, actor="import", comment="seed")


def two_edit_proposal(store, prefix: str = "p") -> int:
    """Edit 1 adds a cooling sentence, edit 2 a sentence citing a hostile source."""
    cooling = _source("Meta liquid cooling shift", f"Rack density grows. {COOLING}")
    hostile = _source('Evil <script>alert("t")</script> title', HOSTILE)
    store.sources.add_to_topic(TOPIC, [cooling, hostile], status="proposed")
    first = _append(store, "physical-infrastructure-boom", f"{prefix}-boom",
                    Sentence(text=COOLING, citations=[cooling.id]), _verdict(cooling, COOLING), cooling)
    second = _append(store, "llms-as-knowledge-bases", f"{prefix}-llms",
                     Sentence(text=HOSTILE, citations=[hostile.id]), _verdict(hostile, HOSTILE), hostile)
    base = store.topics.get(TOPIC).current_revision_id
    return store.proposals.create(TOPIC, run_id=None, base_revision_id=base,
                                  edits_=[first, second], actor="run:test").id


@pytest.fixture
def seeded(cli, seed_path):
    from agent.store import open_store

    assert cli("import", seed_path, "--topic", TOPIC).code == 0
    store = open_store()
    yield store
    store.close()


def _one_line_error(result, code: int = 2) -> None:
    assert result.code == code, result
    assert result.err.count("\n") == 1 and "Traceback" not in result.err


def test_approve_one_reject_other_then_history_and_idempotence(cli, seeded):
    pid = two_edit_proposal(seeded)
    assert cli("review").out.split("\t")[:3] == [str(pid), TOPIC, "pending"]
    approved = cli("review", "approve", pid, "--edit", "1", "--comment", "cooling is right")
    assert approved.code == 0, approved.err
    assert "merged edits 1; revision 2" in approved.err
    listed = json.loads(cli("review", "list", "--json").out)
    assert [(p["id"], p["status"], p["undecided"]) for p in listed] == [(pid, "pending", 1)]
    rejected = cli("review", "reject", pid, "--edit", "p-llms", "--comment", "not notable")
    assert rejected.code == 0 and "rejected edits 2" in rejected.err
    history = json.loads(cli("history", TOPIC, "--json").out)
    assert [(h["number"], h["comment"]) for h in history] == [(1, "imported: absorb.md"),
                                                              (2, "cooling is right")]
    assert history[1]["actor"].startswith("editor:")
    # the article's own sentences (the exported page also lists the bus, hostile items included)
    page = _article_text(cli)
    assert COOLING[:-1] in page and "onerror" not in page
    assert json.loads(cli("review", "show", pid, "--json").out)["status"] == "partially_approved"
    again = cli("review", "approve", pid)
    assert again.code == 0 and "nothing to approve" in again.err
    assert len(json.loads(cli("history", TOPIC, "--json").out)) == 2
    _one_line_error(cli("review", "reject", pid, "--edit", "1"), code=4)  # decided: moved on
    _one_line_error(cli("review", "approve", pid, "--edit", "2"), code=4)
    statuses = dict((s.title, status) for s, status in seeded.sources.for_topic(TOPIC))
    assert statuses["Meta liquid cooling shift"] == "absorbed"
    assert statuses['Evil <script>alert("t")</script> title'] == "irrelevant"


def test_own_partial_merge_does_not_make_a_proposal_stale(cli, seeded):
    pid = two_edit_proposal(seeded)
    assert cli("review", "approve", pid, "--edit", "1").code == 0
    assert json.loads(cli("review", "list", "--json").out)[0]["status"] == "pending"
    assert cli("review", "approve", pid, "--edit", "2").code == 0
    assert json.loads(cli("review", "show", pid, "--json").out)["status"] == "merged"
    assert len(json.loads(cli("history", TOPIC, "--json").out)) == 3


def test_stale_proposal_reapplies_unchanged_sections_and_refuses_changed_ones(cli, seeded, tmp_path):
    pid = two_edit_proposal(seeded)
    current = seeded.revisions.current(TOPIC)
    article = current.article.model_copy(deep=True)
    newer = Sentence(text="An editor rewrote this section meanwhile.")
    article.section("llms-as-knowledge-bases").paragraphs = [[newer]]
    seeded.revisions.commit(TOPIC, article, base_revision_id=current.id, actor="editor:other")
    # Staleness is per section: edit 1's section is untouched, so the proposal stays decidable.
    listed = json.loads(cli("review", "list", "--json").out)[0]
    assert listed["status"] == "pending"
    assert [(s["section"], s["stale"]) for s in listed["sections"]] == [
        ("physical-infrastructure-boom", False), ("llms-as-knowledge-bases", True)]
    assert "llms-as-knowledge-bases (changed since)" in cli("review", "list").out
    shown = json.loads(cli("review", "show", pid, "--json").out)
    assert [e["applies"] for e in shown["edits"]] == [True, False]
    assert "the section changed" in cli("review", "show", pid).out
    result = cli("review", "approve", pid, "--comment", "take what still fits")
    assert result.code == 0, result.err
    assert "edit 2 refused: section 'LLMs as Knowledge Bases' changed" in result.err
    assert "merged edits 1; revision 3" in result.err
    after = json.loads(cli("show", TOPIC, "--format", "json").out)
    llms = next(s for s in after["sections"] if s["id"] == "llms-as-knowledge-bases")
    assert llms["paragraphs"] == [[newer.model_dump()]]  # the newer text survived
    assert COOLING[:-1] in cli("show", TOPIC).out
    final = json.loads(cli("review", "show", pid, "--json").out)
    assert final["status"] == "partially_approved"
    assert [e["status"] for e in final["edits"]] == ["merged", "refused"]


def test_stale_proposal_with_every_edit_refused_exits_non_zero(cli, seeded):
    pid = two_edit_proposal(seeded)
    current = seeded.revisions.current(TOPIC)
    article = current.article.model_copy(deep=True)
    for key in ("llms-as-knowledge-bases", "physical-infrastructure-boom"):
        article.section(key).paragraphs = [[Sentence(text=f"Rewritten {key}.")]]
    seeded.revisions.commit(TOPIC, article, base_revision_id=current.id, actor="editor:other")
    result = cli("review", "approve", pid)
    assert result.code == 4 and result.err.count("refused") == 2
    assert len(json.loads(cli("history", TOPIC, "--json").out)) == 2


def test_show_prints_word_diff_verdicts_quotes_and_sources(cli, seeded):
    pid = two_edit_proposal(seeded)
    out = cli("review", "show", pid).out
    assert f"{{+{COOLING}+}} [17]" in out  # sentence-aligned (issue 16): the sentence, then its marks
    assert "[1.1 verified]" in out and f'quote [17]: "{COOLING}"' in out
    assert "[17] Meta liquid cooling shift · blog" in out
    data = json.loads(cli("review", "show", pid, "--json").out)
    inserted = [c["text"] for c in data["edits"][0]["diff"] if c["op"] == "insert"]
    assert inserted == [f" {COOLING[:-1]} [17]."]
    assert data["edits"][1]["sentences"][0]["quotes"] == [{"number": 18, "text": HOSTILE}]


def test_show_prints_emoji_codes_in_sources_as_written(cli, seeded, tmp_path):
    """rich turns `:warning:` into an emoji even with markup off: a source's words must reach
    the editor as the source wrote them, on stdout and in a one-line error alike."""
    text = "Shortages :warning: of GPUs are :fire: said the :red_circle: report."
    source = _source("GPUs :warning: short", text)
    seeded.sources.add_to_topic(TOPIC, [source], status="proposed")
    edit = _append(seeded, "physical-infrastructure-boom", "emoji",
                   Sentence(text=text, citations=[source.id]), _verdict(source, text), source)
    pid = seeded.proposals.create(TOPIC, run_id=None, base_revision_id=seeded.topics.get(
        TOPIC).current_revision_id, edits_=[edit], actor="run:test").id
    out = cli("review", "show", pid).out
    assert "GPUs :warning: short" in out and ":fire:" in out and "\u26a0" not in out
    assert "\N{WARNING SIGN}" not in out and "\U0001f525" not in out
    page = tmp_path / "page.md"
    page.write_text("# Chips :warning: and :fire:\n\n## Overview\n\nChips are scarce this year.\n")
    imported = cli("import", page, "--topic", "chips")
    assert imported.code == 0 and "imported 'Chips :warning: and :fire:'" in imported.err


def test_propose_an_editors_section_from_show_output(cli, seeded, tmp_path):
    shown = cli("show", TOPIC).out
    section = shown.split("## LLMs as Knowledge Bases\n", 1)[1].split("\n## ", 1)[0]
    edited = section.replace("replacing search engines and wikis",
                             "replacing search engines, encyclopedias and wikis")
    file = tmp_path / "section.md"
    file.write_text("## LLMs as Knowledge Bases\n" + edited + "\n## References\n\n1. [1]ignored\n")
    result = cli("propose", TOPIC, "--section", "LLMs as Knowledge Bases", "--file", file, "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert [c["text"] for c in data["edits"][0]["diff"] if c["op"] != "equal"] == [", encyclopedias"]
    advice = data["edits"][0]["sentences"]
    assert len(advice) == 1 and advice[0]["label"] == "unsupported"  # advice: the seed has no text
    assert "not verified by the deterministic gate" in result.err
    kept = cli("review", "approve", data["id"])  # issue 16: approve takes verified sentences only
    assert kept.code == 0 and "left out unverified 1.1" in kept.err
    assert "search engines, encyclopedias and wikis" not in cli("show", TOPIC).out
    assert cli("review", "undo", data["id"], "--edit", "1").code == 2  # merged: no undo
    data = json.loads(cli("propose", TOPIC, "--section", "LLMs as Knowledge Bases", "--file", file,
                          "--json").out)
    approved = cli("review", "approve", data["id"], "--include-unverified", "--comment", "wording")
    assert approved.code == 0 and "revision 2" in approved.err
    assert "search engines, encyclopedias and wikis" in cli("show", TOPIC).out
    history = json.loads(cli("history", TOPIC, "--json").out)
    assert history[-1]["comment"] == "wording" and history[-1]["actor"].startswith("editor:")


def test_propose_cites_stored_sources_by_id_and_creates_new_sections(cli, seeded, tmp_path):
    source = _source("Cooling note", f"Rack density grows. {COOLING}")
    seeded.sources.add_to_topic(TOPIC, [source])
    file = tmp_path / "new.md"
    file.write_text(f"{COOLING[:-1]} [{source.id}].\n")
    data = json.loads(cli("propose", TOPIC, "--section", "Cooling", "--file", file, "--json").out)
    edit = data["edits"][0]
    assert edit["new_section"] and edit["section_id"] == "cooling"
    assert edit["sentences"][0]["label"] == "supported"  # the deterministic gate found it
    assert cli("review", "approve", data["id"]).code == 0
    assert "## Cooling" in cli("show", TOPIC).out


@pytest.mark.parametrize("content,message", [
    ("Some claim [99].\n", "marker [99] matches no reference"),
    ("## One\n\nA.\n\n## Two\n\nB.\n", "propose one section at a time"),
    ("Claim [src_0123456789abcdef].\n", "is not a stored source"),
    ("\n\n", "no prose for the section"),
])
def test_propose_errors_are_one_line(cli, seeded, tmp_path, content, message):
    file = tmp_path / "bad.md"
    file.write_text(content)
    result = cli("propose", TOPIC, "--section", "overview", "--file", file)
    _one_line_error(result)
    assert message in result.err


def test_user_errors_are_one_line(cli, seeded, tmp_path):
    pid = two_edit_proposal(seeded)
    for args, message in [(("review", "show", "99"), "no proposal 99"),
                          (("review", "approve", pid, "--edit", "7"), "has no edit '7'"),
                          (("review", "list", "--status", "odd"), "unknown status 'odd'"),
                          (("propose", TOPIC, "--section", "x", "--file", tmp_path / "no.md"),
                           "no such file"),
                          (("propose", "nope", "--section", "x", "--file", __file__), "unknown topic")]:
        result = cli(*args)
        _one_line_error(result)
        assert message in result.err
    assert cli("serve").code == 2  # no editor tokens configured


def test_two_editors_approving_at_once_merge_once(store, seed_path):
    from agent.review import decide

    seed_topic(store, seed_path)
    pid = two_edit_proposal(store, prefix="race")
    results, errors = [], []

    def approve() -> None:
        try:
            results.append(asyncio.run(decide(store, pid, "approve", actor="editor:t")))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=approve) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert [r.number for r in store.revisions.history(TOPIC)] == [1, 2]
    final = store.proposals.get(pid)
    assert final.status.value == "merged", [final.status, [e.status for e in final.edits], results]
    assert sorted(n for r in results for n in r.merged) in ([1, 2], [1, 1, 2, 2])


def _article_text(cli) -> str:  # noqa: ANN001 - the cli fixture
    article = json.loads(cli("show", TOPIC, "--json").out)
    return " ".join(sentence["text"] for section in article["sections"]
                    for paragraph in section["paragraphs"] for sentence in paragraph)


def test_open_proposals_are_read_by_status_with_the_same_answer(store, seed_path):
    """`review list` reads only proposals stored open; the answer is the one reading every
    proposal gave, including a half-made decision that reading repairs (an applied edit whose
    status was not written: that proposal is merged, not open) and a stale one."""
    import sqlalchemy as sa

    from agent.review import OPEN_STATUSES, list_proposals, sync_status

    seed_topic(store, seed_path)
    made = [two_edit_proposal(store, prefix=f"p{n}") for n in range(5)]
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE proposals SET status = 'rejected' WHERE id = :p"), {"p": made[0]})
        conn.execute(sa.text("UPDATE edits SET status = 'rejected' WHERE proposal_id = :p"), {"p": made[0]})
        conn.execute(sa.text("UPDATE proposals SET status = 'approved' WHERE id = :p"), {"p": made[1]})
    # made[2]: both edits applied by a revision, the decision never written
    proposal = store.proposals.get(made[2])
    current = store.revisions.current(TOPIC)
    store.revisions.commit(TOPIC, current.article, base_revision_id=current.id, actor="editor:a",
                           edit_ids=[e.id for e in proposal.edits])
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE edits SET status = 'pending' WHERE proposal_id = :p"), {"p": made[2]})
        conn.execute(sa.text("UPDATE proposals SET status = 'pending' WHERE id = :p"), {"p": made[2]})
    found = [p.id for p in list_proposals(store, "open")]  # first: made[2] not yet repaired
    every = [sync_status(store, p) for p in store.proposals.list()]
    assert found == [p.id for p in every if p.status.value in OPEN_STATUSES]
    assert made[0] not in found and made[2] not in found and made[1] in found and made[3] in found
    assert store.proposals.get(made[2]).status.value == "merged"
