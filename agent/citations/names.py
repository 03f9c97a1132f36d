"""Names compared after normalisation: one key per spelling of a name, so "Tech Crunch" and
"TechCrunch", "Jean-Luc" and "Jean Luc", "U.S." and "US", "Lindqvist & Berg" and "Lindqvist
and Berg", "Tromsø" and "Tromso" are the same name, and "UK" is "United Kingdom".

A name's key is its words folded (NFKC, case, accents, possessive 's dropped, apostrophes
removed; hyphens, dots and spaces split words) and glued together. A text names it when a
run of up to MAX_NAME_WORDS consecutive words of the text glues into the same key, so a name
matches only on word boundaries ("UK" never matches inside "Ukraine") and a compound is
looked up whole ("New York City", never "York City" alone).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from agent.citations.text import SOURCE_CACHE_SIZE

MAX_NAME_WORDS = 8
SHORT_KEY = 3

# Equivalent forms of one name. Small on purpose: only forms a careful writer uses
# interchangeably; everything else is left to spelling normalisation and the judge.
ALIAS_GROUPS: tuple[tuple[str, ...], ...] = (
    ("united kingdom", "uk", "britain", "great britain"),
    ("united states", "us", "usa", "united states of america", "america"),
    ("european union", "eu"),
    ("united nations", "un"),
    ("soviet union", "ussr"),
    ("new york city", "nyc"),
    ("artificial intelligence", "ai"),
)
# A place and the adjective of its people: related, not the same name ("a match in England"
# is not "the English game"), so a match through this table is only partial.
DEMONYMS = {
    "england": "english", "france": "french", "germany": "german", "britain": "british",
    "united kingdom": "british", "spain": "spanish", "italy": "italian", "china": "chinese",
    "japan": "japanese", "russia": "russian", "united states": "american",
    "canada": "canadian", "australia": "australian", "india": "indian", "ireland": "irish",
    "scotland": "scottish", "wales": "welsh", "netherlands": "dutch", "sweden": "swedish",
    "norway": "norwegian", "denmark": "danish", "finland": "finnish", "poland": "polish",
    "mexico": "mexican", "brazil": "brazilian", "greece": "greek", "turkey": "turkish",
    "portugal": "portuguese", "israel": "israeli", "egypt": "egyptian", "korea": "korean",
}
# Abbreviated forms of one word inside names ("St. Louis" / "Saint Louis").
WORD_FORMS = {"st": "saint", "mt": "mount", "ft": "fort", "&": "and"}
# Words a name may carry or drop without naming something else.
OPTIONAL_WORDS = frozenset({"the", "inc", "ltd", "llc", "plc", "corp", "co", "corporation",
                            "company", "incorporated", "limited", "gmbh", "ag", "sa"})
# Letters NFKD does not decompose into a base letter.
_LETTERS = str.maketrans({"ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe",
                          "ß": "ss", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "þ": "th",
                          "ð": "d", "ı": "i"})
_WORDS = re.compile(r"[^\W_]+(?:['’ʼ][^\W_]+)*|&")


@lru_cache(maxsize=65536)
def fold_word(word: str) -> str:
    """One word folded: NFKC, case, accents, possessive and inner apostrophes."""
    word = unicodedata.normalize("NFKC", word).translate(_LETTERS).casefold()
    word = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    word = re.sub(r"['’ʼ]s$", "", word)
    word = re.sub(r"['’ʼ]", "", word)
    return WORD_FORMS.get(word, word)


def name_words(text: str) -> list[str]:
    """The folded words of a text (hyphens, dots and spaces separate words)."""
    return [fold_word(w) for w in _WORDS.findall(text)]


# Punctuation that ends a name: a comma or the like, a line break, or a full stop before a
# space unless it ends a short abbreviation ("St. Louis", "U.S. Army", "Mt. Fuji").
_BREAK = re.compile(r"[,;:()\[\]\"“”!?/|\n]")
ABBREVIATION_MAX = 3


def _ends_name(separator: str, previous_word: str) -> bool:
    if _BREAK.search(separator):
        return True
    return separator.startswith(".") and separator[1:2].isspace() and len(previous_word) > ABBREVIATION_MAX


def _cased_words(text: str) -> list[tuple[str, bool]]:
    """Folded words with whether each was written in capitals ("US", "U.S."); an empty
    word stands where punctuation ends a name, so no name spans it."""
    words: list[tuple[str, bool]] = []
    previous, previous_word = 0, ""
    for match in _WORDS.finditer(text):
        if words and _ends_name(text[previous : match.start()], previous_word):
            words.append(("", False))
        words.append((fold_word(match.group(0)), match.group(0).isupper()))
        previous, previous_word = match.end(), match.group(0)
    return words


def _core(words: list[str]) -> list[str]:
    core = [w for w in words if w not in OPTIONAL_WORDS]
    return core or words


@lru_cache(maxsize=4096)
def name_keys(name: str) -> frozenset[str]:
    """Every key the name may appear under: itself, without optional words, its aliases."""
    words = name_words(name)
    keys = {"".join(words), "".join(_core(words))}
    phrase = " ".join(_core(words))
    for group in ALIAS_GROUPS:
        if phrase in group:
            keys.update("".join(form.split()) for form in group)
    return frozenset(key for key in keys if key)


@lru_cache(maxsize=SOURCE_CACHE_SIZE)
def _text_index(text: str) -> tuple[tuple[tuple[str, bool], ...], dict[str, tuple[int, ...]]]:
    words = tuple(_cased_words(text))
    starts: dict[str, list[int]] = {}
    for position, (word, _) in enumerate(words):  # "" marks a break and starts nothing
        if word:
            starts.setdefault(word[0], []).append(position)
    return words, {char: tuple(positions) for char, positions in starts.items()}


def _glues_at(key: str, words: tuple[tuple[str, bool], ...], start: int, skip_optional: bool) -> bool:
    """Do the words from `start` on glue into exactly `key` (optional words skipped if asked)?"""
    glued, capitals = "", True
    for word, upper in words[start : start + MAX_NAME_WORDS]:
        if not word:
            return False
        if skip_optional and glued and word in OPTIONAL_WORDS:
            continue
        if not key.startswith(glued + word):
            return False
        glued += word
        capitals = capitals and upper
        if glued == key:
            # A short key ("us", "it", "un") counts only when written in capitals.
            return len(key) > SHORT_KEY or capitals
    return False


def name_in_text(name: str, text: str) -> bool:
    """True if the text writes the name in any of its normalised or alias forms: some run
    of its consecutive words glues into one of the name's keys."""
    words, starts = _text_index(text)
    for key in name_keys(name):
        for start in starts.get(key[0], ()):
            if _glues_at(key, words, start, False) or _glues_at(key, words, start, True):
                return True
    return False


def related_in_text(name: str, text: str) -> bool:
    """The text names the place's people or the people's place (see DEMONYMS)."""
    phrase = " ".join(_core(name_words(name)))
    for place, adjective in DEMONYMS.items():
        if phrase == place and name_in_text(adjective, text):
            return True
        if phrase == adjective and name_in_text(place, text):
            return True
    return False
