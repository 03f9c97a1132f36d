"""`absorb demo` on the local model's own settings (lexical triage, extractive drafting) with
the fake server standing in for llama.cpp: the plan and estimate before the refresh, a
section whose call hangs held back while the others finish, and an end that reads like one."""

from __future__ import annotations

import re

from agent import local
from agent.fake_replies import Fault, task_of
from agent.fake_server import FakeOpenAIServer
from tests.scripted import sources_of, user_text

HUNG = "Physical Infrastructure Boom"


class _StandIn:
    """Takes the place of LocalServer: the fake server plays llama.cpp."""

    def __init__(self, fake: FakeOpenAIServer) -> None:
        self.base_url = fake.base_url
        self.model_name = "gemma-3-270m-q4_k_m"

    def __enter__(self) -> _StandIn:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


def _tiny_chooser(request: dict) -> dict | Fault:
    """Greedy and careless: the first two ids, one of them twice, one it was never offered;
    and on one section it never answers."""
    if f"Section: {HUNG}" in user_text(request):
        return Fault.hang(20)
    ids = [sid for sid, _, _ in sources_of(request)]
    return {"chosen": [{"id": ids[0], "paragraph": 1}, {"id": ids[0], "paragraph": 1},
                       {"id": "s99", "paragraph": 1}, *[{"id": i, "paragraph": 9} for i in ids[1:2]]]}


def test_local_demo_plans_bounds_and_finishes_with_a_proposal(cli, monkeypatch):
    from agent.store import open_store

    monkeypatch.setenv("ABSORB_LOCAL_TIMEOUT", "2")
    with FakeOpenAIServer(default="one two three four five six seven eight") as fake:
        fake.on_task("draft_extract", _tiny_chooser)
        monkeypatch.setattr(local, "local_server", lambda settings, local_settings: _StandIn(fake))
        result = cli("demo")
        calls = [r for r in fake.requests if task_of(r) is not None]
    assert result.code == 0, result.err
    # the audit is its counts, five telling findings and the command for the rest
    audit = result.out.split("43 sentences:", 1)[1].split("accepted (", 1)[0]
    assert len([line for line in audit.splitlines() if " · " in line]) == 5
    assert "absorb audit ai-infrastructure)" in audit
    # the plan before the refresh: calls, an estimate from the measured speed, the bound
    plan = re.search(r"plan: (\d+) model calls.*no judge call.*estimate about (\d+)s.*"
                     r"a call past 2s holds back only its section", result.err)
    assert plan, result.err
    assert int(plan[1]) == len(calls) >= 3 and {task_of(r) for r in calls} == {"draft_extract"}
    assert re.search(r"measured on this CPU: \d+ prompt tokens/s", result.err)
    assert re.search(r"✓ draft_section: section 1 of \d+ answered", result.err)
    # one slow call cost its section, not the run
    assert f"section {HUNG}: its model call passed the local timeout" in result.out
    accepted = re.search(r"gate: (\d+) drafted sentences accepted, 0 held back, 1 sections held "
                         r"back", result.err)
    assert accepted and int(accepted[1]) >= 2
    assert "absorb review show 1" in result.err and "absorb serve" in result.err
    store = open_store()
    try:
        proposal = store.proposals.get(1)
        routed = {e.section_id: set(e.source_ids) for e in proposal.edits}
        sources = store.sources.get_many(sorted(set().union(*routed.values())))
        for edit in proposal.edits:
            fresh = [s for s in edit.new_sentences() if s not in edit.old_sentences]
            assert len(fresh) == len(edit.verdicts) <= 2  # the repeat and the stray id added nothing
            for sentence, verdict in zip(fresh, edit.verdicts):
                assert sentence.citations[0] in routed[edit.section_id]
                assert sentence.text in " ".join(sources[sentence.citations[0]].text.split())
                assert verdict.stage == "verbatim" and verdict.quotes
    finally:
        store.close()
