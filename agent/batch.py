"""The overnight batch: refresh every topic with new sources, several at once, unattended.

Each topic runs alone: locked in the store (two batches never refresh one topic at once),
admitted (a run row) before its graph starts, given its share of the night's token budget,
and reported whatever happens to it; one topic failing never stops the others. SIGTERM
drains: nothing new is admitted, running nodes finish, their checkpoints are written and
the runs end `deferred`, to be continued by the next batch.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import sqlalchemy as sa
from langgraph.runtime import RunControl

from agent import shutdown
from agent.batch_budget import NightBudget, RunBudget, estimate_topic
from agent.models import RunStatus, SourceStatus
from agent.runner import Models, refresh_topic, settle_unfinished
from agent.settings import Settings
from agent.store import Store
from agent.store.runs import holder_is_dead
from agent.store.schema import feeds, topic_sources
from agent.redact import scrub

# Exit statuses: 75 (EX_TEMPFAIL) means nothing failed but work is left for the next batch.
EXIT_OK, EXIT_FAILED, EXIT_UNFINISHED = 0, 1, 75
CLEAN = {"done", "waiting_review", "unchanged", "no_article"}


@dataclass
class BatchOptions:
    concurrency: int = 4
    budget_tokens: int | None = None
    review: str = "manual"
    judge: bool = True
    gather: bool = True
    lock_ttl: float = 300.0
    topics: list[str] | None = None


@dataclass
class TopicReport:
    topic: str
    status: str
    run_id: int | None = None
    proposal_id: int | None = None
    edits: int = 0
    held_back: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    duration_s: float = 0.0
    estimate_tokens: int = 0
    error_category: str | None = None
    error: str | None = None
    feed_errors: list[str] = field(default_factory=list)


@dataclass
class BatchReport:
    topics: list[TopicReport] = field(default_factory=list)
    duration_s: float = 0.0
    budget_tokens: int | None = None
    spent_tokens: int = 0

    @property
    def exit_code(self) -> int:
        statuses = {t.status for t in self.topics}
        if "failed" in statuses:
            return EXIT_FAILED
        return EXIT_OK if statuses <= CLEAN else EXIT_UNFINISHED

    def as_dict(self) -> dict:
        counts: dict[str, int] = {}
        for t in self.topics:
            counts[t.status] = counts.get(t.status, 0) + 1
        return {"topics": [asdict(t) for t in self.topics], "counts": counts,
                "duration_s": round(self.duration_s, 3), "budget_tokens": self.budget_tokens,
                "spent_tokens": self.spent_tokens, "exit_code": self.exit_code}


def holder_name(kind: str = "batch") -> str:
    """host:pid:kind:nonce; the host and pid let a later batch on this host see it died."""
    return f"{socket.gethostname()}:{os.getpid()}:{kind}:{uuid.uuid4().hex[:8]}"


def acquire_topic(store: Store, topic: str, holder: str, ttl: float) -> str | None:
    """Lock the topic for `holder`; returns None, or the holder that keeps it."""
    if store.runs.lock_topic(topic, holder, ttl):
        return None
    current = store.runs.topic_lock_holder(topic)
    # A batch killed on this host leaves its lock behind; its rerun must not wait for the TTL.
    if current and holder_is_dead(current) and store.runs.break_topic_lock(topic, current):
        if store.runs.lock_topic(topic, holder, ttl):
            return None
        current = store.runs.topic_lock_holder(topic)
    return current or "another batch"


class TopicLocked(Exception):
    """Someone else is refreshing or rewriting the topic right now."""

    category = "locked"


@contextmanager
def topic_lock(store: Store, topic: str, kind: str, ttl: float = 3600.0) -> Iterator[str]:
    """Hold the topic's lock for one command: two processes on one run's thread would fork
    its checkpoint chain."""
    holder = holder_name(kind)
    other = acquire_topic(store, topic, holder, ttl)
    if other is not None:
        raise TopicLocked(f"topic '{topic}' is being worked on by {other}; try again when it ends")
    try:
        yield holder
    finally:
        store.runs.unlock_topic(topic, holder)


async def _keep_lock(store: Store, topic: str, holder: str, ttl: float) -> None:
    while True:
        await asyncio.sleep(ttl / 3)
        await asyncio.to_thread(store.runs.renew_topic_lock, topic, holder, ttl)


class Drain:
    """Stops admitting and drains every running run at its next step boundary."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.reason = "shutdown"
        self._controls: set[RunControl] = set()

    def request(self, reason: str = "shutdown") -> None:
        self.reason = reason
        self.event.set()
        for control in list(self._controls):
            control.request_drain(reason)

    def watch(self, control: RunControl) -> None:
        self._controls.add(control)
        if self.event.is_set():
            control.request_drain(self.reason)

    def forget(self, control: RunControl) -> None:
        self._controls.discard(control)


def candidate_topics(store: Store, *, gather: bool) -> list[str]:
    """Topics with new sources, an unfinished run, or (when gathering) a feed to pull."""
    with store.engine.connect() as conn:
        chosen = set(conn.execute(sa.select(topic_sources.c.topic).distinct().where(
            topic_sources.c.status == SourceStatus.new.value)).scalars())
        if gather:
            chosen |= set(conn.execute(sa.select(feeds.c.topic).distinct()).scalars())
    unfinished = store.runs.unfinished_topics("refresh")
    # Unfinished runs first: they have paid for part of their work already.
    return sorted(unfinished) + sorted(chosen - set(unfinished))


def defer_topic(store: Store, topic: str, run, message: str, options: dict) -> TopicReport:
    """Record a topic the budget cannot pay for tonight as a deferred (resumable) run."""
    if run is None:
        run = store.runs.create("refresh", topic, options, status=RunStatus.deferred)
    store.runs.update(run.id, status=RunStatus.deferred, error_category="budget", error=message)
    return TopicReport(topic, "deferred", run_id=run.id, estimate_tokens=options.get("estimate", 0),
                       error_category="budget", error=message)


class Batch:
    """One batch over many topics, sharing models, budget, drain and the rate limiter."""

    def __init__(self, store: Store, options: BatchOptions, settings: Settings,
                 models: Models | None = None, holder: str | None = None) -> None:
        self.store = store
        self.options = options
        # --concurrency N topics at once must not be starved by a smaller model-call limit.
        self.settings = settings.model_copy(
            update={"concurrency": max(settings.concurrency, options.concurrency)})
        self.models = models or Models.from_settings(self.settings, judge=options.judge)
        self.holder = holder or holder_name()
        self.night = NightBudget(options.budget_tokens)
        self.drain = Drain()

    def _run_options(self, estimate: int) -> dict:
        return {"review": self.options.review, "judge": self.options.judge, "estimate": estimate,
                "batch": self.holder}

    async def refresh(self, topic: str) -> TopicReport:
        """Lock, gather, estimate, admit, run and report one topic; never raises."""
        started = time.monotonic()
        try:
            report = await self._locked(topic)
        except Exception as exc:  # noqa: BLE001 - one topic's bug must not stop the batch
            # Not a model error (those are scrubbed where they are made): a driver's or a
            # library's message may still carry a key or a database password.
            report = TopicReport(topic, "failed", error_category=getattr(exc, "category", "internal"),
                                 error=scrub(f"{type(exc).__name__}: {exc}"))
        report.duration_s = round(time.monotonic() - started, 3)
        return report

    async def _locked(self, topic: str) -> TopicReport:
        store, ttl = self.store, self.options.lock_ttl
        other = await asyncio.to_thread(acquire_topic, store, topic, self.holder, ttl)
        if other is not None:
            return TopicReport(topic, "locked", error=f"being refreshed by {other}")
        heartbeat = asyncio.create_task(_keep_lock(store, topic, self.holder, ttl))
        try:
            return await self._admitted(topic)
        finally:
            heartbeat.cancel()
            await asyncio.to_thread(store.runs.unlock_topic, topic, self.holder)

    async def _admitted(self, topic: str) -> TopicReport:
        store, options = self.store, self.options
        run = store.runs.latest_unfinished(topic, "refresh")
        if run is not None:  # an editor may have decided its proposal already: then it is done
            run = settle_unfinished(store, run)
        if options.gather and run is None and not self.drain.event.is_set():
            from agent.sources.pull import pull_topic

            pulled = await asyncio.to_thread(pull_topic, store, topic)
            feed_errors = pulled.problems()
        else:
            feed_errors = []
        # Whether there is an article at all: the topic's pointer, without reading the article.
        if store.topics.get(topic).current_revision_id is None:  # sources came before any page
            return TopicReport(topic, "no_article", feed_errors=feed_errors,
                               error=f"no article yet: `absorb import FILE --topic {topic}`")
        estimate = await asyncio.to_thread(estimate_topic, store, topic, self.settings)
        if run is None and estimate.sources == 0:
            return TopicReport(topic, "unchanged", feed_errors=feed_errors,
                               error="; ".join(feed_errors) or None)
        reserved = None if self.drain.event.is_set() else await self.night.admit(
            estimate, self.drain.event, cap=self.settings.token_budget)
        if reserved is None:
            if self.drain.event.is_set():
                return TopicReport(topic, "deferred", run_id=run.id if run else None,
                                   error_category=self.drain.reason, error="not started: draining")
            message = (f"estimated {estimate.tokens} tokens, {self.night.free} left of the "
                       f"night's {self.night.limit}")
            return defer_topic(store, topic, run, message, self._run_options(estimate.tokens))
        resumed = run is not None
        if run is None:  # the admission record: written before the graph starts
            run = store.runs.create("refresh", topic, self._run_options(estimate.tokens))
        before = store.runs.update(run.id, worker=self.holder)
        control = RunControl()
        budget = RunBudget(self.night, reserved, estimate.call_ceiling, control,
                           per_run_cap=self.settings.token_budget)
        self.drain.watch(control)
        try:
            result = await refresh_topic(store, topic, review=options.review, judge=options.judge,
                                         gather=False, models=self.models, settings=self.settings,
                                         budget=budget, control=control, run=run,
                                         resumed=resumed)
        finally:
            self.drain.forget(control)
            self.night.settle(budget)
        report = self._report(topic, result.run, before, estimate.tokens)
        report.feed_errors = feed_errors
        if feed_errors and not report.error:
            report.error = "; ".join(feed_errors)
        return report

    def _report(self, topic: str, run, before, estimate: int) -> TopicReport:
        report = TopicReport(topic, run.status.value, run_id=run.id, proposal_id=run.proposal_id,
                             input_tokens=run.input_tokens - before.input_tokens,
                             output_tokens=run.output_tokens - before.output_tokens,
                             cost=round(run.cost - before.cost, 6), estimate_tokens=estimate,
                             error_category=run.error_category, error=run.error)
        if run.proposal_id:
            edits = self.store.proposals.get(run.proposal_id).edits
            report.edits = len(edits)
            report.held_back = sum(len(e.dropped) for e in edits)
        return report

    async def run(self, topics: list[str]) -> BatchReport:
        started = time.monotonic()
        slots = asyncio.Semaphore(self.options.concurrency)

        async def one(topic: str) -> TopicReport:
            async with slots:
                if self.drain.event.is_set():
                    return TopicReport(topic, "deferred", error_category=self.drain.reason,
                                       error="not started: draining")
                return await self.refresh(topic)

        reports = await asyncio.gather(*(one(t) for t in topics))
        return BatchReport(list(reports), time.monotonic() - started, self.night.limit,
                           self.night.spent)


async def run_batch(store: Store, options: BatchOptions, settings: Settings, *,
                    models: Models | None = None, handle_signals: bool = True) -> BatchReport:
    """Refresh `options.topics` (default: every candidate topic).

    SIGTERM or a first Ctrl-C drains (see `drain_on_signals`); a second one exits at once."""
    batch = Batch(store, options, settings, models)
    topics = options.topics or candidate_topics(store, gather=options.gather)
    # What start-up made (modules, schemas, compiled graphs: ~200,000 objects) lives as long
    # as the process; each full collection of the batch walked all of it again (~0.2 s of CPU
    # each on a 100-topic batch). Frozen, the collector only walks what the batch allocates.
    gc.freeze()
    try:
        with drain_on_signals(batch.drain, settings.drain_grace, enabled=handle_signals):
            return await batch.run(topics)
    finally:
        gc.unfreeze()


@contextmanager
def drain_on_signals(drain: Drain, grace: float, *, enabled: bool = True) -> Iterator[None]:
    """First SIGTERM/SIGINT: admit nothing more, stop every run at its next step, start no
    model call or retry, cancel the calls in flight after `grace` seconds; the runs end
    `deferred (shutdown)`. Second signal: exit at once (75); checkpoints are durable, and the
    runs left `running` are found `interrupted` by the next command."""
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)

    def first(signum: int) -> None:
        if drain.event.is_set():
            os.write(2, b"second signal: exiting now; the next batch continues every run\n")
            os._exit(EXIT_UNFINISHED)
        os.write(2, f"{signal.Signals(signum).name}: draining, model calls in flight get "
                 f"{grace:g}s (again to exit at once)\n".encode())
        shutdown.begin_drain("shutdown", grace)
        drain.request("shutdown")

    for signum in signals:
        loop.add_signal_handler(signum, first, signum)
    try:
        yield
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
