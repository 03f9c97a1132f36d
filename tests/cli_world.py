"""The world a user's shell sees, for tests that run the installed `absorb` as a subprocess.

`Shell` runs command lines through bash with the virtual environment's `absorb` first on PATH,
its own ABSORB_HOME, and a fake OpenAI-compatible server on 127.0.0.1 behind OPENAI_BASE_URL,
so every model call goes through the product's real ChatOpenAI path. `seed_model` scripts that
server the way a careful model would answer for the seed page's bus; `unruly` variants answer
the way real models sometimes do (leave sources out, repeat themselves, copy instructions).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.fake_server import FakeOpenAIServer
from tests.scripted import (careful_lead, extractive_draft, faithful_judge, first_sentence,
                            lead_choice, sources_of, triage_by_title)

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ABSORB = BIN / "absorb"

# Which seed bus item goes to which section, by a word of its title; everything else is
# off-topic. Chosen so a refresh of the seed touches two sections and leaves the rest alone.
SEED_ROUTES = {"DiLoCo": ["training-and-compute-efficiency"],
               "Colossus": ["physical-infrastructure-boom"],
               "Liquid Cooling": ["physical-infrastructure-boom"],
               "capex guidance": ["physical-infrastructure-boom"]}


@dataclass
class Ran:
    line: str
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err

    def __str__(self) -> str:  # what a failing assertion shows
        return f"$ {self.line}\n[exit {self.code}]\n--- stdout\n{self.out}\n--- stderr\n{self.err}"



def ok(ran: Ran) -> Ran:
    """A command that must succeed: exit 0, and neither a traceback nor an `internal error`."""
    assert ran.code == 0, ran
    assert "internal error" not in ran.output and "Traceback" not in ran.output, ran
    return ran


class Shell:
    """bash with absorb on PATH, one ABSORB_HOME, and the fake model's address."""

    def __init__(self, home: Path, cwd: Path, server: FakeOpenAIServer | None = None,
                 **env: str) -> None:
        self.cwd = cwd
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith(("ABSORB_", "OPENAI_"))}
        self.env.update({"PATH": f"{BIN}:{self.env.get('PATH', '/usr/bin:/bin')}",
                         "ABSORB_HOME": str(home), "COLUMNS": "120", "NO_COLOR": "1",
                         "ABSORB_RETRY_INITIAL_DELAY": "0.01", "ABSORB_RETRY_MAX_DELAY": "0.02"})
        if server is not None:
            self.env.update({"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"})
        self.env.update(env)

    def __call__(self, line: str, *, timeout: float = 180, stdin: str | None = None,
                 **env: str) -> Ran:
        done = subprocess.run(["bash", "-c", line], cwd=self.cwd, env={**self.env, **env},
                              input=stdin, capture_output=True, text=True, timeout=timeout)
        return Ran(line, done.returncode, done.stdout, done.stderr)

    def popen(self, line: str, **env: str) -> subprocess.Popen:
        return subprocess.Popen(["bash", "-c", f"exec {line}"], cwd=self.cwd,
                                env={**self.env, **env}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)


def workdir(tmp: Path) -> Path:
    """A folder laid out like a fresh clone (the repo's files, shared/ beside it) in which
    commands may write files without touching the real checkout."""
    clone = tmp / "clone"
    clone.mkdir()
    for name in ("agent", "tests", "prompts", "graphs", "README.md", "pyproject.toml"):
        (clone / name).symlink_to(REPO / name)
    shared = REPO.parent / "shared"
    if shared.exists() and not (tmp / "shared").exists():
        (tmp / "shared").symlink_to(shared)
    return clone


def seed_model(server: FakeOpenAIServer, *,
               triage: Callable[[dict], dict] | None = None) -> FakeOpenAIServer:
    """Answer every task of the refresh and rewrite workflows for the seed topic."""
    server.on_task("triage", triage or triage_by_title(SEED_ROUTES))
    for task in ("draft_section", "draft_additions", "revise_section"):
        server.on_task(task, extractive_draft())
    server.on_task("rewrite_section", rewriting_draft)
    server.on_task("judge", faithful_judge)
    server.on_task("lead", careful_lead)
    server.on_task("lead_extract", lead_choice)
    return server


def rewriting_draft(request: dict) -> dict:
    """A rewrite from the sources' own words: every complete sentence of each cited source."""
    sentences = []
    for source_id, _, text in sources_of(request):
        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(text.split())):
            if sentence.endswith((".", "!", "?")) and len(sentence.split()) >= 4:
                sentences.append({"text": sentence, "citations": [source_id]})
    return {"paragraphs": [{"sentences": sentences}], "rationale": "rewritten from the sources"}


def forgetful(triage: Callable[[dict], dict], every: int = 4) -> Callable[[dict], dict]:
    """Leaves every `every`-th source out of its triage answer, as real models sometimes do."""
    def handle(request: dict) -> dict:
        answer = triage(request)
        answer["decisions"] = [d for i, d in enumerate(answer["decisions"]) if i % every != every - 1]
        return answer
    return handle


def parroting_draft(request: dict) -> dict:
    """Copies its instructions into the section and cites a source that says nothing of it."""
    sources = sources_of(request)
    cite = [sources[0][0]] if sources else []
    instructions = first_sentence(str(request["messages"][0].get("content") or "task"))
    return {"paragraphs": [{"sentences": [{"text": instructions, "citations": cite}]}],
            "rationale": "as instructed"}
