"""Benchmark of refreshes through the real ChatOpenAI path against the fake endpoint.

Not collected by pytest. Run: .venv/bin/python -m tests.bench_refresh
1. critical path: 6 sections touched, endpoint answering after 200 ms;
2. tokens per refresh of the seed topic with its bus (faithful drafts), of the same with drafts
   that fail the checks once (the revise loop), and of a 40-section article built from the
   seed. Each prints tokens sent, the lower bound (the new relevant sources' text + the
   affected sections' text, in the fake's 4-chars-a-token units, + every answer's output), their
   ratio, calls per kind, and the share of input that a provider's prompt cache could serve;
   also the ratio the same run would reach if every system message (instructions, scope,
   outline) cost nothing, which is as far as prompt layout alone can take it;
3. 200 new sources over seven sections: the sources and tokens of the largest draft
   (ABSORB_DRAFT_MAX_SOURCES bounds them; run with it set to 0 for the unbounded figure);
4. real web pages (`../shared/data/wice-dev.jsonl`, which no prompt or threshold was tuned on):
   each WiCE article with three or more claims becomes a topic whose sections state its claims
   uncited; the pages those claims cite arrive as new sources, with as many pages cited by other
   articles' claims (off-topic); tokens against the same lower bound, per topic and in all, and
   how much of the relevant pages' text reached the model at least once (drafts take excerpts
   of a long page, so the bound, which reads every relevant page whole, is not a floor there).

The cache share is counted by this benchmark's own fake (`PrefixCacheServer`): it sees each
request as a provider does (the schema, then the messages in order), finds the longest prefix
it shares with any earlier request of the run, and counts it as cacheable only when it is
1,024 tokens or more (in 128-token steps, as OpenAI caches). It reports that number back as
`prompt_tokens_details.cached_tokens`, so the run's call rows show it too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from os.path import commonprefix
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.fake_replies import estimate_tokens, task_of  # noqa: E402
from agent.fake_server import FakeOpenAIServer  # noqa: E402
from tests.scripted import (extractive_draft, faithful_judge, sources_of,  # noqa: E402
                            triage_by_title, user_text)

SEED = Path(__file__).resolve().parents[1] / "agent" / "demo" / "seed.md"
WICE = Path(__file__).resolve().parents[2] / "shared" / "data" / "wice-dev.jsonl"
SIX = ["overview", "llms-as-knowledge-bases", "the-intelligence-layer",
       "training-and-compute-efficiency", "physical-infrastructure-boom", "challenges-and-trends"]
SEED_ROUTES = {"DiLoCo": ["training-and-compute-efficiency"], "CCCL": ["training-and-compute-efficiency"],
               "Colossus": ["physical-infrastructure-boom"], "Liquid Cooling": ["physical-infrastructure-boom"],
               "Capex": ["physical-infrastructure-boom"], "Distributed Compute": ["challenges-and-trends"],
               "Portability": ["challenges-and-trends"], "Inference Optimization": ["the-intelligence-layer"],
               "Vertical AI Infrastructure": ["future-directions"], "Colocation": ["training-and-compute-efficiency"]}
CACHE_MIN_TOKENS = 1024
CACHE_STEP_TOKENS = 128
FORTY = 40


def tokens(text: str) -> int:
    """The fake server's own estimate (agent.fake_replies.estimate_tokens), without its floor."""
    return len(text) // 4


class PrefixCacheServer(FakeOpenAIServer):
    """The fake endpoint plus a provider-style prompt cache that remembers every request."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seen: list[str] = []
        self.rows: list[dict] = []

    @staticmethod
    def request_text(request: dict) -> str:
        schema = request.get("response_format") or request.get("tools") or ""
        parts = [json.dumps(schema, sort_keys=False)]
        for message in request.get("messages", []):
            content = message.get("content") or ""
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            parts.append(f"<{message.get('role')}>{content}")
        return "\n".join(parts)

    def answer(self, request_json: dict, headers: dict[str, str]):
        text = self.request_text(request_json)
        with self._lock:
            shared = max((len(commonprefix([text, earlier])) for earlier in self.seen), default=0)
            self.seen.append(text)
        shared_tokens = tokens(text[:shared])
        cached = (shared_tokens // CACHE_STEP_TOKENS * CACHE_STEP_TOKENS
                  if shared_tokens >= CACHE_MIN_TOKENS else 0)
        status, body = super().answer(request_json, headers)
        if body is not None and "usage" in body:
            body["usage"]["prompt_tokens_details"]["cached_tokens"] = min(
                cached, body["usage"]["prompt_tokens"])
        with self._lock:
            self.rows.append({"task": task_of(request_json), "tokens": tokens(text),
                              "shared": shared_tokens, "cacheable": cached})
        return status, body


def fresh_home() -> None:
    os.environ["ABSORB_HOME"] = tempfile.mkdtemp(prefix="absorb-bench-")
    for name in ("ABSORB_DATABASE_URL",):
        os.environ.pop(name, None)


def spent(responses: list[dict]) -> tuple[int, int]:
    """(tokens sent, input and output, of the answered calls; their output alone)."""
    output = sum(r["usage"]["completion_tokens"] for r in responses)
    return sum(r["usage"]["prompt_tokens"] for r in responses) + output, output


def run_refresh(store, topic: str, server: FakeOpenAIServer):
    from agent.runner import refresh_topic

    os.environ["OPENAI_BASE_URL"], os.environ["OPENAI_API_KEY"] = server.base_url, "bench"
    started = time.perf_counter()
    result = asyncio.run(refresh_topic(store, topic, gather=False))
    return result, time.perf_counter() - started


def critical_path() -> dict:
    from agent.cli.main import run
    from agent.models import Source, source_id_for
    from agent.store import open_store

    fresh_home()
    run(["import", str(SEED), "--topic", "six"])
    store = open_store()
    texts = [f"Report {n}: the {s.replace('-', ' ')} saw 12 new deployments in 2026." for n, s in enumerate(SIX)]
    store.sources.add_to_topic("six", [Source(id=source_id_for(None, t), title=f"route {n}", text=t,
                                              content_hash=source_id_for(None, t)) for n, t in enumerate(texts)])
    with FakeOpenAIServer(delay=0.2) as server:
        server.on_task("triage", triage_by_title({f"route {n}": [s] for n, s in enumerate(SIX)}))
        server.on_task("draft_section", extractive_draft())
        server.on_task("judge", faithful_judge)
        result, wall = run_refresh(store, "six", server)
        calls = {t: len(server.requests_for(t)) for t in ("triage", "draft_section", "judge")}
    edits = len(store.proposals.get(result.proposal_id).edits)
    serial = 0.2 * (calls["triage"] + calls["draft_section"] + calls["judge"])
    return {"sections_touched": edits, "wall_s": round(wall, 2), "calls": calls,
            "critical_path_s": 0.2 * 3, "all_calls_in_series_s": round(serial, 2)}


def forty_sections(store, topic: str) -> dict[str, list[str]]:
    """The seed's article stretched to 40 sections (its sections in turn, the copies numbered),
    and routes that send each routed source to one copy of its section."""
    from agent.models import Article, Section, slugify

    current = store.revisions.current(topic)
    article = current.article
    base = article.sections
    sections = []
    for n in range(FORTY):
        section = base[n % len(base)]
        heading = section.heading if n < len(base) else f"{section.heading} ({n // len(base) + 1})"
        sections.append(Section(id=slugify(heading), heading=heading, paragraphs=section.paragraphs))
    store.revisions.commit(topic, Article(title=article.title, summary=article.summary,
                                          sections=sections, sources=article.sources),
                           base_revision_id=current.id, actor="bench")
    by_base: dict[str, list[str]] = {}
    for section in sections:
        by_base.setdefault(re.sub(r"-\d+$", "", section.id), []).append(section.id)
    return {key: [by_base[ids[0]][n % len(by_base[ids[0]])]]
            for n, (key, ids) in enumerate(SEED_ROUTES.items())}


def invent_detail(sentence: str) -> str:
    """A draft sentence its source does not state: the judge finds it unsupported."""
    return sentence.rstrip(".") + ", according to several analysts."


def seed_refresh(name: str, *, sections: int | None = None, failing_drafts: bool = False) -> dict:
    from agent.cli.main import run
    from agent.store import open_store

    fresh_home()
    run(["import", str(SEED), "--topic", "ai"])
    run(["sources", "import", str(SEED), "--topic", "ai"])
    store = open_store()
    routes = forty_sections(store, "ai") if sections == FORTY else SEED_ROUTES
    article = store.revisions.current("ai").article
    with PrefixCacheServer() as server:
        server.on_task("triage", triage_by_title(routes))
        server.on_task("draft_section", extractive_draft(invent_detail if failing_drafts else None))
        server.on_task("revise_section", extractive_draft())
        server.on_task("judge", faithful_judge)
        result, wall = run_refresh(store, "ai", server)
        responses = list(server.responses)
        rows = list(server.rows)
        requests = list(server.requests)
    sent, output = spent(responses)
    # What the run would send if every system message (instructions, scope, outline) cost
    # nothing: the per-call parts and the answers, counted as the fake counts prompts.
    per_call = sum(estimate_tokens(json.dumps([m for m in r["messages"] if m.get("role") != "system"]))
                   for r in requests)
    # The floor: read each relevant new source once, each affected section once, write the answers.
    relevant = [s for s, _ in store.sources.for_topic("ai")
                if any(key.lower() in s.title.lower() for key in routes)]
    affected = {sid for key, ids in routes.items() for sid in ids
                if any(key.lower() in s.title.lower() for s in relevant)}
    affected_chars = sum(len(article.section(sid).text()) for sid in affected if article.section(sid))
    lower = (sum(len(s.text) for s in relevant) + affected_chars) // 4 + output
    proposal = store.proposals.get(result.proposal_id) if result.proposal_id else None
    calls = store.runs.calls(result.run.id)
    verdicts = sorted((e.section_id, s.text, v.label.value) for e in (proposal.edits if proposal else [])
                      for s, v in zip(e.new_sentences(), e.verdicts))
    input_tokens = sum(r["tokens"] for r in rows)
    return {
        "scenario": name, "sections": len(article.sections), "edits": len(proposal.edits) if proposal else 0,
        "tokens_sent": sent, "lower_bound": lower, "ratio": round(sent / lower, 2),
        "ratio_if_instructions_were_free": round((per_call + output) / lower, 2),
        "input_tokens_with_schema": input_tokens,
        "cacheable_input_share": round(sum(r["cacheable"] for r in rows) / max(1, input_tokens), 3),
        "cacheable_share_per_kind": {t: round(sum(r["cacheable"] for r in rows if r["task"] == t)
                                          / max(1, sum(r["tokens"] for r in rows if r["task"] == t)), 3)
                                     for t in sorted({r["task"] for r in rows})},
        "cached_tokens_recorded": sum(c.cached_tokens for c in calls),
        "calls": dict(sorted(Counter(r["task"] for r in rows).items())),
        "input_tokens_per_kind": dict(sorted(
            {t: sum(r["tokens"] for r in rows if r["task"] == t) for t in {r["task"] for r in rows}}.items())),
        "revise_share_of_tokens": round(sum(
            r["usage"]["prompt_tokens"] + r["usage"]["completion_tokens"]
            for r, row in zip(responses, rows) if row["task"] == "revise_section") / max(1, sent), 3),
        "wall_s": round(wall, 2),
        "kept_sentences": len(verdicts),
        # Same digest before and after a change: the same proposals with the same verdicts.
        "proposal_digest": hashlib.sha256(json.dumps(verdicts).encode()).hexdigest()[:12],
    }


def many_sources(count: int = 200) -> dict:
    """The seed article and `count` new sources spread over seven of its sections: how many
    sources (and tokens) the largest draft carries, with ABSORB_DRAFT_MAX_SOURCES as set."""
    from agent.cli.main import run
    from agent.models import Source, source_id_for
    from agent.store import open_store

    fresh_home()
    run(["import", str(SEED), "--topic", "ai"])
    store = open_store()
    keys = list(SEED_ROUTES)[:7]
    items = []
    for n in range(count):
        key = keys[n % len(keys)]
        text = (f"{key} report {n}: operators logged {n + 3} new deployments in region {n % 13} "
                f"during week {n % 52}, citing {key.lower()} as the reason.")
        items.append(Source(id=source_id_for(None, text), title=f"{key} note {n}", text=text,
                            content_hash=source_id_for(None, text)))
    store.sources.add_to_topic("ai", items)
    with PrefixCacheServer() as server:
        server.on_task("triage", triage_by_title({k: SEED_ROUTES[k] for k in keys}))
        server.on_task("draft_section", extractive_draft())
        server.on_task("revise_section", extractive_draft())
        server.on_task("judge", faithful_judge)
        run_refresh(store, "ai", server)
        drafts = [r for r in server.requests if task_of(r) == "draft_section"]
        rows = [r for r in server.rows if r["task"] == "draft_section"]
        waiting = [s for s, st in store.sources.for_topic("ai") if st == "new"]
        triaged = len(server.requests_for("triage"))
        run_refresh(store, "ai", server)  # the next run drafts the waiting ones
        next_triage = len(server.requests_for("triage")) - triaged
        next_drafts = len(server.requests_for("draft_section")) - len(drafts)
    per_draft = [len(re.findall(r"<<<SOURCE id=", json.dumps(r["messages"]))) for r in drafts]
    return {"new_sources": count, "draft_max_sources": os.environ.get("ABSORB_DRAFT_MAX_SOURCES", "default"),
            "drafts": len(drafts), "most_sources_in_one_draft": max(per_draft, default=0),
            "largest_draft_input_tokens": max((r["tokens"] for r in rows), default=0),
            "waiting_for_next_run": len(waiting), "triage_calls": triaged,
            "next_run": {"triage_calls": next_triage, "drafts": next_drafts,
                         "still_waiting": sum(st == "new" for _, st in store.sources.for_topic("ai"))}}


def closest_sentence_draft(request: dict) -> dict:
    """A careful extractive drafter for raw web pages: from each source, the one line or
    sentence that shares the most words with the section's current text, copied as it stands
    (the scripted drafter's first "sentence" of a raw page runs its navigation lines together,
    and no judge supports that)."""
    from agent.citations.text import content_token_set, split_sentences

    text = user_text(request)
    wanted = content_token_set(text.split("Current text of the section", 1)[-1].split("<<<SOURCE", 1)[0])
    sentences = []
    for sid, _, body in sources_of(request):
        pieces = [body[start:end] for start, end in split_sentences(body)]
        pieces = [p for p in pieces if len(p.split()) >= 6 and p.endswith((".", "!", "?"))]
        if pieces:
            best = max(pieces, key=lambda p: len(wanted & content_token_set(p)))
            sentences.append({"text": best, "citations": [sid]})
    return {"paragraphs": [{"sentences": sentences}], "rationale": "added what the sources state"}


def wice_topics(rows: list[dict], min_claims: int = 3) -> list[tuple[str, list[dict], list[dict]]]:
    """(article, its claims, off-topic claims): WiCE articles with at least `min_claims` claims,
    each paired with as many claims of other articles, taken in file order."""
    by_article: dict[str, list[dict]] = {}
    for row in rows:
        by_article.setdefault(row["context"]["article"], []).append(row)
    chosen = [a for a, claims in by_article.items() if len(claims) >= min_claims]
    others = [row for row in rows if row["context"]["article"] not in chosen]
    picked, start = [], 0
    for article in chosen:
        claims = by_article[article]
        pages = sum(len(c["citations"]) for c in claims)
        off = others[start:start + pages]
        start += pages
        picked.append((article, claims, off))
    return picked


def section_heading(raw: str) -> str:
    """WiCE's `Production.:Casting.` as `Production: Casting`; `Abstract.` is the lead."""
    parts = [p.strip().rstrip(".") for p in raw.split(":") if p.strip().rstrip(".")]
    heading = ": ".join(parts) or "Overview"
    return "Overview" if heading == "Abstract" else heading


def real_pages(path: Path = WICE) -> dict:
    """Refreshes of topics built from WiCE (see the module's docstring, 4)."""
    from agent.models import Article, Section, Sentence, Source, slugify, source_id_for
    from agent.store import open_store

    if not path.exists():
        return {"skipped": f"{path} not found"}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    fresh_home()
    store = open_store()
    totals = Counter()
    per_topic = []
    for t, (article, claims, off) in enumerate(wice_topics(rows)):
        slug = f"wice-{t}"
        sections: dict[str, list[Sentence]] = {}
        routes: dict[str, list[str]] = {}
        items: list[Source] = []
        relevant: list[Source] = []
        for n, claim in enumerate(claims + off):
            on_topic = n < len(claims)
            heading = section_heading(claim["context"]["section"])
            if on_topic:
                sections.setdefault(heading, []).append(Sentence(text=claim["claim"], citations=[]))
            for key in claim["citations"]:
                page = claim["sources"][key]
                tag = f"[w{t}-{n}-{key}]"
                source = Source(id=source_id_for(None, page["text"] + tag), title=f"{page['title']} {tag}",
                                text=page["text"], content_hash=source_id_for(None, page["text"] + tag))
                items.append(source)
                if on_topic:
                    routes[tag] = [slugify(heading)]
                    relevant.append(source)
        store.topics.create(slug, article, scope=f"{article}: the Wikipedia article's subject.")
        built = Article(title=article, summary=f"{article}.", sections=[
            Section(id=slugify(h), heading=h, paragraphs=[sentences]) for h, sentences in sections.items()])
        store.revisions.commit(slug, built, base_revision_id=None, actor="bench")
        store.sources.add_to_topic(slug, items)
        # Routes are the ground truth: a page goes to the section whose claim cites it.
        with PrefixCacheServer() as server:
            server.on_task("triage", triage_by_title(routes))
            server.on_task("draft_section", closest_sentence_draft)
            server.on_task("revise_section", closest_sentence_draft)
            server.on_task("judge", faithful_judge)
            result, _ = run_refresh(store, slug, server)
            responses, requests = list(server.responses), list(server.requests)
        sent, output = spent(responses)
        affected = {sid for ids in routes.values() for sid in ids}
        lower = (sum(len(s.text) for s in relevant)
                 + sum(len(built.section(sid).text()) for sid in affected)) // 4 + output
        for request, response in zip(requests, responses):
            totals[f"in:{task_of(request)}"] += response["usage"]["prompt_tokens"]
            totals[f"out:{task_of(request)}"] += response["usage"]["completion_tokens"]
        longest: dict[str, int] = {}
        for request in requests:
            for sid, _, body in sources_of(request):
                longest[sid] = max(longest.get(sid, 0), len(body))
        shown = sum(min(longest.get(s.id, 0), len(s.text)) for s in relevant)
        # The same bound, reading of each relevant page only as much as some call showed.
        lower_shown = lower - (sum(len(s.text) for s in relevant) - shown) // 4
        totals.update(sent=sent, lower=lower, lower_shown=lower_shown, shown=shown,
                      relevant_chars=sum(len(s.text) for s in relevant),
                      calls=len(responses), new=len(items), relevant=len(relevant))
        per_topic.append({"topic": article, "sections": len(sections), "new_sources": len(items),
                          "relevant": len(relevant), "calls": len(responses),
                          "calls_per_kind": dict(sorted(Counter(task_of(r) for r in requests).items())),
                          "tokens_sent": sent,
                          "lower_bound": lower, "ratio": round(sent / lower, 2),
                          "status": result.run.status})
    store.close()
    return {"topics": len(per_topic), "new_sources": totals["new"], "relevant": totals["relevant"],
            "calls": totals["calls"], "tokens_sent": totals["sent"], "lower_bound": totals["lower"],
            "ratio": round(totals["sent"] / max(1, totals["lower"]), 2),
            "ratio_range": [min(p["ratio"] for p in per_topic), max(p["ratio"] for p in per_topic)],
            "tokens_per_kind": {key: value for key, value in sorted(totals.items()) if ":" in key},
            "relevant_text_shown_share": round(totals["shown"] / max(1, totals["relevant_chars"]), 3),
            "lower_bound_of_text_shown": totals["lower_shown"],
            "ratio_to_text_shown": round(totals["sent"] / max(1, totals["lower_shown"]), 2),
            "per_topic": per_topic}


def machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines()
                      if line.startswith("Model name")), "")
    except (OSError, subprocess.SubprocessError):
        model = ""
    return (f"{platform.machine()} {model}".strip()
            + f", {os.cpu_count()} cores, Python {platform.python_version()}")


if __name__ == "__main__":
    report = {"machine": machine(), "critical_path": critical_path(),
              "seed": seed_refresh("seed, faithful drafts"),
              "seed_failing_drafts": seed_refresh("seed, drafts fail the checks once", failing_drafts=True),
              "forty_sections": seed_refresh("40-section article built from the seed", sections=FORTY),
              "two_hundred_sources": many_sources(),
              "real_pages": real_pages()}
    print(json.dumps(report, indent=2))
