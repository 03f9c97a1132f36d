"""The store on SQLite and PostgreSQL: migrations, append-only revisions, compare-and-swap."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from agent.markdown import parse_page
from agent.models import Article, Section, Sentence
from agent.store import ConflictError, UnknownTopic, open_store
from agent.store.db import current_revisions, head_revisions, scanned_heads
from agent.store.schema import metadata


def _article(text: str) -> Article:
    return Article(title="T", sections=[Section(id="s", heading="S",
                                                paragraphs=[[Sentence(text=text)]])])


def test_migrations_reach_head_and_match_schema(store):
    assert current_revisions(store.engine) == head_revisions() == {"0005_lead_key"}
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_heads_read_from_the_files_are_alembics_heads():
    # The start-up shortcut must never disagree with Alembic about what "up to date" means.
    assert set(scanned_heads()) == head_revisions()


def test_a_store_behind_the_head_is_still_migrated(database_url):
    from agent.store.db import make_engine, migrate

    open_store(database_url).close()
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0003_nights'"))
        conn.execute(sa.text("INSERT INTO alembic_version (version_num) VALUES ('0002_page'), "
                             "('0002_races'), ('0002_security'), ('0002_web')"))
    assert current_revisions(engine) != head_revisions()
    assert migrate(engine) is True
    assert current_revisions(engine) == head_revisions()
    engine.dispose()


def test_reopen_does_not_migrate_again(database_url):
    from agent.store.db import make_engine, migrate

    open_store(database_url).close()
    engine = make_engine(database_url)
    assert migrate(engine) is False
    engine.dispose()


def test_revisions_are_appended_with_parents(store):
    store.topics.create("t", "T")
    first = store.revisions.commit("t", _article("one"), base_revision_id=None, actor="import")
    second = store.revisions.commit("t", _article("two"), base_revision_id=first.id,
                                    actor="editor:ann", comment="fix")
    assert (first.number, second.number) == (1, 2)
    assert second.parent_id == first.id
    assert store.revisions.current("t").id == second.id
    assert [r.number for r in store.revisions.history("t")] == [1, 2]
    assert store.revisions.get(first.id).article.sections[0].paragraphs[0][0].text == "one"
    assert second.sha256 == _article("two").content_sha256()


def test_stale_base_gets_conflict_and_writes_nothing(store):
    store.topics.create("t", "T")
    first = store.revisions.commit("t", _article("one"), base_revision_id=None, actor="a")
    store.revisions.commit("t", _article("two"), base_revision_id=first.id, actor="a")
    with pytest.raises(ConflictError, match="moved on"):
        store.revisions.commit("t", _article("three"), base_revision_id=first.id, actor="b")
    assert len(store.revisions.history("t")) == 2


def test_applied_edit_cannot_be_applied_twice(store):
    store.topics.create("t", "T")
    first = store.revisions.commit("t", _article("one"), base_revision_id=None, actor="a",
                                   edit_ids=["e1"])
    with pytest.raises(ConflictError):
        store.revisions.commit("t", _article("two"), base_revision_id=first.id, actor="a",
                               edit_ids=["e1"])
    assert store.revisions.applied(["e1", "e2"]) == {"e1"}
    assert len(store.revisions.history("t")) == 1


def test_two_racing_writers_one_lands(database_url):
    setup = open_store(database_url)
    setup.topics.create("race", "Race")
    base = setup.revisions.commit("race", _article("base"), base_revision_id=None, actor="a")
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def writer(n: int) -> None:
        store = open_store(database_url)
        barrier.wait()
        try:
            store.revisions.commit("race", _article(f"writer {n}"), base_revision_id=base.id,
                                   actor=f"w{n}")
            outcomes.append("landed")
        except ConflictError:
            outcomes.append("conflict")
        finally:
            store.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["landed"]
    history = setup.revisions.history("race")
    assert [r.number for r in history] == [1, 2]
    assert history[1].parent_id == base.id
    setup.close()


def test_unknown_topic(store):
    with pytest.raises(UnknownTopic, match="unknown topic 'nope'"):
        store.revisions.commit("nope", _article("x"), base_revision_id=None, actor="a")


def test_seed_article_survives_the_database(store, seed_path):
    article = parse_page(seed_path.read_text()).article
    store.topics.create("ai", article.title)
    revision = store.revisions.commit("ai", article, base_revision_id=None, actor="import")
    assert store.revisions.get(revision.id).article == article
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from revisions")).scalar_one() == 1


def test_recorded_calls_add_up_on_their_run(store):
    """RunRepo.record reuses one prepared insert and one update: every call keeps its own
    row and values, and the run's totals are the sums (not the last call's values)."""
    from agent.models import LLMCall

    store.topics.create("rec", "Rec", scope="Recording.")
    run = store.runs.create("refresh", "rec", {})
    other = store.runs.create("refresh", "rec", {})
    calls = [LLMCall(run_id=run.id, node="triage", model="m1", input_tokens=100, output_tokens=7,
                     cached_tokens=64, latency_ms=1.5, cost=0.25, prompt_version="t1"),
             LLMCall(run_id=run.id, node="draft", section="s", model="m2", input_tokens=30,
                     output_tokens=3, cost=0.5, prompt_version="d1"),
             LLMCall(run_id=None, node="judge", model="m3", input_tokens=9, output_tokens=1)]
    for call in calls:
        store.runs.record(call)
    assert store.runs.calls(run.id) == calls[:2]
    assert store.runs.calls()[-1] == calls[2]
    totals = store.runs.get(run.id)
    assert (totals.input_tokens, totals.output_tokens, totals.cost) == (130, 10, 0.75)
    untouched = store.runs.get(other.id)
    assert (untouched.input_tokens, untouched.output_tokens, untouched.cost) == (0, 0, 0.0)


def test_the_verdict_cache_keeps_the_first_verdict_per_key(store):
    from agent.models import Verdict, VerdictLabel
    from agent.store.verdicts import StoreVerdictCache

    cache = StoreVerdictCache(store.engine)
    first = Verdict(label=VerdictLabel.supported, stage="judge", reason="stated")
    assert cache.get("k1") is None
    cache.put("k1", first)
    cache.put("k1", Verdict(label=VerdictLabel.unsupported, stage="judge", reason="later"))
    cache.put("k2", Verdict(label=VerdictLabel.unsupported, stage="judge", reason="other"))
    assert cache.get("k1") == first
    assert cache.get("k2").reason == "other"
    assert cache.get("k3") is None


def test_a_whole_check_looks_its_verdicts_up_at_once_and_finds_what_one_by_one_finds(store):
    """get_many answers as get does key by key, on the store's cache and the in-memory one;
    more keys than one statement binds are looked up in chunks."""
    from agent.citations.cache import InMemoryVerdictCache
    from agent.models import Verdict, VerdictLabel
    from agent.store.verdicts import StoreVerdictCache

    caches = [StoreVerdictCache(store.engine), InMemoryVerdictCache()]
    for n, cache in enumerate(caches):
        for k in range(0, 1200, 3):
            cache.put(f"k{k}", Verdict(label=VerdictLabel.supported, stage="judge", reason=f"r{k}"))
        keys = [f"k{k}" for k in range(1200)] + ["k3", "k3", "missing"]
        found = cache.get_many(keys)
        assert found == {k: cache.get(k) for k in dict.fromkeys(keys) if cache.get(k) is not None}, n
        assert len(found) == 400 and found["k3"].reason == "r3"
        assert cache.get_many([]) == {}


def test_sources_of_an_unknown_topic_are_an_error_not_an_empty_list(store):
    """for_topic and set_status look the topic up only when they find nothing; an unknown
    topic is still reported, a known topic with no sources is not."""
    store.topics.create("known", "Known")
    assert store.sources.for_topic("known") == []
    assert store.sources.set_status("known", ["src_0000000000000000"], "proposed") == 0
    for call in (lambda: store.sources.for_topic("nope"),
                 lambda: store.sources.for_topic("nope", status="new"),
                 lambda: store.sources.set_status("nope", ["src_0000000000000000"], "proposed")):
        with pytest.raises(UnknownTopic, match="unknown topic 'nope'"):
            call()


def test_any_decided_agrees_with_the_whole_proposal(store):
    """The run's closing check reads one row, not the proposal: it must say what reading the
    whole proposal says, including an edit a revision applied whose status was not yet
    written (which `get` repairs to merged)."""
    import sqlalchemy as sa

    from agent.models import Edit, EditStatus

    store.topics.create("t", "T")
    base = store.revisions.commit("t", _article("one"), base_revision_id=None, actor="a")
    section = base.article.sections[0]

    def proposal(prefix: str) -> int:
        made = [Edit(id=f"{prefix}{n}", section_id=section.id, heading=section.heading,
                     old_sentences=section.sentences(), new_paragraphs=section.paragraphs,
                     rationale="r", source_ids=[]) for n in (1, 2)]
        return store.proposals.create("t", run_id=None, base_revision_id=base.id, edits_=made,
                                      actor="run:1").id

    pending, rejected, applied = proposal("a"), proposal("b"), proposal("c")
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE edits SET status = :s WHERE id = 'b2'"),
                     {"s": EditStatus.rejected.value})
    store.revisions.commit("t", _article("two"), base_revision_id=base.id, actor="a",
                           edit_ids=["c1"])  # applied, its status still pending
    assert [store.proposals.any_decided(p) for p in (pending, rejected, applied)] == [False, True, True]
    for p in (pending, rejected, applied):
        whole = any(e.status != EditStatus.pending for e in store.proposals.get(p).edits)
        assert store.proposals.any_decided(p) is whole


def test_runs_come_back_from_their_insert_and_update(store):
    from agent.models import RunStatus
    from agent.store import NotFound

    store.topics.create("t", "T")
    made = store.runs.create("refresh", "t")
    assert made == store.runs.get(made.id)
    updated = store.runs.update(made.id, status=RunStatus.running)
    assert updated == store.runs.get(made.id) and updated.status == RunStatus.running
    assert store.runs.update(made.id + 1000, status=RunStatus.done) is None
    with pytest.raises(NotFound, match=f"no run {made.id + 1000}"):
        store.runs.get(made.id + 1000)


def test_usage_sums_in_the_database_what_the_calls_add_up_to(store):
    """`absorb usage` sums calls per topic, node, section and model in SQL: the same groups
    and sums as adding the calls up one by one, calls without a run or a section included."""
    import random

    from agent.models import LLMCall

    rng = random.Random(5)
    for slug in ("a", "b"):
        store.topics.create(slug, slug.upper())
    runs = [store.runs.create("refresh", rng.choice("ab")).id for _ in range(6)]
    made = []
    for _ in range(120):
        call = LLMCall(run_id=rng.choice([*runs, None]), node=rng.choice(["triage", "draft", "judge"]),
                       section=rng.choice([None, "cooling", "power"]), model=rng.choice(["m1", "m2"]),
                       input_tokens=rng.randint(0, 900), output_tokens=rng.randint(0, 90),
                       cached_tokens=rng.randint(0, 50), latency_ms=rng.random() * 100,
                       cost=rng.random() / 100)
        store.runs.record(call)
        made.append(call)
    topic_of = {r.id: r.topic for r in store.runs.list()}

    def summed(calls):
        groups = {}
        for c in calls:
            key = (topic_of.get(c.run_id, ""), c.node, c.section or "", c.model)
            g = groups.setdefault(key, {"calls": 0, "input_tokens": 0, "output_tokens": 0,
                                        "cached_tokens": 0, "cost": 0.0, "latency_ms": 0.0})
            g["calls"] += 1
            for k in ("input_tokens", "output_tokens", "cached_tokens", "cost", "latency_ms"):
                g[k] += getattr(c, k)
        return [dict(zip(("topic", "node", "section", "model"), k)) | v for k, v in sorted(groups.items())]

    for run_id, calls in [(None, made), (runs[2], [c for c in made if c.run_id == runs[2]])]:
        got, want = store.runs.usage(run_id), summed(calls)
        assert [{k: v for k, v in g.items() if k not in ("cost", "latency_ms")} for g in got] == \
            [{k: v for k, v in g.items() if k not in ("cost", "latency_ms")} for g in want]
        for g, w in zip(got, want, strict=True):
            assert g["cost"] == pytest.approx(w["cost"]) and g["latency_ms"] == pytest.approx(w["latency_ms"])
