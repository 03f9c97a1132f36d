"""Approve and reject racing on one edit, from separate processes (the installed console
script) and from two web sessions: in every final state the article, the edit's status and
both replies agree, and no revision ever holds a rejected edit.

ABSORB_RACE_PAIRS / ABSORB_RACE_WEB_PAIRS raise the counts (the issue's measurement is 100).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path


from agent.models import (Article, Edit, EditStatus, EvidenceQuote, RunStatus, Section, Sentence,
                          Source, Verdict, VerdictLabel, source_id_for)

ABSORB = str(Path(sys.executable).with_name("absorb"))
PAIRS = int(os.environ.get("ABSORB_RACE_PAIRS", "2"))
WEB_PAIRS = int(os.environ.get("ABSORB_RACE_WEB_PAIRS", "8"))
WAVE = int(os.environ.get("ABSORB_RACE_WAVE", "2"))  # pairs raced at once
TOKENS = ("editor-one-secret", "editor-two-secret")


def make_topic(store, slug: str) -> None:
    title = slug.replace("-", " ").title()
    store.topics.create(slug, title, scope=f"Everything about {title}.")
    sections = [Section(id=sid, heading=sid.title(), paragraphs=[[Sentence(
        text=f"{sid.title()} of {title} has been studied for years.")]]) for sid in ("cooling", "training")]
    store.revisions.commit(slug, Article(title=title, summary=f"{title}.", sections=sections),
                           base_revision_id=None, actor="import")


def one_edit_proposal(store, slug: str, n: int = 1, *, parked_run: bool = True,
                      tag: str = "") -> tuple[int, str, str]:
    """A proposal of one edit adding a cited sentence to Cooling, its source `proposed`, and
    (by default) the refresh run that proposed it parked at review. Returns (id, text, source)."""
    text = f"{slug.title()} moved rack {n} of its cooling loops to liquid in 2026."
    source = Source(id=source_id_for(None, text), title=f"{slug} cooling {n}", kind="blog",
                    text=f"News. {text}", content_hash=source_id_for(None, text))
    store.sources.add_to_topic(slug, [source], status="proposed")
    section = store.revisions.current(slug).article.section("cooling")
    sentence = Sentence(text=text, citations=[source.id])
    start = source.text.index(text)
    verdict = Verdict(label=VerdictLabel.supported, stage="judge", reason="stated verbatim",
                      quotes=[EvidenceQuote(source_id=source.id, text=text, start=start,
                                            end=start + len(text))])
    edit = Edit(id=f"race-{slug}-{n}{tag}", section_id="cooling", heading="Cooling",
                old_sentences=section.sentences(),
                new_paragraphs=[[*section.paragraphs[0], sentence]], verdicts=[verdict],
                rationale="added what the source states", source_ids=[source.id])
    run_id = None
    if parked_run:
        run_id = store.runs.create("refresh", slug, {"review": "manual"},
                                   status=RunStatus.waiting_review).id
    proposal = store.proposals.create(slug, run_id=run_id, edits_=[edit], actor="run:test",
                                      base_revision_id=store.topics.get(slug).current_revision_id)
    if run_id is not None:
        store.runs.update(run_id, proposal_id=proposal.id)
    return proposal.id, text, source.id


def in_revisions(store, slug: str, text: str) -> list[int]:
    return [r.number for r in store.revisions.history(slug)
            if any(s.text == text for sec in r.article.sections for s in sec.sentences())]


def check_final(store, slug: str, pid: int, text: str, source_id: str, approve: tuple[bool, str],
                reject: tuple[bool, str]) -> str:
    """The article, the edit, the run, the source and both replies tell one story."""
    proposal = store.proposals.get(pid)
    status = proposal.edits[0].status
    holding = in_revisions(store, slug, text)
    source_status = dict((s.id, st) for s, st in store.sources.for_topic(slug))[source_id]
    (approved, approve_says), (rejected, reject_says) = approve, reject
    assert approved != rejected, (approve_says, reject_says)  # exactly one decision landed
    if status == EditStatus.merged:
        number = store.proposals.decisions(pid)[proposal.edits[0].id].revision_number
        assert approved and f"merged edits 1; revision {number}" in approve_says, approve_says
        assert f"edit 1 of proposal {pid} is already merged in revision {number}" in reject_says, reject_says
        assert holding == [number] and store.revisions.current(slug).number == number
        assert source_status == "absorbed" and proposal.status.value == "merged"
    else:
        assert status == EditStatus.rejected, status
        assert rejected and "rejected edits 1" in reject_says, reject_says
        assert f"edit 1 of proposal {pid} was rejected by editor:" in approve_says, approve_says
        assert holding == [], holding  # no rejected edit in any revision
        assert source_status == "irrelevant" and proposal.status.value == "rejected"
    if proposal.run_id is not None:
        assert store.runs.get(proposal.run_id).status == RunStatus.done
    return status.value


def _env(database_url: str) -> dict:
    return {**os.environ, "ABSORB_DATABASE_URL": database_url, "NO_COLOR": "1", "COLUMNS": "200"}


def test_approve_and_reject_from_separate_processes(store, database_url):
    env = _env(database_url)
    outcomes: Counter = Counter()
    for wave in range(0, PAIRS, WAVE):
        cases = []
        for n in range(wave, min(PAIRS, wave + WAVE)):
            slug = f"race-{n}"
            make_topic(store, slug)
            pid, text, source_id = one_edit_proposal(store, slug, n)
            order = ("approve", "reject") if n % 2 else ("reject", "approve")
            procs = {action: subprocess.Popen([ABSORB, "review", action, str(pid)], env=env,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                              text=True) for action in order}
            cases.append((slug, pid, text, source_id, procs))
        for slug, pid, text, source_id, procs in cases:
            replies = {}
            for action, proc in procs.items():
                _, stderr = proc.communicate(timeout=120)
                assert "Traceback" not in stderr and proc.returncode in (0, 4), stderr  # 4: moved on
                replies[action] = (proc.returncode == 0, stderr)
            outcomes[check_final(store, slug, pid, text, source_id, replies["approve"],
                                 replies["reject"])] += 1
    assert sum(outcomes.values()) == PAIRS
    print(f"\nprocess races on {store.engine.dialect.name}: {dict(outcomes)}")


def test_approve_and_reject_from_two_web_sessions(store, database_url, monkeypatch):
    from fastapi.testclient import TestClient

    from agent.store import open_store
    from agent.web.app import create_app

    # Two servers on one database, like two `absorb serve` processes behind a balancer.
    stores = [open_store(database_url) for _ in TOKENS]
    clients = [TestClient(create_app(s, tokens=list(TOKENS)), base_url="http://127.0.0.1")
               for s in stores]
    outcomes: Counter = Counter()
    try:
        for n in range(WEB_PAIRS):
            slug = f"web-race-{n}"
            make_topic(store, slug)
            pid, text, source_id = one_edit_proposal(store, slug, n)
            barrier = threading.Barrier(2)
            replies: dict[str, tuple[bool, str]] = {}

            def post(client: TestClient, token: str, action: str) -> None:
                barrier.wait()
                time.sleep(random.uniform(0, 0.02))  # neither session always first
                response = client.post(f"/proposals/{pid}/{action}",
                                       headers={"authorization": f"Bearer {token}"})
                body = response.json()
                assert response.status_code in (200, 409), body
                said = body.get("error") or (
                    f"merged edits {', '.join(map(str, body['merged']))}; revision {body['revision']}"
                    if body.get("merged") else f"rejected edits {', '.join(map(str, body['rejected']))}")
                replies[action] = (response.status_code == 200, said)

            actions = ("approve", "reject") if n % 2 else ("reject", "approve")
            threads = [threading.Thread(target=post, args=(clients[i], TOKENS[i], actions[i]))
                       for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert set(replies) == {"approve", "reject"}, replies
            outcomes[check_final(store, slug, pid, text, source_id, replies["approve"],
                                 replies["reject"])] += 1
    finally:
        for client in clients:
            client.close()
        for opened in stores:
            opened.close()
    assert sum(outcomes.values()) == WEB_PAIRS
    print(f"\nweb races on {store.engine.dialect.name}: {dict(outcomes)}")


def test_a_revision_committed_without_its_status_is_repaired_not_contradicted(cli, store):
    """The state a crash between a merge's commit and its status write used to leave."""
    make_topic(store, "half")
    pid, text, source_id = one_edit_proposal(store, "half")
    edit = store.proposals.get(pid).edits[0]
    current = store.revisions.current("half")
    article = current.article.model_copy(deep=True)
    article.section("cooling").paragraphs = edit.new_paragraphs
    store.revisions.commit("half", article, base_revision_id=current.id, actor="editor:x",
                           edit_ids=[edit.id])
    rejected = cli("review", "reject", pid)
    assert rejected.code == 4, rejected.err  # the decision moved on
    assert f"edit 1 of proposal {pid} is already merged in revision 2" in rejected.err
    assert store.proposals.get(pid).edits[0].status == EditStatus.merged  # repaired on read
    assert in_revisions(store, "half", text) == [2]
    again = cli("review", "approve", pid)
    assert again.code == 0 and "already merged in revision 2" in again.err


def test_an_approve_of_a_rejected_edit_says_who_rejected_it_and_when(cli, store):
    make_topic(store, "said")
    pid, text, _ = one_edit_proposal(store, "said", parked_run=False)
    assert cli("review", "reject", pid, "--comment", "not notable").code == 0
    approved = cli("review", "approve", pid, "--edit", "1")
    assert approved.code == 4 and approved.err.count("\n") == 1  # the decision moved on
    decided = store.proposals.decisions(pid)["race-said-1"]
    assert (f"edit 1 of proposal {pid} was rejected by {decided.by} at "
            f"{decided.at:%Y-%m-%d %H:%M:%S} UTC") in approved.err
    assert in_revisions(store, "said", text) == []
