"""`absorb demo`: import the bundled seed page and its bus, refresh it, show the proposal.

With no model configured (neither OPENAI_API_KEY nor OPENAI_BASE_URL), the refresh runs on
the bundled 270M-parameter model behind llama.cpp's OpenAI-compatible server, through the
same ChatOpenAI path as any endpoint, so the whole workflow works offline. That model
drafts extractively (ABSORB_DRAFT_MODE=extract): it picks source sentences by id, code
inserts them verbatim, and their quotes are verified in code.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import typer

from agent.cli.common import UserError, echo, err, store_session, styled

TINY_MODEL_NOTICE = (
    "No model is configured (OPENAI_API_KEY and OPENAI_BASE_URL are unset), so this demo runs "
    "a tiny local model: Gemma 3 270M on this CPU, through llama.cpp's OpenAI-compatible server. "
    "A model this small cannot write faithful sentences, but it can choose: each section's "
    "call lists the closest source sentences by id, the model answers the ids that belong, "
    "and code inserts those sentences verbatim with their citation and verifies the quote. "
    "For real work point absorb at a real model: `export OPENAI_API_KEY=...`, or "
    "`export OPENAI_BASE_URL=http://host:port/v1` for vLLM, Ollama, LM Studio or llama.cpp, "
    "or `export ABSORB_LOCAL_MODEL=/path/to/bigger.gguf` to serve any GGUF file here.")


def bundled_seed() -> Path:
    from importlib import resources

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
    from agent.audit import audit_article
    from agent.demo.report import audit_lines

    page = seed or bundled_seed()
    err.print(f"== 1. import {page.name} as topic '{topic}'")
    run_step("import", str(page), "--topic", topic)
    err.print("== 2. the article's outline")
    with store_session() as store:
        revision = store.revisions.current(topic)
    article = revision.article
    for section in article.sections:
        echo(f"  {section.heading}  ({len(section.sentences())} sentences)")
    err.print("== 3. audit: what a careful reader would flag")
    report = audit_article(article, topic=topic, revision=revision.number)
    for line in audit_lines(report, {s.id: s.heading for s in article.sections}):
        echo(line)
    err.print("== 4. the knowledge bus: import the sources listed with the page")
    run_step("sources", "import", str(page), "--topic", topic)
    if not refresh:
        return
    err.print("== 5. refresh: triage, drafts, the citation gate, a proposal for review")
    proposal_id, outcome = refresh_with_model(topic)
    if proposal_id is None:
        err.print(f"== no proposal: {outcome or 'the sources added nothing the gate could verify'}")
        return
    print_proposal(proposal_id, outcome)
    print_next_steps(proposal_id)


def refresh_with_model(topic: str) -> tuple[int | None, str]:
    """Refresh on the configured model, else on the bundled local one: the proposal id (None
    when nothing was proposed) and the run's outcome line."""
    from agent.demo.progress import Progress
    from agent.local import LocalSettings, local_model_settings, local_server, model_configured
    from agent.runner import refresh_topic
    from agent.settings import get_settings

    settings = get_settings()
    judge = True
    speed = None
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
            speed = _measured_speed(server)
        store = stack.enter_context(store_session())
        planned = announce_plan(store, topic, settings, speed)

        def say(line: str) -> None:
            err.print(styled(("  ", ""), (line[:1], "green"), line[1:]))

        started = time.perf_counter()
        with Progress(say, planned, settings.timeout if settings.section_timeouts else None) as progress:
            import asyncio  # here, not at the top: --help and `path` never load it
            result = asyncio.run(refresh_topic(store, topic, review="manual", settings=settings,
                                               gather=False, judge=judge, progress=progress.step))
        elapsed = time.perf_counter() - started
        run = result.run
        print_model_speed(store.runs.calls(run.id), elapsed, local=local)
    if run.status.value == "failed":
        raise UserError(f"the refresh failed ({run.error_category}): {run.error}", 3)
    return result.proposal_id, result.outcome


def _measured_speed(server):  # noqa: ANN001, ANN202 - LocalServer -> Speed | None
    import httpx

    from agent.demo.plan import measure_speed

    try:
        speed = measure_speed(server.base_url, server.model_name)
    except (httpx.HTTPError, ValueError) as exc:
        err.print(f"could not measure the model's speed ({type(exc).__name__}); no estimate")
        return None
    err.print(f"measured on this CPU: {speed.prompt_tps:.0f} prompt tokens/s, "
              f"{speed.output_tps:.1f} output tokens/s")
    return speed


def announce_plan(store, topic: str, settings, speed) -> int | None:  # noqa: ANN001
    """Say how many calls the refresh makes and about how long they take; the call count."""
    from agent.demo.plan import planned_calls

    calls = planned_calls(store, topic, settings)
    if calls is None:
        err.print("the model triages the new sources first; each section it routes them to "
                  "then gets a draft call and the gate's checks")
        return None
    sections = ", ".join(f"{c.heading} {c.candidates}" for c in calls)
    line = (f"plan: {len(calls)} model calls, one per section with candidate sentences "
            f"(candidates: {sections}), no judge call (the quotes are checked in code)")
    if speed is not None and calls:
        estimate = sum(speed.seconds(c.prompt_tokens) for c in calls)
        line += f"; estimate about {estimate:.0f}s at the measured speed"
    if settings.section_timeouts:
        line += (f"; a call past {settings.timeout:g}s holds back only its section")
    err.print(line)
    return len(calls)


def print_model_speed(calls: list, elapsed: float, *, local: bool) -> None:
    """What the run cost in model time: the honest numbers for a CPU model."""
    tokens_in = sum(c.input_tokens for c in calls)
    tokens_out = sum(c.output_tokens for c in calls)
    model_seconds = sum(c.latency_ms for c in calls) / 1000
    each = f", {model_seconds / len(calls):.1f}s a call" if calls else ""
    err.print(f"refresh took {elapsed:.0f}s: {len(calls)} model calls, {tokens_in} input + "
              f"{tokens_out} output tokens, {model_seconds:.0f}s waiting for the "
              f"{'local ' if local else ''}model{each}")


def print_proposal(proposal_id: int, outcome: str) -> None:
    """The proposal's accepted sentences with their quotes, the held-back ones with reasons."""
    from agent.demo.report import counts, proposal_lines

    with store_session() as store:
        proposal = store.proposals.get(proposal_id)
        cited = {q.source_id for e in proposal.edits for v in e.verdicts for q in v.quotes}
        sources = store.sources.get_many(sorted(cited))
    err.print(f"== 6. proposal {proposal_id}: what the gate let through and what it held back")
    for line in proposal_lines(proposal, sources, outcome):
        echo(line)
    accepted, held, failed = counts(proposal, outcome)
    err.print(f"gate: {accepted} drafted sentences accepted, {held} held back"
              + (f", {failed} sections held back" if failed else ""))


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
