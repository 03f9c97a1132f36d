"""Process-wide request pacing and per-event-loop concurrency limits for model calls."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from langchain_core.rate_limiters import InMemoryRateLimiter

_lock = threading.Lock()
_rate_limiters: dict[float, InMemoryRateLimiter] = {}
# asyncio.Semaphore binds to the loop that first waits on it, so each loop gets its own.
_loop_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Semaphore]]
_loop_semaphores = weakref.WeakKeyDictionary()
_thread_semaphores: dict[int, threading.BoundedSemaphore] = {}


def shared_rate_limiter(requests_per_second: float) -> InMemoryRateLimiter | None:
    """One limiter per rate for the whole process, so every model built shares the pace.

    It counts requests, not tokens, and only within this process; 0 disables it.
    """
    if requests_per_second <= 0:
        return None
    with _lock:
        limiter = _rate_limiters.get(requests_per_second)
        if limiter is None:
            limiter = InMemoryRateLimiter(
                requests_per_second=requests_per_second,
                check_every_n_seconds=min(0.1, 1 / requests_per_second),
                # A full bucket lets a burst of up to one second's worth start at once.
                max_bucket_size=max(1.0, requests_per_second),
            )
            _rate_limiters[requests_per_second] = limiter
        return limiter


@asynccontextmanager
async def concurrency_slot(limit: int) -> AsyncIterator[None]:
    """Hold one of `limit` model-call slots of the running event loop."""
    loop = asyncio.get_running_loop()
    with _lock:
        per_limit = _loop_semaphores.setdefault(loop, {})
        semaphore = per_limit.setdefault(limit, asyncio.Semaphore(limit))
    async with semaphore:
        yield


@contextmanager
def blocking_slot(limit: int) -> Iterator[None]:
    """Hold one of `limit` model-call slots shared by all threads of the process."""
    with _lock:
        semaphore = _thread_semaphores.setdefault(limit, threading.BoundedSemaphore(limit))
    with semaphore:
        yield
