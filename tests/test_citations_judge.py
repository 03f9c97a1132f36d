"""The judge stage with the project's fake chat model: quotes are verified in code, claims
sharing a source go in one call, verdicts come from the cache on a second check."""

from __future__ import annotations

import pytest

from agent.citations import CitationGate, Claim, InMemoryVerdictCache
from agent.citations.judge import ClaimJudgement, JudgedQuote, JudgeReply
from agent.models import Source, VerdictLabel
from agent.llm_usage import InMemoryCallRecorder
from agent.testing import FakeChatModel

COLOSSUS = Source(id="src_colossus", title="SpaceX leases Colossus", text=(
    "Anthropic has leased SpaceX's Colossus One data center (300 MW, 220K GPUs) to relieve "
    "inference bottlenecks. The deal de-risks SpaceX's pre-IPO narrative."))
LITEPARSE = Source(id="src_lite", text=(
    "LiteParse achieved over 4.3K GitHub stars in weeks and has joined the LlamaIndex "
    "ecosystem. It processes ~500 pages across 50+ formats in 2 seconds."))
SOURCES = {"src_colossus": COLOSSUS, "src_lite": LITEPARSE}


def reply(*judgements: tuple[str, str, list[tuple[str, str]]]) -> JudgeReply:
    return JudgeReply(judgements=[
        ClaimJudgement(claim_id=claim_id, label=label, reason="because",
                       quotes=[JudgedQuote(source_id=s, text=t) for s, t in quotes])
        for claim_id, label, quotes in judgements])


def gate_with(*replies: JudgeReply, **options: object) -> tuple[CitationGate, FakeChatModel]:
    model = FakeChatModel()
    model.script("judge", *replies)
    return CitationGate(model, **options), model


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_verified_quote_makes_a_supported_verdict_with_offsets(method: str) -> None:
    quote = "Anthropic has leased SpaceX's Colossus One data center (300 MW, 220K GPUs)"
    gate, model = gate_with(reply(("c1", "supported", [("src_colossus", quote)])), method=method)
    claim = Claim("Anthropic leased SpaceX's Colossus One, a 300 MW data center.", ["src_colossus"])
    verdict = gate.check([claim], SOURCES)[0]
    assert (verdict.label, verdict.stage) == (VerdictLabel.supported, "judge")
    assert COLOSSUS.text[verdict.quotes[0].start : verdict.quotes[0].end] == quote
    prompt = model.calls_for("judge")[0].prompt
    assert "<<<SOURCE id=src_colossus" in prompt and "untrusted data" in prompt


def test_fabricated_quote_is_not_supported() -> None:
    gate, _ = gate_with(reply(("c1", "supported", [
        ("src_colossus", "Anthropic bought the Colossus One data center outright")])))
    claim = Claim("Anthropic leased SpaceX's Colossus One data center.", ["src_colossus"])
    verdict = gate.check([claim], SOURCES)[0]
    assert (verdict.label, verdict.stage) == (VerdictLabel.unsupported, "quote_verification")
    assert verdict.quotes == []


def test_quote_from_an_uncited_source_suggests_that_source() -> None:
    gate, _ = gate_with(reply(("c1", "supported", [
        ("src_lite", "It processes ~500 pages across 50+ formats in 2 seconds.")])))
    verdict = gate.check([Claim("SpaceX's Colossus One data center processes pages.",
                                ["src_colossus"])], SOURCES)[0]
    assert (verdict.label, verdict.stage) == (VerdictLabel.unsupported, "quote_verification")
    assert verdict.suggested_citation == "src_lite" and verdict.quotes == []


def test_quote_missing_the_sentence_number_fails_numbers() -> None:
    gate, _ = gate_with(reply(("c1", "supported", [
        ("src_colossus", "Anthropic has leased SpaceX's Colossus One data center")])))
    claim = Claim("Anthropic leased SpaceX's Colossus One data center with 220K GPUs.", ["src_colossus"])
    verdict = gate.check([claim], SOURCES)[0]
    assert (verdict.label, verdict.stage) == (VerdictLabel.unsupported, "numbers")
    assert verdict.reason == "not in any verified quote: 220K"


def test_judge_labels_other_than_supported_are_kept() -> None:
    gate, _ = gate_with(reply(("c1", "contradicted", [])))
    verdict = gate.check([Claim("Anthropic leased SpaceX's Colossus One data center.",
                                ["src_colossus"])], SOURCES)[0]
    assert (verdict.label, verdict.stage, verdict.reason) == (VerdictLabel.contradicted, "judge", "because")


def test_claims_citing_the_same_sources_share_a_call_and_others_do_not() -> None:
    # Packing claims with different sources into one call let one source steer another
    # claim's verdict (issue 15): only claims citing exactly the same sources share a call.
    recorder = InMemoryCallRecorder()
    gate, model = gate_with(
        reply(("c1", "supported", [("src_colossus", "Anthropic has leased SpaceX's Colossus One data center")]),
              ("c2", "supported", [("src_colossus", "The deal de-risks SpaceX's pre-IPO narrative.")])),
        reply(("c1", "supported", [("src_lite", "has joined the LlamaIndex ecosystem")])),
        recorder=recorder, run_id=7)
    claims = [Claim("Anthropic leased SpaceX's Colossus One data center.", ["src_colossus"]),
              Claim("The deal de-risks SpaceX's pre-IPO narrative.", ["src_colossus"]),
              Claim("LiteParse has joined the LlamaIndex ecosystem.", ["src_lite"])]
    verdicts = gate.check(claims, SOURCES)
    assert [v.label for v in verdicts] == [VerdictLabel.supported] * 3
    prompts = [call.prompt for call in model.calls_for("judge")]
    assert len(prompts) == 2
    assert "src_colossus" in prompts[0] and "src_lite" not in prompts[0]
    assert "src_lite" in prompts[1] and "src_colossus" not in prompts[1]
    assert [(c.node, c.run_id) for c in recorder.calls] == [("judge", 7), ("judge", 7)]
    assert all(c.input_tokens > 0 and c.prompt_version for c in recorder.calls)


def test_second_check_is_served_from_the_cache() -> None:
    cache = InMemoryVerdictCache()
    gate, model = gate_with(reply(("c1", "supported", [
        ("src_lite", "has joined the LlamaIndex ecosystem")])), cache=cache)
    claims = [Claim("LiteParse has joined the LlamaIndex ecosystem.", ["src_lite"])]
    first = gate.check(claims, SOURCES)
    second = gate.check(claims, SOURCES)
    assert first == second and first[0].passed
    assert len(model.calls_for("judge")) == 1 and cache.hits == 1


def test_deterministic_failures_never_reach_the_judge() -> None:
    gate, model = gate_with()
    verdict = gate.check([Claim("Anthropic leased a 900 MW data center.", ["src_colossus"])], SOURCES)[0]
    assert verdict.stage == "numbers" and model.calls_for("judge") == []


async def test_async_check_uses_the_same_verification() -> None:
    gate, model = gate_with(reply(("c1", "supported", [("src_colossus", "made up words here")])))
    verdicts = await gate.acheck([Claim("Anthropic leased SpaceX's Colossus One data center.",
                                        ["src_colossus"])], SOURCES)
    assert verdicts[0].stage == "quote_verification" and len(model.calls_for("judge")) == 1


def test_batches_hold_only_claims_with_the_same_sources() -> None:
    from agent.citations.judge import MAX_CLAIMS_PER_CALL, JudgeRequest, plan_batches

    def request(n: int, *sources: str) -> JudgeRequest:
        return JudgeRequest(claim_id=f"c{n}", text=f"claim {n}", citations=list(sources), hints=[],
                            windows={})

    shared = [request(n, "src_a") for n in range(6)]
    singles = [request(10 + n, f"src_single_{n}") for n in range(3)]
    pair = [request(20, "src_a", "src_b"), request(21, "src_b", "src_a")]
    batches = plan_batches(shared + singles + pair)
    assert [len(b) for b in batches] == [6, 1, 1, 1, 2]
    for batch in batches:
        assert len({tuple(sorted(r.citations)) for r in batch}) == 1
    big = plan_batches([request(n, "src_b") for n in range(10)])
    assert [len(b) for b in big] == [MAX_CLAIMS_PER_CALL, 2]
