"""The evaluation harness, the perturbation suite targets and `absorb eval citations`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.citations import CitationGate
from agent.citations.evaluate import evaluate, load_cases
from agent.cli.eval_cmd import app

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "tests" / "data" / "perturbations.jsonl"
WICE = REPO.parent / "shared" / "data" / "wice-dev.jsonl"
SEED = REPO.parent / "shared" / "seeds" / "absorb.md"


@pytest.fixture(scope="module")
def suite_report():
    return evaluate(load_cases(SUITE), CitationGate())


def test_suite_has_thirty_cases_per_category() -> None:
    counts: dict[str, int] = {}
    for case in load_cases(SUITE):
        counts[case.category] = counts.get(case.category, 0) + 1
    assert set(counts) == {"supported", "paraphrase", "changed_number", "swapped_entity",
                           "negation", "unsupported_addition", "wrong_source"}
    assert min(counts.values()) >= 30


def test_suite_targets_without_a_judge(suite_report) -> None:
    held = {name: row["held_back"] for name, row in suite_report.categories.items()}
    assert held["changed_number"] >= 0.95
    assert held["wrong_source"] >= 0.90
    assert held["swapped_entity"] >= 0.75
    supported = [c for c in load_cases(SUITE) if c.label == "supported"]
    assert suite_report.false_reject_rate <= 0.10 and len(supported) >= 60
    assert held["supported"] <= 0.10 and held["paraphrase"] <= 0.10


def test_suite_file_is_what_the_generator_makes(tmp_path: Path) -> None:
    if not SEED.exists():
        pytest.skip("seed page not found")
    out = tmp_path / "suite.jsonl"
    subprocess.run([sys.executable, str(REPO / "tests/data/make_perturbations.py"), str(SEED), str(out)],
                   check=True, capture_output=True)
    assert out.read_text(encoding="utf-8") == SUITE.read_text(encoding="utf-8")


def test_wice_dev_without_a_judge_beats_the_nli_baseline() -> None:
    if not WICE.exists():
        pytest.skip("wice-dev.jsonl not found")
    report = evaluate(load_cases(WICE), CitationGate())
    assert report.cases == 349
    # Measured 0.78 / 0.38 / 0.06 with the shipped rules (tuned on this file; the held-out
    # numbers are in `absorb eval citations FILE --folds 5`); it must beat the lexical baseline.
    assert report.balanced_accuracy >= 0.75
    assert report.balanced_accuracy > report.baseline["balanced_accuracy"]
    assert report.false_accept_rate <= 0.45 and report.false_reject_rate <= 0.09


def test_cli_prints_metrics_as_json_and_writes_records(tmp_path: Path) -> None:
    out = tmp_path / "verdicts.jsonl"
    result = CliRunner().invoke(app, ["citations", str(SUITE), "--json", "--out", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0
    metrics = json.loads(result.stdout)
    assert metrics["cases"] == len(load_cases(SUITE))
    assert set(metrics) == {"cases", "balanced_accuracy", "false_accept_rate", "false_reject_rate",
                            "categories", "stages", "baseline"}
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == metrics["cases"]
    assert set(records[0]) == {"id", "verdict", "stage", "reason"}


def test_cli_human_output_goes_to_stderr() -> None:
    result = CliRunner().invoke(app, ["citations", str(SUITE)], catch_exceptions=False)
    assert result.exit_code == 0 and result.stdout == ""
    assert "balanced accuracy" in result.stderr and "wrong_source" in result.stderr


def test_cli_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["citations", str(tmp_path / "nope.jsonl")], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr == f"error: no such file: {tmp_path / 'nope.jsonl'}\n"


def test_cli_bad_json_line_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(SUITE.read_text(encoding="utf-8").splitlines()[0] + "\n{not json\n")
    result = CliRunner().invoke(app, ["citations", str(bad)], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {bad}: line 2: not a valid case")
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_cli_judge_llm_without_a_model_exits_2() -> None:
    result = CliRunner().invoke(app, ["citations", str(SUITE), "--judge", "llm"], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --judge llm:") and result.stderr.count("\n") == 1
