"""The refresh graph: gather -> load -> [lead] -> triage -> one section subagent per affected section
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

from agent.facts import keep_once
from agent.llm import call_structured
from agent.merge import merge_proposal
from agent.models import DroppedSentence, Edit, SourceStatus
from agent.nights import (WAITING, expire, forget, held_for_sections, record, record_work,
                          waiting_sections)
from agent.numbering import numbers_for
from agent.prompting import prompt_tag
from agent.mentions import record as record_mentions
from agent.triage import (SourceDecision, TriageAnswer, batches, bound_tasks, first_answers,
                          irrelevant_ids, lexical_decisions, plan_tasks, triage_messages,
                          unanswered)
from graphs.lead import lead_is_stale, route_after_lead, update_lead
from graphs.section import build_section_graph
from graphs.state import RefreshState, RunContext


async def gather_sources(state: RefreshState, runtime: Runtime[RunContext]) -> dict:
    ctx = runtime.context
    if not ctx.gather:
        return {"gather_report": {}}
    from agent.sources.pull import pull_topic

    report = await asyncio.to_thread(pull_topic, ctx.store, state["topic"])
    return {"gather_report": report.to_json()}


def route_start(state: RefreshState, runtime: Runtime[RunContext]) -> str:
    """A run that gathers starts there; one that does not (--no-gather, a batch) goes straight
    to the article: a step that does nothing still costs a checkpoint."""
    return "gather_sources" if runtime.context.gather else "load_article"


def load_article(state: RefreshState, runtime: Runtime[RunContext]) -> dict:
    store = runtime.context.store
    current = store.revisions.current(state["topic"])
    if current is None:
        raise ValueError(f"topic '{state['topic']}' has no article yet: import one first")
    # A source decided under another prompt or model than today's is tried again.
    expire(store, state["topic"], triage=triage_version(runtime.context),
           draft=draft_version(runtime.context))
    fresh = store.sources.for_topic(state["topic"], status=SourceStatus.new.value)
    runtime.context.keep_article(current)
    return {"base_revision_id": current.id, "source_ids": [s.id for s, _ in fresh],
            "lead_stale": lead_is_stale(runtime.context, state["topic"], current)}


def route_after_load(state: RefreshState) -> str:
    """The lead step runs only when the lead is stale (most runs: it is not)."""
    return "update_lead" if state.get("lead_stale", True) else route_after_lead(state)


def triage_version(ctx: RunContext) -> tuple[str, str]:
    """(prompt version, model) that triage decides with in this run."""
    if ctx.settings.triage_mode == "lexical":
        return "lexical", ""
    return prompt_tag("triage"), ctx.settings.model_for("triage")


def draft_version(ctx: RunContext) -> tuple[str, str]:
    """(prompt version, model) that drafts sections in this run."""
    prompt = {"additions": "draft_additions", "extract": "draft_extract"}.get(
        ctx.settings.draft_mode, "draft_section")
    return prompt_tag(prompt), ctx.settings.model_for("draft")


async def triage_sources(state: RefreshState, runtime: Runtime[RunContext]) -> dict:
    ctx = runtime.context
    store = ctx.store
    topic = store.topics.get(state["topic"])
    article = ctx.base_article(state["base_revision_id"])
    found = ctx.sources(state["source_ids"])
    sources = [found[i] for i in state["source_ids"] if i in found]

    async def ask(batch, label=None):
        # One schema for every call (ids are checked in code): the request's prefix is cacheable.
        return await call_structured(
            ctx.triage_model, TriageAnswer, triage_messages(topic, article, batch), node="triage",
            run_id=ctx.run_id, prompt_version=prompt_tag("triage"), recorder=ctx.recorder,
            method=ctx.settings.structured_method, budget=ctx.budget, settings=ctx.settings,
            label=label)

    # Left out of a bounded draft last time: triage's answer is remembered, not paid again.
    prompt, model = triage_version(ctx)
    section_ids = {s.id for s in article.sections}
    remembered = {sid: ids for sid, ids in waiting_sections(
        store, state["topic"], prompt_version=prompt, model=model).items()
        if sid in found and ids and set(ids) <= section_ids}
    sources = [s for s in sources if s.id not in remembered]
    asked = [s.id for s in sources]
    if ctx.settings.triage_mode == "lexical":
        decisions = lexical_decisions(topic, article, sources)
    else:
        parts = batches(sources)
        # Batches run at once: their retry warnings say which one failed.
        answers = await asyncio.gather(*(ask(b, f"batch {n} of {len(parts)}" if len(parts) > 1 else None)
                                         for n, b in enumerate(parts, start=1)))
        decisions = first_answers([d for answer in answers for d in answer.decisions], asked)
        left_out = unanswered(decisions, asked)
        if left_out:  # asked again once, only those, in one call
            again = await ask([found[i] for i in left_out], "sources left out, asked again")
            decisions += first_answers(again.decisions, left_out)
    known = set(found)
    # Who each source names, from the same answer (issue 19: no extra call).
    record_mentions(store, {d.source_id: d.mentions for d in decisions if d.source_id in known},
                    origin="lexical" if ctx.settings.triage_mode == "lexical" else "triage")
    decisions = [SourceDecision(source_id=sid, relevant=True, sections=ids,
                                reason="triaged in an earlier run") for sid, ids in remembered.items()
                 ] + decisions
    tasks = plan_tasks(article, decisions, known)
    off_topic = irrelevant_ids(decisions, known)
    if off_topic:
        store.sources.set_status(state["topic"], off_topic, SourceStatus.irrelevant.value,
                                 reason="triage: outside the topic's scope")
    # Relevant, but every section it named is unknown: decided too, never triaged again.
    placed = {i for t in tasks for i in t.source_ids} | set(off_topic)
    nowhere = [d.source_id for d in decisions if d.source_id in known and d.source_id not in placed]
    if nowhere:
        store.sources.set_status(state["topic"], nowhere, SourceStatus.irrelevant.value,
                                 reason="triage: it named no section of the article")
    record(store, state["topic"], unanswered(decisions, asked), SourceStatus.undecided.value,
           reason="undecided: triage gave no answer twice", prompt_version=prompt, model=model,
           run_id=ctx.run_id)
    # Sources held back for a section are drafted again when new sources reach it.
    held = held_for_sections(store, state["topic"], [t.section_id for t in tasks])
    for task in tasks:
        task.source_ids += [i for i in held.get(task.section_id, []) if i not in task.source_ids]
    deferred = defer_beyond_limit(ctx, state["topic"], article, tasks, found,
                                  {i for ids in held.values() for i in ids}, prompt, model)
    return {"deferred": deferred, "tasks": [{"topic": state["topic"], "base_revision_id": state["base_revision_id"],
                       "section_id": t.section_id, "heading": t.heading,
                       "new_section": t.new_section, "source_ids": t.source_ids,
                       "mode": "update"} for t in tasks]}


def defer_beyond_limit(ctx: RunContext, topic: str, article, tasks, found: dict,
                       held: set[str], prompt: str, model: str) -> list[str]:
    """Each draft takes at most ABSORB_DRAFT_MAX_SOURCES sources; a new source no task kept
    stays new, with why and the sections triage chose (`waiting_sections`), and is drafted by
    a later run. Returns those sources' ids."""
    limit = ctx.settings.draft_max_sources
    known = {**found, **ctx.sources(sorted(held - set(found)))}
    left_out = bound_tasks(tasks, article, known, limit, held=held)
    kept = {i for t in tasks for i in t.source_ids}
    waiting = [sid for sid in left_out if sid not in kept and sid not in held]
    existing = {s.id for s in article.sections}
    heading = {t.section_id: t.heading for t in tasks}
    for sid in waiting:
        headings = "', '".join(heading[i] for i in left_out[sid])
        record(ctx.store, topic, [sid], SourceStatus.new.value,
               reason=(f"{WAITING} the draft of '{headings}' took its {limit} most relevant "
                       "sources (ABSORB_DRAFT_MAX_SOURCES); the next run drafts it")[:300],
               prompt_version=prompt, model=model, run_id=ctx.run_id,
               section_ids={sid: [i for i in left_out[sid] if i in existing]})
    return waiting


def route_to_sections(state: RefreshState) -> list[Send] | Literal["assemble_proposal"]:
    if not state.get("tasks"):
        return "assemble_proposal"
    return [Send("section", task) for task in state["tasks"]]


def assemble_proposal(state: RefreshState, runtime: Runtime[RunContext]) -> dict:
    ctx = runtime.context
    store = ctx.store
    article = ctx.base_article(state["base_revision_id"])
    edits, duplicates = keep_once([Edit.model_validate(e) for e in state.get("edits", [])], article)
    edits.sort(key=lambda e: e.id)
    if state.get("lead_edit"):  # graphs/lead.py: the lead follows merged changes, shown first
        edits.insert(0, Edit.model_validate(state["lead_edit"]))
    # Only a refresh settles its sources; a rewrite merely re-reads the ones it cites, and a
    # section whose draft failed leaves its sources new for the next run.
    failed = state.get("section_failures", [])
    reports = [r for r in state.get("section_reports", []) if r.get("mode") == "update"]
    used = {i for e in edits for i in e.source_ids}
    held = settle_held_back(ctx, state["topic"], reports, used)
    if not any(t.get("mode") == "rewrite" for t in state.get("tasks", [])):
        record_work(store, ctx.run_id, state["topic"], triaged=len(state.get("source_ids", [])),
                    sections=len(reports), claims=sum(r.get("claims", 0) for r in reports))
    note = "".join(f"; section '{f['heading']}' failed ({f['category']})" for f in failed)
    note += "".join(f"; '{h}': {n} sentences held back" for h, n in held.items())
    note += f"; {duplicates} repeated sentences kept once" if duplicates else ""
    if state.get("deferred"):
        note += (f"; {len(state['deferred'])} sources wait for the next run "
                 f"(at most {ctx.settings.draft_max_sources} per section draft)")
    note += f"; {state['lead_note']}" if state.get("lead_note") else ""
    if not edits:
        # Whether the gate held everything back, or the model drafted nothing new to check
        # (an empty or unusable answer, twice): the user is told which.
        finished = state.get("section_reports", [])
        if finished and not failed and not sum(r.get("claims", 0) for r in finished):
            note = ": the drafts held no new sentence to check" + note
        return {"proposal_id": None, "outcome": "no changes" + note}
    proposal = store.proposals.create(state["topic"], run_id=ctx.run_id,
                                      base_revision_id=state["base_revision_id"], edits_=edits,
                                      actor=f"run:{ctx.run_id}")
    # A new source takes the next free number when it is first proposed: `review show` and
    # the merged article then show the same [N].
    numbers_for(store, state["topic"], article,
                extra=[k for e in edits for s in e.new_sentences() for k in s.citations])
    waiting = {s.id for s, _ in store.sources.for_topic(
        state["topic"], status=[SourceStatus.new.value, SourceStatus.held_back.value])}
    store.sources.set_status(state["topic"], sorted(used & waiting), SourceStatus.proposed.value)
    forget(store, state["topic"], sorted(used & waiting))
    return {"proposal_id": proposal.id, "outcome": (f"proposal {proposal.id}" + note) if note else ""}


def settle_held_back(ctx: RunContext, topic: str, reports: list[dict], used: set[str]) -> dict[str, int]:
    """Sources a section considered but no kept sentence cites are held back, with why; returns
    the number of sentences held back per section heading."""
    reasons: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    detail: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for report in reports:
        dropped = [DroppedSentence.model_validate(d) for d in report.get("dropped", [])]
        if dropped:
            counts[report["heading"]] = len(dropped)
        for sid in report["source_ids"]:
            if sid in used:
                continue
            sections.setdefault(sid, []).append(report["section_id"])
            mine = [d for d in dropped if sid in d.sentence.citations]
            detail.setdefault(sid, {"dropped": []})["dropped"] += [
                {"section_id": report["section_id"], **d.model_dump(mode="json")} for d in mine]
            if sid not in reasons or mine:
                reasons[sid] = (f"held back in '{report['heading']}': "
                                f"{mine[0].verdict.reason or mine[0].verdict.label.value}" if mine else
                                f"held back: the draft of '{report['heading']}' used nothing from it")
    prompt, model = draft_version(ctx)
    for sid in sorted(reasons):
        record(ctx.store, topic, [sid], SourceStatus.held_back.value, reason=reasons[sid][:300],
               prompt_version=prompt, model=model, run_id=ctx.run_id, section_ids=sections,
               detail=detail)
    return counts


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
    builder.add_node("update_lead", update_lead)
    builder.add_node("section", build_section_graph().compile())
    builder.add_conditional_edges(START, route_start, ["gather_sources", "load_article"])
    builder.add_edge("gather_sources", "load_article")
    builder.add_conditional_edges("load_article", route_after_load,
                                  ["update_lead", "triage_sources", "assemble_proposal", END])
    builder.add_conditional_edges("update_lead", route_after_lead,
                                  ["triage_sources", "assemble_proposal", END])
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
