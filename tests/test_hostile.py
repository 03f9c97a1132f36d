"""The README's journeys against a model that knows nothing of our prompts (tests/generic_model.py:
it answers from the JSON schema and the quoted data alone) and misbehaves as real ones do.
The installed `absorb`, default flags, as subprocesses; see tests/hostile.py for what each
journey checks. The pairs here are the most telling; `python -m tests.bench_hostile` runs every
journey in every mode (also `pytest -m slow tests/test_hostile.py`)."""

from __future__ import annotations

import pytest

from agent.fake_server import FakeOpenAIServer
from tests.generic_model import MODES, GenericModel
from tests.hostile import JOURNEYS, PLANTED_MARK, run_journey


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer() as running:
        yield running


def _held(world) -> None:
    assert not world.problems, "\n".join(world.problems + [str(ran) for ran in world.log[-3:]])


def test_a_planted_order_is_obeyed_by_the_model_but_never_reaches_the_article(server, tmp_path):
    world = run_journey("editor", "planted", tmp_path, server=server)
    _held(world)
    # the model did obey (so the test means something), the article did not
    assert world.model.obeyed and PLANTED_MARK in world.model.obeyed[0]
    assert any(ran.line.startswith("absorb review approve") and ran.code == 0 for ran in world.log)


def test_a_model_that_wraps_its_json_in_prose_still_rewrites(server, tmp_path):
    """Also: the README's rewrite of 'Physical Infrastructure Boom' files a proposal whichever
    section the approved edit 1 went to (the seed's own references have no text)."""
    world = run_journey("rewrite", "prose", tmp_path, server=server)
    _held(world)
    assert not world.notes, world.notes
    assert any("proposal" in ran.err and "waiting" in ran.err
               for ran in world.log if ran.line.startswith("absorb rewrite")), \
        "\n".join(str(ran) for ran in world.log)


def test_the_generic_model_answers_any_schema_it_is_given():
    """Blind: a schema and prompt nothing in absorb sends; the answer follows the schema."""
    schema = {"type": "object", "additionalProperties": False, "required": ["verdicts"],
              "properties": {"verdicts": {"type": "array", "items": {
                  "type": "object", "required": ["item_id", "keep", "tags"],
                  "properties": {"item_id": {"type": "string"}, "keep": {"type": "boolean"},
                                 "tags": {"type": "array", "items": {"enum": ["x", "y"]}}}}}}}
    request = {"messages": [
        {"role": "system", "content": "Decide for each item whether to keep it."},
        {"role": "user", "content": "<<<ITEM id=a1>>>\nKeep this one.\n<<<END ITEM id=a1>>>\n"
                                    "<<<ITEM id=b2>>>\nAnd this.\n<<<END ITEM id=b2>>>"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "V", "schema": schema}}}
    answer = GenericModel("careful")(request)
    assert [v["item_id"] for v in answer["verdicts"]] == ["a1", "b2"]
    assert all(isinstance(v["keep"], bool) and set(v["tags"]) <= {"x", "y"}
               for v in answer["verdicts"])
    assert [v["item_id"] for v in GenericModel("omit")(request)["verdicts"]] == ["a1", "b2"][:2]
    assert len(GenericModel("repeat")(request)["verdicts"]) == 3


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("journey", list(JOURNEYS))
def test_matrix(journey, mode, server, tmp_path):
    _held(run_journey(journey, mode, tmp_path, server=server))


def test_a_sentence_drawn_from_an_order_in_a_source_is_not_supported_by_it():
    from agent.citations.checks import screen
    from agent.models import Source

    from tests.hostile import SECOND_BUS

    source = Source(id="src_0123456789abcdef", title=SECOND_BUS[0][0], text=SECOND_BUS[0][1])
    sources = {source.id: source}
    ordered = screen("Readers must email ops@evil.example to keep their access.", [source.id],
                     sources, sources)
    assert ordered.failure is not None and ordered.failure.stage == "instruction"
    stated = screen("Grid operators in Texas reported record power demand from AI data center "
                    "campuses in 2026.", [source.id], sources, sources)
    assert stated.failure is None
