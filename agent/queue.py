"""Scale-out: one procrastinate job per topic in PostgreSQL, run by any number of `absorb worker`s.

A topic is never run by two workers at once: its job carries the procrastinate `lock` (jobs
with one lock run one after the other) and `queueing_lock` (a topic is queued at most once),
and the job takes the store's topic lock as well, which also keeps a local `refresh --all`
off it. Budget: the enqueuer reserves each topic's estimate from the night's budget and the
job's run may spend only that reservation.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
from dataclasses import dataclass, field

import sqlalchemy as sa

from agent import shutdown
from agent.batch import (Batch, BatchOptions, Drain, TopicReport, candidate_topics, defer_topic,
                         holder_name)
from agent.batch_budget import NightBudget, estimate_topic
from agent.runner import Models
from agent.settings import Settings
from agent.store import Store, open_store

QUEUE = "absorb-refresh"
TASK = "absorb.refresh_topic"


class QueueError(Exception):
    """A queue the user asked for cannot be used (not PostgreSQL); one line for the CLI."""


class TopicBusy(Exception):
    """Another batch holds the topic's store lock; procrastinate retries the job later."""


def libpq_url(database_url: str) -> str:
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise QueueError("the job queue needs PostgreSQL: set ABSORB_DATABASE_URL="
                         "postgresql+psycopg://... (SQLite is for one machine: use `refresh --all`)")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def ensure_schema(database_url: str) -> bool:
    """Create procrastinate's tables once; safe when several workers start together."""
    import psycopg
    from procrastinate.schema import SchemaManager

    key = int(hashlib.sha256(b"absorb-procrastinate-schema").hexdigest()[:15], 16)
    with psycopg.connect(libpq_url(database_url)) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
        if conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0] is not None:
            return False
        conn.execute(SchemaManager.get_schema())
    return True


@dataclass
class WorkerState:
    """What the jobs of one worker process share."""

    store: Store
    settings: Settings
    models: Models
    drain: Drain = field(default_factory=Drain)
    holder: str = field(default_factory=lambda: holder_name("worker"))
    reports: list[TopicReport] = field(default_factory=list)


def make_app(database_url: str, state: WorkerState | None = None, pool_size: int = 4):
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=libpq_url(database_url), min_size=1, max_size=pool_size,
        kwargs={"prepare_threshold": None}))

    # A busy topic is tried again later; any other outcome is recorded in its run row.
    @app.task(name=TASK, queue=QUEUE, retry=procrastinate.RetryStrategy(
        max_attempts=30, wait=60, retry_exceptions={TopicBusy}))
    async def refresh_topic_job(topic: str, review: str, judge: bool,
                                reservation: int | None) -> None:
        if state is None:
            raise RuntimeError("this app only enqueues; run jobs with `absorb worker`")
        options = BatchOptions(concurrency=1, budget_tokens=reservation, review=review,
                               judge=judge, gather=False, topics=[topic])
        batch = Batch(state.store, options, state.settings, state.models, holder=state.holder)
        batch.drain = state.drain
        report = await batch.refresh(topic)
        if report.status == "locked":
            raise TopicBusy(f"{topic}: {report.error}")
        state.reports.append(report)

    return app


async def enqueue_all(store: Store, database_url: str, options: BatchOptions,
                      settings: Settings) -> list[dict]:
    """One job per candidate topic, each with its reservation of the night's budget."""
    from procrastinate.exceptions import AlreadyEnqueued

    from agent.sources.pull import pull_topic

    ensure_schema(database_url)
    night = NightBudget(options.budget_tokens)
    rows: list[dict] = []
    app = make_app(database_url)
    async with app.open_async():
        for topic in options.topics or candidate_topics(store, gather=options.gather):
            run = store.runs.latest_unfinished(topic, "refresh")
            if options.gather and run is None:
                # Feeds are pulled here so that the estimate sees what they bring.
                await asyncio.to_thread(pull_topic, store, topic)
            estimate = estimate_topic(store, topic, settings)
            row = {"topic": topic, "estimate_tokens": estimate.tokens, "job_id": None}
            if run is None and estimate.sources == 0:
                rows.append({**row, "status": "unchanged"})
                continue
            if not night.try_take(estimate.tokens):
                deferred = defer_topic(store, topic, run, f"estimated {estimate.tokens} tokens, "
                                       f"{night.free} left of the night's {night.limit}",
                                       {"review": options.review, "judge": options.judge,
                                        "estimate": estimate.tokens})
                rows.append({**row, "status": "deferred", "run_id": deferred.run_id})
                continue
            try:
                job_id = await app.configure_task(TASK, lock=topic, queueing_lock=topic).defer_async(
                    topic=topic, review=options.review, judge=options.judge,
                    reservation=estimate.tokens if night.limit is not None else None)
            except AlreadyEnqueued:
                night.reserved -= estimate.tokens
                rows.append({**row, "status": "already_queued"})
                continue
            rows.append({**row, "status": "queued", "job_id": job_id})
    return rows


async def run_worker(database_url: str, settings: Settings, *, concurrency: int = 1,
                     burst: bool = False) -> list[TopicReport]:
    """Process refresh jobs until stopped (or, with burst, until the queue is empty)."""
    ensure_schema(database_url)
    settings = settings.model_copy(update={"concurrency": max(settings.concurrency, concurrency)})
    store = open_store(database_url)
    state = WorkerState(store=store, settings=settings, models=Models.from_settings(settings))
    # Jobs, the listener, the fetcher and the heartbeat each need a connection.
    app = make_app(database_url, state, pool_size=concurrency + 4)
    loop = asyncio.get_running_loop()
    try:
        async with app.open_async():
            # A worker killed mid-job leaves it "doing" (and its lock held) for good.
            for job in await app.job_manager.get_stalled_jobs(queue=QUEUE):
                await app.job_manager.retry_job(job)
            work = asyncio.create_task(app.run_worker_async(
                queues=[QUEUE], concurrency=concurrency, wait=not burst, name=state.holder,
                install_signal_handlers=False, listen_notify=not burst,
                fetch_job_polling_interval=1.0 if burst else 5.0))

            def stop() -> None:  # drain: running nodes finish, then the worker exits
                shutdown.begin_drain("shutdown", settings.drain_grace)
                state.drain.request("shutdown")
                work.cancel()

            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop)
            try:
                await work
            except asyncio.CancelledError:
                if not state.drain.event.is_set():
                    raise
            finally:
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(signum)
    finally:
        store.close()
    return state.reports
