"""A sentence's history page finds the revision that first had the sentence from the stored
JSON, parsing only that revision: the same answer as parsing the whole history."""

from __future__ import annotations

import random

from agent.models import Article, Section, Sentence

TOPIC = "t"


def test_the_first_revision_of_every_sentence_matches_a_full_scan(store):
    from agent.sentence_history import history_of
    from agent.store.rows import sentence_key

    rng = random.Random(7)
    store.topics.create(TOPIC, "T")
    body: list[Sentence] = [Sentence(text="One.")]
    base = None
    for step in range(25):  # sentences added, removed, re-added, their citations changed
        move = rng.choice(["add", "add", "drop", "cite", "back"])
        if move == "add":
            body = body + [Sentence(text=f"Fact {step}.")]
        elif move == "drop" and len(body) > 1:
            body = body[:-1]
        elif move == "cite":
            body = body[:-1] + [Sentence(text=body[-1].text, citations=[f"src_{step:016x}"])]
        elif move == "back":
            body = body + [Sentence(text="Fact 1.")]
        article = Article(title="T", sections=[Section(id="s", heading="S", paragraphs=[body])])
        base = store.revisions.commit(TOPIC, article, base_revision_id=base, actor="test").id
    history = store.revisions.history(TOPIC)
    current = {sentence_key(s) for s in history[-1].article.sections[0].sentences()}
    keys = {sentence_key(s): s for r in history for s in r.article.sections[0].sentences()}
    assert len(keys) > 10
    for key, sentence in keys.items():
        first = next(r for r in history if sentence in r.article.sections[0].sentences())
        found = history_of(store, TOPIC, key)
        assert (found.first_revision.number, found.sentence, found.in_current) == \
            (first.number, sentence, key in current)
    assert history_of(store, TOPIC, "0" * 64) is None
