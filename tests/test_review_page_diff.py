"""Sentence-aligned diffs and what approving takes: a rewritten sentence pairs with the one
it replaces, a deleted one stays in its own paragraph, a left-out unverified rewrite keeps
the old wording; reasons read as an editor would say them."""

from __future__ import annotations

from agent.approval import narrow
from agent.models import Edit, Sentence, Source, Verdict, VerdictLabel
from agent.sentence_diff import align, plain_reason, summary

S = Sentence
OLD = [[S(text="Alpha ships two chips a year."), S(text="Beta is a cloud company.")],
       [S(text="Gamma builds data centres in Ohio."), S(text="Delta stopped buying GPUs.")]]
NEW = [[S(text="Alpha ships three chips a year.", citations=["src_a"]), S(text="Beta is a cloud company.")],
       [S(text="Gamma builds data centres in Ohio."), S(text="Epsilon joined in 2026.")]]
VERDICTS = [Verdict(label=VerdictLabel.unsupported, stage="numbers", reason="not in any cited source: three"),
            Verdict(label=VerdictLabel.supported, stage="judge")]


def test_rows_pair_rewrites_and_keep_paragraphs():
    rows = align(OLD, NEW, VERDICTS)
    kinds = [(r.kind, r.paragraph, r.number) for r in rows]
    assert kinds == [("changed", 0, 1), ("same", 0, None), ("same", 1, None),
                     ("removed", 1, None), ("added", 1, 2)]
    changed = rows[0]
    assert [c.text for c in changed.old_words if c.op == "delete"] == [" two"]
    assert [c.text for c in changed.new_words if c.op == "insert"] == [" three"]
    assert summary(rows) == "1 verified, 1 unsupported"


def test_approving_leaves_an_unverified_rewrite_out_and_keeps_the_old_wording():
    edit = Edit(id="e", section_id="s", heading="S", old_sentences=[s for p in OLD for s in p],
                new_paragraphs=NEW, verdicts=VERDICTS, source_ids=["src_a"])
    narrowed, choice, taken = narrow(edit, set())
    assert narrowed.source_ids == []  # only the left-out sentence cited it: nothing to absorb
    assert narrowed.new_paragraphs == [[OLD[0][0], OLD[0][1]], [OLD[1][0], NEW[1][1]]]
    assert (choice.verified, choice.unverified_taken, choice.left_out) == ([2], [], [1])
    assert narrowed.verdicts == [VERDICTS[1]] and taken == []
    ticked, choice, taken = narrow(edit, {1})
    assert ticked.new_paragraphs == NEW and choice.unverified_taken == [1] and ticked.source_ids == ["src_a"]
    assert taken == [(NEW[0][0], "unsupported")]


def test_reasons_in_an_editors_words():
    source = Source(id="src_a", title="A", text="Alpha ships 3x more chips; TechCrunch is not named here.")
    five = S(text="Alpha ships 5x more chips.", citations=["src_a"])
    assert plain_reason(five, Verdict(label=VerdictLabel.unsupported, stage="numbers"),
                        {"src_a": source}) == "The source says 3x, not 5x."
    named = Verdict(label=VerdictLabel.unsupported, stage="entities",
                    reason="names not in any cited source: Reuters")
    assert plain_reason(five, named, {}) == "No cited source mentions Reuters."
    wrong = Verdict(label=VerdictLabel.unsupported, stage="wrong_source", reason="shares few words (3%)")
    assert plain_reason(five, wrong, {}) == "The cited page is about something else."
    assert plain_reason(S(text="x"), Verdict(label=VerdictLabel.uncited, stage="structure"), {}) == \
        "It cites no source."
