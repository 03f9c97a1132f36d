"""The reader the show-only commands use (agent.store.lite, Python's sqlite3) answers exactly as
the SQLAlchemy store does, hands every write and every read it lacks to that store, falls back
to it for any store it should not read itself, and never waits for a writer."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time

import pytest
import sqlalchemy as sa

from agent.models import Sentence
from agent.store import StoreUnavailable, open_store
from agent.store.lite import DATETIMES, JSONS, Reader, open_reader, sqlite_file
from tests.cli_world import ABSORB
from tests.test_review import TOPIC, _append, _source, _verdict, two_edit_proposal


@pytest.fixture
def world(cli, seed_path, absorb_home):
    """A store with what the read commands show: an imported page (its numbers and strip), its
    bus, recorded names, a proposal half decided, an open one, an editor's, one whose merged
    edit's status write was lost, and a topic with sources but no article."""
    from agent.mentions import record

    assert cli("import", seed_path, "--topic", TOPIC).code == 0
    assert cli("sources", "import", seed_path, "--topic", TOPIC).code == 0
    assert cli("sources", "import", seed_path, "--topic", "empty").code == 0
    store = open_store()
    try:
        bus = [s for s, _ in store.sources.for_topic(TOPIC) if s.text][:6]
        record(store, {s.id: ["Jensen Huang", "Together AI", f"Someone {i % 2}"]
                       for i, s in enumerate(bus)}, origin="test")
        first = two_edit_proposal(store, "a")
        assert cli("review", "approve", str(first), "--edit", "1").code == 0
        assert cli("review", "reject", str(first), "--edit", "2").code == 0
        two_edit_proposal(store, "b")
        two_edit_proposal(store, "c")
        # A revision applied edit 1 of proposal 3, but the crash came before its status write.
        current = store.topics.get(TOPIC).current_revision_id
        with store.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO applied_edits (edit_id, revision_id, applied_at) "
                                 "VALUES ('c-boom', :r, '2026-12-02 01:02:03.000004')"), {"r": current})
        cooling = _source("Cooling, by an editor", "Editors say cooling matters a lot now.")
        store.sources.add_to_topic(TOPIC, [cooling], status="proposed")
        edit = _append(store, "overview", "e-overview",
                       Sentence(text="Editors say cooling matters a lot now.", citations=[cooling.id]),
                       _verdict(cooling, "Editors say cooling matters a lot now."), cooling)
        store.proposals.create(TOPIC, run_id=None, base_revision_id=store.topics.get(TOPIC)
                               .current_revision_id, edits_=[edit], actor="editor:alice")
    finally:
        store.close()
    return absorb_home / "absorb.db"


def _same(call):  # noqa: ANN001 - a function of a store
    """`call` on the full store and on the reader: the same value, or the same error."""
    outcomes = []
    for opener in (open_store, open_reader):
        store = opener()
        try:
            outcomes.append(("value", call(store)))
        except Exception as exc:  # noqa: BLE001 - the error is what is compared
            outcomes.append(("error", type(exc), str(exc)))
        finally:
            store.close()
    assert outcomes[0] == outcomes[1]
    return outcomes[0]


def test_every_read_answers_as_the_sqlalchemy_store_does(world):
    reader = open_reader()
    assert isinstance(reader, Reader)
    reader.close()
    topics = _same(lambda s: s.topics.list())[1]
    assert [t.slug for t in topics] == ["ai", "empty"]
    for slug in ("ai", "empty", "nope"):
        _same(lambda s: s.topics.get(slug))
        _same(lambda s: s.topics.exists(slug))
        _same(lambda s: s.topics.citation_numbers(slug))
        _same(lambda s: s.topics.page_strip(slug))
        _same(lambda s: s.revisions.history(slug))
        _same(lambda s: s.revisions.log(slug))
        _same(lambda s: s.revisions.current(slug))
        _same(lambda s: s.sources.for_topic(slug))
        _same(lambda s: sorted(s.sources.mention_rows(slug)))
        _same(lambda s: s.proposals.list(topic=slug))
        _same(lambda s: s.proposals.list(topic=slug, statuses=("pending", "stale", "approved")))
        _same(lambda s: s.proposals.list(topic=slug, statuses=()))
    assert _same(lambda s: s.topics.page_strip("ai"))[1], "the seed page carries a strip"
    assert len(_same(lambda s: s.topics.citation_numbers("ai"))[1]) >= 10
    assert len(_same(lambda s: s.sources.mention_rows("ai"))[1]) >= 9  # duplicates left out
    history = _same(lambda s: s.revisions.history("ai"))[1]
    for revision in history:
        _same(lambda s: s.revisions.get(revision.id))
        _same(lambda s: s.revisions.by_number("ai", revision.number))
    assert _same(lambda s: s.revisions.by_number("ai", 99))[0] == "error"
    assert _same(lambda s: s.revisions.get(999))[0] == "error"
    ids = [source.id for source, _ in _same(lambda s: s.sources.for_topic("ai"))[1]]
    assert len(_same(lambda s: s.sources.get_many([*ids, "src_0000000000000000"]))[1]) == len(ids)
    proposals = _same(lambda s: s.proposals.list())[1]
    assert len(proposals) == 4
    for status in ("pending", "partially_approved", "merged"):
        _same(lambda s: s.proposals.list(status=status))
    for proposal in proposals:
        _same(lambda s: s.proposals.get(proposal.id))
    assert _same(lambda s: s.proposals.get(99))[0] == "error"
    decided = [_same(lambda s: s.decisions.for_proposal(number))[1] for number in (1, 2, 3, 4, 99)]
    assert {row.action for rows in decided[0].values() for row in rows} == {"merged", "rejected"}


def test_history_lists_revisions_without_parsing_their_articles(world, cli):
    """A long-lived topic has hundreds of revisions: `history` (and the web page's list) read
    their number, author and comment only (parsing every article cost ~1 ms a revision: 0.55 s
    for 300). An article no longer readable in an old revision proves it is not parsed."""
    with sqlite3.connect(world) as conn:
        conn.execute("UPDATE revisions SET article = '{}' WHERE number = 1")
    listed = cli("history", TOPIC, "--json")
    assert listed.code == 0, listed.err
    assert [r["number"] for r in json.loads(listed.out)][:2] == [1, 2]
    assert [e.number for e in _same(lambda s: s.revisions.log(TOPIC))[1]][:2] == [1, 2]


def test_the_lost_status_write_is_repaired_through_the_full_store(world):
    reader = open_reader()
    try:
        lost = reader.proposals.get(3)
        assert lost.edits[0].status.value == "merged"
        assert reader._full is not None  # the repair was a write: the full store made it
    finally:
        reader.close()
    with sqlite3.connect(world) as conn:
        assert conn.execute("SELECT status FROM edits WHERE id = 'c-boom'").fetchone() == ("merged",)


def test_writes_and_reads_it_lacks_go_to_the_full_store(world):
    full, reader = open_store(), open_reader()
    try:
        assert reader._full is None
        assert reader.sources.for_topic("ai", status="new") == full.sources.for_topic("ai", "new")
        assert reader.runs.list() == []  # no runs repo of its own
        assert reader.engine.dialect.name == "sqlite"
        assert reader.topics.set_scope("ai", "What AI runs on.").scope == "What AI runs on."
        assert reader.topics.get("ai").scope == "What AI runs on."  # each read sees the commit
    finally:
        reader.close()
        full.close()


def test_the_column_types_it_converts_are_the_schemas():
    from agent.store.schema import metadata

    columns = [c for t in metadata.tables.values() for c in t.columns]
    assert DATETIMES == {c.name for c in columns if isinstance(c.type, sa.DateTime)}
    assert JSONS == {c.name for c in columns if isinstance(c.type, sa.JSON)}
    # A name means one type in every table, so a row converts by column name.
    others = {c.name for c in columns if not isinstance(c.type, sa.DateTime | sa.JSON)}
    assert not others & (DATETIMES | JSONS)


@pytest.mark.parametrize("url, path", [
    ("sqlite:////tmp/a/absorb.db", "/tmp/a/absorb.db"), ("sqlite:///rel.db", "rel.db"),
    ("sqlite+pysqlite:////x.db", "/x.db"), ("sqlite://", None), ("sqlite:///:memory:", None),
    ("sqlite:////x.db?mode=ro", None), ("postgresql+psycopg://u@h/db", None),
    ("sqlite+aiosqlite:////x.db", None)])
def test_only_plain_sqlite_files_are_read_directly(url, path):
    assert sqlite_file(url) == path


def test_any_store_it_should_not_read_itself_is_opened_by_the_full_store(absorb_home, world):
    behind = absorb_home / "behind.db"
    behind.write_bytes(world.read_bytes())
    with sqlite3.connect(behind) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    store = open_reader(f"sqlite:///{behind}")
    try:
        assert not isinstance(store, Reader)  # not at head: the full store (which migrates)
    finally:
        store.close()
    fresh = open_reader(f"sqlite:///{absorb_home / 'new' / 'absorb.db'}")
    try:
        assert not isinstance(fresh, Reader) and fresh.topics.list() == []
    finally:
        fresh.close()
    corrupt = absorb_home / "corrupt.db"
    corrupt.write_bytes(b"not a database, just bytes " * 100)
    with pytest.raises(StoreUnavailable, match="not a SQLite database absorb can open"):
        open_reader(f"sqlite:///{corrupt}")


def test_show_numbers_a_new_source_through_the_full_store(world):
    """`show` of an article citing a source with no number yet stores one (a write)."""
    store = open_store()
    try:
        article = store.revisions.current(TOPIC).article
        cited = next(iter(store.sources.for_topic("empty")))[0]
        section = article.sections[0]
        section.paragraphs[0].append(Sentence(text="A new sentence.", citations=[cited.id]))
        article.sources[cited.id] = cited.model_copy(update={"text": ""})
        store.revisions.commit(TOPIC, article, base_revision_id=store.topics.get(TOPIC)
                               .current_revision_id, actor="editor:test")
        before = store.topics.citation_numbers(TOPIC)
    finally:
        store.close()
    assert cited.id not in before
    shown = subprocess.run([str(ABSORB), "show", TOPIC], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    number = max(before.values()) + 1
    assert f"A new sentence [{number}]." in shown.stdout
    store = open_store()
    try:
        assert store.topics.citation_numbers(TOPIC)[cited.id] == number
    finally:
        store.close()


def test_the_read_commands_answer_while_a_writer_holds_the_store(world):
    """The full store takes the write lock at BEGIN; a reader of a night's store must not wait
    for the refresh writing it (before: up to the 30 s busy timeout, then `database is locked`)."""
    commands = (["topics"], ["show", TOPIC], ["history", TOPIC], ["review", "list"],
                ["review", "show", "1"], ["review", "show", "2", "--json"])
    for args in commands:  # the writes a first read makes here (the lost status, new numbers)
        assert subprocess.run([str(ABSORB), *args], capture_output=True, timeout=60).returncode == 0
    writer = sqlite3.connect(world, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE topics SET title = 'Being rewritten' WHERE slug = 'ai'")
    try:
        for args in commands:
            started = time.monotonic()
            done = subprocess.run([str(ABSORB), *args], capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, (args, done.stderr)
            assert time.monotonic() - started < 10, args
            assert "Being rewritten" not in done.stdout  # uncommitted: not seen
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_store_locked_past_the_wait_is_not_called_corrupt():
    """What a command that must write says after waiting out a writer (was: "not a SQLite
    database absorb can open (corrupt or another file?)")."""
    error = StoreUnavailable(sa.engine.make_url("sqlite:////data/absorb.db"),
                             sqlite3.OperationalError("database is locked"))
    assert "another absorb process held it" in str(error)
    assert "corrupt" not in str(error)


def test_review_show_reads_without_sqlalchemy_once_nothing_is_left_to_write(world):
    """`review show` reads through the Reader too (decisions included); only a write it has
    to make (a new citation number, a lost status) opens the full store."""
    for args in (["review", "show", "1"], ["review", "show", "4", "--json"]):
        first = subprocess.run([str(ABSORB), *args], capture_output=True, text=True, timeout=60)
        assert first.returncode == 0, first.stderr
        again = subprocess.run([str(ABSORB), *args], capture_output=True, text=True, timeout=60,
                               env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
        assert again.returncode == 0 and again.stdout == first.stdout, again.stderr[-2000:]
        loaded = {line.rsplit("|", 1)[1].strip() for line in again.stderr.splitlines()
                  if line.startswith("import time:") and "|" in line}
        assert "agent.cli.main" in loaded
        assert sorted(m for m in loaded if m.split(".")[0] == "sqlalchemy") == [], args
