"""`absorb review list|show|approve|reject` and `absorb propose`."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import typer

from agent.cli.common import echo, emit_json, err, fail, interrupt_after, store_session, styled
from agent.kinds import MAX_ID

review_app = typer.Typer(help="See proposals as diffs with evidence; approve or reject per edit.",
                         invoke_without_command=True)

def editor_actor() -> str:
    try:
        return f"editor:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in some containers
        return "editor:cli"


def _fail_review(exc: Exception) -> None:
    """One line; exit 4 when the decision moved on (decided otherwise, perhaps a moment ago by
    another editor), as the README's exit table says, else 2."""
    from agent.review import DecisionConflict

    fail(str(exc), 4 if isinstance(exc, DecisionConflict) else 2)


def _review_errors():
    from agent.review import ReviewError

    return ReviewError


@review_app.callback()
def review(ctx: typer.Context) -> None:
    """List proposals waiting for a decision (same as `review list`)."""
    if ctx.invoked_subcommand is None:
        list_cmd(as_json=False, status="open", topic=None)


@review_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
             status: str = typer.Option("open", help="open (needs a decision), all, or one of "
                                        "pending, approved, partially_approved, rejected, merged, stale."),
             topic: str | None = typer.Option(None, help="Only this topic's proposals.")) -> None:
    """List proposals: id, topic, status, undecided edits, who proposed it."""
    from agent.review import list_proposals, sections_touched

    with store_session(read=True) as store:
        if topic is not None and not store.topics.exists(topic):
            fail(f"unknown topic '{topic}' (`absorb topics` lists them)")
        try:
            found = list_proposals(store, status, topic)
        except _review_errors() as exc:
            _fail_review(exc)
        # Staleness is per section: the sections each proposal touches, and which changed since.
        touched = {p.id: sections_touched(store, p) for p in found}
    rows = [{"id": p.id, "topic": p.topic, "status": p.status.value, "edits": len(p.edits),
             "undecided": sum(e.status.value == "pending" for e in p.edits), "actor": p.actor,
             "run_id": p.run_id, "base_revision_id": p.base_revision_id,
             "created_at": p.created_at, "sections": touched[p.id]} for p in found]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        err.print(f"no {status} proposals" if status != "all" else "no proposals yet")
    for r in rows:
        sections = ", ".join(s["section"] + (" (changed since)" if s["stale"] else "")
                             for s in r["sections"])
        echo(f"{r['id']}\t{r['topic']}\t{r['status']}\t{r['undecided']}/{r['edits']} undecided\t"
             f"{r['actor']}\t{r['created_at']:%Y-%m-%d %H:%M}\t{sections}")


@review_app.command("show")
def show(proposal_id: int = typer.Argument(..., metavar="ID", max=MAX_ID),
         as_json: bool = typer.Option(False, "--json", help="JSON on stdout.")) -> None:
    """A proposal per section: a sentence-aligned diff, each new sentence with its verdict,
    the check that decided it and its quote, what is no longer stated, who decided what."""
    from agent.diff import build_view, view_json
    from agent.review import sync_status
    from agent.review_view import build_page, page_json

    with store_session(read=True) as store:
        proposal = sync_status(store, store.proposals.get(proposal_id))
        page = build_page(store, proposal)
        data = view_json(build_view(store, proposal)) if as_json else None
    if as_json:
        emit_json(page_json(page, data))
        return
    _print_page(page)


def _print_page(page) -> None:  # noqa: ANN001 - a review page
    """The page on stdout; rich (and the page printer) load only when a page is printed."""
    from rich.console import Console

    from agent.cli.review_print import print_page

    print_page(page, Console(file=sys.stdout, markup=False, emoji=False, highlight=False,
                              soft_wrap=True))


def _report(proposal_id: int, action: str, result, choices: dict | None = None) -> None:
    status = result.proposal.status.value
    if result.nothing:
        said = "; ".join(f"edit {n} {how}" for n, how in result.already.items())
        err.print(f"proposal {proposal_id}: nothing to {action}; " + (said or (
            f"edits {', '.join(map(str, result.unchanged)) or '-'} are already decided"))
                  + f" ({status})")
        return
    for number, reason in result.refused.items():
        err.print(styled((f"edit {number} refused: ", "yellow"), reason))
    numbers = {e.id: n for n, e in enumerate(result.proposal.edits, start=1)}
    for edit_id, choice in (choices or {}).items():
        if numbers[edit_id] not in result.merged:
            continue
        taken = len(choice.verified) + len(choice.unverified_taken)
        line = f"edit {numbers[edit_id]}: took {taken} new sentence{'s' if taken != 1 else ''}"
        if choice.unverified_taken:
            line += " (unverified, marked in the article: " + ", ".join(
                f"{numbers[edit_id]}.{n}" for n in choice.unverified_taken) + ")"
        if choice.left_out:
            line += "; left out unverified " + ", ".join(f"{numbers[edit_id]}.{n}" for n in choice.left_out)
            line += " (add with --include or --include-unverified)"
        if choice.removed:
            line += f"; removed {choice.removed} sentence{'s' if choice.removed != 1 else ''} of the section"
        err.print(line)
    parts = []
    if result.merged:
        parts.append(f"merged edits {', '.join(map(str, result.merged))}")
    if result.rejected:
        parts.append(f"rejected edits {', '.join(map(str, result.rejected))}")
    if result.revision is not None:
        parts.append(f"revision {result.revision.number}")
    if result.resumed_run:
        parts.append(f"run {result.resumed_run} finished")
    parts.extend(f"edit {n} {how}" for n, how in result.already.items())
    err.print(f"proposal {proposal_id}: {'; '.join(parts) or 'no change'}; now {status}")
    if result.refused and not result.merged and action == "approve":
        raise typer.Exit(4)


@review_app.command("approve")
def approve(proposal_id: int = typer.Argument(..., metavar="ID", max=MAX_ID),
            edit: list[str] = typer.Option([], "--edit", help="Edit number as shown, or its id "
                                           "(repeat; default: every undecided edit)."),
            include: list[str] = typer.Option([], "--include", help="Also take this unverified "
                                              "sentence: EDIT.SENTENCE as `review show` numbers it "
                                              "(or SENTENCE with one --edit); repeat."),
            include_unverified: bool = typer.Option(False, "--include-unverified",
                                                    help="Take every unverified sentence too."),
            comment: str = typer.Option("", "--comment", help="Why; recorded on the revision.")) -> None:
    """Approve edits and merge their verified sentences (unverified ones only with --include;
    edits whose section changed since are refused)."""
    from agent.approval import approve as approve_edits, parse_includes

    with interrupt_after(), store_session() as store:
        try:
            proposal = store.proposals.get(proposal_id)
            ticked = parse_includes(proposal, include, edit[0] if len(edit) == 1 else None)
            import asyncio  # here, not at the top: --help and `path` never load it
            result, choices = asyncio.run(approve_edits(
                store, proposal_id, edit or None, actor=editor_actor(), comment=comment,
                include=ticked, include_unverified=include_unverified))
        except _review_errors() as exc:
            _fail_review(exc)
        _report(proposal_id, "approve", result, choices)


@review_app.command("reject")
def reject(proposal_id: int = typer.Argument(..., metavar="ID", max=MAX_ID),
           edit: list[str] = typer.Option([], "--edit", help="Edit number as shown, or its id "
                                          "(repeat; default: every undecided edit)."),
           comment: str = typer.Option("", "--comment", help="Why; recorded on the proposal.")) -> None:
    """Reject edits; their sources are marked as not wanted for this topic."""
    from agent.approval import reject as reject_edits

    with interrupt_after(), store_session() as store:
        try:
            import asyncio  # here, not at the top: --help and `path` never load it
            result = asyncio.run(reject_edits(store, proposal_id, edit or None, actor=editor_actor(),
                                              comment=comment))
        except _review_errors() as exc:
            _fail_review(exc)
        _report(proposal_id, "reject", result)


@review_app.command("undo")
def undo_cmd(proposal_id: int = typer.Argument(..., metavar="ID", max=MAX_ID),
             edit: str = typer.Option(..., "--edit", help="Edit number as shown, or its id.")) -> None:
    """Undo the rejection of an edit: it waits for a decision again."""
    from agent.approval import undo

    with store_session() as store:
        try:
            proposal = undo(store, proposal_id, edit, actor=editor_actor())
        except _review_errors() as exc:
            _fail_review(exc)
    err.print(f"proposal {proposal_id}: edit {edit} is undecided again; now {proposal.status.value}")


def propose(topic: str = typer.Argument(..., help="Topic slug."),
            section: str = typer.Option(..., "--section", help="Section id or heading (a new one "
                                        "is created if no section has it)."),
            file: Path = typer.Option(..., "--file", help="The section's new prose, as "
                                      "`absorb show` prints it ([N] markers, or [src_...] ids)."),
            comment: str = typer.Option("", "--comment", help="Why the change."),
            as_json: bool = typer.Option(False, "--json", help="The proposal as JSON on stdout.")) -> None:
    """Propose your own edit of one section; the citation gate's verdicts are advice."""
    from agent.diff import build_view, view_json
    from agent.review_view import build_page, page_json
    from agent.markdown import PageError, decode_page
    from agent.review import propose as make_proposal

    if not file.is_file():
        fail(f"no such file: {file}")
    try:
        text = decode_page(file.read_bytes())
    except PageError as exc:
        fail(f"cannot read {file}: {exc}")
    with store_session() as store:
        try:
            proposal = make_proposal(store, topic, section, text, actor=editor_actor(), comment=comment)
        except _review_errors() as exc:
            _fail_review(exc)
        view = build_view(store, proposal)
        page = build_page(store, proposal)
    if as_json:
        emit_json(page_json(page, view_json(view)))
    else:
        _print_page(page)
    advice = [s.verdict.label.value for e in view.edits for s in e.sentences if s.verdict]
    failing = sum(label != "supported" for label in advice)
    err.print(f"proposal {proposal.id} created ({len(advice)} new sentences, {failing} not "
              f"verified by the deterministic gate); `absorb review approve {proposal.id}` merges "
              f"the verified ones, `--include-unverified` the rest too (marked in the article)")
