"""Small text helpers shared by the audit, triage and the citation gate: content words."""

from __future__ import annotations

import re

STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just
me more most my myself no nor not now of off on once only or other our ours ourselves out over own
same she should so some such than that the their theirs them themselves then there these they this
those through to too under until up very was we were what when where which while who whom why will
with would you your yours yourself yourselves via per amid among across within without new like
one two three many much may might must shall us let via s t its it's
""".split())

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'+-]*[A-Za-z0-9]|[A-Za-z]")


def stem(word: str) -> str:
    """A deliberately light stemmer: plural and common verb endings, enough for overlap tests."""
    for suffix in ("ations", "ation", "ings", "ing", "ies", "es", "ed", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def content_words(text: str) -> set[str]:
    words = set()
    for token in _WORD.findall(text):
        lowered = token.lower().strip("'")
        for part in re.split(r"[-']", lowered):
            if len(part) >= 3 and part not in STOPWORDS:
                words.add(stem(part))
    return words
