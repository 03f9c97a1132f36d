"""Evaluation of the gate on labelled cases (the JSONL format of data/README.md): balanced
accuracy, false-accept and false-reject rates, detection per category, one record per case."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.citations.gate import CitationGate, Claim
from agent.models import Source

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


@dataclass
class EvalReport:
    """Metrics over the binary decision: only `supported` should pass."""

    cases: int
    balanced_accuracy: float
    false_accept_rate: float
    false_reject_rate: float
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: list[dict[str, str]] = field(default_factory=list)

    def metrics(self) -> dict[str, Any]:
        return {"cases": self.cases, "balanced_accuracy": self.balanced_accuracy,
                "false_accept_rate": self.false_accept_rate,
                "false_reject_rate": self.false_reject_rate, "categories": self.categories}


def parse_case(line: str, number: int) -> EvalCase:
    try:
        raw = json.loads(line)
        label = raw["label"]
        if label not in KNOWN_LABELS:
            raise ValueError(f"unknown label {label!r}")
        sources = {key: Source(id=key, title=value.get("title") or "", text=value.get("text") or "")
                   for key, value in raw["sources"].items()}
        return EvalCase(id=str(raw["id"]), claim=raw["claim"], citations=list(raw["citations"]),
                        sources=sources, label=label, category=raw.get("category") or "uncategorised")
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


def _rate(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def evaluate(cases: Iterable[EvalCase], gate: CitationGate) -> EvalReport:
    """Run every case through the gate and score the pass/hold-back decision."""
    records: list[dict[str, str]] = []
    tallies: dict[str, dict[str, int]] = {}
    true_pass = false_reject = true_hold = false_accept = 0
    count = 0
    for case in cases:
        count += 1
        verdict = gate.check([Claim(case.claim, case.citations)], case.sources)[0]
        passed = verdict.passed
        should_pass = case.label == PASSING_LABEL
        records.append({"id": case.id, "verdict": "supported" if passed else "not_supported",
                        "stage": verdict.stage, "reason": verdict.reason})
        tally = tallies.setdefault(case.category, {"cases": 0, "correct": 0, "held_back": 0})
        tally["cases"] += 1
        tally["correct"] += int(passed == should_pass)
        tally["held_back"] += int(not passed)
        if should_pass:
            true_pass += int(passed)
            false_reject += int(not passed)
        else:
            true_hold += int(not passed)
            false_accept += int(passed)
    positives, negatives = true_pass + false_reject, true_hold + false_accept
    recall_pass, recall_hold = _rate(true_pass, positives), _rate(true_hold, negatives)
    balanced = (recall_pass + recall_hold) / 2 if positives and negatives else recall_pass or recall_hold
    categories = {
        name: {"cases": t["cases"], "accuracy": _rate(t["correct"], t["cases"]),
               "held_back": _rate(t["held_back"], t["cases"])}
        for name, t in sorted(tallies.items())
    }
    return EvalReport(cases=count, balanced_accuracy=balanced,
                      false_accept_rate=_rate(false_accept, negatives),
                      false_reject_rate=_rate(false_reject, positives),
                      categories=categories, records=records)
