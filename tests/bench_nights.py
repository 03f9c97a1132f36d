"""Nights 1..N on the seed topic and its bus, through the installed `absorb` as users run it,
against the fake endpoint scripted by tests/nights_model.py (triage omits one source in four).

Not collected by pytest. Run: .venv/bin/python tests/bench_nights.py [NIGHTS]
Prints model calls and input tokens per night, the night budget's estimate against the first
night's spend (on a fresh installation, and on one that has already recorded a seed night).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.fake_replies import estimate_tokens  # noqa: E402
from agent.fake_server import FakeOpenAIServer, task_of  # noqa: E402
from tests import nights_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ABSORB = str(REPO / ".venv" / "bin" / "absorb")
SEED = REPO.parent / "shared" / "seeds" / "absorb.md"


def absorb(env: dict, *args: str) -> str:
    command = os.environ.get("ABSORB_BENCH_COMMAND", ABSORB).split()  # e.g. another checkout's
    done = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"absorb {' '.join(args)} failed ({done.returncode}): {done.stderr[-800:]}")
    return done.stdout


def estimate(home: str, topic: str) -> int:
    os.environ["ABSORB_HOME"] = home
    from agent.batch_budget import estimate_topic
    from agent.settings import get_settings
    from agent.store import open_store

    store = open_store()
    try:
        return estimate_topic(store, topic, get_settings()).tokens
    finally:
        store.close()


def nights(count: int) -> None:
    with FakeOpenAIServer() as fake, tempfile.TemporaryDirectory(prefix="absorb-nights-") as home:
        nights_model.script(fake)
        env = {**os.environ, "ABSORB_HOME": home, "OPENAI_BASE_URL": fake.base_url,
               "OPENAI_API_KEY": "bench"}
        absorb(env, "import", str(SEED), "--topic", "ai-infrastructure")
        absorb(env, "sources", "import", str(SEED), "--topic", "ai-infrastructure")
        cold = estimate(home, "ai-infrastructure")
        rows = []
        for night in range(1, count + 1):
            before = len(fake.responses)
            absorb(env, "refresh", "ai-infrastructure")
            answered = fake.responses[before:]
            tasks: dict[str, tuple[int, int]] = {}
            for request in fake.requests[before:]:  # the fake counts json(messages) / 4
                name = task_of(request) or "?"
                calls, tokens = tasks.get(name, (0, 0))
                tasks[name] = (calls + 1, tokens + estimate_tokens(json.dumps(request["messages"])))
            rows.append({"night": night, "calls": len(answered), "tasks": tasks,
                         "input_tokens": sum(r["usage"]["prompt_tokens"] for r in answered),
                         "total_tokens": sum(r["usage"]["total_tokens"] for r in answered)})
        # The same page and bus again under another slug: this installation now has history.
        absorb(env, "import", str(SEED), "--topic", "seed-copy")
        absorb(env, "sources", "import", str(SEED), "--topic", "seed-copy")
        # Cold verdict cache, as for a topic whose sentences were never judged before.
        with sqlite3.connect(Path(home) / "absorb.db") as db:
            db.execute("DELETE FROM verdict_cache")
        warm = estimate(home, "seed-copy")
        before = len(fake.responses)
        absorb(env, "refresh", "seed-copy")
        warm_spent = sum(r["usage"]["total_tokens"] for r in fake.responses[before:])
        warm_tasks: dict[str, int] = {}
        for request in fake.requests[before:]:
            warm_tasks[task_of(request) or "?"] = warm_tasks.get(task_of(request) or "?", 0) + 1
        statuses: dict[str, int] = {}
        for line in absorb(env, "sources", "list", "ai-infrastructure").splitlines():
            status = line.split("\t")[1]
            statuses[status] = statuses.get(status, 0) + 1
        os.environ["ABSORB_HOME"] = home
        from agent.store import open_store

        store = open_store()
        pending = [p for p in store.proposals.list() if p.status.value == "pending"]
        edits = [e for p in pending for e in p.edits]
        empty = [e for e in edits if [s for par in e.new_paragraphs for s in par] == e.old_sentences]
        store.close()
    for row in rows:
        print(f"night {row['night']}: {row['calls']} calls, {row['input_tokens']} input tokens "
              f"({row['total_tokens']} in+out); per task (calls, input tokens): {row['tasks']}")
    night1 = rows[0]["total_tokens"]
    print(f"budget, fresh installation: estimate {cold} vs night 1 spend {night1} "
          f"= {cold / max(1, night1):.2f}x")
    print(f"budget, with {count} recorded nights: estimate {warm} vs spend {warm_spent} "
          f"on a copy of the seed topic = {warm / max(1, warm_spent):.2f}x {warm_tasks}")
    print(f"source statuses after night {count}: {statuses}")
    print(f"pending proposals (both topics): {len(pending)} with {len(edits)} edits, "
          f"of which change nothing: {len(empty)}")


if __name__ == "__main__":
    nights(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
