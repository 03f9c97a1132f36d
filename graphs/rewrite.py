"""The rewrite graph: one named section redone through the same section subgraph, gate and
review: load_section -> section (mode rewrite) -> assemble -> review -> merge."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from agent.models import SourceStatus, is_source_id
from agent.rewriting import rank_new_sources
from graphs.refresh import add_proposal_tail
from graphs.section import build_section_graph
from graphs.state import RefreshState, RunContext


def load_section(state: RefreshState, runtime: Runtime[RunContext]) -> dict:
    store = runtime.context.store
    current = store.revisions.current(state["topic"])
    if current is None:
        raise ValueError(f"topic '{state['topic']}' has no article yet: import one first")
    section = current.article.section(state["section_id"])
    if section is None:
        raise ValueError(f"section '{state['section_id']}' is not in the current revision")
    cited = [c for s in section.sentences() for c in s.citations if is_source_id(c)]
    with_text = [i for i, source in store.sources.get_many(cited).items() if source.text]
    source_ids = list(dict.fromkeys(c for c in cited if c in with_text))
    if state.get("with_new"):
        fresh = [s for s, _ in store.sources.for_topic(state["topic"], status=SourceStatus.new.value)]
        source_ids += [s.id for s in rank_new_sources(section, fresh) if s.id not in source_ids]
    if not source_ids:
        # The section cites only references without text (an imported page's list): read the
        # sources this topic has already taken in that are closest to the section, so the
        # README's `rewrite` works whichever section the approved edit went to. Their status
        # stays: only a refresh settles sources.
        taken = [s for s, _ in store.sources.for_topic(
            state["topic"], status=[SourceStatus.absorbed.value, SourceStatus.proposed.value])
            if s.text]
        source_ids = [s.id for s in rank_new_sources(section, taken)]
    if not source_ids:  # nothing a rewrite could cite: no model call at all
        why = (" and neither a new source nor one the topic has taken in applies"
               if state.get("with_new") else
               ", none the topic has taken in applies (--with-new would also draw on the "
               "topic's new sources)")
        return {"base_revision_id": current.id, "tasks": [], "outcome": (
            f"nothing to read: the sources '{section.heading}' cites have no text{why}; "
            "no model was called")}
    task = {"topic": state["topic"], "base_revision_id": current.id, "section_id": section.id,
            "heading": section.heading, "new_section": False, "source_ids": source_ids,
            "mode": "rewrite", "instructions": state.get("instructions", "")}
    return {"base_revision_id": current.id, "tasks": [task]}


def route_to_section(state: RefreshState) -> list[Send] | str:
    if not state["tasks"]:
        return END
    return [Send("section", task) for task in state["tasks"]]


def build_rewrite_graph() -> StateGraph:
    builder = StateGraph(RefreshState, context_schema=RunContext)
    builder.add_node("load_section", load_section)
    builder.add_node("section", build_section_graph().compile())
    builder.add_edge(START, "load_section")
    builder.add_conditional_edges("load_section", route_to_section, ["section", END])
    return add_proposal_tail(builder)


graph = build_rewrite_graph().compile()
