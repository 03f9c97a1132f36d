"""Proper names of a sentence and whether a text names them.

Extraction keeps compounds whole ("New York City", "Office for National Statistics",
"Knight Commander of the Order of the British Empire"); a lone capitalised word that opens a
clause ("Named after ...", "Instead of ...") is only a *weak* name, which the screening
promotes to a name only when the sources or the article write it capitalised mid-sentence.
Matching goes through `agent.citations.names` (spelling, alias and form normalisation).
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from importlib import resources

from rapidfuzz import fuzz, process

from agent.citations.names import fold_word, name_in_text, related_in_text
from agent.citations.negation import NEGATION_CUES, negation_cues, negation_mismatch
from agent.citations.text import SOURCE_CACHE_SIZE, STOPWORDS, TOKEN_RE, stem

__all__ = ["NEGATION_CUES", "entity_in_text", "extract_entities", "extract_entities_marked",
           "name_status", "negation_cues", "negation_mismatch", "ordinary_opener", "swapped_form"]

_WORD = re.compile(r"(?:[^\W\d_]\.){2,}|[^\W_][\w&.'’-]*[^\W_]|[^\W_]|&")
_ACRONYM = re.compile(r"^[A-Z][A-Z0-9&.]+s?$")
_CAMEL = re.compile(r"^[A-Za-z]*[a-z][A-Z][A-Za-z]*$|^[A-Z]{2,}[a-z]+[A-Za-z]*$")
_WITH_DIGITS = re.compile(r"^[A-Za-z](?=.*\d)[A-Za-z0-9.-]*$")
_VERSION = re.compile(r"^\d+(?:\.\d+)*$")
_CLAUSE_START = re.compile(r"(?:^|[.:;!?\"“”(\[—–]|\s-)\s*$")
# Capitalised words that name calendar things or are pronouns, not entities.
_NOT_NAMES = frozenset({"i", "no", "yes", "january", "february", "march", "april", "june", "july",
                        "august", "september", "october", "november", "december", "jan", "feb",
                        "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
                        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                        "sunday"})
_UNIT_ABBREVIATIONS = frozenset({"mw", "gw", "kw", "tw", "kwh", "mwh", "gwh", "twh", "tb", "gb",
                                 "mb", "pb", "usd", "eur", "am", "pm", "ceo", "km", "kg", "mph"})
# Lower-case words that may join capitalised words into one name.
_CONNECTORS = frozenset({"of", "for", "de", "la", "le", "du", "des", "del", "di", "da", "van",
                         "von", "der", "den", "&", "the", "y", "al", "bin"})
# Common words that open a clause capitalised without naming anything; English function
# words and sentence adverbs, not a list of any data set's names.
_OPENERS = frozenset("""according across additionally after afterwards again against ahead
    along already also although among amid another anyway around as at back because before
    behind beside besides between beyond both but by despite during each earlier either
    eventually every except finally following for from further here hence however if in
    indeed initially inside instead later like likewise many meanwhile moreover most much
    near nearly neither nevertheless next nonetheless not notably now often once only or
    other otherwise outside over overall perhaps previously prior rather regardless several
    shortly similarly since so some soon still subsequently such than that then there
    thereafter these this those though thus through throughout to today together toward
    under unlike until upon when whereas where whether while within without yet""".split())
FUZZY_NAME_MIN = 88.0


def _is_capitalised(word: str) -> bool:
    return word[:1].isupper()


def _special(word: str) -> bool:
    bare = word.removesuffix("'s").removesuffix("’s")
    if not bare.endswith(".") or bare.count(".") < 2:
        bare = bare.rstrip(".")
    return bool(_ACRONYM.match(bare) or _CAMEL.match(bare) or _WITH_DIGITS.match(bare))


@cache
def common_words() -> frozenset[str]:
    """About 7,000 frequent English words (common_words.txt says where they come from)."""
    text = resources.files("agent.citations").joinpath("common_words.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line and not line.startswith("#"))


def common_word(word: str) -> bool:
    return fold_word(word) in common_words()


def ordinary_opener(word: str) -> bool:
    """A clause-opening capitalised word that is an ordinary word by its form or frequency:
    "Named after ...", "Instead of ...", "Work on the bridge ..." (a frequent word may be a
    name too, "Google ...", so such a word is only ever a hint, never a sure failure)."""
    lower = word.lower()
    return lower in _OPENERS or lower in STOPWORDS or common_word(lower) or (
        len(lower) > 4 and lower.endswith(("ing", "ed", "ly")))


def _participle(word: str) -> bool:
    lower = word.lower()
    return len(lower) > 4 and lower.endswith(("ing", "ed")) and lower.isalpha()


def extract_entities(sentence: str) -> list[str]:
    """Names in a sentence (strong and weak), in order of first appearance."""
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
        while run and (run[-1].lower() in _CONNECTORS or run[-1].lower() in STOPWORDS):
            run.pop()
        if len(run) > 1 and run[0].lower() == "the":
            run.pop(0)  # "The Bronx" is looked up as "Bronx" anyway
        while run and run[0].lower() in _OPENERS and len(run) > 1 and run_at_start:
            run.pop(0)  # "After Google ..." names Google; "New York City" keeps "New"
            run_at_start = False
            while len(run) > 1 and run[0].islower() and run[0] in _CONNECTORS:
                run.pop(0)  # "Following the Treaty of Paris" names "Treaty of Paris"
        if (run_at_start and len(run) > 2 and run[1].lower() in _CONNECTORS
                and _participle(run[0])):
            run.pop(0)  # "Using the JWST, ...": a verb opens the clause, the name follows
            while run and run[0].lower() in _CONNECTORS:
                run.pop(0)
            run_at_start = False
        if run:
            strong = not run_at_start or len(run) > 1 or _special(run[0])
            found.append((" ".join(run), strong))
        run, run_at_start = [], False

    for index, match in enumerate(words):
        word, offset = match.group(0), match.start()
        if run and sentence[previous_end:offset] != " ":
            flush()  # punctuation between words ends a name
        previous_end = match.end()
        clause_start = _CLAUSE_START.search(sentence[:offset]) is not None
        possessive = word.endswith(("'s", "’s"))
        bare = word[:-2] if possessive else word
        if not _special(bare):
            bare = bare.rstrip(".")
        lower = bare.lower()
        following = words[index + 1].group(0) if index + 1 < len(words) else ""
        capital_stopword = (_is_capitalised(bare) and lower in STOPWORDS
                            and _is_capitalised(following) and not NEGATION_CUES.fullmatch(lower))
        is_name = lower not in _UNIT_ABBREVIATIONS and (_special(bare) or capital_stopword or (
            _is_capitalised(bare) and lower not in _NOT_NAMES and lower not in STOPWORDS
            and not NEGATION_CUES.fullmatch(lower)))
        if is_name:
            if not run:
                # "France's ..." opening a sentence names something: ordinary words seldom
                # open one in the possessive.
                run_at_start = clause_start and not possessive
            run.append(bare)
            if possessive:
                flush()
        elif run and _VERSION.match(word):
            run.append(word)  # "Opus 4.6" is one name
        elif run and lower in _CONNECTORS and _joins_a_name(words, index):
            run.append(word)
        else:
            flush()
    flush()
    unique: dict[str, bool] = {}
    for name, strong in found:
        unique[name] = unique.get(name, False) or strong
    return list(unique.items())


def _joins_a_name(words: list[re.Match[str]], index: int) -> bool:
    """A connector continues a name when a capitalised word follows within two words."""
    for ahead in words[index + 1 : index + 3]:
        word = ahead.group(0)
        if _is_capitalised(word) and word.lower() not in _NOT_NAMES:
            return True
        if word.lower() not in _CONNECTORS:
            return False
    return False


@lru_cache(maxsize=SOURCE_CACHE_SIZE)
def _source_profile(text: str) -> tuple[frozenset[str], frozenset[str], tuple[str, ...]]:
    words = [m.group(0) for m in TOKEN_RE.finditer(text)]
    stems = frozenset(stem(fold_word(w)) for w in words)
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
    lowered = tuple(sorted({fold_word(w) for w in words if len(w) >= 4}))
    return stems, frozenset(initials), lowered


def _word_in_text(word: str, stems: frozenset[str], lowered: tuple[str, ...]) -> bool:
    folded = fold_word(word)
    if stem(folded) in stems:
        return True
    if len(folded) < 6:
        return False
    # "Libyan" for "Libya", "Horodecki" for "Horodecky": one spelling step away, same start.
    candidates = [w for w in lowered if w[:3] == folded[:3]]
    if any(folded.startswith(w) and len(w) >= len(folded) - 2 for w in candidates):
        return True
    return process.extractOne(folded, candidates, scorer=fuzz.ratio,
                              score_cutoff=FUZZY_NAME_MIN) is not None


def _capitals_in_text(word: str, text: str) -> bool:
    """A short acronym is in the text only in capitals ("US" is not "us")."""
    return re.search(r"(?<![\w.])" + re.escape(word.rstrip("s")) + r"s?(?!\w)", text) is not None


def _distinctive_words(entity: str) -> list[str]:
    # Version numbers ("Opus 4.6") prove little about the name itself.
    return [w for w in TOKEN_RE.findall(entity)
            if w.lower() not in _CONNECTORS and w.lower() not in STOPWORDS and not w.isdigit()]


def name_status(entity: str, text: str) -> str:
    """"found" (in a normalised, alias or initials form, or every word of it), "partial"
    (some of its words, the missing ones frequent words: "European Central Bank" beside
    "Bank of England"), or "absent" (none of its words, or a rare word of it is missing:
    "McGill University" beside "University of Toronto")."""
    if name_in_text(entity, text):
        return "found"
    stems, initials, lowered = _source_profile(text)
    bare = entity.replace(".", "").rstrip("s") if _ACRONYM.match(entity) else ""
    if bare and bare.lower() in initials:
        return "found"
    words = _distinctive_words(entity) or [w for w in TOKEN_RE.findall(entity)
                                           if w.lower() not in _CONNECTORS and not w.isdigit()]
    if not words:
        return "found"
    missing = [w for w in words if not (_capitals_in_text(w, text) if _ACRONYM.match(w) and len(w) <= 4
                                        else _word_in_text(w, stems, lowered))]
    if not missing:
        return "found"
    if related_in_text(entity, text):
        return "partial"
    if len(missing) == len(words):
        return "absent"
    rare = [w for w in missing if len(w) >= 3 and w.isalpha() and not common_word(w)]
    return "absent" if rare else "partial"


_NAME_WORD = r"[A-Z][\w'’-]*"


def swapped_form(entity: str, text: str) -> str | None:
    """The name the text writes in place of `entity` when the two differ in one capitalised
    word that the text lacks: "University of Edinburgh" for "University of Glasgow", "Earl
    of Wessex" for "Duke of Wessex", "Northern Open" for "Southern Open". The text's name
    must be whole (no capitalised word right before or after it), so "Democratic National
    Committee" is no other form of "Democratic Party". That the text names a different one
    of the same kind is sure; a word merely missing is not."""
    words = entity.split()
    if len(words) < 2 or len(words) > 6:
        return None
    stems, _, lowered = _source_profile(text)
    for slot, word in enumerate(words):
        if not _is_capitalised(word) or word.lower() in _CONNECTORS or _word_in_text(word, stems, lowered):
            continue
        parts = [f"({_NAME_WORD})" if n == slot else "(?i:" + re.escape(w) + ")"
                 for n, w in enumerate(words)]
        pattern = re.compile(r"(?<![\w'’-])" + r"\s+".join(parts) + r"(?![\w'’-])")
        for match in pattern.finditer(text):
            other = match.group(1)
            if fold_word(other) == fold_word(word) or other.lower() in STOPWORDS or \
                    other.lower() in _NOT_NAMES or other.lower() in _OPENERS:
                continue
            before, after = text[max(0, match.start() - 40) : match.start()], text[match.end() : match.end() + 40]
            previous = re.search(r"(" + _NAME_WORD + r")\s+$", before)
            if previous and previous.group(1).lower() not in STOPWORDS | _OPENERS:
                continue  # part of a longer name
            if re.match(r"\s+(?:(?:of|for|de|and|&)\s+)?" + _NAME_WORD, after):
                continue
            return match.group(0)
    return None


def entity_in_text(entity: str, text: str) -> bool:
    """True if the text names the entity (see `name_status`)."""
    return name_status(entity, text) == "found"
