"""Scripted model behaviour for end-to-end tests: a careful extractive 'model' that answers
triage, drafting, revision and judging by reading the request the way a model would.

Handlers plug into agent.fake_server.FakeOpenAIServer.on_task, so every byte still goes
through the real ChatOpenAI client.
"""

from __future__ import annotations

import re
from collections.abc import Callable

SOURCE = re.compile(r'<<<SOURCE id=(\S+) title="([^"]*)">>>\n(.*?)\n<<<END SOURCE id=\1>>>', re.S)
CLAIM_LINE = re.compile(r"^\[(c\d+)\] cites ([^:]+): (.*)$", re.M)
CLAIM_FENCE = re.compile(r"<<<CLAIM id=(c\d+) cites=(\S+)>>>\n(.*?)\n<<<END CLAIM id=\1>>>", re.S)


def claims_of(request: dict) -> list[tuple[str, str, str]]:
    """(claim id, cited ids joined by commas, claim text) of a judge request, in either layout."""
    text = user_text(request)
    return CLAIM_FENCE.findall(text) or CLAIM_LINE.findall(text)


def user_text(request: dict) -> str:
    parts = []
    for message in request["messages"]:
        if message.get("role") in ("user", "system"):
            content = message.get("content") or ""
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            parts.append(content)
    return "\n".join(parts)


def sources_of(request: dict) -> list[tuple[str, str, str]]:
    return SOURCE.findall(user_text(request))


def first_sentence(text: str) -> str:
    sentence = re.split(r"(?<=[.!?])\s+", " ".join(text.split()), maxsplit=1)[0]
    return sentence if sentence.endswith((".", "!", "?")) else sentence + "."


def triage_by_title(routes: dict[str, list[str]], new_sections: dict[str, str] | None = None,
                    ) -> Callable[[dict], dict]:
    """Sources whose title contains a key go to those section ids; the rest are irrelevant."""
    def handle(request: dict) -> dict:
        decisions = []
        for source_id, title, _ in sources_of(request):
            sections = next((ids for key, ids in routes.items() if key.lower() in title.lower()), [])
            heading = next((h for key, h in (new_sections or {}).items()
                            if key.lower() in title.lower()), None)
            decisions.append({"source_id": source_id, "relevant": bool(sections or heading),
                              "sections": sections, "new_section": heading, "relation": "new",
                              "reason": "matches the scripted route" if sections else "off-topic"})
        return {"decisions": decisions}
    return handle


def extractive_draft(mutate: Callable[[str], str] | None = None) -> Callable[[dict], dict]:
    """Adds each source's first sentence (optionally mutated) citing that source."""
    def handle(request: dict) -> dict:
        sentences = [{"text": (mutate or (lambda s: s))(first_sentence(text)), "citations": [sid]}
                     for sid, _, text in sources_of(request)]
        return {"paragraphs": [{"sentences": sentences}], "rationale": "added what the sources state"}
    return handle


def part_of_sentence(sentence: str) -> str:
    """The sentence without its first word: still the source's own words, but not a whole
    sentence of it, so the gate's judge checks it (a whole sentence copied as it stands passes
    the gate's quote stage without a judge call)."""
    head, _, rest = sentence.partition(" ")
    return rest or head


def faithful_judge(request: dict) -> dict:
    """Quotes the claim back from its cited source when it is there verbatim."""
    sources = {sid: text for sid, _, text in sources_of(request)}
    judgements = []
    for claim_id, cited, text in claims_of(request):
        ids = [c.strip() for c in cited.split(",")]
        claim = text.strip()
        quote = next(((sid, claim) for sid in ids if claim in sources.get(sid, "")), None)
        if quote is None:
            judgements.append({"claim_id": claim_id, "label": "unsupported", "quotes": [],
                               "reason": "not stated by the cited source"})
        else:
            judgements.append({"claim_id": claim_id, "label": "supported",
                               "quotes": [{"source_id": quote[0], "text": quote[1]}],
                               "reason": "stated verbatim"})
    return {"judgements": judgements}


LEAD_LINE = re.compile(r"^L\d+\. (.*)$", re.M)
NEW_LINE = re.compile(r"^- new: (.*)$", re.M)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]{4,}", text.lower()))


GONE_LINE = re.compile(r"^- no longer stated: (.*)$", re.M)
_FIGURE = re.compile(r"\d[\d.,]*(?:-\d[\d.,]*)?")


def _figures(text: str) -> set[str]:
    """Numbers as written, without years (a careful reader's "the figure")."""
    return {f.rstrip(".,") for f in _FIGURE.findall(text) if not re.fullmatch(r"(19|20)\d\d", f)}


def careful_lead(request: dict) -> dict:
    """The lead task answered the way a careful model would: a lead sentence whose figure was
    in a sentence the article no longer states is replaced, word for word, by the new article
    sentence closest to that one, drawing on it; the other lead sentences stay as they are
    (empty draws_on)."""
    text = user_text(request)
    new = set(NEW_LINE.findall(text))
    gone = GONE_LINE.findall(text)
    fresh = [(sid, body) for sid, _, body in sources_of(request) if body in new]
    out, used = [], set()
    for sentence in LEAD_LINE.findall(text):
        old = next((g for g in gone if _figures(sentence) & _figures(g)), None)
        ranked = sorted((f for f in fresh if f[0] not in used),
                        key=lambda f: -len(_words(old or "") & _words(f[1])))
        if old is not None and ranked:
            used.add(ranked[0][0])
            out.append({"text": ranked[0][1], "draws_on": [ranked[0][0]]})
        else:
            out.append({"text": sentence, "draws_on": []})
    return {"sentences": out, "rationale": "the lead now states the article's new figure"}


def lead_choice(request: dict) -> dict:
    """Extract mode: the changed sentences first (their ids), at most three."""
    text = user_text(request)
    new = set(NEW_LINE.findall(text))
    offered = sources_of(request)
    ids = [sid for sid, _, body in offered if body in new] or [sid for sid, _, _ in offered[:1]]
    return {"ids": ids[:3]}
