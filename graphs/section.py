"""The section subgraph: draft -> check -> revise (at most twice) -> finalize.

A check that leaves nothing to revise finalizes the section in the same step (one checkpoint
fewer per section); finalize_section stays a node for drafts that failed, revisions that
repeated themselves, and runs checkpointed before that.

One instance runs per affected section. Sentences that still fail the citation gate after
two revisions are dropped (the old text is kept) and the drop is recorded for the editor.
"""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent.citations import ArticleContext, CitationGate, Claim
from agent.drafting import (SectionDraft, apply_revision, build_edit, citable_ids, draft_messages,
                            finalize, merge_with_old, new_sentences, revise_messages,
                            revision_sources, to_paragraphs)
from agent.extract import draft_by_choice, verify_extracts
from agent.llm import call_structured
from agent.llm_errors import LLMError, LLMNotConfigured
from agent.models import Article, Section, Sentence, Source, Verdict, VerdictLabel, is_source_id
from agent.prompting import prompt_tag
from agent.rewriting import dropped_facts, rewrite_messages
from graphs.state import RunContext, SectionOutput, SectionState, SectionTaskState

# Failures of one answer, not of the endpoint: the section is given up, the run goes on.
SECTION_LOCAL_FAILURES = frozenset({"invalid_output", "truncated", "refusal", "content_filter",
                                    "context_length"})


def _section_local(exc: LLMError, ctx: RunContext) -> bool:
    """A failure of this section alone; with ABSORB_SECTION_TIMEOUTS (set for the local
    server) a call that timed out is one too: one slow call costs its section, not the run."""
    return exc.category in SECTION_LOCAL_FAILURES or (
        exc.category == "timeout" and ctx.settings.section_timeouts)


def _base(state: SectionState, ctx: RunContext) -> tuple[Article, Section | None]:
    article = ctx.base_article(state["base_revision_id"])
    return article, article.section(state["section_id"]) if not state.get("new_section") else None


def _paragraphs(state: SectionState) -> list[list[Sentence]]:
    return [[Sentence.model_validate(s) for s in p] for p in state.get("paragraphs", [])]


def _dump(paragraphs: list[list[Sentence]]) -> list[list[dict]]:
    return [[s.model_dump() for s in p] for p in paragraphs]


def _task_sources(state: SectionState, ctx: RunContext) -> list[Source]:
    found = ctx.sources(state.get("source_ids", []))
    return [found[i] for i in state.get("source_ids", []) if i in found]


def _citable(state: SectionState, section: Section | None) -> list[str]:
    return citable_ids(list(state.get("source_ids", [])), section)


async def _ask(ctx: RunContext, state: SectionState, node: str, messages, prompt: str) -> SectionDraft:
    """One schema for every draft and revision (ids are checked by to_paragraphs afterwards),
    so the requests of a run share their prefix."""
    if ctx.draft_model is None:
        raise LLMNotConfigured()
    return await call_structured(
        ctx.draft_model, SectionDraft, messages, node=node, section=state["section_id"],
        run_id=ctx.run_id, prompt_version=prompt, recorder=ctx.recorder,
        method=ctx.settings.structured_method, budget=ctx.budget, settings=ctx.settings)


async def draft_section(state: SectionState, runtime: Runtime[RunContext]) -> dict:
    ctx = runtime.context
    ctx.gate.batch([state["section_id"]])  # running: the run's judge calls wait for its sentences
    article, section = _base(state, ctx)
    sources = _task_sources(state, ctx)
    rewrite = state.get("mode") == "rewrite"
    if not rewrite and ctx.settings.draft_mode == "extract":
        # agent/extract.py: the model picks source sentences by id, code inserts them verbatim.
        return await draft_by_choice(ctx, state, article, section, sources,
                                     section_local=lambda exc: _section_local(exc, ctx))
    if rewrite:
        messages, version = rewrite_messages(article, section, sources, state.get("instructions", ""))
    else:
        prompt = "draft_additions" if ctx.settings.draft_mode == "additions" else "draft_section"
        messages = draft_messages(article, state["heading"], section, sources, prompt=prompt)
        version = prompt_tag(prompt)
    try:
        draft = await _ask(ctx, state, "draft", messages, version)
    except LLMError as exc:
        if not _section_local(exc, ctx):
            raise
        return {"failure": {"section_id": state["section_id"], "heading": state["heading"],
                            "category": exc.category, "error": str(exc)}}
    old = section.paragraphs if section else []
    paragraphs = merge_with_old(old, to_paragraphs(draft, _citable(state, section)), rewrite=rewrite)
    return {"paragraphs": _dump(paragraphs), "rationale": draft.rationale, "attempts": 0,
            "max_revisions": ctx.settings.max_revisions}


async def check_section(state: SectionState, runtime: Runtime[RunContext]) -> dict:
    ctx = runtime.context
    article, section = _base(state, ctx)
    fresh = new_sentences(section.paragraphs if section else [], _paragraphs(state))
    # The topic's own subject named in the article need not be named by every cited source.
    context = ArticleContext(article.title, state["heading"],
                             tuple(s.text for p in (section.paragraphs if section else []) for s in p))
    cited = sorted({c for s in fresh for c in s.citations if is_source_id(c)})
    sources = ctx.sources(cited)
    candidates = {s.id: s for s in _task_sources(state, ctx)}
    claims = [Claim(s.text, list(s.citations)) for s in fresh]
    try:
        if ctx.settings.draft_mode == "extract" and state.get("mode") != "rewrite":
            verdicts = verify_extracts(claims, sources, candidates)  # quotes checked in code
        else:
            # Through the run's batcher: judge calls packed with the other sections' claims.
            verdicts = await ctx.gate.batch().acheck(state["section_id"], claims, sources,
                                                     candidates, context)
    except LLMError as exc:
        if not _section_local(exc, ctx):
            raise
        # No usable judgement: nothing can be verified, so nothing passes; the deterministic
        # stages still say why where they can.
        verdicts = [v if not v.passed else Verdict(
            label=VerdictLabel.unsupported, stage="judge",
            reason=f"the judge gave no usable answer ({exc.category}); not verified")
            for v in await CitationGate().acheck(claims, sources, candidates, context=context)]
    checked = [{"sentence": s.model_dump(), "verdict": v.model_dump(mode="json")}
               for s, v in zip(fresh, verdicts, strict=True)]
    update = {"verdicts": checked, "failures": [c for c in checked if c["verdict"]["label"] != "supported"],
              "claims_checked": state.get("claims_checked", 0) + len(claims)}
    if _revises({**state, **update}):
        return update
    # Nothing left to revise: the section is finished in this step (finalize_section's work,
    # which makes no call), so it costs no step and no checkpoint of its own.
    return {**update, **_finalized({**state, **update}, ctx), "finished": True}


def route_after_draft(state: SectionState) -> Literal["check_section", "finalize_section"]:
    return "finalize_section" if state.get("failure") else "check_section"


def _revises(state: SectionState) -> bool:
    return bool(state.get("failures")) and state.get("attempts", 0) < state.get("max_revisions", 2)


def route_after_check(state: SectionState) -> Literal["revise_section", "finalize_section", "__end__"]:
    if state.get("finished"):
        return END
    # A run checkpointed before check_section finished sections itself still goes through
    # finalize_section; so do runs that revise.
    return "revise_section" if _revises(state) else "finalize_section"


async def revise_section(state: SectionState, runtime: Runtime[RunContext]) -> dict:
    """Only the failing sentences, their verdicts and the sources they cite go to the model; a
    revision that hands back sentences that already failed ends the loop."""
    ctx = runtime.context
    article, section = _base(state, ctx)
    failures = [(Sentence.model_validate(f["sentence"]), Verdict.model_validate(f["verdict"]))
                for f in state["failures"]]
    ids = revision_sources(failures)
    found = ctx.sources(ids)
    messages = revise_messages(article, state["heading"], failures, [found[i] for i in ids if i in found])
    try:
        draft = await _ask(ctx, state, "revise", messages, prompt_tag("revise_section"))
    except LLMError as exc:
        if not _section_local(exc, ctx):
            raise
        # The last checked draft stands; finalize drops what failed the gate.
        return {"attempts": state.get("max_revisions", 2)}
    failing = [s for s, _ in failures]
    failed = [*state.get("failed_before", []), *([s.text, s.citations] for s in failing)]
    seen = {(text, tuple(citations)) for text, citations in failed}
    revised = [s for p in to_paragraphs(draft, _citable(state, section)) for s in p]
    attempts = state.get("attempts", 0) + 1
    if revised and all((s.text, tuple(s.citations)) in seen for s in revised):
        return {"attempts": attempts, "repeated": True, "failed_before": failed}
    old = section.paragraphs if section else []
    paragraphs = merge_with_old(old, apply_revision(_paragraphs(state), failing, revised),
                                rewrite=state.get("mode") == "rewrite")
    return {"paragraphs": _dump(paragraphs), "attempts": attempts, "failed_before": failed,
            "rationale": draft.rationale or state.get("rationale", "")}


def route_after_revise(state: SectionState) -> Literal["check_section", "finalize_section"]:
    return "finalize_section" if state.get("repeated") else "check_section"


async def finalize_section(state: SectionState, runtime: Runtime[RunContext]) -> dict:
    """Async although it awaits nothing: it makes no call and reads nothing from the store,
    so it runs in the event loop instead of a worker thread."""
    return _finalized(state, runtime.context)


def _finalized(state: SectionState, ctx: RunContext) -> dict:
    """The section's edit (or failure) and its report for assemble."""
    ctx.gate.batch().leave(state["section_id"])  # the other sections' judge calls need not wait
    if state.get("failure"):
        return {"edits": [], "section_failures": [state["failure"]]}
    _, section = _base(state, ctx)
    verdicts = {(v["sentence"]["text"], tuple(v["sentence"]["citations"])):
                Verdict.model_validate(v["verdict"]) for v in state.get("verdicts", [])}
    old = section.paragraphs if section else []
    final, kept, dropped = finalize(old, _paragraphs(state), verdicts)
    edit = build_edit(f"run{ctx.run_id}-{state['section_id']}", state["section_id"], state["heading"],
                      section, final, kept, dropped, state.get("rationale", ""),
                      state.get("source_ids", []))
    # What this section did with its sources, for assemble: held back is not absorbed.
    report = {"section_id": state["section_id"], "heading": state["heading"],
              "mode": state.get("mode", "update"), "source_ids": state.get("source_ids", []),
              "dropped": [d.model_dump(mode="json") for d in dropped],
              "claims": state.get("claims_checked", 0)}
    if edit is None:
        return {"edits": [], "section_reports": [report]}
    if state.get("mode") == "rewrite":
        edit.lost_facts = dropped_facts(edit.old_sentences, edit.new_sentences())
    return {"edits": [edit.model_dump(mode="json")], "section_reports": [report]}


def build_section_graph() -> StateGraph:
    builder = StateGraph(SectionState, context_schema=RunContext, input_schema=SectionTaskState,
                         output_schema=SectionOutput)
    builder.add_node("draft_section", draft_section)
    builder.add_node("check_section", check_section)
    builder.add_node("revise_section", revise_section)
    builder.add_node("finalize_section", finalize_section)
    builder.add_edge(START, "draft_section")
    builder.add_conditional_edges("draft_section", route_after_draft)
    builder.add_conditional_edges("check_section", route_after_check)
    builder.add_conditional_edges("revise_section", route_after_revise)
    builder.add_edge("finalize_section", END)
    return builder


graph = build_section_graph().compile()
