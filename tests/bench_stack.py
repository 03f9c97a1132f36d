"""The fixed stack's own CPU per model call, without absorb: a floor for bench_batch's figure.

Not collected by pytest. Run: .venv/bin/python -m tests.bench_stack [--topics 100]

A bare program on the stack the brief fixes (langgraph, langchain-openai's ChatOpenAI with a
structured output, the OpenAI SDK and httpx, LangGraph's SQLite checkpointer) runs the
bench_batch scenario's shape against the same fake endpoint at 0 ms latency: per topic one
triage call, then two sections in parallel (a subgraph each, as Send fans out), each drafted
(1 call) and checked (2 and 1 judge calls); 6 calls a topic, 20 topics at a time, one graph
compiled once, one structured-output runnable per schema, async nodes, a checkpoint per step
through LangGraph's SqliteSaver answered on the event loop (agent.checkpoints.LoopSqliteSaver,
the product's saver; also measured: its AsyncSqliteSaver, which absorb used before and which
cost about 3 ms more per call here). No store, no gate, no prompts of ours. Its CPU per call (child process rusage, its start-up
subtracted) is what the stack costs before absorb does anything.
"""

from __future__ import annotations

import argparse
import asyncio
import operator
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import BaseModel  # noqa: E402

CONCURRENCY = 20
SECTIONS = {"a": 2, "b": 1}  # judge calls per section: 3 a topic, as in bench_batch


class Answer(BaseModel):
    text: str


class TopicState(TypedDict):
    topic: str
    done: Annotated[list[str], operator.add]


class SectionOut(TypedDict):
    done: Annotated[list[str], operator.add]


class SectionState(TypedDict):
    topic: str
    name: str
    judges: int
    done: Annotated[list[str], operator.add]


async def run_topics(topics: int, base_url: str, checkpoints: str, mode: str = "full") -> None:
    """mode: full (the graph with the product's checkpointer), aiosqlite (with LangGraph's
    AsyncSqliteSaver instead), graph (no checkpointer), calls (the same six structured calls a
    topic, in the same order and parallelism, with no graph)."""
    from langchain_openai import ChatOpenAI
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Send

    model = ChatOpenAI(model="gpt-4.1-mini", base_url=base_url, api_key="bench", max_retries=0)
    structured = model.with_structured_output(Answer, method="json_schema")

    async def ask(task: str, text: str) -> Answer:
        return await structured.ainvoke([("system", f"task: {task}\nAnswer in one word."),
                                         ("user", text)])

    async def triage(state: TopicState) -> dict:
        await ask("triage", f"Sources of {state['topic']}")
        return {}

    def fan_out(state: TopicState) -> list:
        return [Send("section", {"topic": state["topic"], "name": name, "judges": judges, "done": []})
                for name, judges in SECTIONS.items()]

    async def draft(state: SectionState) -> dict:
        await ask("draft_section", f"Section {state['name']} of {state['topic']}")
        return {}

    async def check(state: SectionState) -> dict:
        await asyncio.gather(*(ask("judge", f"Claim {n} of {state['name']}") for n in range(state["judges"])))
        return {"done": [state["name"]]}

    section = StateGraph(SectionState, output_schema=SectionOut)
    section.add_node("draft", draft)
    section.add_node("check", check)
    section.add_edge(START, "draft")
    section.add_edge("draft", "check")
    section.add_edge("check", END)
    graph = StateGraph(TopicState)
    graph.add_node("triage", triage)
    graph.add_node("section", section.compile())
    graph.add_edge(START, "triage")
    graph.add_conditional_edges("triage", fan_out, ["section"])
    graph.add_edge("section", END)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def bare(topic: str) -> None:
        await triage({"topic": topic, "done": []})

        async def one_section(name: str, judges: int) -> None:
            state = {"topic": topic, "name": name, "judges": judges, "done": []}
            await draft(state)
            await check(state)

        await asyncio.gather(*(one_section(name, judges) for name, judges in SECTIONS.items()))

    async def each(invoke) -> None:  # noqa: ANN001
        async def one(n: int) -> None:
            async with gate:
                await invoke(f"topic-{n:03d}")

        await asyncio.gather(*(one(n) for n in range(topics)))

    def through(compiled):  # noqa: ANN001, ANN202
        async def invoke(topic: str) -> None:
            out = await compiled.ainvoke({"topic": topic, "done": []},
                                         {"configurable": {"thread_id": topic}})
            assert sorted(out["done"]) == sorted(SECTIONS), out
        return invoke

    if mode == "calls":
        await each(bare)
    elif mode == "graph":
        await each(through(graph.compile()))
    elif mode == "aiosqlite":
        async with AsyncSqliteSaver.from_conn_string(checkpoints) as saver:
            await saver.conn.execute("PRAGMA journal_mode=WAL")
            await saver.conn.execute("PRAGMA synchronous=NORMAL")
            await each(through(graph.compile(checkpointer=saver)))
    else:
        import sqlite3

        from agent.checkpoints import LoopSqliteSaver

        conn = sqlite3.connect(checkpoints, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # as the product's (agent/checkpoints.py)
        try:
            await each(through(graph.compile(checkpointer=LoopSqliteSaver(conn))))
        finally:
            conn.close()


def child(topics: int, base_url: str, mode: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run_topics(topics, base_url, str(Path(tmp) / "checkpoints.db"), mode))


def measure(topics: int, base_url: str, mode: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of a child process that runs `topics` topics."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "tests.bench_stack", "--child", str(topics),
                                "--base-url", base_url, "--mode", mode],
                               cwd=Path(__file__).resolve().parents[1])
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench_stack child failed with {os.waitstatus_to_exitcode(status)}")
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - started


def floor(topics: int = 100, mode: str = "full") -> dict:
    from agent.fake_server import FakeOpenAIServer

    with FakeOpenAIServer(default={"text": "ok"}) as server:
        idle, _ = measure(0, server.base_url, mode)
        cpu, wall = measure(topics, server.base_url, mode)
        calls = server.request_count
    expected = topics * (1 + len(SECTIONS) + sum(SECTIONS.values()))
    if calls != expected:
        raise SystemExit(f"bench_stack: {calls} calls, expected {expected}")
    return {"topics": topics, "calls": calls, "cpu_s": round(cpu, 2), "startup_cpu_s": round(idle, 2),
            "ms_per_call": round((cpu - idle) / calls * 1000, 1),
            "ms_per_call_with_startup": round(cpu / calls * 1000, 1), "calls_per_s": round(calls / wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=int, default=100)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="full", choices=("full", "aiosqlite", "graph", "calls"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.base_url, args.mode)
        return
    from tests.bench_batch import machine

    print(f"machine: {machine()}")
    for mode, what in (("calls", "ChatOpenAI structured calls alone"),
                       ("graph", "the same in a LangGraph graph"),
                       ("aiosqlite", "with LangGraph's AsyncSqliteSaver (aiosqlite)"),
                       ("full", "with its SqliteSaver on the event loop (the product's shape)")):
        found = floor(args.topics, mode)
        print(f"{what}: {found['topics']} topics x 6 calls at 0 ms latency, "
              f"{CONCURRENCY} at a time: {found['ms_per_call']} ms of CPU per call without "
              f"start-up ({found['startup_cpu_s']} s), {found['ms_per_call_with_startup']} ms with "
              f"it; {found['calls_per_s']} calls/s", flush=True)


if __name__ == "__main__":
    main()
