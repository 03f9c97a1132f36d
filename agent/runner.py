"""Running the refresh and rewrite graphs durably: run records, checkpoints, resume, errors.

The run row is written before the graph starts, so a crash before the first checkpoint
still leaves a trace. Checkpoints live beside the store (agent/checkpoints.py: a SQLite file
next to it, or the same PostgreSQL database); durability is "sync", so a finished node never
runs again after a crash, and merging is idempotent by edit id, so the node that was running
when the process died may safely repeat.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel
from langgraph.errors import GraphDrained
from langgraph.runtime import RunControl
from langgraph.types import Command

from agent.checkpoints import checkpointer
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
# with "coroutine 'arun_with_retry' was never awaited". A checkpoint write queued behind the
# same limit when the run stops (`_checkpointer_put_after_previous`) is dropped the same way:
# it is a cancelled section's, and with durability "sync" each finished step was written
# before the next began (the failing run of tests/test_extract.py keeps 7 checkpoints and 31
# writes, against 6 and 23 with the aiosqlite saver, which never dropped one there). Nothing
# is lost; the run's own error is the line the user needs.
warnings.filterwarnings(
    "ignore", category=RuntimeWarning,
    message="coroutine '(arun_with_retry|AsyncPregelLoop._checkpointer_put_after_previous)' "
            "was never awaited")


@dataclass
class RunResult:
    run: Run
    proposal_id: int | None = None
    merged_revision_id: int | None = None
    outcome: str = ""
    gather: dict = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    """Sections whose draft failed: heading and category (graphs/section.py)."""


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
                     gather=state.get("gather_report") or {},
                     failures=list(state.get("section_failures") or []))


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
