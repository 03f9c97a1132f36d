"""`absorb rewrite`: redo one section with the editor's instructions, through the same gate."""

from __future__ import annotations

import typer

from agent.cli.common import echo, emit_json, err, fail, store_session, styled, topic_argument


def rewrite(
    topic: str = topic_argument(),
    section: str = typer.Argument(..., metavar="SECTION", help="Section heading or id (case-insensitive)."),
    instructions: str = typer.Option("", help="What the editor wants, e.g. 'shorter, no repetition'."),
    with_new: bool = typer.Option(False, "--with-new", help="Also draw on the topic's new sources "
                                  "that match this section."),
    review: str = typer.Option("manual", metavar="manual|auto", help="manual: a pending proposal; auto: merge what passed."),
    judge: str = typer.Option("llm", metavar="llm|none", help="Citation gate judge: llm or none."),
    as_json: bool = typer.Option(False, "--json", help="The result as JSON on stdout."),
) -> None:
    """Rewrite one section from its sources; the result is a proposal like any other."""
    from agent.runner import rewrite_section

    if review not in ("manual", "auto"):
        fail("--review must be manual or auto")
    if judge not in ("llm", "none"):
        fail("--judge must be llm or none")
    with store_session() as store:
        current = store.revisions.current(topic)
        if current is None:
            fail(f"topic '{topic}' has no article yet: `absorb import FILE --topic {topic}` gives it one")
        found = current.article.section(section)
        twins = current.article.ambiguous(section)
        if twins:
            fail(f"{len(twins)} sections of {topic} are headed '{section}': name one by its id "
                 f"({', '.join(s.id for s in twins)})")
        if found is None:
            names = ", ".join(f"'{s.heading}'" for s in current.article.sections)
            fail(f"no section '{section}' in {topic}; sections are: {names}")
        from agent.batch import topic_lock

        with topic_lock(store, topic, "rewrite"), err.status(f"rewriting {found.heading}") as status:
            def progress(step: str) -> None:
                status.update(f"rewriting {found.heading}: {step}")
                err.print(styled(("  ✓ ", "green"), step))

            import asyncio  # here, not at the top: --help and `path` never load it
            result = asyncio.run(rewrite_section(store, topic, found.id, instructions=instructions,
                                                 with_new=with_new, review=review,
                                                 judge=judge == "llm", progress=progress))
        run = result.run
        proposal = store.proposals.get(result.proposal_id) if result.proposal_id else None
    edits = proposal.edits if proposal else []
    data = {"run_id": run.id, "topic": topic, "section": found.id, "status": run.status.value,
            "proposal_id": result.proposal_id, "merged_revision_id": result.merged_revision_id,
            "error_category": run.error_category, "error": run.error,
            "input_tokens": run.input_tokens, "output_tokens": run.output_tokens,
            "edits": [{"id": e.id, "section": e.heading, "sentences": len(e.added_sentences()),
                       "held_back": len(e.dropped), "lost_facts": [s.text for s in e.lost_facts]}
                      for e in edits]}
    if as_json:
        emit_json(data)
    if run.status.value == "failed":
        err.print(styled((f"run {run.id} failed ({run.error_category}): ", "red"), run.error or ""))
        raise typer.Exit(3)
    if not as_json:
        for edit in edits:
            echo(f"{edit.id}\t{edit.heading}\t{len(edit.added_sentences())} new sentences, "
                 f"{len(edit.dropped)} held back\t{len(edit.lost_facts)} facts no longer stated")
    if not edits and result.outcome.startswith("nothing to read"):
        err.print(f"run {run.id}: {result.outcome}")
    elif not edits and result.failures:
        # The one section of a rewrite failed (the model gave nothing usable, twice): the
        # command failed, as a model failure does (exit 3, its category named).
        failed = result.failures[0]
        err.print(styled((f"run {run.id} failed ({failed['category']}): ", "red"),
                         f"section '{failed['heading']}': the model gave no usable draft "
                         f"(see `absorb usage --run {run.id}`)"))
        raise typer.Exit(3)
    elif not edits and "no new sentence to check" in result.outcome:
        err.print(f"run {run.id}: the model's drafts held no new sentence (see `absorb usage "
                  f"--run {run.id}`); nothing was checked or proposed")
    elif not edits:
        err.print(f"run {run.id}: the rewrite changed nothing that passed the citation gate")
    elif result.proposal_id and run.status.value == "waiting_review":
        err.print(f"proposal {result.proposal_id} waiting: `absorb review show {result.proposal_id}`")
