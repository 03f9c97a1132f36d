"""Citation repair: which references fit a sentence whose citations look wrong (or are missing).

For every sentence `absorb audit` flags (a suspect citation, a marker that resolves to no
reference, no citation at all), each candidate reference (the page's own list and the topic's
stored sources) is scored by the content words it shares with the sentence. A term counts by
how rare it is among the candidates (inverse document frequency), fully when it is in the
reference's title or URL, half when only in its text. Deterministic and free; the judge
(`--judge llm`) may then confirm a fit with a verbatim quote, or strike it out.

How sure: a suggestion is `confident` when its best reference shares at least two distinctive
terms with the sentence (or the judge verified a quote), at most four references fit, and no
reference outside them comes close; otherwise `unsure`, shown as such and never applied.
`none` says "no listed reference fits".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from agent.audit import audit_article
from agent.citations.text import TOKEN_RE, content_tokens
from agent.models import Article, Source, is_source_id

# URL parts that say nothing about a page's subject.
_URL_NOISE = frozenset("""http https www com org net io html htm php status insights en us
    uk de fr index amp article articles post posts news blog""".split())
_LONG_NUMBER = re.compile(r"^\d{5,}$")

GENERIC_RANK = 1500             # the 1,500 most frequent English words count half and are never distinctive
MIN_IDF_FIT = math.log(4)       # a fit shares at least one term held by a quarter of the candidates or fewer
FIT_SHARE = 0.5                 # ... and scores at least half the best
CONFIDENT_TERMS = 2             # distinctive terms the best reference shares, for a confident suggestion
MAX_CONFIDENT_FITS = 3
TEXT_WEIGHT = 0.5
GENERIC_WEIGHT = 0.5


@lru_cache(maxsize=1)
def generic_terms() -> frozenset[str]:
    """Stems of the most frequent English words (agent/citations/common_words.txt, by rank)."""
    text = resources.files("agent.citations").joinpath("common_words.txt").read_text(encoding="utf-8")
    words = [w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#")]
    return frozenset(content_tokens(" ".join(words[:GENERIC_RANK])))


@dataclass
class Fit:
    source_id: str
    number: int | None
    title: str
    url: str | None
    score: float
    shared_title: list[str] = field(default_factory=list)
    shared_url: list[str] = field(default_factory=list)
    shared_text: list[str] = field(default_factory=list)
    quote: str | None = None
    judged: str | None = None  # "supported" | "not supported: why" | None (not judged)

    def evidence(self) -> str:
        parts = []
        for label, terms in (("title", self.shared_title), ("url", self.shared_url),
                             ("text", self.shared_text)):
            if terms:
                parts.append(f"{label}: {', '.join(terms)}")
        if self.quote:
            parts.append(f"quote: \u201c{self.quote}\u201d")
        elif self.judged:
            parts.append(f"judge: {self.judged}")
        return "; ".join(parts) or "nothing shared"

    def as_json(self) -> dict:
        return {"source_id": self.source_id, "number": self.number, "title": self.title,
                "url": self.url, "score": round(self.score, 3),
                "shared": {"title": self.shared_title, "url": self.shared_url,
                           "text": self.shared_text},
                "quote": self.quote, "judged": self.judged, "evidence": self.evidence()}


@dataclass
class Suggestion:
    section_id: str
    heading: str
    sentence_index: int
    sentence: str
    citations: list[str]
    problems: list[str]
    fits: list[Fit]
    confidence: str  # confident | unsure | none
    why: str

    def new_citations(self) -> list[str]:
        """The fitting references, then the unresolved markers kept as they were."""
        return [f.source_id for f in self.fits] + [k for k in self.citations if not is_source_id(k)]

    def as_json(self, numbering: dict[str, int]) -> dict:
        return {"section_id": self.section_id, "heading": self.heading,
                "sentence_index": self.sentence_index, "sentence": self.sentence,
                "citations": [_label(k, numbering) for k in self.citations],
                "problems": self.problems, "confidence": self.confidence, "why": self.why,
                "suggested": [_label(k, numbering) for k in self.new_citations()]
                if self.fits else [],
                "fits": [f.as_json() for f in self.fits]}


def _label(key: str, numbering: dict[str, int]) -> str:
    return f"[{numbering[key]}]" if key in numbering else f"[{key}]"


def url_terms(url: str | None) -> list[str]:
    if not url:
        return []
    words = [w for w in re.split(r"[^A-Za-z0-9]+", url)
             if w and w.lower() not in _URL_NOISE and not _LONG_NUMBER.match(w)]
    return content_tokens(" ".join(words))


def surface_words(text: str) -> dict[str, str]:
    """Each content term of a text, by its stem, as the text first writes it (for evidence)."""
    found: dict[str, str] = {}
    for match in TOKEN_RE.finditer(text):
        for term in content_tokens(match.group(0)):
            found.setdefault(term, match.group(0).lower())
    return found


class Matcher:
    """Term overlap of a sentence with each candidate reference, weighted by rarity."""

    def __init__(self, candidates: dict[str, Source], numbering: dict[str, int]) -> None:
        self.candidates = candidates
        self.numbering = numbering
        self.fields = {sid: (set(content_tokens(s.title)) if s.title != s.url else set(),
                             set(url_terms(s.url)),
                             set(content_tokens(s.text)))
                       for sid, s in candidates.items()}
        df: dict[str, int] = {}
        for title, url, text in self.fields.values():
            for term in title | url | text:
                df[term] = df.get(term, 0) + 1
        total = max(len(candidates), 1)
        generic = generic_terms()
        self.idf = {t: math.log(total / n) * (GENERIC_WEIGHT if t in generic else 1.0)
                    for t, n in df.items()}
        self.distinct = {t for t, n in df.items() if t not in generic and math.log(total / n) >= MIN_IDF_FIT}

    def score(self, sentence: str) -> list[Fit]:
        surface = surface_words(sentence)
        words = set(surface)
        fits = []
        for sid, (title, url, text) in self.fields.items():
            named = words & (title | url)
            only_text = (words & text) - named
            score = sum(self.idf[t] for t in named) + TEXT_WEIGHT * sum(self.idf[t] for t in only_text)
            if score <= 0:
                continue
            source = self.candidates[sid]
            shown = [sorted({surface[t] for t in terms})
                     for terms in (words & title, (words & url) - title, only_text)]
            fits.append(Fit(sid, self.numbering.get(sid), source.title, source.url, score, *shown))
        fits.sort(key=lambda f: (-f.score, f.number or 10**9, f.source_id))
        return fits

    def distinctive(self, fit: Fit) -> int:
        shared = {*fit.shared_title, *fit.shared_url, *fit.shared_text}
        return len(set(content_tokens(" ".join(shared))) & self.distinct)


def decide(matcher: Matcher, ranked: list[Fit]) -> tuple[list[Fit], str, str]:
    """The fitting references among the ranked ones, how sure, and why in words."""
    if not ranked or ranked[0].score < MIN_IDF_FIT:
        return [], "none", "no listed reference fits"
    best = ranked[0].score
    terms = matcher.distinctive(ranked[0])
    # Beside the best, a reference fits when it scores near it on distinctive terms of its own.
    fits = ranked[:1] + [f for f in ranked[1:] if f.score >= max(FIT_SHARE * best, MIN_IDF_FIT)
                         and matcher.distinctive(f) >= min(terms, CONFIDENT_TERMS)]
    reasons = []
    if terms < CONFIDENT_TERMS:
        reasons.append(f"the best reference shares only {terms} distinctive "
                       f"term{'' if terms == 1 else 's'}")
    if len(fits) > MAX_CONFIDENT_FITS:
        reasons.append(f"{len(fits)} references fit about as well")
    if reasons:
        return fits, "unsure", "; ".join(reasons)
    return fits, "confident", f"the best reference shares {terms} distinctive terms"


def suggest(article: Article, numbering: dict[str, int], *, topic: str, revision: int,
            texts: dict[str, Source] | None = None,
            stored: dict[str, Source] | None = None) -> list[Suggestion]:
    """A suggestion for every sentence the audit flags; candidates are the page's references
    (with their stored text where there is one) and the topic's other stored sources."""
    texts = texts or {}
    candidates = {**(stored or {}), **{sid: texts.get(sid, s) for sid, s in article.sources.items()}}
    matcher = Matcher(candidates, numbering)
    report = audit_article(article, topic=topic, revision=revision, texts=texts)
    flagged: dict[tuple[str, int], list[str]] = {}
    for finding in report.findings:
        if finding.kind == "uncited_reference" or finding.section_id is None:
            continue
        problem = "uncited" if finding.kind == "uncited" else f"{finding.kind} [{_plain(finding.citation, numbering)}]"
        flagged.setdefault((finding.section_id, finding.sentence_index or 0), []).append(problem)
    suggestions = []
    for section in article.sections:
        for index, sentence in enumerate(section.sentences()):
            problems = flagged.get((section.id, index), [])
            fits, confidence, why = decide(matcher, matcher.score(sentence.text))
            if not problems:
                # The audit found nothing, yet a reference it does not cite fits it surely.
                if confidence != "confident" or {f.source_id for f in fits} & set(sentence.citations):
                    continue
                problems = ["a reference it does not cite fits better"]
            suggestions.append(Suggestion(section.id, section.heading, index, sentence.text,
                                          list(sentence.citations), problems, fits, confidence, why))
    return suggestions


def _plain(key: str | None, numbering: dict[str, int]) -> str:
    return str(numbering[key]) if key in numbering else str(key)
