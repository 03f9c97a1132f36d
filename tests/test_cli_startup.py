"""Commands that need no model start without importing the model stack: `--help`, `path`,
`topics`, `show`, `history` and `review list` never load langchain, langgraph or the gate, and a
store already at the schema's head is opened without loading Alembic."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("langchain_openai", "langchain_core", "langgraph", "openai", "agent.llm",
         "agent.citations.gate", "agent.citations.judge")
PROBE = """
import json, sys
from agent.cli.main import run
code = run(sys.argv[1:])
print(json.dumps({"code": code, "loaded": sorted(m for m in sys.modules if m.split('.')[0] in
      ("langchain_openai", "langchain_core", "langgraph", "openai", "sqlalchemy", "alembic")
      or m in ("agent.llm", "agent.citations.gate", "agent.citations.judge"))}))
"""


def _loaded(args: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          env=env, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def env(absorb_home, tmp_path, seed_path):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ABSORB_", "OPENAI_"))}
    env["ABSORB_HOME"] = str(absorb_home)
    from tests.cli_world import ABSORB

    subprocess.run([str(ABSORB), "import", str(seed_path), "--topic", "t"], env=env, check=True,
                   capture_output=True, timeout=120)
    return env


@pytest.mark.parametrize("args", [["--help"], ["path"], ["topics"], ["show", "t"], ["history", "t"],
                                  ["review", "list"], ["show", "t", "--json"], ["runs"]])
def test_no_model_stack_for_commands_that_need_no_model(env, args):
    probe = _loaded(args, env)
    assert probe["code"] == 0
    heavy = [m for m in probe["loaded"] if m.split(".")[0] in HEAVY or m in HEAVY]
    assert heavy == [], heavy
    assert not [m for m in probe["loaded"] if m.startswith("alembic")]


@pytest.mark.parametrize("args", [["--help"], ["path"], ["--version"]])
def test_help_and_path_do_not_even_open_the_store(env, args):
    probe = _loaded(args, env)
    assert probe["code"] == 0
    assert not [m for m in probe["loaded"] if m.startswith(("sqlalchemy", "alembic"))]
