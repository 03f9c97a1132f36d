"""Running the refresh and rewrite graphs durably: run records, checkpoints, resume, errors.

The run row is written before the graph starts, so a crash before the first checkpoint
still leaves a trace. Checkpoints live beside the store (a SQLite file next to it, or the same PostgreSQL database);
durability is "sync", so a finished node never runs again after a crash, and merging is
idempotent by edit id, so the node that was running when the process died may safely
repeat.
"""

from __future__ import annotations

import asyncio
import warnings
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.errors import GraphDrained
from langgraph.runtime import RunControl
from langgraph.types import Command

from agent.citations import CitationGate
from agent.llm import build_chat_model
from agent.llm_errors import LLMError
from agent.llm_usage import TokenBudget
from agent.models import Run, RunStatus
from agent.settings import Settings, get_settings
from agent.shutdown import pause_reason, pause_run  # noqa: F401 - pause_run is used via runner
from agent.store import Store
from agent.store.runs import INTERRUPTED
from agent.store.verdicts import StoreVerdictCache
from agent.redact import scrub

# LangGraph makes each task's coroutine when it schedules the task; when one section fails
# and the run stops, sibling sections still queued behind max_concurrency (1 on the local
# server) are cancelled before they start, and their never-started coroutines are collected
# with "coroutine 'arun_with_retry' was never awaited". Nothing ran and nothing is lost; the
# run's own error is the line the user needs.
warnings.filterwarnings("ignore", message="coroutine 'arun_with_retry' was never awaited",
                        category=RuntimeWarning)


@dataclass
class RunResult:
    run: Run
    proposal_id: int | None = None
    merged_revision_id: int | None = None
    outcome: str = ""
    gather: dict = field(default_factory=dict)


def checkpoint_path(store: Store) -> str:
    database = store.engine.url.database or ""
    if not database or database == ":memory:":
        return ":memory:"
    return str(Path(database).with_suffix(".checkpoints.db"))


_saver_ready: set[str] = set()
_SETUP_LOCK = 0x61627362  # "absb": the advisory lock key of the checkpoint tables' setup


@asynccontextmanager
async def checkpointer(store: Store) -> AsyncIterator[Any]:
    """LangGraph's saver on the store's own database."""
    url = store.engine.url
    if url.get_backend_name() == "postgresql":
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg import AsyncConnection
        from psycopg.rows import dict_row

        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        async with await AsyncConnection.connect(conninfo, autocommit=True, prepare_threshold=None,
                                                 row_factory=dict_row) as conn:
            saver = AsyncPostgresSaver(conn)
            if conninfo not in _saver_ready:
                # Concurrent setup() of a fresh database races on CREATE TABLE (batch, workers).
                # Poll instead of blocking: a waiter inside pg_advisory_lock() holds a
                # transaction open, which the holder's CREATE INDEX CONCURRENTLY waits for.
                while not (await (await conn.execute("SELECT pg_try_advisory_lock(%s) AS ok",
                                                     (_SETUP_LOCK,))).fetchone())["ok"]:
                    await asyncio.sleep(0.05)
                try:
                    await saver.setup()
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
                _saver_ready.add(conninfo)
            yield saver
        return
    # A file of its own: nodes write the store synchronously on the event loop, and a store
    # write waiting on a lock that aiosqlite holds until the loop lets it commit would
    # deadlock. Nothing spans the two files in one transaction either way.
    async with _shared_sqlite_saver(checkpoint_path(store)) as saver:
        yield saver


# One saver per (event loop, file): concurrent runs of a batch each opening their own
# aiosqlite connection made deferred transactions race ("database is locked" at once, the
# busy timeout never applies); the saver serialises its own operations with a lock.
_SQLITE_SAVERS: dict[tuple[int, str], list] = {}
_SAVER_OPENING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> {path: Lock}


@asynccontextmanager
async def _shared_sqlite_saver(path: str) -> AsyncIterator[Any]:
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    key = (id(asyncio.get_running_loop()), path)
    # Runs starting together must not each open and set up the file: a second connection's
    # PRAGMA journal_mode or CREATE TABLE fails at once with "database is locked".
    loop_locks = _SAVER_OPENING.setdefault(asyncio.get_running_loop(), {})
    async with loop_locks.setdefault(path, asyncio.Lock()):
        entry = _SQLITE_SAVERS.get(key)
        if entry is None:
            conn = await aiosqlite.connect(path)
            await conn.execute("PRAGMA busy_timeout=30000")
            await conn.execute("PRAGMA journal_mode=WAL")
            # As the store itself (agent/store/db.py): in WAL mode a commit is not fsynced, so
            # a crashed or killed process loses nothing, an OS crash or power cut at most the
            # last commits, of both files alike. FULL fsynced each of a run's ~50 checkpoint
            # writes: 0.25 ms of CPU each, about 2 ms per model call of a batch.
            await conn.execute("PRAGMA synchronous=NORMAL")
            saver = AsyncSqliteSaver(conn)
            await saver.setup()
            entry = _SQLITE_SAVERS[key] = [saver, conn, 0]
        entry[2] += 1
    try:
        yield entry[0]
    finally:
        entry[2] -= 1
        if entry[2] == 0 and _SQLITE_SAVERS.get(key) is entry:
            del _SQLITE_SAVERS[key]
            await entry[1].close()


@dataclass
class Models:
    """The chat models of a run; tests pass fakes, the product builds ChatOpenAI."""

    triage: BaseChatModel | None
    draft: BaseChatModel | None
    judge: BaseChatModel | None

    @classmethod
    def from_settings(cls, settings: Settings, *, judge: bool = True, triage: bool = True) -> Models:
        return cls(triage=build_chat_model("triage", settings) if triage else None,
                   draft=build_chat_model("draft", settings),
                   judge=build_chat_model("judge", settings) if judge else None)


def make_context(store: Store, run: Run, models: Models, settings: Settings, *, review: str,
                 gather: bool = True, budget: TokenBudget | None = None,
                 extra: dict | None = None):
    from graphs.state import RunContext

    budget = budget or TokenBudget(settings.token_budget)
    gate = CitationGate(models.judge, method=settings.structured_method,
                        cache=StoreVerdictCache(store.engine), recorder=store.runs, run_id=run.id,
                        budget=budget, settings=settings)
    return RunContext(store=store, run_id=run.id, triage_model=models.triage, draft_model=models.draft,
                      gate=gate, recorder=store.runs, budget=budget, settings=settings,
                      review=review, gather=gather, extra=extra or {})


def _graph(kind: str):
    """The kind's graph, compiled once per process (at import of its module; building and
    compiling cost ~15 ms of CPU, once per run before). A run lends it its saver with
    `copy(update={"checkpointer": ...})`, a shallow copy of some 30 µs: the compiled graph
    itself holds no run state, its runs get theirs from the config and the context."""
    if kind == "rewrite":
        from graphs.rewrite import graph

        return graph
    from graphs.refresh import graph

    return graph


def _report_progress(progress: Callable[[str], None], namespace: tuple, update: dict) -> None:
    section = next((part.split(":", 1)[0] for part in namespace if part), None)
    for node in update:
        if node.startswith("__"):
            continue
        progress(f"{node}" + (f" ({section})" if section and node != "section" else ""))


async def execute(store: Store, run: Run, models: Models, *, graph_input: dict | Command | None,
                  review: str, settings: Settings | None = None, gather: bool = True,
                  budget: TokenBudget | None = None, extra: dict | None = None,
                  progress: Callable[[str], None] | None = None,
                  control: RunControl | None = None) -> RunResult:
    """Invoke (or resume) the run's graph on its thread; the run row tells how it ended.

    `control.request_drain(reason)` stops the run at the next step boundary (running nodes
    finish, their checkpoints are written); such a run, like one paused by `pause_run`,
    ends `deferred` and the next refresh of the topic continues it.
    """
    settings = settings or get_settings()
    context = make_context(store, run, models, settings, review=review, gather=gather,
                           budget=budget, extra=extra)
    config = {"configurable": {"thread_id": run.thread_id}, "max_concurrency": settings.concurrency,
              "recursion_limit": 100}
    store.runs.update(run.id, status=RunStatus.running, error_category=None, error=None)
    try:
        async with checkpointer(store) as saver:
            compiled = _graph(run.kind).copy(update={"checkpointer": saver})
            if graph_input is None:
                snapshot = await compiled.aget_state(config)
                if not snapshot.values:  # crashed before the first checkpoint: start over
                    graph_input = {"topic": run.topic}
            async for namespace, update in compiled.astream(
                    graph_input, config, context=context, durability="sync",
                    stream_mode="updates", subgraphs=True, control=control):
                if progress is not None:
                    _report_progress(progress, namespace, update)
            snapshot = await compiled.aget_state(config)
            state, paused = snapshot.values, pause_reason(snapshot.interrupts)
            waiting = bool(snapshot.interrupts) and paused is None
    except GraphDrained as exc:
        paused, state, waiting = exc.reason, {}, False
    except (asyncio.CancelledError, KeyboardInterrupt):
        # Ctrl-C or a hard stop: the checkpoints so far are kept; the next refresh continues.
        store.runs.update(run.id, status=RunStatus.interrupted, error_category="interrupted",
                          error=INTERRUPTED)
        raise
    except LLMError as exc:
        ended = store.runs.update(run.id, status=RunStatus.failed, finished=True,
                                  error_category=exc.category, error=str(exc))
        return RunResult(run=ended, outcome=f"failed: {exc}")
    except Exception as exc:
        store.runs.update(run.id, status=RunStatus.failed, finished=True,
                          error_category=getattr(exc, "category", "internal"),
                          error=scrub(f"{type(exc).__name__}: {exc}"))
        raise
    if paused is not None:
        ended = store.runs.update(run.id, status=RunStatus.deferred, error_category=paused,
                                  error=f"paused ({paused}); the next refresh continues from its checkpoint")
        return RunResult(run=ended, outcome=f"deferred: {paused}")
    proposal_id = state.get("proposal_id")
    if waiting and _decided(store, proposal_id):
        waiting = False  # an editor decided while the run was on its way to review
    status = RunStatus.waiting_review if waiting else RunStatus.done
    ended = store.runs.update(run.id, status=status, finished=not waiting, proposal_id=proposal_id)
    outcome = state.get("outcome") or ("waiting for review" if waiting else "no new sources")
    return RunResult(run=ended, proposal_id=proposal_id,
                     merged_revision_id=state.get("merged_revision_id"), outcome=outcome,
                     gather=state.get("gather_report") or {})


def _decided(store: Store, proposal_id: int | None) -> bool:
    """Some edit of the proposal is decided: the run's part (proposing) is over."""
    if proposal_id is None:
        return False
    return store.proposals.any_decided(proposal_id)


def settle_unfinished(store: Store, run: Run) -> Run | None:
    """Check an unfinished run's proposal before resuming it: once an editor decided on it
    there is nothing left to run, whatever the order of events."""
    proposal = store.proposals.for_run(run.id)
    if proposal is not None and _decided(store, proposal.id):
        store.runs.update(run.id, status=RunStatus.done, finished=True, proposal_id=proposal.id,
                          error_category=None, error=None)
        return None
    return run


async def refresh_topic(store: Store, topic: str, *, review: str = "manual", resume: bool = True,
                        models: Models | None = None, settings: Settings | None = None,
                        gather: bool = True, judge: bool = True,
                        budget: TokenBudget | None = None,
                        on_run: Callable[[Run], None] | None = None,
                        progress: Callable[[str], None] | None = None,
                        control: RunControl | None = None, run: Run | None = None,
                        resumed: bool = False) -> RunResult:
    """Refresh one topic: continue its unfinished run if there is one, else start a new one.

    `run`: the run the caller already found or created for the topic (the batch, which
    admits it first; `resumed` when it is an unfinished run, already settled)."""
    settings = settings or get_settings()
    if run is None:
        store.topics.get(topic)  # an unknown topic is refused before a model is built
    models = models or Models.from_settings(settings, judge=judge)  # before any run row
    if run is None:
        run = store.runs.latest_unfinished(topic, "refresh") if resume else None
        if run is not None:
            run = settle_unfinished(store, run)
            resumed = run is not None
        if run is None:
            run = store.runs.create("refresh", topic, {"review": review, "judge": judge})
    graph_input: dict | None = None
    if resumed:
        review = store.runs.options(run.id).get("review", review)
    else:
        graph_input = {"topic": topic}
    if on_run:
        on_run(run)
    return await execute(store, run, models, graph_input=graph_input, review=review,
                         settings=settings, gather=gather, budget=budget, progress=progress,
                         control=control)


async def rewrite_section(store: Store, topic: str, section_id: str, *, instructions: str = "",
                          with_new: bool = False, review: str = "manual",
                          models: Models | None = None, settings: Settings | None = None,
                          judge: bool = True,
                          progress: Callable[[str], None] | None = None) -> RunResult:
    """Redo one section through the section subgraph, gate and review; always a new run."""
    settings = settings or get_settings()
    # Models first: a rewrite without a configured model must leave no run behind.
    models = models or Models.from_settings(settings, judge=judge, triage=False)
    run = store.runs.create("rewrite", topic, {"review": review, "judge": judge,
                                                "section": section_id, "with_new": with_new})
    graph_input = {"topic": topic, "section_id": section_id, "instructions": instructions,
                   "with_new": with_new}
    return await execute(store, run, models, graph_input=graph_input, review=review,
                         settings=settings, gather=False, progress=progress)
