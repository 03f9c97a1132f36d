"""The `absorb` command: mounts one module per command group and turns errors into one line."""

from __future__ import annotations

import copy
import sys

import typer

from agent.cli import articles, audit, demo, eval_cmd, refresh_cmd, rewrite_cmd
from agent.cli import sources_cmd
from agent.cli import review_cmd
from agent.cli import local_cmd
from agent.cli import batch_cmd
from agent.cli import editors_cmd, serve_cmd
from agent.cli.common import UserError, err, styled

app = typer.Typer(
    name="absorb",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help: rich markup would eat "[local]"-style text and print a <bool> per flag.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"absorb {version('absorb')}")
        raise typer.Exit(0)


@app.callback()
def _root(_version_flag: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                               help="Print the installed version and exit.")) -> None:
    """Keep long-lived topic articles true to their sources: import pages and sources, refresh
    sections through a citation gate, review proposed edits.

    Exit status: 0 done; 1 a batch with failed topics; 2 usage error, bad input or not found;
    3 a model or source failure (the message says which); 4 a conflict (the article or the
    decision moved on) or a topic locked by another run; 75 work deferred to the next night;
    130 interrupted.
    """


app.command("init")(articles.init)
app.command("path")(articles.path)
app.command("import")(articles.import_page)
app.add_typer(articles.topics_app, name="topics")
app.add_typer(sources_cmd.sources_app, name="sources")
app.add_typer(sources_cmd.feeds_app, name="feeds")
app.command("show")(articles.show)
app.command("history")(articles.history)
app.command("revert")(articles.revert)
app.command("audit")(audit.audit)
app.command("demo")(demo.demo)
app.command("refresh")(refresh_cmd.refresh)
app.command("runs")(refresh_cmd.runs)
app.command("usage")(refresh_cmd.usage)
app.command("rewrite")(rewrite_cmd.rewrite)
app.add_typer(eval_cmd.app, name="eval", help="Measure absorb on evaluation sets.")
app.add_typer(review_cmd.review_app, name="review")
app.command("propose")(review_cmd.propose)
app.command("serve")(serve_cmd.serve)
app.add_typer(editors_cmd.editors_app, name="editors")
app.add_typer(local_cmd.local_app, name="local")
app.command("worker")(batch_cmd.worker)
for _group in app.registered_groups:
    _group.typer_instance.rich_markup_mode = None


def run(args: list[str]) -> int:
    """Run one command line; returns the exit status. Errors become one line on stderr."""
    try:
        status = _command(args).main(args=args, prog_name="absorb", standalone_mode=False)
        return status if isinstance(status, int) else 0
    except UserError as exc:
        err.print(styled(("error: ", "red"), _one_line(str(exc))))
        return exc.code
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted")
        return 130
    except typer.TyperException as exc:  # typer's own click: usage errors, --help of a bare group
        return _usage_error(exc)
    except Exception as exc:  # noqa: BLE001 - the last line of defence for users
        if isinstance(exc, _user_facing_errors()):
            err.print(styled(("error: ", "red"), _one_line(str(exc))))
            return getattr(exc, "code", 2)
        category = getattr(exc, "category", None)
        if category == "locked":  # another run holds the topic: a conflict, not a failure
            err.print(styled(("error: ", "red"), _one_line(str(exc))))
            return 4
        if category is not None:  # LLM and source errors carry a category and a clear message
            err.print(styled((f"error ({category}): ", "red"), _one_line(str(exc))))
            return 3
        err.print(styled(("internal error: ", "red"), f"{type(exc).__name__}: "
                                f"{_one_line(str(exc))} (please report this with the command you ran)"))
        return 70


_TOPIC_HELP = "Topic slug, e.g. ai-infrastructure (`absorb topics` lists them)."


def _command(args: list[str] | None = None):
    """The click command tree, with every positional argument named the same way in every
    command's --help: TOPIC for a topic slug (described once, here), upper case for the rest.

    When `args` name a command, the tree holds only that one: converting every command's
    signature to click costs each start-up about 20 ms. `absorb --help`, `--version`, a
    mistyped name and anything unusual get the whole tree."""
    command = typer.main.get_command(_app_for(args or []))

    def normalise(node) -> None:  # noqa: ANN001 - a click command or group
        for param in node.params:
            if param.param_type_name != "argument":
                continue
            if param.name in ("slug", "topic"):
                param.metavar = "TOPIC"
                if not getattr(param, "help", None) or param.help == "Topic slug.":
                    param.help = _TOPIC_HELP
            elif param.metavar is None:
                param.metavar = param.name.upper()
        for child in getattr(node, "commands", {}).values():
            normalise(child)

    normalise(command)
    return command


def _app_for(args: list[str]) -> typer.Typer:
    """`app`, or a copy of it holding only the command or group that `args` start with (an
    option before it, `absorb --help topics`, is the root's and needs the whole tree)."""
    name = args[0] if args else "-"
    if name.startswith("-") or "--" in args:
        return app
    commands = [c for c in app.registered_commands if c.name == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if len(commands) + len(groups) != 1:
        return app
    only = copy.copy(app)
    only.registered_commands, only.registered_groups = commands, groups
    return only


def _user_facing_errors() -> tuple[type[Exception], ...]:
    """Store and settings errors the user can fix. Looked up only if their modules were loaded,
    so `absorb --help` never imports SQLAlchemy just to be ready for a store error."""
    kinds = []
    for module, name in (("agent.store.errors", "StoreError"), ("agent.settings", "SettingsError")):
        loaded = sys.modules.get(module)
        if loaded is not None:
            kinds.append(getattr(loaded, name))
    return tuple(kinds)


def _one_line(message: str) -> str:
    from agent.redact import scrub  # an error may echo the API key: never print it

    return " ".join((scrub(message) or "").split())


def _usage_error(exc: Exception) -> int:
    """A usage error is one line naming the command's --help; a group given no subcommand has
    already printed its help (click's NoArgsIsHelpError) and exits 2 like any usage error."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            typer.echo(ctx.get_help())
        return 2
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "absorb"
    err.print(styled(("error: ", "red"), f"{_one_line(message)} (see `{command} --help`)"))
    return getattr(exc, "exit_code", 2) or 2


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
