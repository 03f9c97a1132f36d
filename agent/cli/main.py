"""The `absorb` command: mounts one module per command group and turns errors into one line."""

from __future__ import annotations

import sys

import typer

from agent.cli import articles, audit, demo, eval_cmd, refresh_cmd, rewrite_cmd
from agent.cli import sources_cmd
from agent.cli import review_cmd
from agent.cli import local_cmd
from agent.cli import batch_cmd
from agent.cli.common import UserError, err
from rich.text import Text

app = typer.Typer(
    name="absorb",
    help="Keep long-lived topic articles true to their sources: import pages and sources, "
    "refresh sections through a citation gate, review proposed edits.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("init")(articles.init)
app.command("path")(articles.path)
app.command("import")(articles.import_page)
app.add_typer(articles.topics_app, name="topics")
app.add_typer(sources_cmd.sources_app, name="sources")
app.add_typer(sources_cmd.feeds_app, name="feeds")
app.command("show")(articles.show)
app.command("history")(articles.history)
app.command("audit")(audit.audit)
app.command("demo")(demo.demo)
app.command("refresh")(refresh_cmd.refresh)
app.command("runs")(refresh_cmd.runs)
app.command("usage")(refresh_cmd.usage)
app.command("rewrite")(rewrite_cmd.rewrite)
app.add_typer(eval_cmd.app, name="eval", help="Measure absorb on evaluation sets.")
app.add_typer(review_cmd.review_app, name="review")
app.command("propose")(review_cmd.propose)
app.command("serve")(review_cmd.serve)
app.add_typer(local_cmd.local_app, name="local")
app.command("worker")(batch_cmd.worker)


def run(args: list[str]) -> int:
    """Run one command line; returns the exit status. Errors become one line on stderr."""
    from click.exceptions import ClickException, Exit

    from agent.store.errors import StoreError

    try:
        status = app(args=args, prog_name="absorb", standalone_mode=False)
        return status if isinstance(status, int) else 0
    except Exit as exc:
        return exc.exit_code
    except ClickException as exc:
        exc.show()
        return exc.exit_code
    except (UserError, StoreError) as exc:
        err.print(Text.assemble(("error: ", "red"), str(exc)))
        return getattr(exc, "code", 2)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence for users
        category = getattr(exc, "category", None)
        if category is not None:  # LLM and source errors carry a category and a clear message
            err.print(Text.assemble((f"error ({category}): ", "red"), str(exc)))
            return 3
        err.print(Text.assemble(("internal error: ", "red"), f"{type(exc).__name__}: {exc} "
                                "(please report this with the command you ran)"))
        return 70


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
