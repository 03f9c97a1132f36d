"""`absorb review list|show|approve|reject`, `absorb propose` and `absorb serve`."""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from agent.cli.common import echo, emit_json, err, fail, store_session

review_app = typer.Typer(help="See proposals as diffs with evidence; approve or reject per edit.",
                         invoke_without_command=True)

_LABEL_STYLE = {"supported": "green", "partially": "yellow", "unsupported": "red",
                "contradicted": "red", "uncited": "red"}


def editor_actor() -> str:
    try:
        return f"editor:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in some containers
        return "editor:cli"


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
    from agent.review import list_proposals

    with store_session() as store:
        try:
            found = list_proposals(store, status, topic)
        except _review_errors() as exc:
            fail(str(exc))
    rows = [{"id": p.id, "topic": p.topic, "status": p.status.value, "edits": len(p.edits),
             "undecided": sum(e.status.value == "pending" for e in p.edits), "actor": p.actor,
             "run_id": p.run_id, "base_revision_id": p.base_revision_id,
             "created_at": p.created_at} for p in found]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        err.print(f"no {status} proposals" if status != "all" else "no proposals yet")
    for r in rows:
        echo(f"{r['id']}\t{r['topic']}\t{r['status']}\t{r['undecided']}/{r['edits']} undecided\t"
             f"{r['actor']}\t{r['created_at']:%Y-%m-%d %H:%M}")


def _elide(text: str, keep: int = 100) -> str:
    """Long unchanged runs shrink to their ends, so the change stays in view."""
    if len(text) <= 3 * keep:
        return text
    return f"{text[:keep]} … {text[-keep:]}"


def _print_view(view, out: Console) -> None:
    from agent.diff import printable

    plain = out.color_system is None
    p = view.proposal
    out.print(Text(printable(f"proposal {p.id} · {p.topic} · {p.status.value} · by {p.actor} · "
                             f"base revision {view.base_number}, current {view.current_number}"),
                   style="bold"))
    if p.comment:
        out.print(Text(printable(f"comment: {p.comment}")))
    for ev in view.edits:
        e = ev.edit
        head = Text(f"\nedit {ev.number} · ", style="bold")
        head.append(printable(e.heading), style="bold")
        head.append(f" · {e.status.value}" + (" · new section" if e.new_section else ""))
        head.append(f" · {e.id}", style="dim")
        out.print(head)
        if e.status.value == "pending" and not ev.applies:
            out.print(Text("  ! the section changed since this was drafted: approving refuses it",
                           style="yellow"))
        if e.rationale:
            out.print(Text(printable(f"  why: {e.rationale}"), style="italic"))
        body = Text("  ")
        for chunk in ev.chunks:
            text = printable(chunk.text).replace("\n\n", "\n\n  ")
            if chunk.op == "equal":
                body.append(_elide(text))
            elif plain:
                body.append(f"[-{text}-]" if chunk.op == "delete" else f"{{+{text}+}}")
            else:
                body.append(text, style="red strike" if chunk.op == "delete" else "green underline")
        out.print(body)
        for title, items in (("new sentences", ev.sentences), ("held back by the gate", ev.held_back)):
            if items:
                out.print(Text(f"  {title}:", style="bold"))
            for item in items:
                label = item.verdict.label.value if item.verdict else "unchecked"
                line = Text("   ")
                line.append(f"[{label}", style=_LABEL_STYLE.get(label, "dim"))
                line.append(f"/{item.verdict.stage}]" if item.verdict else "]",
                            style=_LABEL_STYLE.get(label, "dim"))
                line.append(printable(f" {item.rendered}"))
                out.print(line)
                for number, quote in item.quotes:
                    out.print(Text(printable(f"      quote [{number or '?'}]: \"{quote}\""), style="cyan"))
                if item.verdict and item.verdict.reason and item.verdict.label.value != "supported":
                    out.print(Text(printable(f"      why: {item.verdict.reason}"), style="dim"))
        if ev.sources:
            out.print(Text("  sources:", style="bold"))
        for ref in ev.sources:
            fields = [ref.title, ref.kind, *( [ref.published_at] if ref.published_at else []),
                      *([ref.url] if ref.url and ref.url != ref.title else [])]
            out.print(Text(printable(f"   [{ref.number}] " + " · ".join(fields))))


@review_app.command("show")
def show(proposal_id: int = typer.Argument(..., metavar="ID"),
         as_json: bool = typer.Option(False, "--json", help="JSON on stdout.")) -> None:
    """A proposal per section: word-level diff, each new sentence with its verdict and
    quote, and the sources that led to it."""
    from agent.diff import build_view, view_json
    from agent.review import sync_status

    with store_session() as store:
        view = build_view(store, sync_status(store, store.proposals.get(proposal_id)))
    if as_json:
        emit_json(view_json(view))
        return
    _print_view(view, Console(file=sys.stdout, markup=False, highlight=False, soft_wrap=True))


def _decide(action: str, proposal_id: int, edits: list[str], comment: str) -> None:
    from agent.review import decide

    with store_session() as store:
        try:
            result = asyncio.run(decide(store, proposal_id, action, edits or None,
                                        actor=editor_actor(), comment=comment))
        except _review_errors() as exc:
            fail(str(exc))
    status = result.proposal.status.value
    if result.nothing:
        err.print(f"proposal {proposal_id}: nothing to {action}; edits "
                  f"{', '.join(map(str, result.unchanged)) or '-'} are already decided ({status})")
        return
    for number, reason in result.refused.items():
        err.print(Text.assemble((f"edit {number} refused: ", "yellow"), reason))
    parts = []
    if result.merged:
        parts.append(f"merged edits {', '.join(map(str, result.merged))}")
    if result.rejected:
        parts.append(f"rejected edits {', '.join(map(str, result.rejected))}")
    if result.revision is not None:
        parts.append(f"revision {result.revision.number}")
    if result.resumed_run:
        parts.append(f"run {result.resumed_run} finished")
    err.print(f"proposal {proposal_id}: {'; '.join(parts) or 'no change'}; now {status}")
    if result.refused and not result.merged and action == "approve":
        raise typer.Exit(4)


@review_app.command("approve")
def approve(proposal_id: int = typer.Argument(..., metavar="ID"),
            edit: list[str] = typer.Option([], "--edit", help="Edit number as shown, or its id "
                                           "(repeat; default: every undecided edit)."),
            comment: str = typer.Option("", "--comment", help="Why; recorded on the revision.")) -> None:
    """Approve edits and merge them (edits whose section changed since are refused)."""
    _decide("approve", proposal_id, edit, comment)


@review_app.command("reject")
def reject(proposal_id: int = typer.Argument(..., metavar="ID"),
           edit: list[str] = typer.Option([], "--edit", help="Edit number as shown, or its id "
                                          "(repeat; default: every undecided edit)."),
           comment: str = typer.Option("", "--comment", help="Why; recorded on the proposal.")) -> None:
    """Reject edits; their sources are marked as not wanted for this topic."""
    _decide("reject", proposal_id, edit, comment)


def propose(topic: str = typer.Argument(..., help="Topic slug."),
            section: str = typer.Option(..., "--section", help="Section id or heading (a new one "
                                        "is created if no section has it)."),
            file: Path = typer.Option(..., "--file", help="The section's new prose, as "
                                      "`absorb show` prints it ([N] markers, or [src_...] ids)."),
            comment: str = typer.Option("", "--comment", help="Why the change."),
            as_json: bool = typer.Option(False, "--json", help="The proposal as JSON on stdout.")) -> None:
    """Propose your own edit of one section; the citation gate's verdicts are advice."""
    from agent.diff import build_view, view_json
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
            fail(str(exc))
        view = build_view(store, proposal)
    if as_json:
        emit_json(view_json(view))
    else:
        _print_view(view, Console(file=sys.stdout, markup=False, highlight=False, soft_wrap=True))
    advice = [s.verdict.label.value for e in view.edits for s in e.sentences if s.verdict]
    failing = sum(label != "supported" for label in advice)
    err.print(f"proposal {proposal.id} created ({len(advice)} new sentences, {failing} not "
              f"supported by the deterministic gate: advice only); "
              f"`absorb review approve {proposal.id}` merges it")


def serve(host: str = typer.Option("127.0.0.1", help="Interface to listen on (loopback by default)."),
          port: int = typer.Option(8000, help="TCP port.")) -> None:
    """The review web app: topics, articles with evidence, proposals to approve or reject."""
    import uvicorn

    from agent.settings import get_settings
    from agent.web.app import create_app

    if not get_settings().editor_tokens:
        fail("set ABSORB_EDITOR_TOKENS (comma-separated secrets) so editors can log in")
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"warning: serving on {host}; put TLS in front of it, the session cookie is a secret")
    err.print(f"absorb review on http://{host}:{port}/topics")
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")
