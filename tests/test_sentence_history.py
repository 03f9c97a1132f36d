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


def _naive_adder(store, key):
    """(proposal, edit number) of the first merged edit that adds the sentence: every
    proposal of the topic read whole, as the page did before."""
    from agent.models import EditStatus
    from agent.store.rows import sentence_key

    for proposal in store.proposals.list(topic=TOPIC):
        for number, edit in enumerate(proposal.edits, start=1):
            olds = {sentence_key(s) for s in edit.old_sentences}
            if edit.status == EditStatus.merged and key not in olds and \
                    key in {sentence_key(s) for s in edit.new_sentences()}:
                return proposal.id, number
    return None, None


def test_the_proposal_that_added_a_sentence_matches_reading_every_proposal(store):
    import sqlalchemy as sa

    from agent.models import Edit, EditStatus
    from agent.sentence_history import history_of
    from agent.store.rows import sentence_key

    rng = random.Random(11)
    store.topics.create(TOPIC, "T")
    body = [Sentence(text="One.")]
    section = lambda: Section(id="s", heading="S", paragraphs=[list(body)])  # noqa: E731
    base = store.revisions.commit(TOPIC, Article(title="T", sections=[section()]),
                                  base_revision_id=None, actor="import").id
    for step in range(20):
        old = section()
        new = body + [Sentence(text=f"Fact {step % 7}.", citations=[f"src_{step % 3:016x}"])]
        edits = [Edit(id=f"p{step}-{n}", section_id="s", heading="S", old_sentences=old.sentences(),
                      new_paragraphs=[new if n == 1 else list(body)], rationale="r", source_ids=[])
                 for n in (0, 1)]
        proposal = store.proposals.create(TOPIC, run_id=None, base_revision_id=base, edits_=edits,
                                          actor="run:1")
        fate = rng.choice(["merged", "applied", "rejected", "pending"])
        if fate in ("merged", "applied"):
            body = new
            base = store.revisions.commit(TOPIC, Article(title="T", sections=[section()]),
                                          base_revision_id=base, actor="editor:a",
                                          edit_ids=[f"p{step}-1"]).id
        if fate in ("merged", "rejected"):  # "applied": a revision applied it, status not yet set
            with store.engine.begin() as conn:
                conn.execute(sa.text("UPDATE edits SET status = :s WHERE id = :e"),
                             {"s": EditStatus.merged.value if fate == "merged" else EditStatus.rejected.value,
                              "e": f"p{step}-1"})
        assert proposal.id
    # The imported sentence, kept by the edits above, is dropped and then added back: the edit
    # that added it back is its adder, not an earlier one that kept it.
    for n, new in enumerate(([s for s in body if s.text != "One."], body + [Sentence(text="One.")])):
        old = section()
        edit = Edit(id=f"again-{n}", section_id="s", heading="S", old_sentences=old.sentences(),
                    new_paragraphs=[new], rationale="r", source_ids=[])
        store.proposals.create(TOPIC, run_id=None, base_revision_id=base, edits_=[edit], actor="run:1")
        body = new
        base = store.revisions.commit(TOPIC, Article(title="T", sections=[section()]),
                                      base_revision_id=base, actor="editor:a",
                                      edit_ids=[edit.id]).id
    keys = {sentence_key(s) for r in store.revisions.history(TOPIC) for s in r.article.sections[0].sentences()}
    # Every page first, while applied edits still wait for their status (reading a proposal
    # whole repairs it), then the reference.
    pages = {key: history_of(store, TOPIC, key) for key in sorted(keys)}
    expected = {key: _naive_adder(store, key) for key in sorted(keys)}
    assert {k: (p.proposal_id, p.edit_number) for k, p in pages.items()} == expected
    assert sum(1 for pid, _ in expected.values() if pid is not None) >= 3
    assert expected[sentence_key(Sentence(text="One."))][0] is not None  # the one added back
