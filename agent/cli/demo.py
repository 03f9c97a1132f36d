"""`absorb demo`: import the bundled seed page and its bus, refresh it, show the proposal.

With no model configured (neither OPENAI_API_KEY nor OPENAI_BASE_URL), the refresh runs on
the bundled 270M-parameter model behind llama.cpp's OpenAI-compatible server, through the
same ChatOpenAI path as any endpoint, so the whole workflow works offline.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from importlib import resources
from pathlib import Path

import typer
from rich.text import Text

from agent.cli.common import UserError, echo, err, store_session

TINY_MODEL_NOTICE = (
    "No model is configured (OPENAI_API_KEY and OPENAI_BASE_URL are unset), so this demo runs "
    "a tiny local model: Gemma 3 270M on this CPU, through llama.cpp's OpenAI-compatible server. "
    "At this size its drafts are clumsy: watch the citation gate hold back what it "
    "gets wrong. For real work point absorb at a real model: `export OPENAI_API_KEY=...`, or "
    "`export OPENAI_BASE_URL=http://host:port/v1` for vLLM, Ollama, LM Studio or llama.cpp, "
    "or `export ABSORB_LOCAL_MODEL=/path/to/bigger.gguf` to serve any GGUF file here.")


def bundled_seed() -> Path:
    return Path(str(resources.files("agent.demo").joinpath("seed.md")))


def run_step(*args: str) -> None:
    """Run one `absorb` command line as a demo step; a failing step stops the demo."""
    from agent.cli.main import run

    code = run(list(args))
    if code:
        raise UserError(f"demo step `absorb {' '.join(args)}` failed", code)


def demo(
    seed: Path = typer.Option(None, help="Page to import (default: the bundled seed page)."),
    topic: str = typer.Option("ai-infrastructure", help="Topic slug for the demo."),
    refresh: bool = typer.Option(True, "--refresh/--no-refresh", help="Refresh the topic from "
                                 "its bus with the configured (or the bundled local) model."),
) -> None:
    """Import the seed page and its bus, audit it, refresh it and show the proposal."""
    page = seed or bundled_seed()
    err.print(f"== 1. import {page.name} as topic '{topic}'")
    run_step("import", str(page), "--topic", topic)
    err.print("== 2. the article's outline")
    with store_session() as store:
        article = store.revisions.current(topic).article
    for section in article.sections:
        echo(f"  {section.heading}  ({len(section.sentences())} sentences)")
    err.print("== 3. audit: what a careful reader would flag")
    run_step("audit", topic)
    err.print("== 4. the knowledge bus: import the sources listed with the page")
    run_step("sources", "import", str(page), "--topic", topic)
    if not refresh:
        return
    err.print("== 5. refresh: triage, drafts, the citation gate, a proposal for review")
    proposal_id = refresh_with_model(topic)
    if proposal_id is None:
        return
    err.print(f"== 6. proposal {proposal_id}: every drafted sentence and the gate's verdict")
    run_step("review", "show", str(proposal_id))
    with store_session() as store:
        accepted, held = gate_counts(store.proposals.get(proposal_id))
    err.print(f"gate: {accepted} drafted sentences accepted, {held} held back (held-back "
              "sentences never reach the article; where one replaced old text, the old text stays)")
    print_next_steps(proposal_id)


def refresh_with_model(topic: str) -> int | None:
    """Refresh on the configured model, else on the bundled local one; the proposal id."""
    from agent.local import LocalSettings, local_model_settings, local_server, model_configured
    from agent.runner import refresh_topic
    from agent.settings import get_settings

    settings = get_settings()
    judge = True
    with ExitStack() as stack:
        local = not model_configured(settings)
        if local:
            err.print(TINY_MODEL_NOTICE)
            local_settings = LocalSettings()
            server = local_server(settings, local_settings)
            err.print(f"starting the local model server on {server.base_url} ...")
            started = time.perf_counter()
            stack.enter_context(server)
            err.print(f"local model ready in {time.perf_counter() - started:.1f}s")
            settings = local_model_settings(settings, server, local_settings)
            judge = local_settings.judge
            if not judge:
                err.print("the tiny model drafts; its sentences meet the gate's deterministic "
                          "checks (structure, wrong source, numbers, names, negation)")
        store = stack.enter_context(store_session())

        def progress(step: str) -> None:
            err.print(Text.assemble(("  ✓ ", "green"), step))

        started = time.perf_counter()
        result = asyncio.run(refresh_topic(store, topic, review="manual", settings=settings,
                                           gather=False, judge=judge, progress=progress))
        elapsed = time.perf_counter() - started
        run = result.run
        print_model_speed(store.runs.calls(run.id), elapsed, local=local)
    if run.status.value == "failed":
        raise UserError(f"the refresh failed ({run.error_category}): {run.error}", 3)
    if result.proposal_id is None:
        err.print(f"the refresh proposed no change ({result.outcome})")
    return result.proposal_id


def print_model_speed(calls: list, elapsed: float, *, local: bool) -> None:
    """What the run cost in model time: the honest numbers for a CPU model."""
    tokens_in = sum(c.input_tokens for c in calls)
    tokens_out = sum(c.output_tokens for c in calls)
    model_seconds = sum(c.latency_ms for c in calls) / 1000
    speed = f", {tokens_out / model_seconds:.1f} output tokens/s" if model_seconds else ""
    err.print(f"refresh took {elapsed:.0f}s: {len(calls)} model calls, {tokens_in} input + "
              f"{tokens_out} output tokens, {model_seconds:.0f}s waiting for the "
              f"{'local ' if local else ''}model{speed}")


def gate_counts(proposal) -> tuple[int, int]:  # noqa: ANN001 - Proposal
    """Drafted sentences the gate let through, and those it held back."""
    return (sum(len(edit.verdicts) for edit in proposal.edits),
            sum(len(edit.dropped) for edit in proposal.edits))


def print_next_steps(proposal_id: int) -> None:
    err.print(f"== next: proposal {proposal_id} is pending; nothing changes until an editor decides")
    steps = [(f"absorb review show {proposal_id}", "the diff per section, with evidence"),
             (f"absorb review approve {proposal_id}", "merge it (or approve single edits)"),
             (f"absorb review reject {proposal_id}", "drop it"),
             ("absorb serve", "review in the browser")]
    width = max(len(command) for command, _ in steps) + 3
    for command, what in steps:
        err.print(f"  {command:<{width}}{what}")
    err.print("  (run them with the same ABSORB_HOME as this demo, e.g. "
              "`ABSORB_HOME=.absorb-demo .venv/bin/absorb review show ...` after `make demo`)")
