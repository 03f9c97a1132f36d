"""Evaluation of the gate on labelled cases (JSONL, one case a line; the format is in
`absorb eval citations --help` and shared/data/README.md): balanced accuracy, false-accept
and false-reject rates, detection per category, what each stage costs and catches, the
lexical baseline beside it, one record per case."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.citations.baseline import baseline_passes
from agent.citations.checks import STAGES, Screening, lexical_decision, source_view
from agent.citations.context import ArticleContext
from agent.citations.gate import CitationGate, Claim, ClaimGroup
from agent.citations.rules import GateRules
from agent.citations.verify import settled_verdict
from agent.models import Source, Verdict

PASSING_LABEL = "supported"
KNOWN_LABELS = ("supported", "partially_supported", "not_supported")


class CaseFormatError(ValueError):
    """A line of the evaluation file is not a valid case; the message names the line."""


@dataclass
class EvalCase:
    id: str
    claim: str
    citations: list[str]
    sources: dict[str, Source]
    label: str
    category: str
    context: ArticleContext | None = None

    @property
    def should_pass(self) -> bool:
        return self.label == PASSING_LABEL


@dataclass
class EvalReport:
    """Metrics over the binary decision: only `supported` should pass."""

    cases: int
    balanced_accuracy: float
    false_accept_rate: float
    false_reject_rate: float
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: list[dict[str, str]] = field(default_factory=list)
    stages: dict[str, dict[str, int]] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        return {"cases": self.cases, "balanced_accuracy": self.balanced_accuracy,
                "false_accept_rate": self.false_accept_rate,
                "false_reject_rate": self.false_reject_rate, "categories": self.categories,
                "stages": self.stages, "baseline": self.baseline}


def _context(raw: Any) -> ArticleContext | None:
    if not isinstance(raw, dict):
        return None
    title, scope = str(raw.get("article") or ""), str(raw.get("section") or "")
    neighbours = tuple(str(s) for s in raw.get("neighbours") or [] if s)
    return ArticleContext(title, scope, neighbours) if title or scope or neighbours else None


def parse_case(line: str, number: int) -> EvalCase:
    try:
        raw = json.loads(line)
        label = raw["label"]
        if label not in KNOWN_LABELS:
            raise ValueError(f"unknown label {label!r}")
        sources = {key: Source(id=key, title=value.get("title") or "", text=value.get("text") or "")
                   for key, value in raw["sources"].items()}
        return EvalCase(id=str(raw["id"]), claim=raw["claim"], citations=list(raw["citations"]),
                        sources=sources, label=label, category=raw.get("category") or "uncategorised",
                        context=_context(raw.get("context")))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
        raise CaseFormatError(f"line {number}: not a valid case ({detail})") from None


def load_cases(path: str | Path) -> list[EvalCase]:
    """Read a JSONL file of cases; blank lines are skipped, anything else invalid raises."""
    cases = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                cases.append(parse_case(line, number))
    return cases


def rate(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def binary_scores(decisions: Sequence[tuple[bool, bool]]) -> tuple[float, float, float]:
    """(balanced accuracy, false-accept rate, false-reject rate) of (should_pass, passed)."""
    positives = [passed for should, passed in decisions if should]
    negatives = [passed for should, passed in decisions if not should]
    recall_pass = rate(sum(positives), len(positives))
    recall_hold = rate(sum(not p for p in negatives), len(negatives))
    balanced = (recall_pass + recall_hold) / 2 if positives and negatives else recall_pass or recall_hold
    return balanced, 1 - recall_hold if negatives else 0.0, 1 - recall_pass if positives else 0.0


def sure_stages(screening: Screening, rules: GateRules) -> set[str]:
    """The stages sure of a claim under `rules` (only wrong source depends on them)."""
    sure = set(screening.sure) - {"wrong_source"}
    if "structure" not in sure and rules.wrong_source(screening.global_share, screening.local_share,
                                                     screening.counted):
        sure.add("wrong_source")
    return sure


def stage_table(rows: Iterable[tuple[bool, set[str], bool]], final: str) -> dict[str, dict[str, int]]:
    """Per stage: supported claims it holds back (false rejects) and unsupported claims it
    catches, and catches alone (no other stage, nor the final decider, would). Rows are
    (should_pass, sure stages, held back by the final decider: lexical rule or judge)."""
    table = {name: {"false_rejects": 0, "caught": 0, "caught_alone": 0} for name in (*STAGES, final)}
    for should_pass, sure, final_holds in rows:
        for name in sure:
            if should_pass:
                table[name]["false_rejects"] += 1
            else:
                table[name]["caught"] += 1
                table[name]["caught_alone"] += int(sure == {name} and not final_holds)
        if not sure and final_holds:
            key = "false_rejects" if should_pass else "caught"
            table[final][key] += 1
            table[final]["caught_alone"] += int(not should_pass)
    return table


def evaluate(cases: Iterable[EvalCase], gate: CitationGate) -> EvalReport:
    """Run every case through the gate and score the pass/hold-back decision."""
    records: list[dict[str, str]] = []
    tallies: dict[str, dict[str, int]] = {}
    decisions: list[tuple[bool, bool]] = []
    baseline: list[tuple[bool, bool]] = []
    rows: list[tuple[bool, set[str], bool]] = []
    final = "judge" if gate.judge is not None else "lexical"
    cases = list(cases)
    judged: list[Verdict] = []
    if gate.judge is not None:  # every case at once: judge calls run concurrently
        groups = [ClaimGroup([Claim(c.claim, c.citations)], c.sources, context=c.context) for c in cases]
        judged = [row[0] for row in asyncio.run(gate.acheck_many(groups))]
    for number, case in enumerate(cases):
        claim = Claim(case.claim, case.citations)
        screening = gate.screen(claim, case.sources, context=case.context)
        if gate.judge is None:  # the same verdict `check` gives, without screening twice
            verdict = settled_verdict(claim.text, claim.citations, screening, case.sources,
                                      gate.rules)
        else:
            verdict = judged[number]
        sure = set(screening.sure)
        if final == "lexical":
            final_holds = lexical_decision(screening, gate.rules) is not None
        else:
            final_holds = not sure and not verdict.passed
        rows.append((case.should_pass, sure, final_holds))
        passed = verdict.passed
        decisions.append((case.should_pass, passed))
        views = [source_view(case.sources[k]) for k in case.citations if k in case.sources]
        baseline.append((case.should_pass, bool(views) and baseline_passes(case.claim, views)))
        records.append({"id": case.id, "verdict": "supported" if passed else "not_supported",
                        "stage": verdict.stage, "reason": verdict.reason})
        tally = tallies.setdefault(case.category, {"cases": 0, "correct": 0, "held_back": 0})
        tally["cases"] += 1
        tally["correct"] += int(passed == case.should_pass)
        tally["held_back"] += int(not passed)
    balanced, false_accept, false_reject = binary_scores(decisions)
    base_balanced, base_accept, base_reject = binary_scores(baseline)
    categories = {
        name: {"cases": t["cases"], "accuracy": rate(t["correct"], t["cases"]),
               "held_back": rate(t["held_back"], t["cases"])}
        for name, t in sorted(tallies.items())
    }
    return EvalReport(cases=len(decisions), balanced_accuracy=balanced,
                      false_accept_rate=false_accept, false_reject_rate=false_reject,
                      categories=categories, records=records, stages=stage_table(rows, final),
                      baseline={"balanced_accuracy": base_balanced,
                                "false_accept_rate": base_accept,
                                "false_reject_rate": base_reject})
