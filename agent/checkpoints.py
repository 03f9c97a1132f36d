"""Where a run's LangGraph checkpoints live: beside the store, through LangGraph's own savers.

PostgreSQL: `AsyncPostgresSaver` on the store's database. SQLite: a file of its own next to the
store (`absorb.checkpoints.db`), written through LangGraph's `SqliteSaver` on the event loop's
thread, as the store itself is written (SQLAlchemy, synchronously, from the nodes).

Why not `AsyncSqliteSaver`: aiosqlite runs each statement on a worker thread and wakes the
loop with its result, several thread hand-offs per checkpoint and some 60 checkpoint writes a
topic, while the SQLite work of a write (WAL, no fsync) is tens of microseconds. In
`python -m tests.bench_batch` (100 topics, 0 ms latency; AMD EPYC, 2 cores, six interleaved
rounds) absorb's CPU per model call went from 13.5 to 11.2 ms (medians) with this saver. The
file, its tables and rows are the same (both savers come from langgraph-checkpoint-sqlite), so
checkpoints written before still resume (tests/test_refresh_resume.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.sqlite import SqliteSaver

from agent.store import Store


class LoopSqliteSaver(SqliteSaver):
    """LangGraph's `SqliteSaver` with its async methods answered by its sync ones, in place.

    The graphs run async; `SqliteSaver` refuses async calls only because it would block the
    loop. Here that is the point: every statement is short and local, and the nodes already
    block on the store's SQLite the same way. Its `threading.Lock` serialises the runs that
    share the saver; no call awaits while holding it."""

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.get_tuple(config)

    async def alist(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
                    before: RunnableConfig | None = None,
                    limit: int | None = None) -> AsyncIterator[CheckpointTuple]:
        for item in self.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
                   new_versions: ChannelVersions) -> RunnableConfig:
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]],
                          task_id: str, task_path: str = "") -> None:
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)

    async def aget_delta_channel_history(self, *, config: RunnableConfig,
                                         channels: Sequence[str]) -> Mapping[str, Any]:
        return self.get_delta_channel_history(config=config, channels=channels)


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
    # A file of its own: the checkpoints' write lock never waits on the store's, and nothing
    # spans the two files in one transaction either way.
    async with _shared_sqlite_saver(checkpoint_path(store)) as saver:
        yield saver


# One saver per (event loop, file): the concurrent runs of a batch share its connection (each
# their own made deferred transactions race: "database is locked" at once, the busy timeout
# never applies); the saver serialises its own statements with its lock.
_SQLITE_SAVERS: dict[tuple[int, str], list] = {}
_SAVER_OPENING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> {path: Lock}


@asynccontextmanager
async def _shared_sqlite_saver(path: str) -> AsyncIterator[LoopSqliteSaver]:
    key = (id(asyncio.get_running_loop()), path)
    loop_locks = _SAVER_OPENING.setdefault(asyncio.get_running_loop(), {})
    async with loop_locks.setdefault(path, asyncio.Lock()):
        entry = _SQLITE_SAVERS.get(key)
        if entry is None:
            conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA journal_mode=WAL")
            # As the store itself (agent/store/db.py): in WAL mode a commit is not fsynced, so
            # a crashed or killed process loses nothing, an OS crash or power cut at most the
            # last commits, of both files alike. FULL fsynced each of a run's ~50 checkpoint
            # writes: 0.25 ms of CPU each, about 2 ms per model call of a batch.
            conn.execute("PRAGMA synchronous=NORMAL")
            saver = LoopSqliteSaver(conn)
            saver.setup()
            entry = _SQLITE_SAVERS[key] = [saver, conn, 0]
        entry[2] += 1
    try:
        yield entry[0]
    finally:
        entry[2] -= 1
        if entry[2] == 0 and _SQLITE_SAVERS.get(key) is entry:
            del _SQLITE_SAVERS[key]
            entry[1].close()
