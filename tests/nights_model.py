"""A scripted model for many-nights tests and the nights benchmark, on the seed page's bus.

It misbehaves the way real models do: triage leaves every fourth source of its list out of the
answer, drafting invents a year for some sources (the gate holds those sentences back), a
source routed to two sections is written into both, and revision repeats its mistake.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from agent.fake_server import FakeOpenAIServer, task_of
from tests.scripted import careful_lead, extractive_draft, faithful_judge, sources_of

__all__ = ["Absorb", "extractive_draft", "script", "task_name"]

ABSORB = str(Path(sys.executable).parent / "absorb")

# Title fragment of a seed bus item -> the sections a careful model would route it to.
ROUTES = {
    "Colossus Data Center": ["physical-infrastructure-boom"],
    "DiLoCo": ["training-and-compute-efficiency"],
    "CCCL": ["training-and-compute-efficiency"],
    "GPU Utilization": ["training-and-compute-efficiency"],
    "Distributed Compute": ["challenges-and-trends"],
    "Provider Lock-in": ["platform-data-access-for-ai-agents"],
    "Portability": ["the-intelligence-layer"],
    "Inference Optimization at Scale": ["the-intelligence-layer"],
    "Capex Surge": ["physical-infrastructure-boom", "overview"],
    "Grok Exit": ["future-directions"],
    "Liquid Cooling": ["physical-infrastructure-boom", "challenges-and-trends"],
    "Vertical AI Infrastructure Stack": ["physical-infrastructure-boom"],
}
# Sources whose drafted sentence gains a year no source states.
INVENTS = ("Grok", "Palihapitiya predicts")


def invent_a_year(sentence: str) -> str:
    return sentence[:-1] + " in 2031." if any(k in sentence for k in INVENTS) else sentence


def forgetful_triage(omit_every: int = 4) -> Callable[[dict], dict]:
    """Routes by title; the answer leaves out every `omit_every`-th source it was shown."""
    def handle(request: dict) -> dict:
        decisions = []
        for position, (source_id, title, _) in enumerate(sources_of(request), start=1):
            if omit_every and position % omit_every == 0:
                continue
            sections = next((ids for key, ids in ROUTES.items() if key.lower() in title.lower()), [])
            decisions.append({"source_id": source_id, "relevant": bool(sections),
                              "sections": sections, "new_section": None, "relation": "new",
                              "reason": "on the article's subject" if sections else "off-topic"})
        return {"decisions": decisions}
    return handle


def script(fake: FakeOpenAIServer, omit_every: int = 4) -> None:
    fake.on_task("triage", forgetful_triage(omit_every))
    fake.on_task("draft_section", extractive_draft(invent_a_year))
    fake.on_task("revise_section", extractive_draft(invent_a_year))  # repeats its mistake
    fake.on_task("rewrite_section", rewrite_from_text)
    fake.on_task("judge", faithful_judge)
    fake.on_task("lead", careful_lead)


def task_name(request: dict) -> str | None:
    return task_of(request)


class Absorb:
    """`absorb ...` in a subprocess with its own ABSORB_HOME and the fake model's address."""

    def __init__(self, home: Path, server: FakeOpenAIServer) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ABSORB_", "OPENAI_"))}
        self.env.update({"ABSORB_HOME": str(home), "OPENAI_BASE_URL": server.base_url,
                         "OPENAI_API_KEY": "sk-test", "NO_COLOR": "1", "COLUMNS": "200",
                         "ABSORB_RETRY_INITIAL_DELAY": "0.01", "ABSORB_RETRY_MAX_DELAY": "0.02"})

    def __call__(self, *args: str, code: int = 0) -> subprocess.CompletedProcess:
        done = subprocess.run([ABSORB, *map(str, args)], env=self.env, capture_output=True,
                              text=True, timeout=240)
        assert done.returncode == code, f"absorb {' '.join(map(str, args))}: {done.stderr[-2000:]}"
        return done

    def json(self, *args: str):
        return json.loads(self(*args).stdout)


def rewrite_from_text(request: dict) -> dict:
    """A rewrite from the sources that have text: each one's first sentence, citing it."""
    draft = extractive_draft()(request)
    for paragraph in draft["paragraphs"]:
        paragraph["sentences"] = [s for s in paragraph["sentences"] if s["text"] != "."]
    return draft
