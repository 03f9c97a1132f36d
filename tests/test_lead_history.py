"""The lead's basis from the store's lead keys (migration 0005) is the one the whole history
gives, without parsing the revisions in between: a topic merged every night has hundreds."""

from __future__ import annotations

import random

import pytest

from agent.models import Article, Section, Sentence

TOPIC = "t"


def before_lead_keys(url: str) -> None:
    """Take the store at `url` back to migration 0004, as a store written before lead keys."""
    from alembic import command

    from agent.store.db import _alembic_config, make_engine

    engine = make_engine(url)
    config = _alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004_merge")
    engine.dispose()


def _article(summary: str, lead: list[Sentence], body: list[str]) -> Article:
    return Article(title="T", summary=summary, lead=lead, sections=[Section(
        id="s", heading="S", paragraphs=[[Sentence(text=t, citations=[]) for t in body]])])


def _histories(seed: int, steps: int = 30):
    """A random run of edits: body changes (most), a new lead, a summary respaced (same lead,
    same key), and the same lead written as sentences (same lead, another key)."""
    rng = random.Random(seed)
    summary, lead, body = "Alpha grew 5% in 2026. Beta fell.", [], ["One."]
    for step in range(steps):
        move = rng.choices(["body", "lead", "respace", "as_sentences", "back"], [6, 2, 1, 1, 1])[0]
        if move == "body":
            body = body + [f"Fact {step}."]
        elif move == "lead":
            summary, lead = f"Alpha grew {step}% in 2026. Beta fell.", []
        elif move == "respace":
            summary = "  ".join(summary.split(" "))
        elif move == "as_sentences" and not lead:
            from agent.lead import lead_sentences

            lead = lead_sentences(_article(summary, [], body))
        elif move == "back":
            lead = []
        yield _article(summary, lead, body)


@pytest.mark.parametrize("seed", range(6))
def test_the_stored_basis_is_the_whole_historys(store, seed, monkeypatch):
    from agent.lead import lead_basis
    from agent.lead_history import stored_lead_basis
    from agent.store import rows

    store.topics.create(TOPIC, "T")
    base = None
    for article in _histories(seed):
        base = store.revisions.commit(TOPIC, article, base_revision_id=base, actor="test").id
        history = store.revisions.history(TOPIC)
        parsed = []
        real = rows.revision_of
        monkeypatch.setattr("agent.store.articles._revision",
                            lambda row: parsed.append(row.number) or real(row))
        basis, current = stored_lead_basis(store, TOPIC)
        monkeypatch.undo()
        assert (basis.id, current.id) == (lead_basis(history).id, history[-1].id), seed
        # the current revision, the basis, and one per form of the same lead under another key
        forms = {(r.article.summary.split() and " ".join(r.article.summary.split()),
                  tuple(s.text for s in r.article.lead)) for r in history}
        assert len(parsed) <= 2 + len(forms), parsed


def test_an_old_store_gets_its_lead_keys(database_url):
    from agent.lead_history import stored_lead_basis
    from agent.store import open_store
    from agent.store.db import make_engine, migrate
    from agent.store.rows import lead_key

    store = open_store(database_url)
    store.topics.create(TOPIC, "T")
    base = None
    for article in _histories(3, steps=12):
        base = store.revisions.commit(TOPIC, article, base_revision_id=base, actor="test").id
    expected = stored_lead_basis(store, TOPIC)
    store.close()
    before_lead_keys(database_url)
    engine = make_engine(database_url)
    import sqlalchemy as sa

    assert "lead_sha" not in {c["name"] for c in sa.inspect(engine).get_columns("revisions")}
    assert migrate(engine) is True
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT article, lead_sha FROM revisions")).all()
    engine.dispose()
    assert len(found) == 12
    import json

    for article, key in found:
        assert key == lead_key(article if isinstance(article, dict) else json.loads(article))
    store = open_store(database_url)
    assert [r.id for r in stored_lead_basis(store, TOPIC)] == [r.id for r in expected]
    store.close()


def test_a_long_upgrade_says_so_once(tmp_path):
    """The first command on a store with thousands of revisions from before 0005 says why it
    waits (one line on stderr), and the next says nothing."""
    from agent.store import open_store
    from agent.store.articles import commit_revision
    from tests.cli_world import Shell, workdir
    from tests.cli_world import ok as _ok

    home = tmp_path / "home"
    url = f"sqlite:///{home / 'absorb.db'}"
    store = open_store(url)
    store.topics.create(TOPIC, "T")
    base = None
    with store.engine.begin() as conn:  # 3,000 nights of small merges, in one transaction
        for night in range(3000):
            base = commit_revision(conn, TOPIC, _article("Alpha grew.", [], [f"Night {night}."]),
                                   base_revision_id=base, actor="run:0")
    store.close()
    before_lead_keys(url)
    shell = Shell(home, workdir(tmp_path))
    first = _ok(shell(f"absorb history {TOPIC}"))
    notices = [line for line in first.err.splitlines() if "upgrading the store" in line]
    assert notices == ["absorb: upgrading the store once: the lead key of 3000 revisions ..."], first
    assert len(first.out.strip().splitlines()) >= 3000
    again = _ok(shell(f"absorb history {TOPIC}"))
    assert "upgrading" not in again.err
