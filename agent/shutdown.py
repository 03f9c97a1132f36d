"""Draining a process: after SIGTERM or a first Ctrl-C no model call or retry starts, and the
calls still in flight are cancelled once a short grace is over (ABSORB_DRAIN_GRACE).

The state is per event loop (each `asyncio.run` is its own), so an in-process test or a
second run in the same process starts clean. A node whose call is stopped this way pauses
its run (`pause_run`): the run ends `deferred` with the reason and resumes from its last
checkpoint, the stopped node from its first line.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable
from typing import TypeVar

from langgraph.errors import GraphInterrupt
from langgraph.types import Interrupt

# Interrupt value that parks a run without an editor: resumed by the next batch, not by review.
PAUSE_KEY = "absorb_pause"
T = TypeVar("T")


def pause_run(reason: str) -> None:
    """Stop the calling node before its next model call; its siblings finish their nodes.

    The node is re-run from its first line when the run is resumed, like after `interrupt()`.
    """
    raise GraphInterrupt((Interrupt(value={PAUSE_KEY: reason}),))


def pause_reason(interrupts: tuple) -> str | None:
    return next((i.value[PAUSE_KEY] for i in interrupts
                 if isinstance(i.value, dict) and PAUSE_KEY in i.value), None)


class _Drain:
    def __init__(self) -> None:
        self.reason: str | None = None
        self.cancel = asyncio.Event()
        self.timer: asyncio.TimerHandle | None = None


_DRAINS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Drain] = weakref.WeakKeyDictionary()


def _drain() -> _Drain | None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # sync calls (eval, audit) run outside any loop: nothing drains them
        return None
    state = _DRAINS.get(loop)
    if state is None:
        state = _DRAINS[loop] = _Drain()
    return state


def begin_drain(reason: str, grace: float) -> None:
    """From now on no call starts; calls in flight are cancelled after `grace` seconds."""
    state = _drain()
    if state is None or state.reason is not None:
        return
    state.reason = reason
    state.timer = asyncio.get_running_loop().call_later(max(0.0, grace), state.cancel.set)


def cancel_calls_now(reason: str = "shutdown") -> None:
    """Skip the grace: cancel the calls in flight at once."""
    state = _drain()
    if state is None:
        return
    state.reason = state.reason or reason
    state.cancel.set()


def draining() -> str | None:
    """The reason this loop is draining, or None."""
    state = _drain()
    return state.reason if state is not None else None


def check() -> None:
    """Called before every model call and retry: a draining loop starts none."""
    reason = draining()
    if reason is not None:
        pause_run(reason)


async def guarded(awaitable: Awaitable[T]) -> T:
    """Await a model call; if the drain's grace runs out first, cancel it and pause the run."""
    state = _drain()
    if state is None:
        return await awaitable
    call = asyncio.ensure_future(awaitable)
    stop = asyncio.ensure_future(state.cancel.wait())
    try:
        await asyncio.wait({call, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not call.done():
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await call
        stop.cancel()
    if call.cancelled():
        pause_run(state.reason or "shutdown")
    return call.result()


class Interrupted(Exception):
    """A one-topic command was stopped by Ctrl-C or SIGTERM; its run is left resumable."""


def run_interruptibly(main: Awaitable[T]) -> T:
    """`asyncio.run` where SIGTERM, like Ctrl-C, cancels the command's task (the runner marks
    its run `interrupted`) and the caller gets Interrupted instead of a traceback."""
    import signal

    async def body() -> T:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            return await main
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        return asyncio.run(body())
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise Interrupted() from None
