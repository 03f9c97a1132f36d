"""Text helpers of the citation gate: content tokens, a small stemmer, sentence splitting,
and a normalised view of a text that maps back to the original character offsets."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

STOPWORDS = frozenset(
    """a about above across after again against all almost also although am among an and any
    are aren't as at be because been before being below between both but by can cannot could
    did do does doing done down during each either else even ever every few for from further
    had has have having he her here hers herself him himself his how however i if in into is
    it its itself just least less let like many may me might more most much must my myself
    near neither nor now of off often on once one only onto or other others otherwise our ours
    ourselves out over own per perhaps quite rather same several shall she should since so
    some such than that the their theirs them themselves then there these they this those
    though through thus to too toward towards under until up upon us very via was we well
    were what whatever when where whether which while who whom whose why will with within
    would yet you your yours yourself also additionally moreover furthermore meanwhile
    currently today recently new now said says say according including include includes
    included first second last""".split()
)

# Words that differ only in spelling variants or common synonyms map to one key, so a
# faithful paraphrase still shares its content words with the source.
_SUFFIXES = (
    ("ational", "ate"), ("ization", "ize"), ("ations", "ate"), ("ation", "ate"),
    ("fulness", "ful"), ("iveness", "ive"), ("ousness", "ous"), ("ements", ""),
    ("ement", ""), ("ments", ""), ("ment", ""), ("ities", ""), ("ity", ""),
    ("ingly", ""), ("edly", ""), ("ing", ""), ("ies", "y"), ("ied", "y"), ("ers", ""),
    ("er", ""), ("ed", ""), ("ly", ""), ("es", ""), ("s", ""),
)

# Caches keyed by a whole source text hold an index of it (words, sentences, numbers, a
# folded copy): about 1.6 MiB for a 50,000-character page across the gate's caches. A run
# checks each source's claims close together, so a few dozen entries keep every hit, and
# the memory of a night stays flat instead of growing to ~1 GiB on long pages.
SOURCE_CACHE_SIZE = 64

TOKEN_RE = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Crude suffix stripping: enough to equate run/runs/running and model/models."""
    word = word.lower().replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) <= 4 or word.isdigit():
        return word
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: len(word) - len(suffix)] + replacement
            break
    # Collapse a doubled final consonant left by -ing/-ed ("running" -> "runn" -> "run").
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


def content_tokens(text: str) -> list[str]:
    """Stemmed lowercase tokens without stopwords or one-letter tokens."""
    tokens = []
    for match in TOKEN_RE.finditer(text):
        word = match.group(0).lower().replace("’", "'")
        if word in STOPWORDS or len(word) < 2 or word.endswith("n't"):
            continue
        tokens.append(stem(word))
    return tokens


@lru_cache(maxsize=SOURCE_CACHE_SIZE)
def content_token_set(text: str) -> frozenset[str]:
    return frozenset(content_tokens(text))


_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_ABBREVIATIONS = ("vs.", "e.g.", "i.e.", "Mr.", "Ms.", "Dr.", "St.", "Inc.", "No.", "Jr.",
                  "U.S.", "etc.", "Co.", "Corp.", "Ltd.", "Jan.", "Feb.", "Aug.", "Sept.",
                  "Oct.", "Nov.", "Dec.")


@lru_cache(maxsize=SOURCE_CACHE_SIZE)
def sentence_spans(text: str) -> tuple[tuple[int, int], ...]:
    """`split_sentences` of a source, kept for the gate's stages that walk its sentences."""
    return tuple(split_sentences(text))


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) of a source: lines first, then sentence ends in a line."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        start = offset
        offset += len(line)
        stripped = line.rstrip()
        if not stripped.strip():
            continue
        cursor = start + (len(line) - len(line.lstrip()))
        line_end = start + len(stripped)
        for match in _SENTENCE_END.finditer(text, cursor, line_end):
            before = text[cursor : match.start()]
            if before.endswith(_ABBREVIATIONS) or re.search(r"\b[A-Z]\.$", before):
                continue
            spans.append((cursor, match.start()))
            cursor = match.end()
        if cursor < line_end:
            spans.append((cursor, line_end))
    return spans


_FOLD = str.maketrans({
    "“": '"', "”": '"', "„": '"', "‟": '"', "«": '"', "»": '"', "‘": "'", "’": "'",
    "‚": "'", "‛": "'", "`": "'", "´": "'", "–": "-", "—": "-", "‒": "-", "―": "-",
    "‐": "-", "‑": "-", "−": "-", "\u00a0": " ", "…": ".",
})


_FOLD_ASCII = str.maketrans({"`": "'"})
_SPACES = re.compile(r"\s+")  # str.isspace() exactly, for str patterns


def folded(text: str) -> tuple[str, list[int]]:
    """Case-, quote-, dash- and whitespace-folded text plus, per folded character, the
    offset of the original character it came from (so a match maps back to the source)."""
    if text.isascii():
        return _folded_ascii(text)
    return _folded_any(text)


def _folded_ascii(text: str) -> tuple[str, list[int]]:
    """`folded` of ASCII text, where NFKC changes nothing, casefold is lower() and no
    character folds to more than one: the whitespace runs are found by a regex rather than
    char by char (a source of ~1,000 characters: ~1.5 ms -> ~0.1 ms)."""
    text = text.translate(_FOLD_ASCII).lower()
    pieces: list[str] = []
    origin: list[int] = []
    start = 0
    for run in _SPACES.finditer(text):
        if run.start() > start:
            pieces.append(text[start:run.start()])
            origin.extend(range(start, run.start()))
            if run.end() < len(text):  # no space at either end
                pieces.append(" ")
                origin.append(run.start())
        start = run.end()
    if start < len(text):
        pieces.append(text[start:])
        origin.extend(range(start, len(text)))
    return "".join(pieces), origin


def _folded_any(text: str) -> tuple[str, list[int]]:
    chars: list[str] = []
    origin: list[int] = []
    previous_space = True
    for index, char in enumerate(text):
        char = char.translate(_FOLD)
        if char.isspace():
            if previous_space:
                continue
            chars.append(" ")
            origin.append(index)
            previous_space = True
            continue
        for piece in unicodedata.normalize("NFKC", char).casefold():
            chars.append(piece)
            origin.append(index)
        previous_space = False
    if chars and chars[-1] == " ":
        chars.pop()
        origin.pop()
    return "".join(chars), origin


def fold(text: str) -> str:
    """`folded(text)[0]`, without the offsets."""
    if text.isascii():
        return _SPACES.sub(" ", text.translate(_FOLD_ASCII).lower()).strip()
    return _folded_any(text)[0]
