"""What the demo's refresh will cost before it starts: which sections get a model call, how
fast the local model is on this CPU, and so about how long the refresh will take.

With lexical triage and extractive drafting (the bundled model's settings) the plan is exact:
routing is deterministic, and a section gets one call if it has candidate sentences, none
otherwise. Speed is measured on the running server with two tiny requests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from agent.extract import candidates, extract_messages
from agent.models import SourceStatus
from agent.settings import Settings
from agent.store import Store
from agent.triage import lexical_decisions, plan_tasks

# An extract answer: {"chosen": [{"id": "s3", "paragraph": 2}, ...]}, at most two choices.
ANSWER_TOKENS = 30
CHARS_PER_TOKEN = 3.5  # English prose and markup through Gemma's tokenizer, a little pessimistic
_PROBE_TEXT = ("absorb keeps long-lived topic articles true to their sources: new sources "
               "arrive, triage routes each to the sections it bears on, a draft is checked "
               "sentence by sentence against the cited text, and an editor approves the "
               "rest. ") * 2


@dataclass
class PlannedCall:
    heading: str
    candidates: int
    prompt_tokens: int


@dataclass
class Speed:
    prompt_tps: float
    output_tps: float

    def seconds(self, prompt_tokens: int, output_tokens: int = ANSWER_TOKENS) -> float:
        return prompt_tokens / self.prompt_tps + output_tokens / self.output_tps


def planned_calls(store: Store, topic: str, settings: Settings) -> list[PlannedCall] | None:
    """The draft calls a refresh will make, or None when a model decides the routing (then
    the number is known only after triage)."""
    if settings.triage_mode != "lexical" or settings.draft_mode != "extract":
        return None
    current = store.revisions.current(topic)
    article = current.article
    fresh = [s for s, _ in store.sources.for_topic(topic, status=SourceStatus.new.value)]
    by_id = {s.id: s for s in fresh}
    decisions = lexical_decisions(store.topics.get(topic), article, fresh)
    calls = []
    for task in plan_tasks(article, decisions, set(by_id)):
        section = None if task.new_section else article.section(task.section_id)
        sources = [by_id[i] for i in task.source_ids if i in by_id]
        offered = candidates(task.heading, section, sources)
        if not offered:
            continue
        messages = extract_messages(article, task.heading, section, offered)
        chars = sum(len(str(m.content)) for m in messages)
        calls.append(PlannedCall(task.heading, len(offered), int(chars / CHARS_PER_TOKEN)))
    return calls


def _ask(base_url: str, model: str, text: str, max_tokens: int, timeout: float) -> tuple[float, dict]:
    started = time.perf_counter()
    response = httpx.post(f"{base_url}/chat/completions", timeout=timeout, json={
        "model": model, "max_tokens": max_tokens, "temperature": 0,
        "messages": [{"role": "user", "content": text}]})
    response.raise_for_status()
    return time.perf_counter() - started, response.json().get("usage") or {}


def measure_speed(base_url: str, model: str, timeout: float = 60.0) -> Speed:
    """Prompt and output tokens per second: one long prompt answered with one token, then a
    short prompt answered with a few dozen (its prompt time taken off at the first rate)."""
    seconds, usage = _ask(base_url, model, _PROBE_TEXT + "\nOne word: what does absorb keep?",
                          1, timeout)
    prompt_tps = max(usage.get("prompt_tokens", 0), 1) / max(seconds, 1e-3)
    seconds, usage = _ask(base_url, model, "Count from one to twenty in words.", 12, timeout)
    generating = seconds - usage.get("prompt_tokens", 0) / prompt_tps
    output_tps = max(usage.get("completion_tokens", 0), 1) / max(generating, 1e-3)
    return Speed(prompt_tps=prompt_tps, output_tps=output_tps)
