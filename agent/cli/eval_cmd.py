"""`absorb eval citations FILE.jsonl`: score the citation gate on labelled cases."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from agent.cli.common import emit_json

app = typer.Typer(help="Evaluate absorb's checks on labelled data.", no_args_is_help=True)
# markup off: case ids and reasons are untrusted text.
err = Console(stderr=True, highlight=False, markup=False)


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


def _print_report(report: Any, path: Path) -> None:
    err.print(f"{path.name}: {report.cases} cases")
    err.print(f"balanced accuracy {report.balanced_accuracy:.1%}   false accepts "
              f"{report.false_accept_rate:.1%}   false rejects {report.false_reject_rate:.1%}")
    table = Table("category", "cases", "correct", "held back")
    for name, row in report.categories.items():
        table.add_row(name, str(row["cases"]), f"{row['accuracy']:.1%}", f"{row['held_back']:.1%}")
    err.print(table)


@app.command("citations")
def citations(
    file: Path = typer.Argument(..., help="Cases as JSONL (see data/README.md)."),
    judge: JudgeMode = typer.Option(JudgeMode.none, "--judge",
                                    help="none: deterministic stages only; llm: the project's judge."),
    as_json: bool = typer.Option(False, "--json", help="Metrics as JSON on stdout."),
    out: Path | None = typer.Option(None, "--out", help="Write one verdict record per case (JSONL)."),
) -> None:
    """Run the citation gate on every case and print balanced accuracy, false-accept and
    false-reject rates, and detection per category."""
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
    gate = CitationGate(_judge_model()) if judge == JudgeMode.llm else CitationGate()
    report = evaluate(cases, gate)
    if out is not None:
        try:
            with out.open("w", encoding="utf-8") as handle:
                for record in report.records:
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        except OSError as exc:
            _stop(f"cannot write {out}: {exc.strerror or type(exc).__name__}")
    if as_json:
        emit_json(report.metrics())
    else:
        _print_report(report, file)
