"""`absorb eval citations FILE.jsonl`: score the citation gate on labelled cases."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from agent.cli.common import LazyConsole, emit_json

app = typer.Typer(help="Evaluate absorb's checks on labelled data.", no_args_is_help=True)
# markup off: case ids and reasons are untrusted text.
err = LazyConsole()


class JudgeMode(StrEnum):
    none = "none"
    llm = "llm"


@app.callback()
def evaluation() -> None:
    """Evaluate absorb's checks on labelled data."""


def _stop(message: str, code: int = 2) -> None:
    err.print(f"error: {message}", soft_wrap=True)
    raise typer.Exit(code)


def _judge_model() -> Any:
    try:
        from agent.llm import build_chat_model
    except ImportError:
        _stop("--judge llm needs agent.llm.build_chat_model, which this installation lacks")
    try:
        return build_chat_model(role="judge")
    except Exception as exc:  # noqa: BLE001 - any configuration problem ends in one line
        _stop(f"--judge llm: the judge model is not configured ({type(exc).__name__}: {exc})")


def _print_report(report: Any, path: Path, usage: dict[str, Any] | None) -> None:
    from rich.table import Table

    err.print(f"{path.name}: {report.cases} cases")
    err.print(f"balanced accuracy {report.balanced_accuracy:.1%}   false accepts "
              f"{report.false_accept_rate:.1%}   false rejects {report.false_reject_rate:.1%}")
    base = report.baseline
    err.print(f"lexical baseline  {base['balanced_accuracy']:.1%}   false accepts "
              f"{base['false_accept_rate']:.1%}   false rejects {base['false_reject_rate']:.1%}")
    table = Table("category", "cases", "correct", "held back")
    for name, row in report.categories.items():
        table.add_row(name, str(row["cases"]), f"{row['accuracy']:.1%}", f"{row['held_back']:.1%}")
    err.print(table)
    _print_stages(report.stages)
    if usage is not None:
        err.print(f"judge: {usage['calls']} calls, {usage['input_tokens']} input + "
                  f"{usage['output_tokens']} output tokens, ${usage['cost_usd']:.4f}; per claim "
                  f"{usage['tokens_per_claim']:.0f} tokens, ${usage['cost_per_claim_usd']:.6f}")


def _print_stages(rows: dict[str, dict[str, int]]) -> None:
    from rich.table import Table

    stages = Table("stage", "false rejects", "unsupported caught", "caught alone")
    for name, row in rows.items():
        stages.add_row(name, str(row["false_rejects"]), str(row["caught"]), str(row["caught_alone"]))
    err.print(stages)


def _short(name: str) -> str:
    return "".join(part[0] for part in name.split("_"))


def _print_folds(report: Any, path: Path) -> None:
    from rich.table import Table

    err.print(f"{path.name}: {len(report.folds)} folds (rules tuned on the other folds)")
    table = Table("fold", "cases", "balanced accuracy", "false accepts", "false rejects",
                  "baseline", "rules")
    for fold in report.folds:
        rules = " ".join(f"{_short(k)}={v}" for k, v in fold["rules"].items())
        table.add_row(str(fold["fold"]), str(fold["cases"]), f"{fold['balanced_accuracy']:.1%}",
                      f"{fold['false_accept_rate']:.1%}", f"{fold['false_reject_rate']:.1%}",
                      f"{fold['baseline_balanced_accuracy']:.1%}", rules)
    err.print(table)
    err.print("rules: wsg/wsl wrong-source global/local share, s support, bpn/bwn/bnh block "
              "partial names/weak names/number hints (see agent/citations/rules.py)")
    err.print("per stage on the held-out folds (each case under the rules of its own fold):")
    _print_stages(report.stages)
    held, base, inside = report.held_out, report.baseline, report.in_sample
    err.print(f"held-out mean: balanced accuracy {held['balanced_accuracy']:.1%}   false accepts "
              f"{held['false_accept_rate']:.1%}   false rejects {held['false_reject_rate']:.1%}")
    err.print(f"lexical baseline on the same folds: balanced accuracy {base['balanced_accuracy']:.1%}")
    err.print(f"tuned on every case (in-sample): balanced accuracy {inside['balanced_accuracy']:.1%}"
              f"   false rejects {inside['false_reject_rate']:.1%}   rules {report.chosen_on_all}")


@app.command("citations")
def citations(
    file: Path = typer.Argument(..., help=(
        "Cases as JSONL, one a line: {\"id\", \"claim\", \"citations\": [ids], \"sources\": "
        "{id: {\"title\", \"text\"}}, \"label\": supported|partially_supported|not_supported, "
        "\"category\", \"context\": {\"article\", \"section\"}} (WiCE in this format: "
        "shared/data/wice-dev.jsonl, described in shared/data/README.md).")),
    judge: JudgeMode = typer.Option(JudgeMode.none, "--judge",
                                    help="none: deterministic stages only; llm: the project's judge."),
    as_json: bool = typer.Option(False, "--json", help="Metrics as JSON on stdout."),
    out: Path | None = typer.Option(None, "--out", help="Write one verdict record per case (JSONL)."),
    folds: int = typer.Option(0, "--folds", min=0, max=20, help=(
        "Tune the deterministic thresholds on k-1 folds and report each held-out fold "
        "(--judge none only; 0: evaluate the shipped rules).")),
) -> None:
    """Run the citation gate on every case and print balanced accuracy, false-accept and
    false-reject rates, detection per category, the lexical baseline, and per stage the
    supported claims it held back and the unsupported ones it caught (alone); with
    --judge llm also the judge's tokens and cost per claim."""
    from agent.citations import CitationGate
    from agent.citations.evaluate import CaseFormatError, evaluate, load_cases

    try:
        cases = load_cases(file)
    except FileNotFoundError:
        _stop(f"no such file: {file}")
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        _stop(f"cannot read {file}: {type(exc).__name__}")
    except CaseFormatError as exc:
        _stop(f"{file}: {exc}")
    if not cases:
        _stop(f"{file} has no cases")
    if folds:
        if judge == JudgeMode.llm or folds < 2 or folds > len(cases):
            _stop("--folds needs --judge none and between 2 and as many folds as cases")
        from agent.citations.tuning import cross_validate

        fold_report = cross_validate(cases, folds)
        if as_json:
            emit_json(fold_report.metrics())
        else:
            _print_folds(fold_report, file)
        return
    usage = None
    if judge == JudgeMode.llm:
        from agent.llm_usage import InMemoryCallRecorder
        from agent.settings import get_settings

        recorder = InMemoryCallRecorder()
        settings = get_settings()
        gate = CitationGate(_judge_model(), method=settings.structured_method, recorder=recorder,
                            settings=settings)
    else:
        gate = CitationGate()
    try:
        report = evaluate(cases, gate)
    except Exception as exc:  # noqa: BLE001 - a judge failure ends in one line, not a traceback
        if judge != JudgeMode.llm:
            raise
        _stop(f"--judge llm: the judge call failed ({type(exc).__name__}: {exc})", code=1)
    if judge == JudgeMode.llm:
        calls = recorder.calls
        tokens = recorder.input_tokens + recorder.output_tokens
        usage = {"calls": len(calls), "input_tokens": recorder.input_tokens,
                 "output_tokens": recorder.output_tokens, "cost_usd": recorder.cost,
                 "tokens_per_claim": tokens / report.cases,
                 "cost_per_claim_usd": recorder.cost / report.cases}
    if out is not None:
        try:
            with out.open("w", encoding="utf-8") as handle:
                for record in report.records:
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        except OSError as exc:
            _stop(f"cannot write {out}: {exc.strerror or type(exc).__name__}")
    if as_json:
        emit_json({**report.metrics(), **({"judge_usage": usage} if usage else {})})
    else:
        _print_report(report, file, usage)
