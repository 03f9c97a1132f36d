"""The section subgraph finishes a section in its check step when nothing is left to revise
(one checkpoint fewer); a run checkpointed before that change, waiting at finalize_section,
still finishes through that node with the same edit."""

from __future__ import annotations

from agent.drafting import DraftParagraph, DraftSentence, SectionDraft
from agent.models import Article, Section, Sentence, Source, source_id_for

TOPIC = "t"
FACT = "Acme opened a liquid-cooled hall in Oslo in 2026."


def _world(store):
    from agent.runner import Models, make_context
    from agent.settings import get_settings
    from agent.testing import FakeChatModel

    store.topics.create(TOPIC, "Acme")
    article = Article(title="Acme", summary="Acme builds data centers.", sections=[Section(
        id="cooling", heading="Cooling", paragraphs=[[Sentence(text="Acme cools with air.")]])])
    revision = store.revisions.commit(TOPIC, article, base_revision_id=None, actor="import")
    text = f"{FACT} The hall holds 400 racks."
    source = Source(id=source_id_for(None, text), title="Oslo hall", kind="news", text=text,
                    content_hash=source_id_for(None, text))
    store.sources.add_to_topic(TOPIC, [source])
    model = FakeChatModel()
    model.script("draft_section", *[SectionDraft(paragraphs=[DraftParagraph(sentences=[
        DraftSentence(text="Acme cools with air.", citations=[]),
        DraftSentence(text=FACT, citations=[source.id])])], rationale="the new hall")] * 2)
    run = store.runs.create("refresh", TOPIC)
    ctx = make_context(store, run, Models(triage=None, draft=model, judge=None), get_settings(),
                       review="manual")
    task = {"topic": TOPIC, "base_revision_id": revision.id, "section_id": "cooling",
            "heading": "Cooling", "new_section": False, "source_ids": [source.id], "mode": "update"}
    return ctx, task


async def test_old_checkpoints_finish_through_finalize_with_the_same_edit(store):
    from langgraph.checkpoint.memory import InMemorySaver

    from graphs.section import build_section_graph

    ctx, task = _world(store)
    new = build_section_graph().compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "new"}}
    out = await new.ainvoke(task, config, context=ctx)
    steps = [s.metadata.get("writes") or {} async for s in new.aget_state_history(config)]
    assert not any("finalize_section" in w for w in steps)  # finished in the check step
    (edit,) = out["edits"]
    assert FACT in [s["text"] for p in edit["new_paragraphs"] for s in p]
    checked = (await new.aget_state(config)).values

    # A run written before: its check step ended without finishing the section.
    old = build_section_graph().compile(checkpointer=InMemorySaver(),
                                        interrupt_before=["check_section"])
    config = {"configurable": {"thread_id": "old"}}
    await old.ainvoke(task, config, context=ctx)
    await old.aupdate_state(config, {k: checked[k] for k in ("verdicts", "failures", "claims_checked")},
                            as_node="check_section")
    assert (await old.aget_state(config)).next == ("finalize_section",)
    resumed = await old.ainvoke(None, config, context=ctx)
    assert resumed["edits"] == out["edits"] and resumed["section_reports"] == out["section_reports"]
