"""Benchmark of the overnight batch: N topics of M new sources against a fake model endpoint
that answers in a fixed delay; prints absorb's own CPU per model call, calls per second, peak
memory and wall time.

The scenario is the one issue 18 names, 6 model calls per topic: each topic's five-section
article gets ten new sources, two per section; triage (1 call) finds three of them relevant, the
first two about Cooling and the first about Training, the rest repeats or out of scope; each of
the two sections is drafted (2 calls), the model wording every sentence itself (part of the
source's sentence, as a model that paraphrases does, so no sentence passes the gate's quote stage
and each goes to the judge); the judge packs claims by the sources they cite, one call per source
(3 calls) and supports them all.

Not collected by pytest; run it:

    .venv/bin/python -m tests.bench_batch          # the issue's figures: 100 topics at 0 and
                                                   # 200 ms latency, memory at 10 and 100 topics
    .venv/bin/python -m tests.bench_batch --topics 100 --sources 10 --concurrency 20 --delay 0.2
    .venv/bin/python -m tests.bench_batch --topics 100 --delay 0 --profile /tmp/batch.prof
    .venv/bin/python -m tests.bench_batch --structure    # statements, transactions and
                                                         # checkpoints per topic (countable)
    .venv/bin/python -m tests.bench_batch --topics 20 --delay 0 --revisions 300   # long histories

The matrix also prints `tests.bench_stack`: the same six calls a topic on the bare stack
(ChatOpenAI structured calls, then in a LangGraph graph, then with its SQLite checkpointer),
so absorb's own share of the CPU per call is the difference.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
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
# Which sources triage finds relevant, by section: the first this many of each section's sources
# (the n-th source of a topic is about SECTION_NAMES[n % 5]); the others are not relevant.
RELEVANT = {"Cooling": 2, "Training": 1}
# The matrix's long-history line: topics whose article has this many revisions.
HISTORY_TOPICS, HISTORY_REVISIONS = 20, 300
TITLE = re.compile(r" (\w+) update (\d+)$")


def triage(request: dict) -> dict:
    """The scenario's triage: RELEVANT's sources go to their section, the rest are not relevant."""
    from tests.scripted import sources_of

    decisions = []
    for source_id, title, _ in sources_of(request):
        match = TITLE.search(title)
        name, n = (match.group(1), int(match.group(2))) if match else ("", 0)
        relevant = n // len(SECTION_NAMES) < RELEVANT.get(name, 0)
        decisions.append({"source_id": source_id, "relevant": relevant,
                          "sections": [name.lower()] if relevant else [], "new_section": None,
                          "relation": "new",
                          "reason": "about the section" if relevant else "already covered"})
    return {"decisions": decisions}


def script_server(server) -> None:
    """Triage as above; drafts and revisions are the sources' words but never a whole sentence
    of them (the judge runs for each); the judge quotes the claim back from its source."""
    from tests.scripted import extractive_draft, faithful_judge, part_of_sentence

    server.on_task("triage", triage)
    server.on_task("draft_section", extractive_draft(part_of_sentence))
    server.on_task("revise_section", extractive_draft(part_of_sentence))
    server.on_task("judge", faithful_judge)


def seed(store, topics: int, sources: int, revisions: int = 1) -> None:
    """`revisions`: each topic's history, as after that many nights of merges (the last
    section gains a sentence each time; the lead stays as imported)."""
    from agent.models import Article, Section, Sentence, Source, source_id_for, slugify
    from agent.store.articles import commit_revision

    for t in range(topics):
        slug, title = f"topic-{t:03d}", f"Company {t:03d}"
        store.topics.create(slug, title, scope=f"Infrastructure of {title}.")
        sections = [Section(id=slugify(name), heading=name, paragraphs=[[Sentence(
            text=f"{name} at {title} has grown steadily since {2010 + i}.", citations=[]),
            Sentence(text=f"Its {name.lower()} plans are reviewed every year.", citations=[])]])
            for i, name in enumerate(SECTION_NAMES)]
        article = Article(title=title, summary=f"{title}.", sections=sections)
        base = store.revisions.commit(slug, article, base_revision_id=None, actor="import").id
        with store.engine.begin() as conn:  # one transaction: thousands of revisions seed fast
            for night in range(1, revisions):
                article.sections[-1].paragraphs[0].append(Sentence(
                    text=f"On night {night} the {SECTION_NAMES[-1].lower()} notes grew.", citations=[]))
                base = commit_revision(conn, slug, article, base_revision_id=base, actor="run:0")
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


def run_batch(topics: int, sources: int, concurrency: int, delay: float,
              database_url: str | None = None, profile: str | None = None,
              verbose: bool = True, revisions: int = 1) -> dict:
    """Seed a fresh store, run `absorb refresh --all` on it in a child process against the
    fake endpoint, and measure the child (CPU from its rusage: absorb's own, not the fake's)."""
    from agent.fake_server import FakeOpenAIServer, task_of
    from agent.store import open_store

    home = Path(tempfile.mkdtemp(prefix="absorb-bench-"))
    url = database_url or f"sqlite:///{home / 'absorb.db'}"
    store = open_store(url)
    started = time.perf_counter()
    seed(store, topics, sources, revisions)
    if verbose:
        print(f"seeded {topics} topics x {sources} sources ({revisions} revisions each) in "
              f"{time.perf_counter() - started:.1f}s ({store.engine.dialect.name})")
    with FakeOpenAIServer(delay=delay) as server:
        script_server(server)
        env = {**os.environ, "ABSORB_HOME": str(home), "ABSORB_DATABASE_URL": url,
               "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "bench",
               "ABSORB_REQUESTS_PER_SECOND": "0"}
        started = time.perf_counter()
        command = ["-c", PROFILED, profile] if profile else ["-m", "agent.cli.main"]
        child = subprocess.Popen([sys.executable, *command, "refresh", "--all",
                                  "--no-gather", "--concurrency", str(concurrency), "--json"],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True)
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        calls, in_flight = server.request_count, server.max_in_flight
        kinds = Counter(task_of(request) for request in server.requests)
    report = json.loads(out)
    result = {"topics": report["topics"], "status": os.waitstatus_to_exitcode(status),
              "wall": wall, "calls": calls, "in_flight": in_flight,
              "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024,
              "spent_tokens": report["spent_tokens"], "kinds": dict(kinds), "rounds": model_rounds(store) if topics else {}}
    store.close()
    return result


def structure(topics: int = 3, sources: int = 10) -> dict:
    """What one topic of the scenario costs in countable units, which do not drift with the
    machine's speed as CPU time does (on a shared 2-core VM, identical runs differed by up
    to 2x): SQL statements and transactions on the store, and checkpoints and checkpoint
    writes, per topic after the first (measured in this process, same code path as the
    batch's refresh of one topic)."""
    import asyncio
    import sqlite3

    from sqlalchemy import event

    from agent.fake_server import FakeOpenAIServer
    from agent.store import open_store

    home = Path(tempfile.mkdtemp(prefix="absorb-bench-"))
    saved = {k: os.environ.get(k) for k in ("ABSORB_HOME", "ABSORB_DATABASE_URL", "OPENAI_BASE_URL",
                                            "OPENAI_API_KEY", "ABSORB_REQUESTS_PER_SECOND")}
    store = open_store(f"sqlite:///{home / 'absorb.db'}")
    seed(store, topics, sources)
    counted = {"statements": 0, "transactions": 0}
    counting = [False]

    @event.listens_for(store.engine, "before_cursor_execute")
    def _statement(*_args) -> None:  # noqa: ANN002
        counted["statements"] += counting[0]

    begin = store.engine.dialect.do_begin

    def _begin(connection) -> None:  # noqa: ANN001
        counted["transactions"] += counting[0]
        begin(connection)

    store.engine.dialect.do_begin = _begin
    try:
        with FakeOpenAIServer(delay=0) as server:
            script_server(server)
            os.environ.update({"ABSORB_HOME": str(home), "ABSORB_DATABASE_URL": str(store.engine.url),
                               "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "bench",
                               "ABSORB_REQUESTS_PER_SECOND": "0"})
            from agent.runner import refresh_topic

            asyncio.run(refresh_topic(store, "topic-000", gather=False))  # warm: tables, caches
            conn = sqlite3.connect(home / "absorb.checkpoints.db")
            before = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("checkpoints", "writes")]
            counting[0] = True
            for t in range(1, topics):
                asyncio.run(refresh_topic(store, f"topic-{t:03d}", gather=False))
            counting[0] = False
            after = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("checkpoints", "writes")]
            conn.close()
            calls = len(server.requests)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        store.close()
    runs = topics - 1
    return {"statements": counted["statements"] / runs, "transactions": counted["transactions"] / runs,
            "checkpoints": (after[0] - before[0]) / runs, "checkpoint_writes": (after[1] - before[1]) / runs,
            "calls": calls / topics}


def print_structure() -> None:
    found = structure()
    print(f"per topic ({found['calls']:.0f} model calls): {found['statements']:.0f} SQL statements in "
          f"{found['transactions']:.0f} transactions on the store, {found['checkpoints']:.0f} checkpoints "
          f"with {found['checkpoint_writes']:.0f} checkpoint writes")


def kinds_per_topic(result: dict) -> str:
    """Model calls per topic by kind of call, e.g. `triage 1.0 + draft_section 2.0 + judge 3.0`."""
    topics = max(len(result["topics"]), 1)
    return " + ".join(f"{kind} {count / topics:.1f}" for kind, count in result["kinds"].items())


def print_run(result: dict, concurrency: int, delay: float) -> None:
    topics = result["topics"]
    wall, calls, cpu = result["wall"], result["calls"], result["cpu"]
    rounds = result["rounds"]
    ideal_per_topic = {r: n * delay for r, n in rounds.items()}
    durations = {t["run_id"]: t["duration_s"] for t in topics if t["run_id"]}
    overhead = [durations[r] - ideal_per_topic[r] for r in durations if r in ideal_per_topic]
    statuses = defaultdict(int)
    for t in topics:
        statuses[t["status"]] += 1
    estimates = sum(t["estimate_tokens"] for t in topics)
    print(f"exit {result['status']}; topics: {dict(statuses)}")
    print(f"wall {wall:.1f}s for {len(topics)} topics at --concurrency {concurrency}, "
          f"model delay {delay * 1000:.0f} ms")
    print(f"LLM calls {calls} ({calls / len(topics):.1f} per topic: {kinds_per_topic(result)}; "
          f"{calls / wall:.1f}/s, {result['in_flight']} in flight at most)")
    print(f"peak RSS of the batch process {result['rss_mib']:.0f} MiB")
    print(f"CPU of the batch process {cpu:.1f}s = {cpu / len(topics) * 1000:.0f} ms per topic, "
          f"{cpu / calls * 1000:.1f} ms per model call (whole process: start-up included; the "
          f"default matrix also prints it without start-up)")
    if durations:
        print(f"per topic: {sum(durations.values()) / len(durations):.2f}s mean duration, "
              f"{sum(ideal_per_topic.values()) / len(ideal_per_topic):.2f}s of it sequential "
              f"model wait; overhead {sum(overhead) / len(overhead):.2f}s mean, "
              f"{max(overhead):.2f}s max")
    print(f"tokens spent {result['spent_tokens']}, estimated {estimates} "
          f"({result['spent_tokens'] / max(estimates, 1):.0%} of the estimate)")


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average {load:.1f} at start")


def matrix(args: argparse.Namespace) -> None:
    """The issue's figures: CPU per model call and calls per second at 0 and 200 ms model
    latency over 100 topics, memory at 10 and 100 topics, and the CPU of starting the command."""
    print(f"machine: {machine()}")
    # In a child of its own: run here, its imports and store would sit in this process's
    # memory, which the batch children's peak RSS counts from the fork on.
    counted = subprocess.run([sys.executable, "-m", "tests.bench_batch", "--structure"],
                             capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parents[1])
    print(counted.stdout.splitlines()[-1])
    idle = run_batch(0, args.sources, args.concurrency, 0.0, args.database_url, verbose=False)
    startup = idle["cpu"]
    print(f"startup: `absorb refresh --all` with nothing to do costs {startup:.2f}s CPU, "
          f"{idle['rss_mib']:.0f} MiB")
    for delay in (0.0, 0.2):
        result = run_batch(100, args.sources, args.concurrency, delay, args.database_url,
                           verbose=False)
        calls, cpu = result["calls"], result["cpu"]
        print(f"100 topics, {delay * 1000:3.0f} ms latency, --concurrency {args.concurrency}: "
              f"exit {result['status']}, {calls} calls ({calls / 100:.1f}/topic: "
              f"{kinds_per_topic(result)}), CPU {cpu:.1f}s "
              f"= {cpu / calls * 1000:.1f} ms per call for the whole process, "
              f"{(cpu - startup) / calls * 1000:.1f} ms per call without its start-up; "
              f"{calls / result['wall']:.1f} calls/s, wall {result['wall']:.1f}s, "
              f"peak RSS {result['rss_mib']:.0f} MiB")
    # A topic merged every night for most of a year: the run must not read its whole history.
    aged = run_batch(HISTORY_TOPICS, args.sources, args.concurrency, 0.0, args.database_url,
                     verbose=False, revisions=HISTORY_REVISIONS)
    print(f"{HISTORY_TOPICS} topics of {HISTORY_REVISIONS} revisions each, 0 ms latency: exit "
          f"{aged['status']}, {aged['calls']} calls, "
          f"{(aged['cpu'] - startup) / aged['calls'] * 1000:.1f} ms per call without start-up "
          f"(the lead step once parsed every revision: ~33 ms per call here before)")
    # The same shape on the bare stack (no store, no gate, no prompts): what absorb adds on top.
    bare = subprocess.run([sys.executable, "-m", "tests.bench_stack"], capture_output=True,
                          text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    for line in bare.stdout.splitlines()[1:]:
        print(f"bench_stack, {line}")
    # Memory at the same number of topics in flight, so that only the topics run so far differ.
    memory = {topics: run_batch(topics, args.sources, 10, 0.0, args.database_url, verbose=False)
              for topics in (10, 100, 200)}
    small, large, double = (memory[n]["rss_mib"] for n in (10, 100, 200))
    # The citation checks' bounded caches fill over the first few dozen topics; what grows
    # without bound shows between 100 and 200.
    print(f"memory, --concurrency 10: peak RSS {small:.0f} MiB at 10 topics, {large:.0f} MiB at "
          f"100, {double:.0f} MiB at 200 ({(large - small) / 90 * 1024:.0f} KiB per extra topic "
          f"from 10 to 100, {(double - large) / 100 * 1024:.0f} KiB from 100 to 200)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=int, default=None,
                        help="one run of N topics (default: the matrix of the issue's figures)")
    parser.add_argument("--sources", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.2, help="model latency of one run, s")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--profile", default=None, metavar="FILE",
                        help="run the batch under cProfile (CPU time), stats written to FILE")
    parser.add_argument("--revisions", type=int, default=1,
                        help="revisions of each topic's article before the run (nights of merges)")
    parser.add_argument("--structure", action="store_true",
                        help="only the countable cost of one topic: SQL statements, "
                             "transactions, checkpoints (seconds; the matrix prints it too)")
    args = parser.parse_args()
    if args.structure:
        print(f"machine: {machine()}")
        print_structure()
        return
    if args.topics is None and not args.profile:
        matrix(args)
        return
    topics = args.topics or 100
    print(f"machine: {machine()}")
    result = run_batch(topics, args.sources, args.concurrency, args.delay, args.database_url,
                       args.profile, revisions=args.revisions)
    print_run(result, args.concurrency, args.delay)


if __name__ == "__main__":
    main()
