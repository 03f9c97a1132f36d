"""Approving a refresh proposal resumes its parked LangGraph thread, end to end through the
real ChatOpenAI against the fake OpenAI server; later decisions merge without the thread."""

from __future__ import annotations

import json

from tests.test_refresh_e2e import TOPIC, server, topic_with_sources  # noqa: F401 - fixtures


def test_approval_resumes_the_parked_run_and_the_rest_merges_without_it(cli, topic_with_sources,
                                                                         server):  # noqa: F811
    refreshed = json.loads(cli("refresh", TOPIC, "--no-gather", "--json").out)
    assert refreshed["status"] == "waiting_review"
    pid, run_id = refreshed["proposal_id"], refreshed["run_id"]
    shown = json.loads(cli("review", "show", pid, "--json").out)
    assert [e["heading"] for e in shown["edits"]] == ["Physical Infrastructure Boom",
                                                      "Training and Compute Efficiency"]
    assert all(s["label"] == "supported" and s["quotes"] for e in shown["edits"]
               for s in e["sentences"])
    assert shown["edits"][0]["sources"][0]["title"] == "Meta liquid cooling shift"
    calls = len(server.requests)

    approved = cli("review", "approve", pid, "--edit", "1", "--comment", "cooling checks out")
    assert approved.code == 0, approved.err
    assert f"run {run_id} finished" in approved.err
    run = next(r for r in json.loads(cli("runs", "--json").out) if r["id"] == run_id)
    assert run["status"] == "done" and run["finished_at"]
    assert len(server.requests) == calls  # review and merge call no model

    rejected = cli("review", "reject", pid, "--edit", "2", "--comment", "too early")
    assert rejected.code == 0 and "run" not in rejected.err.split(";")[-1]
    history = json.loads(cli("history", TOPIC, "--json").out)
    assert [h["comment"] for h in history[1:]] == ["cooling checks out"]
    assert history[-1]["actor"].startswith("editor:")
    final = json.loads(cli("review", "show", pid, "--json").out)
    assert final["status"] == "partially_approved"
    assert [e["status"] for e in final["edits"]] == ["merged", "rejected"]
    article = json.loads(cli("show", TOPIC, "--json").out)  # its sentences, not the bus listing
    merged = " ".join(s["text"] for sec in article["sections"] for par in sec["paragraphs"]
                      for s in par)
    assert "Meta's VP of Infrastructure Dan Rabinovich" in merged
    assert "Decoupled DiLoCo" not in merged

    again = cli("review", "approve", pid)
    assert again.code == 0 and "nothing to approve" in again.err
    assert len(json.loads(cli("history", TOPIC, "--json").out)) == len(history)


def test_rejecting_everything_also_finishes_the_run(cli, topic_with_sources, server):  # noqa: F811
    refreshed = json.loads(cli("refresh", TOPIC, "--no-gather", "--json").out)
    result = cli("review", "reject", refreshed["proposal_id"], "--comment", "not now")
    assert result.code == 0 and "rejected edits 1, 2" in result.err
    run = json.loads(cli("runs", "--json").out)[0]
    assert run["status"] == "done"
    assert json.loads(cli("history", TOPIC, "--json").out)[-1]["number"] == 1
    assert json.loads(cli("review", "list", "--json").out) == []
