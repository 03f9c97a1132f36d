"""Commands that need no model start without importing the model stack: `--help`, `path`,
`topics`, `show`, `history` and `review list` never load langchain, langgraph or the gate, a
store already at the schema's head is opened without loading Alembic, and the four that only
show the store read it without SQLAlchemy (agent.store.lite). What each loads is read
from the installed `absorb` itself: PYTHONPROFILEIMPORTTIME makes Python list every module a
process imports on stderr."""

from __future__ import annotations

import io
import subprocess
from contextlib import redirect_stderr, redirect_stdout

import pytest

from tests.cli_world import ABSORB

HEAVY = ("langchain_openai", "langchain_core", "langgraph", "openai", "agent.llm",
         "agent.citations.gate", "agent.citations.judge")
READ = [["--help"], ["path"], ["topics"], ["show", "t"], ["history", "t"], ["review", "list"]]


def _loaded(args: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run([str(ABSORB), *args], capture_output=True, text=True,
                          env={**env, "PYTHONPROFILEIMPORTTIME": "1"}, timeout=120)
    modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    modules.discard("package")  # the header line: "import time: self [us] | cumulative | imported package"
    assert "agent.cli.main" in modules, done.stderr[-2000:]  # the listing worked
    return {"code": done.returncode, "loaded": modules}


def _under(modules: set[str], *roots: str) -> list[str]:
    return sorted(m for m in modules if m in roots or m.startswith(tuple(r + "." for r in roots)))


@pytest.fixture
def env(absorb_home, tmp_path, seed_path):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ABSORB_", "OPENAI_"))}
    env["ABSORB_HOME"] = str(absorb_home)
    subprocess.run([str(ABSORB), "import", str(seed_path), "--topic", "t"], env=env, check=True,
                   capture_output=True, timeout=120)
    return env


@pytest.mark.parametrize("args", READ + [["show", "t", "--json"], ["runs"]])
def test_no_model_stack_for_commands_that_need_no_model(env, args):
    probe = _loaded(args, env)
    assert probe["code"] == 0
    assert _under(probe["loaded"], *HEAVY) == []
    assert _under(probe["loaded"], "alembic") == []
    # Settings are read without pydantic-settings; the store's reads need no ORM; the gate's
    # deterministic helpers (agent.citations, rapidfuzz) are for commands that check sentences.
    assert _under(probe["loaded"], "pydantic_settings", "sqlalchemy.orm", "agent.citations",
                  "rapidfuzz") == []


@pytest.mark.parametrize("args", READ[2:] + [["show", "t", "--json"], ["review"]])
def test_commands_that_only_show_the_store_do_not_load_sqlalchemy(env, args):
    probe = _loaded(args, env)
    assert probe["code"] == 0
    assert _under(probe["loaded"], "sqlalchemy", "agent.store.core", "agent.merge") == []


@pytest.mark.parametrize("args", READ[:5])
def test_commands_that_print_nothing_on_stderr_do_not_load_rich(env, args):
    assert _under(_loaded(args, env)["loaded"], "rich") == []


@pytest.mark.parametrize("args", [["--help"], ["path"], ["--version"]])
def test_help_and_path_do_not_even_open_the_store(env, args):
    probe = _loaded(args, env)
    assert probe["code"] == 0
    assert _under(probe["loaded"], "sqlalchemy", "alembic", "agent.store") == []


def test_the_root_help_builds_no_domain_model(env):
    """Listing the commands needs neither pydantic nor the models (nor the statuses' --help)."""
    assert _under(_loaded(["--help"], env)["loaded"], "pydantic", "agent.models") == []


def _every_command_path() -> list[list[str]]:
    from agent.cli.main import _command

    paths: list[list[str]] = []

    def walk(node, prefix: list[str]) -> None:  # noqa: ANN001 - a click command or group
        paths.append(prefix)
        for name, child in getattr(node, "commands", {}).items():
            walk(child, [*prefix, name])

    walk(_command(), [])
    return paths


def test_a_command_line_sees_the_same_command_tree_as_the_whole_app(monkeypatch):
    """`run` converts only the command a line names (start-up); every command's --help and an
    unknown option read exactly as when the whole tree is converted."""
    from agent.cli import common, main

    def run(args: list[str], whole: bool) -> tuple[int, str, str]:
        with monkeypatch.context() as patch:
            if whole:
                patch.setattr(main, "_app_for", lambda _args: main.app)
            patch.setattr(common.err, "_console", None)  # a console bound to this capture
            out, err = io.StringIO(), io.StringIO()
            with redirect_stdout(out), redirect_stderr(err):
                code = main.run(args)
        return code, out.getvalue(), err.getvalue()

    paths = _every_command_path()
    assert len(paths) > 30
    for path in paths:
        for args in ([*path, "--help"], [*path, "--no-such-option"]):
            assert run(args, whole=False) == run(args, whole=True), args
    assert run(["--help", "topics"], whole=False)[1] == run(["--help"], whole=True)[1]
    assert "Did you mean 'topics'" in run(["topcs"], whole=False)[2]
