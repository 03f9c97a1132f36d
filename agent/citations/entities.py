"""Proper names and negations of a sentence, and whether a cited text states them: the
hints the judge gets, and a failure when nothing verified covers them."""

from __future__ import annotations

import re
from functools import lru_cache

from rapidfuzz import fuzz, process

from agent.citations.text import STOPWORDS, TOKEN_RE, content_tokens, fold, stem

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9&.'’-]*[A-Za-z0-9]|[A-Za-z0-9]")
_ACRONYM = re.compile(r"^[A-Z][A-Z0-9&]+s?$")
_CAMEL = re.compile(r"^[A-Za-z]*[a-z][A-Z][A-Za-z]*$|^[A-Z]{2,}[a-z]+[A-Za-z]*$")
_WITH_DIGITS = re.compile(r"^[A-Za-z](?=.*\d)[A-Za-z0-9.-]*$")
_VERSION = re.compile(r"^\d+(?:\.\d+)*$")
# Capitalised words that start clauses or name calendar things, not entities.
_NOT_NAMES = frozenset({"i", "no", "yes", "january", "february", "march", "april", "june", "july",
                        "august", "september", "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                        "sunday"})
_UNIT_ABBREVIATIONS = frozenset({"mw", "gw", "kw", "tw", "kwh", "mwh", "gwh", "twh", "tb", "gb",
                                 "mb", "pb", "usd", "eur", "am", "pm", "ceo"})
FUZZY_NAME_MIN = 88.0
_CONNECTORS = frozenset({"of", "de", "la", "van", "von", "der", "&"})

NEGATION_CUES = re.compile(
    r"\b(?:not(?! only\b)|never|no|none|nobody|nothing|neither|nor|without|cannot|unable|fail(?:s|ed)? to)\b"
    r"|n['’]t\b", re.I)


def _is_capitalised(word: str) -> bool:
    return word[:1].isupper()


def _special(word: str) -> bool:
    bare = word.rstrip(".").removesuffix("'s").removesuffix("’s")
    return bool(_ACRONYM.match(bare) or _CAMEL.match(bare) or _WITH_DIGITS.match(bare))


def extract_entities(sentence: str) -> list[str]:
    """Names in a sentence: acronyms, CamelCase, names with digits, runs of capitalised
    words. A lone capitalised word that opens a clause is kept too (marked by the caller as
    weak): "Amazon faces ..." names a company as often as "Despite ..." opens a clause."""
    return [name for name, _ in extract_entities_marked(sentence)]


def extract_entities_marked(sentence: str) -> list[tuple[str, bool]]:
    """(name, strong) pairs; weak names are lone capitalised words at a clause start."""
    words = list(_WORD.finditer(sentence))
    found: list[tuple[str, bool]] = []
    run: list[str] = []
    run_at_start = False
    previous_end = -1

    def flush() -> None:
        nonlocal run, run_at_start
        while run and run[-1].lower() in _CONNECTORS:
            run.pop()
        if run:
            strong = not run_at_start or len(run) > 1 or _special(run[0])
            found.append((" ".join(run), strong))
        run, run_at_start = [], False

    for index, match in enumerate(words):
        word, offset = match.group(0), match.start()
        if run and sentence[previous_end:offset] != " ":
            flush()  # punctuation between words ends a name
        previous_end = match.end()
        clause_start = index == 0 or re.search(r"[.:;!?\"“(]\s*$", sentence[:offset]) is not None
        possessive = word.endswith(("'s", "’s"))
        bare = word[:-2] if possessive else word.rstrip(".")
        lower = bare.lower()
        is_name = lower not in _UNIT_ABBREVIATIONS and (_special(bare) or (
            _is_capitalised(bare) and lower not in _NOT_NAMES and lower not in STOPWORDS
            and not NEGATION_CUES.fullmatch(lower)))
        if is_name:
            if not run:
                run_at_start = clause_start
            run.append(bare)
            if possessive:
                flush()
        elif run and _VERSION.match(word):
            run.append(word)  # "Opus 4.6" is one name
        elif (run and lower in _CONNECTORS and index + 1 < len(words)
              and _is_capitalised(words[index + 1].group(0))):
            run.append(word)
        else:
            flush()
    flush()
    unique: dict[str, bool] = {}
    for name, strong in found:
        unique[name] = unique.get(name, False) or strong
    return list(unique.items())


@lru_cache(maxsize=256)
def _source_profile(text: str) -> tuple[str, frozenset[str], frozenset[str], tuple[str, ...]]:
    words = [m.group(0) for m in TOKEN_RE.finditer(text)]
    stems = frozenset(stem(w) for w in words)
    initials = set()
    # Acronyms spelled out in the source ("Tensor Processing Unit" -> TPU).
    for start in range(len(words)):
        letters = ""
        for word in words[start : start + 6]:
            if not word[:1].isupper():
                break
            letters += word[0]
            if len(letters) >= 2:
                initials.add(letters.lower())
    lowered = tuple(sorted({w.lower() for w in words if len(w) >= 4}))
    return " " + fold(text) + " ", stems, frozenset(initials), lowered


def _word_in_text(word: str, stems: frozenset[str], lowered: tuple[str, ...]) -> bool:
    if stem(word) in stems:
        return True
    lower = word.lower()
    if len(lower) < 6:
        return False
    # "Libyan" for "Libya", "Horodecki" for "Horodecky": one spelling step away, same start.
    candidates = [w for w in lowered if w[:3] == lower[:3]]
    if any(lower.startswith(w) and len(w) >= len(lower) - 2 for w in candidates):
        return True
    return process.extractOne(lower, candidates, scorer=fuzz.ratio, score_cutoff=FUZZY_NAME_MIN) is not None


def entity_in_text(entity: str, text: str) -> bool:
    """True if the text names the entity: verbatim (folded), word by word (one word of a long
    name may be missing), as a near spelling, or as the initials of a spelled-out name."""
    folded_text, stems, initials, lowered = _source_profile(text)
    folded_entity = fold(entity)
    if re.search(r"(?<![a-z0-9])" + re.escape(folded_entity) + r"(?![a-z0-9])", folded_text):
        return True
    # Version numbers ("Opus 4.6") prove little about the name itself.
    words = [w for w in TOKEN_RE.findall(entity) if w.lower() not in _CONNECTORS and not w.isdigit()]
    if words:
        found = sum(_word_in_text(w, stems, lowered) for w in words)
        if found == len(words) or (len(words) >= 3 and found >= len(words) - 1):
            return True
    bare = entity.rstrip("s") if _ACRONYM.match(entity) else ""
    return bool(bare) and bare.lower() in initials


def missing_entities(sentence: str, texts: list[str]) -> list[str]:
    joined = "\n".join(texts)
    return [entity for entity in extract_entities(sentence) if not entity_in_text(entity, joined)]


def negation_cues(text: str) -> list[str]:
    return [m.group(0).lower() for m in NEGATION_CUES.finditer(text)]


def negation_mismatch(sentence: str, evidence: list[str], close: list[str] | None = None) -> str | None:
    """Why the sentence and its best evidence disagree on negation, or None.

    Only the best-matching evidence sentences count: a negation elsewhere on a long page says
    nothing about this claim. A negation the sentence dropped is looked for only in `close`
    evidence (sentences that state most of the claim), defaulting to all evidence."""
    claim_cues = negation_cues(sentence)
    evidence_cues = [cue for text in evidence for cue in negation_cues(text)]
    if claim_cues and not evidence_cues:
        return f"the sentence says {claim_cues[0]!r} but the cited text has no negation"
    close = evidence if close is None else close
    if close:
        # A sentence that restates its closest evidence should negate as often as it does.
        nearest = negation_cues(close[0])
        if len(claim_cues) > len(nearest):
            return (f"the sentence has {len(claim_cues)} negation(s) ({', '.join(claim_cues)}), "
                    f"its closest evidence {len(nearest)}")
    if claim_cues or not evidence_cues:
        return None
    claim_words = set(content_tokens(sentence))
    for text in close:
        for match in NEGATION_CUES.finditer(text):
            # What the source negates: the few content words right after the cue.
            scope = content_tokens(text[match.end() : match.end() + 60])[:3]
            if scope and sum(word in claim_words for word in scope) >= min(2, len(scope)):
                return (f"the cited text says {match.group(0)!r} "
                        f"{text[match.end():match.end() + 40].strip()!r}; the sentence has no negation")
    return None
