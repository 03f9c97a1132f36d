"""Benchmark of the overnight batch: N topics of M new sources against a fake model endpoint
that answers in a fixed delay; prints wall time, LLM calls, peak memory and absorb's own cost
per topic. Not collected by pytest; run it:

    .venv/bin/python -m tests.bench_batch --topics 100 --sources 10 --concurrency 20 --delay 0.2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

# The batch under cProfile counting CPU time (its default clock counts waiting too).
PROFILED = """import cProfile, sys, time
out = sys.argv.pop(1)
sys.argv[0] = "absorb"
profiler = cProfile.Profile(time.process_time)
try:
    from agent.cli.main import main
    profiler.runcall(main)
except SystemExit:
    pass
finally:
    profiler.dump_stats(out)
"""

SECTION_NAMES = ["Cooling", "Training", "Networking", "Power", "Storage"]


def seed(store, topics: int, sources: int) -> None:
    from agent.models import Article, Section, Sentence, Source, source_id_for, slugify

    for t in range(topics):
        slug, title = f"topic-{t:03d}", f"Company {t:03d}"
        store.topics.create(slug, title, scope=f"Infrastructure of {title}.")
        sections = [Section(id=slugify(name), heading=name, paragraphs=[[Sentence(
            text=f"{name} at {title} has grown steadily since {2010 + i}.", citations=[]),
            Sentence(text=f"Its {name.lower()} plans are reviewed every year.", citations=[])]])
            for i, name in enumerate(SECTION_NAMES)]
        store.revisions.commit(slug, Article(title=title, summary=f"{title}.", sections=sections),
                               base_revision_id=None, actor="import")
        items = []
        for n in range(sources):
            name = SECTION_NAMES[n % len(SECTION_NAMES)]
            text = (f"{title} expanded its {name.lower()} capacity by {n + 3} percent in 2026. "
                    f"Engineers at {title} said the {name.lower()} work finished on time. " * 3)
            items.append(Source(id=source_id_for(None, text), title=f"{title} {name} update {n}",
                                kind="news", text=text, content_hash=source_id_for(None, text)))
        store.sources.add_to_topic(slug, items)


def model_rounds(store) -> dict[int, int]:
    """Sequential model round trips per run: triage, then the longest section chain."""
    chain: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for call in store.runs.calls():
        if call.node in ("draft", "revise"):
            chain[call.run_id][call.section or ""] += 2  # each draft is followed by its judging
    return {run: 1 + max(sections.values()) for run, sections in chain.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=int, default=100)
    parser.add_argument("--sources", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--profile", default=None, metavar="FILE",
                        help="run the batch under cProfile, stats written to FILE")
    args = parser.parse_args()

    from agent.fake_server import FakeOpenAIServer
    from agent.store import open_store
    from tests.test_batch import script_server

    home = Path(tempfile.mkdtemp(prefix="absorb-bench-"))
    url = args.database_url or f"sqlite:///{home / 'absorb.db'}"
    store = open_store(url)
    started = time.perf_counter()
    seed(store, args.topics, args.sources)
    print(f"seeded {args.topics} topics x {args.sources} sources in "
          f"{time.perf_counter() - started:.1f}s ({store.engine.dialect.name})")
    with FakeOpenAIServer(delay=args.delay) as server:
        script_server(server)
        env = {**os.environ, "ABSORB_HOME": str(home), "ABSORB_DATABASE_URL": url,
               "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "bench",
               "ABSORB_REQUESTS_PER_SECOND": "0"}
        started = time.perf_counter()
        command = ["-c", PROFILED, args.profile] if args.profile else ["-m", "agent.cli.main"]
        child = subprocess.Popen([sys.executable, *command, "refresh", "--all",
                                  "--no-gather", "--concurrency", str(args.concurrency), "--json"],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True)
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        calls, in_flight = server.request_count, server.max_in_flight
    report = json.loads(out)
    topics = report["topics"]
    rounds = model_rounds(store)
    ideal_per_topic = {r: n * args.delay for r, n in rounds.items()}
    durations = {t["run_id"]: t["duration_s"] for t in topics if t["run_id"]}
    overhead = [durations[r] - ideal_per_topic[r] for r in durations if r in ideal_per_topic]
    cpu = usage.ru_utime + usage.ru_stime
    statuses = defaultdict(int)
    for t in topics:
        statuses[t["status"]] += 1
    estimates = sum(t["estimate_tokens"] for t in topics)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"exit {os.waitstatus_to_exitcode(status)}; topics: {dict(statuses)}")
    print(f"wall {wall:.1f}s for {len(topics)} topics at --concurrency {args.concurrency}, "
          f"model delay {args.delay * 1000:.0f} ms")
    print(f"LLM calls {calls} ({calls / len(topics):.1f} per topic, {calls / wall:.1f}/s, "
          f"{in_flight} in flight at most)")
    print(f"peak RSS of the batch process {usage.ru_maxrss / 1024:.0f} MiB")
    print(f"CPU of the batch process {cpu:.1f}s = {cpu / len(topics) * 1000:.0f} ms per topic")
    print(f"per topic: {sum(durations.values()) / len(durations):.2f}s mean duration, "
          f"{sum(ideal_per_topic.values()) / len(ideal_per_topic):.2f}s of it sequential model "
          f"wait; overhead {sum(overhead) / len(overhead):.2f}s mean, {max(overhead):.2f}s max")
    print(f"tokens spent {report['spent_tokens']}, estimated {estimates} "
          f"({report['spent_tokens'] / max(estimates, 1):.0%} of the estimate)")
    store.close()


if __name__ == "__main__":
    main()
