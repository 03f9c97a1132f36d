"""Issue 17's measuring tools: the 20-line baseline exactly as the issue states it, the
per-stage table (false rejects caused, unsupported caught, caught alone) and the folds."""

from __future__ import annotations

from agent.citations import CitationGate, Claim
from agent.citations.baseline import baseline_passes
from agent.citations.evaluate import EvalCase, evaluate, stage_table
from agent.citations.rules import GateRules
from agent.citations.tuning import choose, cross_validate
from agent.models import Source

TEXT = "Lumora raised $42 million in Berlin on Tuesday, said chief executive Katrin Vogel."


def test_baseline_needs_every_number_half_the_content_words_and_every_capitalised_word() -> None:
    assert baseline_passes("Lumora raised 42 million in Berlin.", [TEXT])
    assert not baseline_passes("Lumora raised 43 million in Berlin.", [TEXT])  # a number
    assert not baseline_passes("Lumora raised 42 million in Munich.", [TEXT])  # a capitalised word
    # four content words of three letters or more, only one of them in the source
    assert not baseline_passes("lumora quietly borrowed enormous sums", [TEXT])
    assert baseline_passes("lumora raised enormous sums", [TEXT])  # exactly half is enough


def case(case_id: str, claim: str, label: str, text: str = TEXT) -> EvalCase:
    return EvalCase(case_id, claim, ["s1"], {"s1": Source(id="s1", text=text)}, label, label)


def test_stage_table_counts_false_rejects_catches_and_what_a_stage_alone_caught() -> None:
    rows = [(True, {"numbers"}, False), (False, {"numbers"}, False), (False, {"numbers", "entities"}, True),
            (False, set(), True), (True, set(), True), (False, {"entities"}, True)]
    table = stage_table(rows, "lexical")
    assert table["numbers"] == {"false_rejects": 1, "caught": 2, "caught_alone": 1}
    assert table["entities"] == {"false_rejects": 0, "caught": 2, "caught_alone": 0}
    assert table["lexical"] == {"false_rejects": 1, "caught": 1, "caught_alone": 1}


def test_evaluate_reports_stages_and_baseline_side_by_side() -> None:
    cases = [case("a", "Lumora raised $42 million in Berlin.", "supported"),
             case("b", "Lumora raised $48 million in Berlin.", "not_supported"),
             case("c", "In Berlin, Orvane raised $42 million.", "not_supported")]
    report = evaluate(cases, CitationGate())
    assert report.balanced_accuracy == 1.0
    assert report.stages["numbers"]["caught_alone"] == 1
    assert report.stages["entities"]["caught_alone"] == 1
    assert report.baseline["balanced_accuracy"] == 1.0


def test_rules_are_chosen_under_the_false_reject_bound_and_scored_on_held_out_folds() -> None:
    good = [case(f"g{n}", f"Lumora raised $42 million in Berlin, report {n} said.", "supported",
                 f"Lumora raised $42 million in Berlin, report {n} said.") for n in range(6)]
    spread = [case(f"s{n}", "Vogel said the Berlin money would pay for hiring.", "supported",
                   f"Katrin Vogel spoke in Berlin. {'Unrelated filler text here. ' * 3}"
                   f"Hiring will be paid for with the money, report {n} said.") for n in range(3)]
    bad = [case(f"b{n}", "Quantum chips need extreme cooling to operate well.", "not_supported",
                f"Lumora raised money in Berlin, report {n} said.") for n in range(6)]
    items = [(c, CitationGate().screen(Claim(c.claim, c.citations), c.sources))
             for c in good + spread + bad]
    strict, lenient = GateRules(support=0.9), GateRules(support=0.1)
    assert choose(items, [strict, lenient]) == lenient  # strict rejects the spread claims
    report = cross_validate(good + spread + bad, folds=3, candidates=[strict, lenient])
    assert len(report.folds) == 3 and sum(f["cases"] for f in report.folds) == 15
    assert report.held_out["false_reject_rate"] == 0.0
    assert report.chosen_on_all == lenient
    # the per-stage table counts every case once, under the rules of the fold holding it out
    stages = report.stages
    assert stages["wrong_source"]["caught"] + stages["lexical"]["caught"] >= 1
    assert sum(row["false_rejects"] for row in stages.values()) == 0
    assert report.metrics()["stages_held_out"] == stages
