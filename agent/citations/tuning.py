"""Stratified k-fold tuning of the gate's thresholds (`GateRules`): choose the rules on k-1 folds,
score them on the held-out fold, average over the folds. Every case is screened once; the
thresholds are applied to the recorded shares, so a grid of rules costs little."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.citations.baseline import baseline_passes
from agent.citations.checks import Screening, source_view
from agent.citations.evaluate import EvalCase, binary_scores, stage_table, sure_stages
from agent.citations.gate import CitationGate, Claim
from agent.citations.rules import GateRules

# The largest false-reject rate a rule may have on the tuning folds to be chosen: below the
# 8% the gate is held to on held-out folds, leaving room for the fold-to-fold spread.
MAX_TUNING_FALSE_REJECTS = 0.06
# The wrong-source stage says it is *sure*: a third of the sentence's words in the cited text
# is not that (a sentence may word the rest its own way), so its thresholds stop at a fifth.
GRID = {
    "wrong_source_global": (0.1, 0.2),
    "wrong_source_local": (0.0, 0.1, 0.2),
    "support": (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6),
    "block_partial_names": (True, False),
    "block_weak_names": (True, False),
    "block_number_hints": (True, False),
}


def grid() -> list[GateRules]:
    names = list(GRID)
    return [GateRules(**dict(zip(names, values))) for values in itertools.product(*GRID.values())]


def passes(screening: Screening, rules: GateRules) -> bool:
    if sure_stages(screening, rules):
        return False
    share = screening.local_share if screening.counted else 1.0
    return rules.lexical_support(share, screening.missing_entities, screening.weak_missing_entities,
                                 screening.number_hints) is None


def stage_row(case: EvalCase, screening: Screening, rules: GateRules) -> tuple[bool, set[str], bool]:
    """(should pass, stages sure of it, held back by the lexical rule) under `rules`."""
    share = screening.local_share if screening.counted else 1.0
    lexical_holds = rules.lexical_support(share, screening.missing_entities,
                                          screening.weak_missing_entities,
                                          screening.number_hints) is not None
    return case.should_pass, sure_stages(screening, rules), lexical_holds


def scores(items: Sequence[tuple[EvalCase, Screening]], rules: GateRules) -> tuple[float, float, float]:
    return binary_scores([(case.should_pass, passes(screening, rules)) for case, screening in items])


def choose(items: Sequence[tuple[EvalCase, Screening]], candidates: Sequence[GateRules],
           max_false_rejects: float = MAX_TUNING_FALSE_REJECTS) -> GateRules:
    """The rules with the best balanced accuracy among those within the false-reject bound
    (the lowest false-reject rate if none is); ties go to the earlier candidate."""
    scored = [(scores(items, rules), rules) for rules in candidates]
    allowed = [item for item in scored if item[0][2] <= max_false_rejects]
    if allowed:
        return max(allowed, key=lambda item: item[0][0])[1]
    return min(scored, key=lambda item: (item[0][2], -item[0][0]))[1]


@dataclass
class FoldReport:
    folds: list[dict] = field(default_factory=list)
    held_out: dict[str, float] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)
    in_sample: dict[str, float] = field(default_factory=dict)
    stages: dict[str, dict[str, int]] = field(default_factory=dict)
    chosen_on_all: GateRules | None = None

    def metrics(self) -> dict:
        return {"folds": self.folds, "held_out": self.held_out, "baseline_held_out": self.baseline,
                "in_sample": self.in_sample, "stages_held_out": self.stages,
                "rules_on_all": vars(self.chosen_on_all) if self.chosen_on_all else None}


def _mean(rows: Sequence[tuple[float, float, float]]) -> dict[str, float]:
    keys = ("balanced_accuracy", "false_accept_rate", "false_reject_rate")
    return {key: sum(row[i] for row in rows) / len(rows) for i, key in enumerate(keys)}


def cross_validate(cases: Sequence[EvalCase], folds: int = 5, seed: int = 17,
                   candidates: Sequence[GateRules] | None = None) -> FoldReport:
    """Tune on k-1 folds, score on the held-out one, for each fold; plus the baseline on
    the same folds, the per-stage table of the held-out cases, and the rules tuned on every
    case (in-sample, for comparison only)."""
    gate = CitationGate()
    items = [(case, gate.screen(Claim(case.claim, case.citations), case.sources,
                                context=case.context)) for case in cases]
    # Stratified: each fold gets its share of passing and failing cases, in a seeded order.
    assignment: dict[int, int] = {}
    for should_pass in (True, False):
        order = [i for i, (case, _) in enumerate(items) if case.should_pass == should_pass]
        random.Random(seed).shuffle(order)
        assignment.update({index: position % folds for position, index in enumerate(order)})
    candidates = list(candidates or grid())
    report = FoldReport()
    held, base = [], []
    rows: list[tuple[bool, set[str], bool]] = []
    for fold in range(folds):
        train = [items[i] for i in range(len(items)) if assignment[i] != fold]
        test = [items[i] for i in range(len(items)) if assignment[i] == fold]
        rules = choose(train, candidates)
        result = scores(test, rules)
        rows += [stage_row(case, screening, rules) for case, screening in test]
        baseline = binary_scores([(case.should_pass, baseline_passes(
            case.claim, [source_view(case.sources[k]) for k in case.citations if k in case.sources]))
            for case, _ in test])
        held.append(result)
        base.append(baseline)
        report.folds.append({"fold": fold + 1, "cases": len(test), "rules": vars(rules),
                             "balanced_accuracy": result[0], "false_accept_rate": result[1],
                             "false_reject_rate": result[2], "baseline_balanced_accuracy": baseline[0]})
    report.held_out, report.baseline = _mean(held), _mean(base)
    # Every case is held out once: the table counts each under the rules of its own fold.
    report.stages = stage_table(rows, "lexical")
    report.chosen_on_all = choose(items, candidates)
    report.in_sample = _mean([scores(items, report.chosen_on_all)])
    return report
