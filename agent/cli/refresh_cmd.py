"""`absorb refresh`, `absorb runs`, `absorb usage`: run the workflow and see what it cost."""

from __future__ import annotations

import typer

from agent.cli.common import (echo, emit_json, err, fail, known_topic, store_session, styled,
                              topic_argument, when)
from agent.kinds import MAX_ID


def refresh(
    ctx: typer.Context,
    topic: str | None = topic_argument("Topic slug to refresh, e.g. ai-infrastructure (or --all).",
                                       required=False),
    review: str = typer.Option("manual", metavar="manual|auto", help="manual: park the proposal for an editor; "
                               "auto: merge edits whose every sentence passed the gate."),
    resume: bool = typer.Option(True, "--resume/--new", help="Continue the topic's unfinished "
                                "run if there is one (default), or start a new run."),
    judge: str = typer.Option("llm", metavar="llm|none", help="Citation gate judge: llm, or none (deterministic checks only)."),
    gather: bool = typer.Option(True, "--gather/--no-gather", help="Pull the topic's feeds first."),
    as_json: bool = typer.Option(False, "--json", help="The run's result as JSON on stdout."),
    all_topics: bool = typer.Option(False, "--all", help="Every topic with new sources (the "
                                    "overnight batch); exit 0 only if every topic ended cleanly."),
    concurrency: int = typer.Option(4, metavar="N", help="With --all: topics refreshed at once."),
    budget_tokens: int | None = typer.Option(None, metavar="TOKENS", help="With --all: the "
                                             "night's input+output token budget; topics that do "
                                             "not fit are deferred. 0 means no limit. [default: "
                                             "ABSORB_BATCH_BUDGET_TOKENS, else 0]"),
    queue: bool = typer.Option(False, "--queue", help="With --all: enqueue one job per topic for "
                               "`absorb worker` (PostgreSQL) instead of running them here."),
) -> None:
    """Turn a topic's new sources into a proposal of cited section edits."""
    from agent.runner import refresh_topic

    if review not in ("manual", "auto"):
        fail("--review must be manual or auto")
    if judge not in ("llm", "none"):
        fail("--judge must be llm or none")
    if all_topics:
        if topic is not None:
            fail("give a TOPIC or --all, not both")
        from agent.cli.batch_cmd import refresh_all
        from agent.settings import get_settings

        if budget_tokens is None:
            budget_tokens = get_settings().batch_budget_tokens

        refresh_all(concurrency=concurrency, budget_tokens=budget_tokens, review=review,
                    judge=judge == "llm", gather=gather, queue=queue, as_json=as_json)
        return
    if topic is None:
        fail("give a TOPIC to refresh, or --all")
    for name in ("queue", "concurrency", "budget_tokens"):
        if ctx.get_parameter_source(name).name == "COMMANDLINE":
            fail(f"--{name.replace('_', '-')} goes with --all (one topic is one run)")
    from agent.batch import topic_lock

    with store_session() as store:
        store.topics.get(topic)
        # A topic locked by a batch or another refresh ends here in one line ("locked").
        with topic_lock(store, topic, "refresh"), err.status(f"refreshing {topic}") as status:
            def progress(step: str) -> None:
                status.update(f"refreshing {topic}: {step}")
                err.print(styled(("  ✓ ", "green"), step))

            from agent.shutdown import Interrupted, run_interruptibly

            try:
                result = run_interruptibly(refresh_topic(
                    store, topic, review=review, resume=resume, judge=judge == "llm", gather=gather,
                    progress=progress, on_run=lambda run: err.print(f"run {run.id} ({run.thread_id})")))
            except Interrupted:
                fail(f"interrupted: the run is left resumable; `absorb refresh {topic}` continues it",
                     code=130)
        run = result.run
        proposal = store.proposals.get(result.proposal_id) if result.proposal_id else None
    data = {"run_id": run.id, "topic": topic, "status": run.status.value,
            "proposal_id": result.proposal_id, "merged_revision_id": result.merged_revision_id,
            "outcome": result.outcome, "error_category": run.error_category, "error": run.error,
            "input_tokens": run.input_tokens, "output_tokens": run.output_tokens, "cost": run.cost,
            "edits": [{"id": e.id, "section": e.heading, "sentences": len(e.added_sentences()),
                       "held_back": len(e.dropped)} for e in proposal.edits] if proposal else [],
            "gather": result.gather}
    if as_json:
        emit_json(data)
    else:
        for edit in data["edits"]:
            echo(f"{edit['id']}\t{edit['section']}\t{edit['sentences']} new sentences, "
                 f"{edit['held_back']} held back")
    if run.status.value == "failed":
        err.print(styled((f"run {run.id} failed ({run.error_category}): ", "red"), run.error or ""))
        raise typer.Exit(3)
    summary = f"run {run.id}: {result.outcome}; {run.input_tokens}+{run.output_tokens} tokens"
    if result.proposal_id and run.status.value == "waiting_review":
        summary += f"; proposal {result.proposal_id} waiting: `absorb review show {result.proposal_id}`"
    err.print(summary)


def runs(
    topic: str | None = typer.Option(None, metavar="TOPIC", help="Only this topic's runs."),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """List runs, newest first: topic, kind, status, tokens, start and end."""
    with store_session() as store:
        known_topic(store, topic)
        rows = store.runs.list(topic=topic)
    if as_json:
        emit_json([r.model_dump(mode="json") for r in rows])
        return
    if not rows:
        err.print("no runs yet" + (f" for {topic}" if topic else "")
                  + ": `absorb refresh TOPIC` starts one")
    for r in rows:
        echo(f"{r.id}\t{r.topic}\t{r.kind}\t{r.status.value}\t{r.input_tokens}+{r.output_tokens} "
             f"tokens\t${r.cost:.4f}\t{when(r.started_at)}\t{when(r.finished_at)}"
             + (f"\t{r.error_category}" if r.error_category else ""))


def usage(
    run: int | None = typer.Option(None, "--run", metavar="ID", max=MAX_ID, help="One run (default: every run)."),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Tokens and cost per node and section."""
    with store_session() as store:
        if run is not None:
            store.runs.get(run)
        groups = store.runs.usage(run)  # summed by the database
    rows = [{**g, "topic": g["topic"] or None, "section": g["section"] or None} for g in groups]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        echo(f"{r['topic'] or '-'}\t{r['node']}\t{r['section'] or '-'}\t{r['model']}\t{r['calls']} calls\t"
             f"{r['input_tokens']}+{r['output_tokens']} tokens ({r['cached_tokens']} cached)\t${r['cost']:.4f}")
    err.print(f"{sum(r['calls'] for r in rows)} calls, "
              f"{sum(r['input_tokens'] + r['output_tokens'] for r in rows)} tokens "
              f"({sum(r['cached_tokens'] for r in rows)} of "
              f"{sum(r['input_tokens'] for r in rows)} input tokens cached by the provider), "
              f"${sum(r['cost'] for r in rows):.4f}")
