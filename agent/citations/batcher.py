"""The per-run judge batcher: the section subgraphs of a run, running concurrently, submit
their claims here instead of calling the judge themselves, so claims that cite the same
sources share one judge call across sections (not one call per section).

Each submission is screened at once (the deterministic stages decide what they are sure of
without waiting); only the claims left for the judge wait. The waiting claims are flushed
into judge calls when every active section has submitted (a section is active from `join`,
or its first submission, until `leave`), or `tick` seconds after the first of them arrived,
whichever comes first, so a section still drafting never holds the others back for long.
Packing is the gate's (`CitationGate._batches`): a call holds only claims citing the same
sources, with the same texts, so no claim is ever shown beside a source it does not cite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from agent.citations.context import ArticleContext
from agent.models import Source, Verdict

if TYPE_CHECKING:
    from agent.citations.gate import CitationGate, Claim, _Pending

# Long enough for sections that finish drafting together to share calls, short beside a
# judge call (seconds).
DEFAULT_TICK = 0.25


@dataclass
class _Submission:
    member: str
    row: list[Verdict | None]
    pending: list[_Pending]
    done: asyncio.Future[list[Verdict]]


class JudgeBatcher:
    """Packs the judge calls of a run's concurrent sections; see the module docstring."""

    def __init__(self, gate: CitationGate, tick: float = DEFAULT_TICK) -> None:
        self.gate = gate
        self.tick = tick
        self.active: set[str] = set()
        self.waiting: list[_Submission] = []
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the sections wait on
        self._tasks: set[asyncio.Task[None]] = set()  # running flushes, kept from the GC
        self.flushes = 0  # how many times waiting claims went to the judge (for tests, reports)

    def join(self, *members: str) -> None:
        """Sections that will submit: a flush waits for them (up to a tick)."""
        self.active.update(members)

    def leave(self, member: str) -> None:
        """A section that will submit no more; the others need not wait for it. Safe to call
        from a worker thread (LangGraph runs sync nodes in one): the flush it may start runs
        on the loop that the waiting sections run on."""
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is not None and running is not loop and not loop.is_closed():
            loop.call_soon_threadsafe(self._leave, member)
        else:
            self._leave(member)

    def _leave(self, member: str) -> None:
        self.active.discard(member)
        if self.waiting and self._all_in():
            self._flush()

    async def acheck(self, member: str, claims: list[Claim], sources: Mapping[str, Source],
                     candidates: Mapping[str, Source] | None = None,
                     context: ArticleContext | None = None) -> list[Verdict]:
        """One verdict per claim, as `CitationGate.acheck` gives, judge calls shared with the
        other sections that submit at about the same time."""
        from agent.citations.gate import ClaimGroup

        verdicts, pending = self.gate._prepare([ClaimGroup(claims, sources, candidates, context)])
        if self.gate.judge is None or not pending:
            return [v for v in verdicts[0] if v is not None]
        self._loop = loop = asyncio.get_running_loop()
        self.active.add(member)
        submission = _Submission(member, verdicts[0], pending, loop.create_future())
        self.waiting.append(submission)
        if self._all_in():
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.tick, self._flush)
        try:
            return await submission.done
        except asyncio.CancelledError:
            if submission in self.waiting:
                self.waiting.remove(submission)
            raise

    def _all_in(self) -> bool:
        return self.active <= {submission.member for submission in self.waiting}

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self.waiting = self.waiting, []
        if batch:
            self.flushes += 1
            task = (self._loop or asyncio.get_running_loop()).create_task(self._judge(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _judge(self, batch: list[_Submission]) -> None:
        rows = [submission.row for submission in batch]
        pending = [replace(item, group=number) for number, submission in enumerate(batch)
                   for item in submission.pending]
        try:
            failed = await self.gate._ajudge(rows, pending)
        except asyncio.CancelledError:
            for submission in batch:
                submission.done.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - every waiting section hears of it
            failed = dict.fromkeys(range(len(batch)), exc)
        for number, submission in enumerate(batch):
            if submission.done.done():
                continue
            if number in failed:
                submission.done.set_exception(failed[number])
            else:
                submission.done.set_result([v for v in submission.row if v is not None])
