"""The lead step of the refresh graph: load -> update_lead -> triage (or assemble, or end).

Right after the article is loaded, the refresh asks whether the lead is stale, and takes this
step only then (agent/lead.py: the sections changed since the revision that last wrote the
lead, in a way that touches what it states, and no lead edit was proposed for these sections
yet). Then one structured call (prompts/lead.md; prompts/lead_extract.md in extract mode)
answers the new lead, code resolves each sentence's citations from the article sentences it
draws on, the citation gate checks them, and the lead edit joins the run's proposal, where it
is reviewed and merged (compare-and-swap on the lead) like any section edit.

Like drafting: no model configured is the error every drafting command gives; a failure of
this answer alone (invalid output, refusal, ...) leaves the lead as it is, with a note, and
the sections go on.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from agent.citations import ArticleContext, Claim
from agent.extract import verify_extracts
from agent.lead import (LEAD_ID, LeadAnswer, build_lead_edit, choice_schema, considered,
                        lead_messages, lead_sentences, offered_sentences, resolve, resolve_choice,
                        staleness_between)
from agent.lead_history import stored_lead_basis
from agent.llm import call_structured
from agent.llm_errors import LLMError, LLMNotConfigured
from agent.models import Revision
from agent.prompting import prompt_tag
from graphs.state import RefreshState, RunContext

# Failures of this one answer: the lead stays, the run goes on.
LEAD_LOCAL_FAILURES = frozenset({"invalid_output", "truncated", "refusal", "content_filter",
                                 "context_length"})


def _stale(ctx: RunContext, topic: str, current: Revision | None = None):
    """The lead's staleness, or None; found once per run (load_article asks first, then the
    lead step it routes to)."""
    if topic not in ctx._lead_staleness:
        ctx._lead_staleness[topic] = _find_stale(ctx, topic, current)
    return ctx._lead_staleness[topic]


def _find_stale(ctx: RunContext, topic: str, current: Revision | None = None):
    """Reads the current revision, the one that last wrote the lead and, when the lead is
    stale, the bases of the topic's lead edits: never the whole history (a topic merged every
    night has hundreds of revisions; parsing 300 of the seed article cost 258 ms a run)."""
    store = ctx.store
    found_basis = stored_lead_basis(store, topic, current)
    if found_basis is None:
        return None
    basis, current = found_basis
    found = staleness_between(basis, current)
    if found is None or not found.stale:
        return None
    known = {basis.id: basis, current.id: current}
    bases = (known.get(i) or store.revisions.get(i)
             for i in store.proposals.bases_with_section(topic, LEAD_ID))
    if considered(bases, current):
        return None
    return found


def lead_is_stale(ctx: RunContext, topic: str, current: Revision | None = None) -> bool:
    """Whether the run has a lead step to take (load_article asks, with the revision it read,
    so a run whose lead is fresh skips the step and its checkpoint)."""
    return _stale(ctx, topic, current) is not None


async def update_lead(state: RefreshState, runtime: Runtime[RunContext]) -> dict:
    ctx = runtime.context
    store = ctx.store
    found = _stale(ctx, state["topic"])
    if found is None:
        return {}
    article = ctx.base_article(state["base_revision_id"])
    old = lead_sentences(article)
    offered = offered_sentences(article, old, found.added)
    if not offered:
        return {"lead_note": "the lead is stale but no article sentence shares its words"}
    if ctx.draft_model is None:
        raise LLMNotConfigured()
    extract = ctx.settings.draft_mode == "extract"
    schema = choice_schema([o.id for o in offered]) if extract else LeadAnswer
    prompt = "lead_extract" if extract else "lead"
    try:
        answer = await call_structured(
            ctx.draft_model, schema, lead_messages(article, old, found, offered, extract=extract),
            node="lead", section="_lead", run_id=ctx.run_id, prompt_version=prompt_tag(prompt),
            recorder=ctx.recorder, method=ctx.settings.structured_method, budget=ctx.budget,
            settings=ctx.settings)
    except LLMError as exc:
        if exc.category not in LEAD_LOCAL_FAILURES and not (
                exc.category == "timeout" and ctx.settings.section_timeouts):
            raise
        return {"lead_note": f"the lead was not updated ({exc.category})"}
    drafted = resolve_choice(answer, offered) if extract else resolve(answer, offered, old, article)
    fresh = [s for s in drafted.sentences if s not in drafted.kept_old]
    claims = [Claim(s.text, list(s.citations)) for s in fresh]
    cited = sorted({c for s in fresh for c in s.citations})
    sources = store.sources.get_many(cited)  # the stored text, not the revision's textless copy
    context = ArticleContext(article.title, "Lead", tuple(s.text for s in old))
    if extract:
        verdicts = verify_extracts(claims, sources, sources)
    else:
        verdicts = await ctx.gate.acheck(claims, sources, sources, context=context) if claims else []
    rationale = getattr(answer, "rationale", "") or "; ".join(found.why)[:300]
    edit = build_lead_edit(f"run{ctx.run_id}-lead", old, drafted, verdicts, rationale, article)
    held = len(edit.dropped) if edit else len(drafted.held) + sum(not v.passed for v in verdicts)
    note = f"the lead: {held} sentences held back" if held else ""
    return {"lead_edit": edit.model_dump(mode="json") if edit else None, "lead_note": note}


def route_after_lead(state: RefreshState) -> str:
    if state.get("source_ids"):
        return "triage_sources"
    # A note (the lead call failed, or all of it was held back) is reported by assemble.
    return "assemble_proposal" if state.get("lead_edit") or state.get("lead_note") else "__end__"
