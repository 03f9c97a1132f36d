"""A scripted model for many-nights tests and the nights benchmark, on the seed page's bus.

It misbehaves the way real models do: triage leaves every fourth source of its list out of the
answer, drafting invents a year for some sources (the gate holds those sentences back), a
source routed to two sections is written into both, and revision repeats its mistake.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.fake_server import FakeOpenAIServer, task_of
from tests.scripted import extractive_draft, faithful_judge, sources_of

__all__ = ["extractive_draft", "script", "task_name"]

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
    fake.on_task("rewrite_section", extractive_draft())
    fake.on_task("judge", faithful_judge)


def task_name(request: dict) -> str | None:
    return task_of(request)
