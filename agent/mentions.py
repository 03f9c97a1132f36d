"""Who a topic's sources mention most: names stored once per source, counted per topic.

Names come from the triage answer (`SourceDecision.mentions`, zero extra calls) or, under
lexical triage, from `extract_names` here. Each source counts a name once.

Alias rule (documented in the README): two names are one when their keys are equal. The key
is the name case-folded, its possessive ('s) and punctuation removed, whitespace folded, and
trailing corporate-form words dropped (Inc, Corp, Corporation, Ltd, LLC, PLC, Co, Company,
Platforms, Group, Holdings, Technologies). So "Meta", "Meta Platforms" and "Meta Platforms,
Inc." are one name, while "AI at Meta" stays apart: words before or inside a name are never
dropped. The name shown is the form the sources write most often (shorter on a tie).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from typing import TYPE_CHECKING

from agent.models import Source, utcnow

if TYPE_CHECKING:  # the readers (counts, strip_for) go through the store's methods: `show`
    from agent.store import Store  # starts without SQLAlchemy (agent.store.lite)

MAX_PER_SOURCE = 24
MAX_NAME = 80
MAX_WORDS = 6
_CORPORATE = frozenset("inc corp corporation ltd llc plc co company platforms group holdings "
                       "technologies".split())
# Capitalised words that begin or join sentences without naming anyone.
_NOT_NAMES = frozenset("""a an and as at but by for from how i if in into is it its new no not
    of on or our so the their then there these they this those to we what when where which
    who why with you your january february march april may june july august september october
    november december monday tuesday wednesday thursday friday saturday sunday""".split())
# Technical acronyms that are not organisations when they stand alone.
_TERMS = frozenset("""ai api apis gpu gpus cpu cpus tpu llm llms ml rag sdk ui ux os id ids
    http https json yaml sql ceo cto vp us eu uk io ipo capex ar vr mcp rl dpu dpus kw mw gw
    tw kwh mwh gwh gb tb pb""".split())
_TITLES = frozenset("vp svp evp ceo cto cfo coo chief head director president founder cofounder "
                    "professor prof dr mr ms mrs".split())
_CONNECTORS = frozenset({"at", "of", "&", "de", "for"})
_TOKEN = re.compile(r"(?<![\w'’.-])(?:[A-Za-z][\w'’.-]*[\w]|[A-Za-z&])")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n\s*)$")


def generic_words() -> frozenset[str]:
    """The gate's list of common English words, loaded only when names are extracted:
    agent.citations brings rapidfuzz, which `absorb show` has no use for."""
    from agent.citations.entities import common_words

    return common_words()


def alias_key(name: str) -> str:
    """The key two names share when they are one (see the module's alias rule)."""
    text = re.sub(r"['’]s\b", "", name.casefold())
    words = re.sub(r"[^\w&]+", " ", text).split()
    while len(words) > 1 and words[-1] in _CORPORATE:
        words.pop()
    return " ".join(words)[:MAX_NAME]


def _is_cap(token: str) -> bool:
    return token[:1].isupper()


def _named_elsewhere(text: str, token: re.Match) -> bool:
    """A sentence-opening word is still a name when a corporate form follows it ("Google,
    Inc.") or the text capitalises it mid-sentence too."""
    after = re.match(r",?\s*([A-Za-z]+)", text[token.end():])
    if after and after.group(1).lower() in _CORPORATE:
        return True
    return re.search(rf"[^.!?:;\s]\s+{re.escape(token.group(0))}\b", text) is not None


def extract_names(text: str) -> list[str]:
    """Capitalised runs of words ("Harrison Chase", "AI at Meta", "Together AI"), without
    sentence-opening function words, dates, or a lone technical acronym; in order, once each."""
    found: dict[str, str] = {}
    tokens = list(_TOKEN.finditer(text))
    i = 0
    while i < len(tokens):
        if not _is_cap(tokens[i].group(0)):
            i += 1
            continue
        run = [tokens[i]]
        j = i + 1
        while j < len(tokens):
            word = tokens[j].group(0)
            gap = text[run[-1].end():tokens[j].start()]
            if gap.strip() or "\n" in gap:
                break
            if re.search(r"['’]s$", run[-1].group(0)):
                break  # "Meta's VP": the possessive ends the name
            if _is_cap(word):
                run.append(tokens[j])
            elif word.lower() in _CONNECTORS and len(run) == 1 and j + 1 < len(tokens) \
                    and run[0].group(0).lower() not in _TITLES \
                    and _is_cap(tokens[j + 1].group(0)) \
                    and not text[tokens[j].end():tokens[j + 1].start()].strip():
                run += [tokens[j], tokens[j + 1]]
                j += 1
            else:
                break
            j += 1
        i = j
        words = [t.group(0).strip(".'’") for t in run]
        if len(words) == 1 and _SENTENCE_START.search(text[:run[0].start()]) \
                and words[0].lower() in generic_words() and not _named_elsewhere(text, run[-1]):
            continue  # "Despite ...": a common word opening a sentence is not a name
        while words and words[0].lower() in _TITLES:
            words.pop(0)  # "VP Dan Rabinovich" is Dan Rabinovich
        if len(words) > 2 and words[0].lower() in generic_words() \
                and not _CONNECTORS & {w.lower() for w in words}:
            words.pop(0)  # "Infrastructure Dan Rabinovich": a capitalised word before a name
        while words and words[0].lower() in _NOT_NAMES:
            words.pop(0)
        while words and words[-1].lower() in _NOT_NAMES | _CONNECTORS:
            words.pop()
        if not words or (len(words) == 1 and (words[0].lower() in _TERMS | _CORPORATE
                                              or len(words[0]) < 2)):
            continue
        name = re.sub(r"['’]s$", "", " ".join(words))
        key = alias_key(name)
        if key and key not in _TERMS:
            found.setdefault(key, name)
    return list(found.values())[:MAX_PER_SOURCE]


def source_names(source: Source) -> list[str]:
    """Names in a source's text (its title only when it has no text: titles capitalise every word)."""
    return extract_names(source.text or source.title)


def record(store: Store, names_by_source: dict[str, Iterable[str]], origin: str) -> int:
    """Store each source's names once (a source already recorded keeps what it has)."""
    rows = []
    for source_id, names in names_by_source.items():
        seen: set[str] = set()
        for name in list(names)[:MAX_PER_SOURCE]:
            name = " ".join(str(name).split())
            if len(name) > MAX_NAME or len(name.split()) > MAX_WORDS:
                continue  # not a name: an answer that copied a sentence, or worse
            key = alias_key(name)
            if key and key not in seen:
                seen.add(key)
                rows.append({"source_id": source_id, "key": key, "name": name, "origin": origin,
                             "created_at": utcnow()})
    if not rows:
        return 0
    import sqlalchemy as sa

    from agent.store.schema import source_mentions

    with store.engine.begin() as conn:
        done = {r.source_id for r in conn.execute(
            sa.select(source_mentions.c.source_id).distinct()
            .where(source_mentions.c.source_id.in_({r["source_id"] for r in rows})))}
        fresh = [r for r in rows if r["source_id"] not in done]
        if fresh:
            conn.execute(source_mentions.insert(), fresh)
    return len(fresh)


@dataclass
class Mention:
    name: str
    count: int
    key: str
    forms: list[str]


def counts(store: Store, topic: str) -> tuple[list[Mention], int]:
    """Names by the number of the topic's sources (duplicates left out) that mention them,
    and how many of its sources have their names recorded."""
    rows = store.sources.mention_rows(topic)
    sources_by_key: dict[str, set[str]] = {}
    forms: dict[str, Counter] = {}
    for source_id, key, name in rows:
        sources_by_key.setdefault(key, set()).add(source_id)
        forms.setdefault(key, Counter())[name] += 1
    mentions = [Mention(min(forms[k], key=lambda f: (-forms[k][f], len(f), f)), len(ids), k,
                        sorted(forms[k])) for k, ids in sources_by_key.items()]
    mentions.sort(key=lambda m: (-m.count, m.name.casefold()))
    return mentions, len({source_id for source_id, _, _ in rows})


def keep_page_strip(store: Store, topic: str, people: list[tuple[str, int]]) -> None:
    """An imported page's strip, kept as it was (a page without one clears it)."""
    from agent.store.schema import page_strips

    with store.engine.begin() as conn:
        conn.execute(page_strips.delete().where(page_strips.c.topic == topic))
        if people:
            conn.execute(page_strips.insert().values(
                topic=topic, names=[[str(n)[:MAX_NAME], int(c)] for n, c in people[:50]],
                created_at=utcnow()))


def strip_for(store: Store, topic: str, limit: int = 12) -> list[tuple[str, int]]:
    """The names a page shows: what absorb has recorded for the topic's sources, or, until it
    has recorded any, the strip the imported page carried."""
    found, _ = counts(store, topic)
    if found:
        return [(m.name, m.count) for m in found[:limit]]
    names = store.topics.page_strip(topic)
    return [(str(n), int(c)) for n, c in (names or [])][:limit]
