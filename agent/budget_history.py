"""What this installation has spent before, as rates the night budget can estimate from.

Each refresh run records what it worked on (`run_work`: sources triaged, sections drafted,
claims sent to the gate); its LLM calls are already recorded by node, model and prompt
version. Only runs whose every call used today's model and prompt for its node count: a new
prompt or model starts the history afresh, and until it covers HISTORY_MIN_SOURCES triaged
sources the estimate is the formula's.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from agent.prompting import load_prompt, prompt_tag
from agent.settings import Settings
from agent.store import Store
from agent.store.schema import llm_calls, run_work

HISTORY_RUNS = 30
# Fewer triaged sources than this is too little to average over: the formula estimates.
HISTORY_MIN_SOURCES = 20
# The history is an average; a night with more new sources per section costs more.
HISTORY_SAFETY = 1.3
_DRAFT_PROMPTS = {"additions": "draft_additions", "extract": "draft_extract"}


_LATEST_WORK = sa.select(run_work).order_by(run_work.c.created_at.desc()).limit(HISTORY_RUNS)
_SPENT = (sa.select(llm_calls.c.run_id, llm_calls.c.node, llm_calls.c.model,
                    llm_calls.c.prompt_version,
                    sa.func.sum(llm_calls.c.input_tokens + llm_calls.c.output_tokens).label("tokens"))
          .where(llm_calls.c.run_id.in_(sa.bindparam("runs", expanding=True)))
          .group_by(llm_calls.c.run_id, llm_calls.c.node, llm_calls.c.model,
                    llm_calls.c.prompt_version))


@dataclass(frozen=True)
class Rates:
    tokens_per_source: float
    """Triage tokens per triaged source."""
    sections_per_source: float
    tokens_per_section: float
    """Draft and revise tokens per drafted section."""
    claims_per_section: float
    tokens_per_claim: float
    """Judge tokens per new sentence sent to the gate."""
    runs: int

    def per_source(self, sources: int) -> float:
        sections = sources * self.sections_per_source
        return (sources * self.tokens_per_source + sections * self.tokens_per_section
                + sections * self.claims_per_section * self.tokens_per_claim)


def expected_versions(settings: Settings) -> dict[str, tuple[str, str]]:
    """node -> (prompt version as recorded, configured model) for today's settings."""
    draft = prompt_tag(_DRAFT_PROMPTS.get(settings.draft_mode, "draft_section"))
    return {"triage": (prompt_tag("triage"), settings.model_for("triage")),
            "draft": (draft, settings.model_for("draft")),
            "revise": (prompt_tag("revise_section"), settings.model_for("draft")),
            "judge": (load_prompt("judge").version, settings.model_for("judge"))}


def recorded_rates(store: Store, settings: Settings) -> Rates | None:
    """Rates from the latest refresh runs made with today's models and prompts, or None."""
    expected = expected_versions(settings)
    with store.engine.connect() as conn:
        work = conn.execute(_LATEST_WORK).all()
        if not work:
            return None
        # Summed by the database per run, node, model and prompt: a batch estimates every
        # topic from the last runs' calls, and reading those rows one by one was ~4 ms a topic.
        calls = conn.execute(_SPENT, {"runs": [w.run_id for w in work]}).all()
    spent: dict[int, dict[str, int]] = {}
    foreign: set[int] = set()
    for call in calls:
        version = expected.get(call.node)
        if version is None or call.prompt_version != version[0] or not call.model.startswith(version[1]):
            foreign.add(call.run_id)
            continue
        node = "draft" if call.node == "revise" else call.node
        by_node = spent.setdefault(call.run_id, {})
        by_node[node] = by_node.get(node, 0) + int(call.tokens)
    usable = [w for w in work if w.run_id not in foreign and w.triaged_sources > 0]
    if sum(w.triaged_sources for w in usable) < HISTORY_MIN_SOURCES:
        return None
    sources = sum(w.triaged_sources for w in usable)
    sections = sum(w.drafted_sections for w in usable)
    claims = sum(w.judged_claims for w in usable)

    def total(node: str) -> int:
        return sum(spent.get(w.run_id, {}).get(node, 0) for w in usable)

    return Rates(tokens_per_source=total("triage") / sources,
                 sections_per_source=sections / sources,
                 tokens_per_section=total("draft") / sections if sections else 0.0,
                 claims_per_section=claims / sections if sections else 0.0,
                 tokens_per_claim=total("judge") / claims if claims else 0.0,
                 runs=len(usable))
