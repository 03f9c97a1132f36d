"""A sentence the gate holds back falls back to the old text it replaced, all of it. Found by
trying `absorb rewrite` with real models' habits: a model that joins two old sentences into
one had the joined sentence held back, and only the first old sentence came back; the
second was gone from the section if the editor approved (the README: "a sentence that still
fails is dropped, the old text kept")."""

from __future__ import annotations

from agent.drafting import finalize
from agent.models import Sentence, Verdict, VerdictLabel

A = Sentence(text="Recent examples include Meta's 1GW campus running on onsite natural gas power.",
             citations=["src_a"])
B = Sentence(text="xAI's Colossus similarly employs gas turbines for ~2GW.", citations=["src_b"])
C = Sentence(text="Grid connections now take five years in Virginia.", citations=["src_c"])
FAILED = Verdict(label=VerdictLabel.unsupported, stage="structure", reason="It cites no source.")
PASSED = Verdict(label=VerdictLabel.supported, stage="judge", reason="stated")


def test_a_held_back_join_of_two_old_sentences_keeps_both():
    joined = Sentence(text=f"{A.text} {B.text}", citations=[])
    final, kept, dropped = finalize([[A, B, C]], [[joined, C]], {(joined.text, ()): FAILED})
    assert final == [[A, B, C]]
    assert [d.sentence for d in dropped] == [joined] and kept == []


def test_a_held_back_rewrite_keeps_the_one_sentence_it_replaced():
    rewritten = Sentence(text="Recent examples include Meta's 2GW campus on onsite gas power.",
                         citations=["src_a"])
    final, _, _ = finalize([[A, B, C]], [[rewritten, B, C]], {(rewritten.text, ("src_a",)): FAILED})
    assert final == [[A, B, C]]


def test_a_passing_join_replaces_both_and_a_failing_addition_brings_nothing_back():
    joined = Sentence(text=f"{A.text} {B.text}", citations=["src_a", "src_b"])
    added = Sentence(text="Fusion plants power every data centre in Ohio.", citations=["src_c"])
    final, kept, _ = finalize([[A, B, C]], [[joined, C, added]],
                              {(joined.text, ("src_a", "src_b")): PASSED,
                               (added.text, ("src_c",)): FAILED})
    assert final == [[joined, C]] and kept == [PASSED]
