"""`absorb refresh --all` (local batch or --queue) and `absorb worker`: the overnight refresh."""

from __future__ import annotations

import typer

from agent.cli.common import emit_json, err, fail, store_session

STATUS_STYLE = {"done": "green", "waiting_review": "green", "unchanged": "dim", "queued": "green",
                "failed": "red", "deferred": "yellow", "locked": "yellow",
                "already_queued": "yellow", "no_article": "dim"}


def _summary(rows: list[dict], title: str, empty: str = "no topics") -> None:
    """The table on stderr: one line per topic that did something, then the counts."""
    from rich.text import Text

    err.print(title)
    counts: dict[str, int] = {}
    shown = [r for r in rows if r["status"] != "unchanged" or r.get("error")]
    width = max([len(r["topic"]) for r in shown] + [5])
    if shown:
        err.print(f"{'topic':<{width}}  {'status':<14} {'proposal':>8} {'edits':>5} {'held':>4} "
                  f"{'tokens':>8} {'estimate':>8} {'cost':>9} {'secs':>6}  why")
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
        if row["status"] == "unchanged" and not row.get("error"):
            continue
        tokens = row.get("input_tokens", 0) + row.get("output_tokens", 0)
        why = row.get("error_category") or ""
        if row.get("error"):
            why = f"{why}: {row['error']}" if why else row["error"]
        line = (f"{row['topic']:<{width}}  {row['status']:<14} {row.get('proposal_id') or '-':>8} "
                f"{row.get('edits', '-'):>5} {row.get('held_back', '-'):>4} "
                f"{tokens:>8} {row.get('estimate_tokens', 0):>8} ${row.get('cost', 0.0):>8.4f} "
                f"{row.get('duration_s', 0.0):>6.1f}  {' '.join(why.split())[:160]}")
        err.print(Text(line, style=STATUS_STYLE.get(row["status"], "")))
    err.print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or empty)


def refresh_all(*, concurrency: int, budget_tokens: int, review: str, judge: bool, gather: bool,
                queue: bool, as_json: bool) -> None:
    """The body of `absorb refresh --all`; exits 0 only when every topic ended cleanly."""
    from agent.batch import BatchOptions, run_batch
    from agent.settings import get_settings

    if concurrency < 1:
        fail("--concurrency must be at least 1")
    if budget_tokens < 0:
        fail("--budget-tokens must be 0 (no limit) or more")
    import asyncio  # here, not at the top: --help and `path` never load it

    settings = get_settings()
    options = BatchOptions(concurrency=concurrency, budget_tokens=budget_tokens or None,
                           review=review, judge=judge, gather=gather)
    with store_session() as store:
        if queue:
            from agent.queue import QueueError, enqueue_all

            try:
                rows = asyncio.run(enqueue_all(store, settings.database_url, options, settings))
            except QueueError as exc:
                fail(str(exc))
            if as_json:
                emit_json(rows)
            _summary(rows, "queued for `absorb worker`")
            return
        report = asyncio.run(run_batch(store, options, settings))
        known = len(store.topics.list()) if not report.topics else 0
    data = report.as_dict()
    if as_json:
        emit_json(data)
    # A night with nothing to do says why, not "no topics" when there are some.
    idle = (f"nothing to refresh: {known} topic{'s' if known != 1 else ''}, none with new "
            "sources, a feed to pull or an unfinished run") if known else "no topics"
    _summary(data["topics"], f"refresh --all: {report.duration_s:.1f}s, {report.spent_tokens} tokens"
             + (f" of {report.budget_tokens}" if report.budget_tokens else ""), idle)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def worker(
    concurrency: int = typer.Option(1, help="Topics this worker refreshes at once."),
    burst: bool = typer.Option(False, "--burst", help="Exit when the queue is empty instead of "
                               "waiting for more jobs."),
    as_json: bool = typer.Option(False, "--json", help="A report of the topics it ran, as JSON."),
) -> None:
    """Run queued topic refreshes (PostgreSQL); start any number, on any machine."""
    from dataclasses import asdict

    from agent.batch import BatchReport
    from agent.queue import QueueError, run_worker
    from agent.settings import get_settings

    if concurrency < 1:
        fail("--concurrency must be at least 1")
    settings = get_settings()
    try:
        import asyncio  # here, not at the top: --help and `path` never load it
        reports = asyncio.run(run_worker(settings.database_url, settings, concurrency=concurrency,
                                         burst=burst))
    except QueueError as exc:
        fail(str(exc))
    report = BatchReport(reports)
    rows = [asdict(r) for r in reports]
    if as_json:
        emit_json(report.as_dict())
    _summary(rows, f"worker: {len(rows)} topics")
    if report.exit_code:
        raise typer.Exit(report.exit_code)
