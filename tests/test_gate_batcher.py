"""Issue 17, judge side: the per-run batcher that the concurrent section subgraphs submit to.
Claims citing the same sources share a judge call across sections; a flush comes when every
active section has submitted or a tick after the first; what the deterministic stages decide
never waits; a failed call reaches only the sections whose claims it held."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from agent.citations import CitationGate, Claim
from agent.citations.batcher import JudgeBatcher
from agent.fake_server import FakeOpenAIServer
from agent.models import Source, source_id_for
from tests.scripted import (CLAIM_FENCE, SOURCE, claims_of, faithful_judge, sources_of,
                            triage_by_title, user_text)
from tests.test_gate_judge import obedient_model

# Each claim below is part of a source sentence, not a whole one, so it goes to the judge (a
# whole sentence copied as it stands passes without one: tests/test_gate_quote.py).
BERLIN = Source(id="s1", text="Last year Lumora opened an office in Berlin. By May Lumora hired forty engineers.")
OSLO = Source(id="s2", text="In March Orvane moved its headquarters to Oslo.")


async def test_sections_submitting_together_share_one_call_per_cited_source_set() -> None:
    model = obedient_model()
    gate = CitationGate(model)
    batcher = gate.batch(["intro", "people", "places"])
    results = await asyncio.gather(
        batcher.acheck("intro", [Claim("Lumora opened an office in Berlin.", ["s1"])], {"s1": BERLIN}),
        batcher.acheck("people", [Claim("Lumora hired forty engineers.", ["s1"])], {"s1": BERLIN}),
        batcher.acheck("places", [Claim("Orvane moved its headquarters to Oslo.", ["s2"])], {"s2": OSLO}))
    assert [[v.passed for v in row] for row in results] == [[True], [True], [True]]
    calls = model.calls_for("judge")
    assert len(calls) == 2 and batcher.flushes == 1
    for call in calls:  # a call never shows a claim beside a source it does not cite
        shown = {sid for sid, _, _ in SOURCE.findall(call.prompt)}
        cited = {c for _, cites, _ in CLAIM_FENCE.findall(call.prompt) for c in cites.split(",")}
        assert shown == cited and len(shown) == 1
    assert sorted(len(CLAIM_FENCE.findall(call.prompt)) for call in calls) == [1, 2]


async def test_a_section_still_drafting_holds_the_others_back_one_tick_at_most() -> None:
    model = obedient_model()
    gate = CitationGate(model)
    gate._batcher = JudgeBatcher(gate, tick=0.05)
    batcher = gate.batch(["intro", "slow"])
    started = time.monotonic()
    verdicts = await batcher.acheck("intro", [Claim("Lumora opened an office in Berlin.", ["s1"])],
                                    {"s1": BERLIN})
    assert verdicts[0].passed and time.monotonic() - started < 2
    assert len(model.calls_for("judge")) == 1


async def test_a_section_that_leaves_releases_the_waiting_ones_at_once() -> None:
    model = obedient_model()
    gate = CitationGate(model)
    gate._batcher = JudgeBatcher(gate, tick=60)  # only `leave` can release the wait in time
    batcher = gate.batch(["intro", "done-early"])
    waiting = asyncio.ensure_future(batcher.acheck(
        "intro", [Claim("Lumora opened an office in Berlin.", ["s1"])], {"s1": BERLIN}))
    await asyncio.sleep(0.01)
    assert not waiting.done() and model.calls_for("judge") == []
    await asyncio.to_thread(batcher.leave, "done-early")  # sync nodes run in worker threads
    verdicts = await asyncio.wait_for(waiting, 5)
    assert verdicts[0].passed


async def test_what_the_stages_are_sure_of_never_waits_for_the_judge() -> None:
    model = obedient_model()
    gate = CitationGate(model)
    gate._batcher = JudgeBatcher(gate, tick=60)
    batcher = gate.batch(["intro", "other"])
    verdicts = await asyncio.wait_for(batcher.acheck(
        "intro", [Claim("Lumora opened 7 offices in Berlin.", ["s1"])], {"s1": BERLIN}), 5)
    assert verdicts[0].stage == "numbers" and not verdicts[0].passed
    assert model.calls_for("judge") == []


async def test_a_failed_call_reaches_only_the_sections_whose_claims_it_held() -> None:
    model = obedient_model()

    def judge(messages):
        if "Oslo" in "\n".join(str(m.content) for m in messages):
            raise ValueError("the provider refused this request")
        return obedient_model().responses["judge"](messages)

    model.responses["judge"] = judge
    gate = CitationGate(model)
    batcher = gate.batch(["intro", "places"])
    ok, failed = await asyncio.gather(
        batcher.acheck("intro", [Claim("Lumora opened an office in Berlin.", ["s1"])], {"s1": BERLIN}),
        batcher.acheck("places", [Claim("Orvane moved its headquarters to Oslo.", ["s2"])], {"s2": OSLO}),
        return_exceptions=True)
    assert not isinstance(ok, BaseException) and ok[0].passed
    assert isinstance(failed, Exception)


def draft_by_heading(request: dict) -> dict:
    """The boom section takes the source's first sentence, every other section its second,
    each without its opening clause (so the judge, not the quote stage, checks it)."""
    (sid, _, text), = sources_of(request)
    first, second = (s.strip().rstrip(".") + "." for s in text.split(". ", 1)[:2])
    sentence = first if "to update: Physical Infrastructure Boom" in user_text(request) else second
    sentence = sentence.split(", ", 1)[1]
    return {"paragraphs": [{"sentences": [{"text": sentence, "citations": [sid]}]}],
            "rationale": "added what the source states"}


@pytest.mark.parametrize("concurrency, calls", [("8", [2]), ("1", [1, 1])])
def test_a_refresh_packs_the_judge_calls_of_its_sections(cli, seed_path, monkeypatch,
                                                         concurrency: str, calls: list[int]) -> None:
    """Through the refresh graph: one source drafted into two sections is judged in one call
    holding both sections' sentences (one call per section before the batcher). With one call
    in flight at a time the sections run one after the other: a section joins when it starts
    drafting, so none waits for a section that has not started."""
    monkeypatch.setenv("ABSORB_CONCURRENCY", concurrency)
    from agent.store import open_store

    topic = "ai-infrastructure"
    assert cli("import", seed_path, "--topic", topic).code == 0
    text = ("At a May briefing, Meta's VP of Infrastructure Dan Rabinovich said rack thermal density "
            "is scaling from 30 kW to 600 kW. By 2027, Meta is moving to full-facility liquid cooling.")
    source = Source(id=source_id_for(None, text), title="Meta liquid cooling and training shift",
                    kind="blog", text=text, content_hash=source_id_for(None, text))
    store = open_store()
    store.sources.add_to_topic(topic, [source])
    store.close()
    with FakeOpenAIServer() as fake:
        fake.on_task("triage", triage_by_title({"liquid cooling": [
            "physical-infrastructure-boom", "training-and-compute-efficiency"]}))
        fake.on_task("draft_section", draft_by_heading)
        fake.on_task("judge", faithful_judge)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        result = cli("refresh", topic, "--no-gather", "--json")
        judged = fake.requests_for("judge")
    assert result.code == 0, result.err
    edits = json.loads(result.out)["edits"]
    assert len(edits) == 2 and all(e["held_back"] == 0 for e in edits)
    assert sorted(len(claims_of(request)) for request in judged) == calls


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch) -> None:
    monkeypatch.setenv("ABSORB_RETRY_INITIAL_DELAY", "0.01")
    monkeypatch.setenv("ABSORB_RETRY_MAX_DELAY", "0.02")
