"""The refresh graph: gather -> load -> triage -> one section subagent per affected section
(Send) -> assemble -> review (auto, or interrupt() for an editor) -> merge.

Sections no source touches cost nothing and stay byte-identical. Nodes are thin: the
domain work lives in agent/ (triage, drafting, merge, sources).
"""

from __future__ import annotations

import asyncio
from typing import Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send, interrupt

from agent.llm import call_structured
from agent.merge import merge_proposal
from agent.models import Edit, SourceStatus
from agent.prompting import prompt_tag
from agent.triage import (answer_schema, batches, irrelevant_ids, lexical_decisions, plan_tasks,
                          triage_messages)
from graphs.section import build_section_graph
from graphs.state import RefreshState, RunContext


async def gather_sources(state: RefreshState, runtime: Runtime[RunContext]) -> dict:
    ctx = runtime.context
    if not ctx.gather:
        return {"gather_report": {}}
    from agent.sources.pull import pull_topic

    report = await asyncio.to_thread(pull_topic, ctx.store, state["topic"])
    return {"gather_report": report.as_dict()}


def load_article(state: RefreshState, runtime: Runtime[RunContext]) -> dict:
    store = runtime.context.store
    current = store.revisions.current(state["topic"])
    if current is None:
        raise ValueError(f"topic '{state['topic']}' has no article yet: import one first")
    fresh = store.sources.for_topic(state["topic"], status=SourceStatus.new.value)
    return {"base_revision_id": current.id, "source_ids": [s.id for s, _ in fresh]}


def route_after_load(state: RefreshState) -> Literal["triage_sources", "__end__"]:
    return "triage_sources" if state.get("source_ids") else END


async def triage_sources(state: RefreshState, runtime: Runtime[RunContext]) -> dict:
    ctx = runtime.context
    store = ctx.store
    topic = store.topics.get(state["topic"])
    article = store.revisions.get(state["base_revision_id"]).article
    found = store.sources.get_many(state["source_ids"])
    sources = [found[i] for i in state["source_ids"] if i in found]

    section_ids = [s.id for s in article.sections]

    async def ask(batch):
        schema = answer_schema([s.id for s in batch], section_ids)
        return await call_structured(
            ctx.triage_model, schema, triage_messages(topic, article, batch), node="triage",
            run_id=ctx.run_id, prompt_version=prompt_tag("triage"), recorder=ctx.recorder,
            method=ctx.settings.structured_method, budget=ctx.budget, settings=ctx.settings)

    if ctx.settings.triage_mode == "lexical":
        decisions = lexical_decisions(topic, article, sources)
    else:
        answers = await asyncio.gather(*(ask(b) for b in batches(sources)))
        decisions = [d for answer in answers for d in answer.decisions]
    known = set(found)
    tasks = plan_tasks(article, decisions, known)
    off_topic = irrelevant_ids(decisions, known)
    if off_topic:
        store.sources.set_status(state["topic"], off_topic, SourceStatus.irrelevant.value,
                                 reason="triage: outside the topic's scope")
    return {"tasks": [{"topic": state["topic"], "base_revision_id": state["base_revision_id"],
                       "section_id": t.section_id, "heading": t.heading,
                       "new_section": t.new_section, "source_ids": t.source_ids,
                       "mode": "update"} for t in tasks]}


def route_to_sections(state: RefreshState) -> list[Send] | Literal["assemble_proposal"]:
    if not state.get("tasks"):
        return "assemble_proposal"
    return [Send("section", task) for task in state["tasks"]]


def assemble_proposal(state: RefreshState, runtime: Runtime[RunContext]) -> dict:
    ctx = runtime.context
    store = ctx.store
    edits = [Edit.model_validate(e) for e in state.get("edits", [])]
    edits.sort(key=lambda e: e.id)
    # Only a refresh settles its sources; a rewrite merely re-reads the ones it cites, and a
    # section whose draft failed leaves its sources new for the next run.
    failed = state.get("section_failures", [])
    failed_sections = {f["section_id"] for f in failed}
    considered = {i for task in state.get("tasks", []) if task.get("mode") == "update"
                  and task["section_id"] not in failed_sections for i in task["source_ids"]}
    used = {i for e in edits for i in e.source_ids}
    if considered - used:
        store.sources.set_status(state["topic"], sorted(considered - used),
                                 SourceStatus.absorbed.value, reason="nothing new for the article")
    note = "".join(f"; section '{f['heading']}' failed ({f['category']})" for f in failed)
    if not edits:
        return {"proposal_id": None, "outcome": "no changes" + note}
    proposal = store.proposals.create(state["topic"], run_id=ctx.run_id,
                                      base_revision_id=state["base_revision_id"], edits_=edits,
                                      actor=f"run:{ctx.run_id}")
    fresh = {s.id for s, _ in store.sources.for_topic(state["topic"], status=SourceStatus.new.value)}
    store.sources.set_status(state["topic"], sorted(used & fresh), SourceStatus.proposed.value)
    return {"proposal_id": proposal.id, "outcome": (f"proposal {proposal.id}" + note) if note else ""}


def route_after_assemble(state: RefreshState) -> Literal["review_proposal", "__end__"]:
    return "review_proposal" if state.get("proposal_id") else END


def review_proposal(state: RefreshState, runtime: Runtime[RunContext]) -> dict:
    ctx = runtime.context
    if ctx.review == "auto":
        from agent.sources.trust import auto_merge_split

        proposal = ctx.store.proposals.get(state["proposal_id"])
        # Passed the gate AND cites only sources the topic trusts; the rest waits, with why.
        passing, waiting = auto_merge_split(ctx.store, proposal)
        return {"decision": {"approve": passing, "reject": [], "actor": f"run:{ctx.run_id}",
                             "comment": f"auto-merged by run {ctx.run_id}", "waiting": waiting}}
    # Resuming re-runs this node from its first line; nothing above has side effects.
    decision = interrupt({"proposal_id": state["proposal_id"], "topic": state["topic"]})
    return {"decision": decision}


def merge_edits(state: RefreshState, runtime: Runtime[RunContext]) -> dict:
    store = runtime.context.store
    decision = state.get("decision") or {}
    proposal = store.proposals.get(state["proposal_id"])
    outcome = merge_proposal(store, proposal, approve=decision.get("approve", []),
                             reject=decision.get("reject", []),
                             actor=decision.get("actor", "editor"),
                             comment=decision.get("comment", ""))
    waiting = decision.get("waiting") or {}
    note = "".join(f"; edit {i} waits for an editor: {why}" for i, why in waiting.items())
    return {"merged_revision_id": outcome.revision.id if outcome.revision else None,
            "outcome": f"merged {len(outcome.merged)} edits, refused {len(outcome.refused)}" + note}


def build_refresh_graph() -> StateGraph:
    builder = StateGraph(RefreshState, context_schema=RunContext)
    builder.add_node("gather_sources", gather_sources)
    builder.add_node("load_article", load_article)
    builder.add_node("triage_sources", triage_sources)
    builder.add_node("section", build_section_graph().compile())
    builder.add_edge(START, "gather_sources")
    builder.add_edge("gather_sources", "load_article")
    builder.add_conditional_edges("load_article", route_after_load)
    builder.add_conditional_edges("triage_sources", route_to_sections,
                                  ["section", "assemble_proposal"])
    return add_proposal_tail(builder)


def add_proposal_tail(builder: StateGraph) -> StateGraph:
    """section -> assemble -> review -> merge: shared by refresh and rewrite."""
    builder.add_node("assemble_proposal", assemble_proposal)
    builder.add_node("review_proposal", review_proposal)
    builder.add_node("merge_edits", merge_edits)
    builder.add_edge("section", "assemble_proposal")
    builder.add_conditional_edges("assemble_proposal", route_after_assemble)
    builder.add_edge("review_proposal", "merge_edits")
    builder.add_edge("merge_edits", END)
    return builder


graph = build_refresh_graph().compile()
