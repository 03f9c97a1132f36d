"""The night's token budget: estimate a topic before admitting it, reserve, borrow, settle.

How it holds: a topic is admitted only when its estimate fits in what the night has not yet
spent or reserved; its run gets a `RunBudget` whose limit is that reservation. Before every
model call the run reserves a per-call ceiling (largest prompt it can send plus the output
cap); a call that would not fit first borrows from the night's free remainder, and when
nothing is left the node pauses before calling (the run ends `deferred`, resumable from its
checkpoint; no proposal is ever made from half a run). When a run ends, what it did not
spend goes back to the night. Tokens are counted the way the provider bills them
(input + output of every answered attempt).
"""

from __future__ import annotations

import asyncio
import math
import threading
from dataclasses import dataclass

from langgraph.runtime import RunControl

from agent.budget_history import HISTORY_SAFETY, recorded_rates
from agent.drafting import DRAFT_SOURCE_CHARS, draft_messages
from agent.llm_usage import TokenBudget
from agent.models import SourceStatus
from agent.runner import pause_run
from agent.settings import Settings
from agent.store import Store
from agent.triage import batches, triage_messages

CHARS_PER_TOKEN = 4
# One source usually lands in one section, sometimes two.
SECTION_FANOUT = 1.5
# Per new sentence: the judge prompt, evidence windows of the cited sources, the verdict.
JUDGE_TOKENS_PER_CLAIM = 900
# Expected extra draft+judge passes per section (the gate allows two revisions).
REVISION_ALLOWANCE = 0.5
TRIAGE_OUTPUT_PER_SOURCE = 90
DRAFT_OUTPUT_PER_SOURCE = 120
SAFETY = 1.25


@dataclass(frozen=True)
class TopicEstimate:
    tokens: int
    """Expected input+output tokens of the whole run, with a safety margin."""
    call_ceiling: int
    """The most one model call of this run can cost: largest prompt plus the output cap."""
    sources: int


def _tokens(messages) -> int:
    return sum(len(str(m.content)) for m in messages) // CHARS_PER_TOKEN + 8 * len(messages)


def estimate_topic(store: Store, topic: str, settings: Settings) -> TopicEstimate:
    """From what this installation has recorded for today's models and prompts (tokens per
    triaged source, per drafted section, per judged claim); without such history, from the
    new sources' size and the text of the sections they can touch."""
    current = store.revisions.current(topic)
    fresh = [s for s, _ in store.sources.for_topic(topic, status=SourceStatus.new.value)]
    if current is None or not fresh:
        return TopicEstimate(0, 0, len(fresh))
    formula = formula_estimate(store, topic, settings, current.article, fresh)
    rates = recorded_rates(store, settings)
    if rates is None:
        return formula
    return TopicEstimate(int(rates.per_source(len(fresh)) * HISTORY_SAFETY), formula.call_ceiling,
                         len(fresh))


def formula_estimate(store: Store, topic: str, settings: Settings, article, fresh) -> TopicEstimate:  # noqa: ANN001
    """Today's formula: assumes the longest sections are touched and every revision is used."""
    info = store.topics.get(topic)
    triage_in = [_tokens(triage_messages(info, article, batch)) for batch in batches(fresh)]
    total = sum(triage_in) + TRIAGE_OUTPUT_PER_SOURCE * len(fresh)
    # Which sections triage picks is unknown here: assume the longest ones.
    touched = max(1, min(len(fresh), len(article.sections) or 1))
    sections = sorted(article.sections, key=lambda s: -sum(len(x.text) for p in s.paragraphs for x in p))
    per_section = math.ceil(len(fresh) * SECTION_FANOUT / touched)
    largest = sorted(fresh, key=lambda s: -len(s.text))[:per_section]
    share = sum(min(len(s.text), DRAFT_SOURCE_CHARS) for s in fresh) * SECTION_FANOUT / touched
    drafts, biggest_prompt = 0, max(triage_in)
    for section in (sections[:touched] or [None]):
        heading = section.heading if section else "New section"
        base = _tokens(draft_messages(article, heading, section, []))
        text = sum(len(x.text) for p in section.paragraphs for x in p) if section else 0
        drafts += base + share / CHARS_PER_TOKEN + text / CHARS_PER_TOKEN
        drafts += DRAFT_OUTPUT_PER_SOURCE * per_section + text / CHARS_PER_TOKEN
        biggest_prompt = max(biggest_prompt, _tokens(draft_messages(article, heading, section, largest)))
    judging = JUDGE_TOKENS_PER_CLAIM * len(fresh) * SECTION_FANOUT
    total += (drafts + judging) * (1 + REVISION_ALLOWANCE)
    return TopicEstimate(int(total * SAFETY), biggest_prompt + settings.max_output_tokens, len(fresh))


class NightBudget:
    """The batch's ledger: tokens spent, tokens reserved by admitted runs, and the limit."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit or None
        self.spent = 0
        self.reserved = 0
        self._lock = threading.Lock()
        self._released = asyncio.Event()

    @property
    def free(self) -> int | None:
        return None if self.limit is None else self.limit - self.spent - self.reserved

    def try_take(self, tokens: int) -> bool:
        with self._lock:
            if self.limit is not None and self.spent + self.reserved + tokens > self.limit:
                return False
            self.reserved += tokens
            return True

    async def admit(self, estimate: TopicEstimate, stop: asyncio.Event,
                    cap: int | None = None) -> int | None:
        """Reserve a topic's estimate (at most `cap`, the per-run limit); wait while other runs
        may still give tokens back. Returns the tokens reserved, None when it is not admitted.

        A topic estimated above all that is left, with no other run holding tokens, gets what
        is left if one call fits in it: estimates run high (a new installation's formula
        assumes the worst), and a topic that waited for its whole estimate would be deferred
        every night while the history that corrects the estimate comes only from runs that
        ran. It stops before a call it cannot pay for (deferred, resumed from its checkpoint
        the next night)."""
        wanted = min(estimate.tokens, cap) if cap else estimate.tokens
        while not stop.is_set():
            self._released.clear()
            if self.try_take(wanted):
                return wanted
            with self._lock:
                if self.reserved == 0:  # nothing will be released tonight
                    left = self.limit - self.spent
                    if left >= max(1, estimate.call_ceiling):
                        self.reserved += left
                        return left
                    return None
            waiter = asyncio.ensure_future(self._released.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
        return None

    def settle(self, budget: RunBudget) -> None:
        """A run ended: count what it spent, give back what it reserved."""
        with self._lock:
            self.reserved -= budget.limit or 0
            self.spent += budget.used
            budget.limit = budget.used  # settled: it can take nothing more
        self._released.set()


class RunBudget(TokenBudget):
    """One run's share of the night: never starts a call it cannot pay for."""

    def __init__(self, night: NightBudget, reservation: int, call_ceiling: int,
                 control: RunControl, per_run_cap: int | None = None) -> None:
        super().__init__(reservation)
        self.limit = reservation
        self.night = night
        self.ceiling = max(1, call_ceiling)
        self.control = control
        self.per_run_cap = per_run_cap or None
        self._in_flight: dict[int, int] = {}

    def _caller(self) -> int:
        try:
            return id(asyncio.current_task())
        except RuntimeError:  # sync calls run in worker threads
            return threading.get_ident()

    def check(self, node: str | None = None, needed: int = 0) -> None:
        # Each call reserves the night's per-call ceiling (from recorded history), which
        # stands in for the prompt's own estimate `needed` here.
        with self._lock:
            # A caller's earlier attempt that got no answer (error, timeout) is over by now.
            self._in_flight.pop(self._caller(), None)
            needed = self.used + sum(self._in_flight.values()) + self.ceiling - self.limit
            if needed > 0 and not self._borrow(needed):
                self.control.request_drain("budget")
                pause_run("budget")
            self._in_flight[self._caller()] = self.ceiling

    def _borrow(self, tokens: int) -> bool:
        if self.per_run_cap is not None and self.limit + tokens > self.per_run_cap:
            return False
        if not self.night.try_take(tokens):
            return False
        self.limit += tokens
        return True

    def spend(self, tokens: int) -> None:
        with self._lock:
            self._in_flight.pop(self._caller(), None)
            self.used += tokens
