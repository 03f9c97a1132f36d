"""Benchmark of one refresh through the real ChatOpenAI path against the fake endpoint.

Not collected by pytest. Run: .venv/bin/python tests/bench_refresh.py
1. critical path: 6 sections touched, endpoint answering after 200 ms;
2. tokens sent per refresh of the seed topic with its bus, against the lower bound
   (new sources' text + affected sections' text + output), in the same 4-chars-a-token units.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.fake_server import FakeOpenAIServer  # noqa: E402
from tests.scripted import extractive_draft, faithful_judge, triage_by_title  # noqa: E402

SEED = Path(__file__).resolve().parents[1] / "agent" / "demo" / "seed.md"
SIX = ["overview", "llms-as-knowledge-bases", "the-intelligence-layer",
       "training-and-compute-efficiency", "physical-infrastructure-boom", "challenges-and-trends"]
SEED_ROUTES = {"DiLoCo": ["training-and-compute-efficiency"], "CCCL": ["training-and-compute-efficiency"],
               "Colossus": ["physical-infrastructure-boom"], "Liquid Cooling": ["physical-infrastructure-boom"],
               "Capex": ["physical-infrastructure-boom"], "Distributed Compute": ["challenges-and-trends"],
               "Portability": ["challenges-and-trends"], "Inference Optimization": ["the-intelligence-layer"],
               "Vertical AI Infrastructure": ["future-directions"], "Colocation": ["training-and-compute-efficiency"]}


def fresh_home() -> None:
    os.environ["ABSORB_HOME"] = tempfile.mkdtemp(prefix="absorb-bench-")
    for name in ("ABSORB_DATABASE_URL",):
        os.environ.pop(name, None)


def run_refresh(store, topic: str, server: FakeOpenAIServer):
    from agent.runner import refresh_topic

    os.environ["OPENAI_BASE_URL"], os.environ["OPENAI_API_KEY"] = server.base_url, "bench"
    started = time.perf_counter()
    result = asyncio.run(refresh_topic(store, topic, gather=False))
    return result, time.perf_counter() - started


def critical_path() -> dict:
    from agent.cli.main import run
    from agent.models import Source, source_id_for
    from agent.store import open_store

    fresh_home()
    run(["import", str(SEED), "--topic", "six"])
    store = open_store()
    texts = [f"Report {n}: the {s.replace('-', ' ')} saw 12 new deployments in 2026." for n, s in enumerate(SIX)]
    store.sources.add_to_topic("six", [Source(id=source_id_for(None, t), title=f"route {n}", text=t,
                                              content_hash=source_id_for(None, t)) for n, t in enumerate(texts)])
    with FakeOpenAIServer(delay=0.2) as server:
        server.on_task("triage", triage_by_title({f"route {n}": [s] for n, s in enumerate(SIX)}))
        server.on_task("draft_section", extractive_draft())
        server.on_task("judge", faithful_judge)
        result, wall = run_refresh(store, "six", server)
        calls = {t: len(server.requests_for(t)) for t in ("triage", "draft_section", "judge")}
    edits = len(store.proposals.get(result.proposal_id).edits)
    serial = 0.2 * (calls["triage"] + calls["draft_section"] + calls["judge"])
    return {"sections_touched": edits, "wall_s": round(wall, 2), "calls": calls,
            "critical_path_s": 0.2 * 3, "all_calls_in_series_s": round(serial, 2)}


def token_ratio() -> dict:
    from agent.cli.main import run
    from agent.store import open_store

    fresh_home()
    run(["import", str(SEED), "--topic", "ai"])
    run(["sources", "import", str(SEED), "--topic", "ai"])
    store = open_store()
    with FakeOpenAIServer() as server:
        server.on_task("triage", triage_by_title(SEED_ROUTES))
        server.on_task("draft_section", extractive_draft())
        server.on_task("revise_section", extractive_draft())
        server.on_task("judge", faithful_judge)
        result, wall = run_refresh(store, "ai", server)
        sent = sum(r["usage"]["prompt_tokens"] + r["usage"]["completion_tokens"] for r in server.responses)
        output = sum(r["usage"]["completion_tokens"] for r in server.responses)
    proposal = store.proposals.get(result.proposal_id)
    article = store.revisions.get(proposal.base_revision_id).article
    new_sources = [s for s, _ in store.sources.for_topic("ai")
                   if s.id in {i for e in proposal.edits for i in e.source_ids}]
    affected = sum(len(article.section(e.section_id).text()) for e in proposal.edits if not e.new_section)
    lower = (sum(len(s.text) for s in new_sources) + affected) // 4 + output
    return {"edits": len(proposal.edits), "tokens_sent": sent, "lower_bound": lower,
            "ratio": round(sent / lower, 2), "wall_s": round(wall, 2), "requests": len(server.responses)}


if __name__ == "__main__":
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(json.dumps({"machine": machine, "critical_path": critical_path(),
                      "token_ratio": token_ratio()}, indent=2))
