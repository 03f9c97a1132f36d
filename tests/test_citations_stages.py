"""The deterministic stages of the citation gate, one behaviour per test."""

from __future__ import annotations

import pytest

from agent.citations import CitationGate, Claim, InMemoryVerdictCache, verdict_cache_key
from agent.citations.entities import extract_entities
from agent.citations.numbers import extract_quantities, missing_quantities
from agent.citations.quotes import locate
from agent.citations.windows import best_windows
from agent.models import Source, VerdictLabel

LITEPARSE = Source(id="src_lite", title="LiteParse gains traction", text=(
    "LiteParse, a zero-cloud-dependency parser, achieved over 4.3K GitHub stars in weeks and "
    "has joined the LlamaIndex ecosystem. It processes ~500 pages across 50+ formats in 2 "
    "seconds, powering agents in Claude Code, Cursor, and production pipelines."))
COLOSSUS = Source(id="src_colossus", text=(
    "Anthropic has leased SpaceX's Colossus One data center (300 MW, 220K GPUs) to relieve "
    "inference bottlenecks. The deal was signed on April 27, 2020."))


def check(text: str, *citations: str, **sources: Source) -> object:
    pool = sources or {"src_lite": LITEPARSE, "src_colossus": COLOSSUS}
    return CitationGate().check([Claim(text, list(citations))], pool)[0]


@pytest.mark.parametrize("sentence, source", [
    ("4.3K stars", "4,300 stars"), ("4,300 stars", "4300 stars"), ("1GW", "1 GW"),
    ("1 GW", "1,000 MW"), ("three regions", "3 regions"), ("3.7x faster", "3.7x"),
    ("on April 27, 2020", "27 April 2020"), ("in April 2020", "on April 27, 2020"),
    ("$650-750B", "$650 billion to $750 billion"), ("~500 pages", "500 pages"),
    ("30%", "30 percent"), ("2018–19", "2018 and 2019"),
])
def test_equivalent_quantities_match(sentence: str, source: str) -> None:
    assert missing_quantities(sentence, [source]) == []


@pytest.mark.parametrize("sentence, source", [
    ("5.3K stars", "4.3K stars"), ("2 GW", "1 GW"), ("$800B", "$650-750B"),
    ("April 28, 2020", "April 27, 2020"), ("four regions", "three regions"), ("40%", "30%"),
])
def test_different_quantities_do_not_match(sentence: str, source: str) -> None:
    assert missing_quantities(sentence, [source]) == [extract_quantities(sentence)[0].text]


def test_money_range_expands_to_both_ends() -> None:
    values = sorted(q.value for q in extract_quantities("capex of $650-750B"))
    assert values == [650e9, 750e9]


def test_a_month_inside_a_lowercase_word_is_no_date() -> None:
    # "Tamar 2020" once read as March 2020 ("mar" inside the name), "Bejan 5" as 5 January;
    # a capitalised month glued to the word before it, as web extractions leave it, still is.
    assert [q.date for q in extract_quantities("Tamar 2020 and Bejan 5 were filed.")] == [None, None]
    assert [q.date for q in extract_quantities("mid-June 2020, on Jan 5")] == [
        (2020, 6, None), None, (None, 1, 5)]
    assert [q.date for q in extract_quantities("County RegisterAugust 25, 2016; 2018June 12")][::2] == [
        (2016, 8, 25), (None, 6, 12)]


def test_names_with_digits_are_entities_not_numbers() -> None:
    assert extract_quantities("FP4 and GPT-4 run on A100s") == ()
    assert {"FP4", "GPT-4", "A100s"} <= set(extract_entities("It uses FP4 and GPT-4 run on A100s."))


def test_entities_cover_acronyms_camel_case_and_multiword_names() -> None:
    names = extract_entities("A panel from NVIDIA, Hugging Face and LlamaIndex met Jonathan Ross.")
    assert names == ["NVIDIA", "Hugging Face", "LlamaIndex", "Jonathan Ross"]


def test_sentence_without_citation_is_uncited() -> None:
    verdict = check("LiteParse has joined the LlamaIndex ecosystem.")
    assert (verdict.label, verdict.stage) == (VerdictLabel.uncited, "structure")


def test_unknown_citation_and_empty_source_fail_structure() -> None:
    assert check("LiteParse joined LlamaIndex.", "src_missing").stage == "structure"
    empty = Source(id="src_empty", text="   ")
    verdict = check("LiteParse joined LlamaIndex.", "src_empty", src_empty=empty)
    assert (verdict.stage, verdict.reason) == ("structure", "source 'src_empty' has no text to check against")


def test_supported_sentence_passes_with_its_evidence_quote() -> None:
    verdict = check("LiteParse achieved over 4,300 GitHub stars and joined LlamaIndex.", "src_lite")
    assert (verdict.label, verdict.stage) == (VerdictLabel.supported, "deterministic")
    quote = verdict.quotes[0]
    assert LITEPARSE.text[quote.start : quote.end] == quote.text
    assert "4.3K GitHub stars" in quote.text


def test_wrong_source_is_caught_and_the_right_one_suggested() -> None:
    verdict = check("LiteParse processes ~500 pages across 50+ formats in 2 seconds.", "src_colossus")
    assert (verdict.label, verdict.stage) == (VerdictLabel.unsupported, "wrong_source")
    assert verdict.suggested_citation == "src_lite"


def test_changed_number_fails_the_numbers_stage() -> None:
    verdict = check("Anthropic leased SpaceX's Colossus One data center (350 MW).", "src_colossus")
    assert (verdict.stage, verdict.reason) == ("numbers", "not in any cited source: 350 MW")


def test_swapped_entity_and_added_negation_fail() -> None:
    assert check("OpenAI has leased SpaceX's Colossus One data center.", "src_colossus").stage == "entities"
    verdict = check("Anthropic has not leased SpaceX's Colossus One data center.", "src_colossus")
    assert (verdict.label, verdict.stage) == (VerdictLabel.unsupported, "negation")


def test_redundant_citation_is_reported() -> None:
    verdict = check("LiteParse has joined the LlamaIndex ecosystem.", "src_lite", "src_copy",
                    src_lite=LITEPARSE, src_copy=LITEPARSE.model_copy(update={"id": "src_copy"}))
    assert verdict.passed and verdict.redundant_citations == ["src_copy"]


def test_quote_location_tolerates_case_quotes_dashes_and_whitespace() -> None:
    text = "He said \u201cthe deal\u2014signed in   April\u201d was final."
    found = locate('"The deal-signed in April"', "s", text)
    assert [(q.text, q.start) for q in found] == [("the deal\u2014signed in   April", 9)]
    assert locate("the deal was never signed", "s", text) == []


def test_windows_pick_the_matching_sentences() -> None:
    windows = best_windows("How many pages and formats does it process?", "src_lite", LITEPARSE.text, 1)
    assert windows[0].text.startswith("It processes ~500 pages")


def test_cache_key_changes_with_source_text_and_version() -> None:
    sources = {"src_lite": LITEPARSE}
    key = verdict_cache_key("A sentence.", ["src_lite"], sources, "v1")
    assert key == verdict_cache_key("A  sentence.", ["src_lite"], sources, "v1")
    assert key != verdict_cache_key("A sentence.", ["src_lite"], sources, "v2")
    edited = {"src_lite": LITEPARSE.model_copy(update={"text": LITEPARSE.text + " More."})}
    assert key != verdict_cache_key("A sentence.", ["src_lite"], edited, "v1")


def test_deterministic_verdicts_are_cached() -> None:
    cache = InMemoryVerdictCache()
    gate = CitationGate(cache=cache)
    claims = [Claim("LiteParse has joined the LlamaIndex ecosystem.", ["src_lite"])]
    first = gate.check(claims, {"src_lite": LITEPARSE})
    second = gate.check(claims, {"src_lite": LITEPARSE})
    assert first == second and len(cache) == 1 and cache.hits == 1
