"""The 20-line lexical baseline of issue 17, printed beside the gate by `absorb eval
citations`: a claim passes when every number of it appears in the cited text, at least half
of its content words of three letters or more do, and so does every capitalised word.

Words compare case-insensitively as whole words; numbers as digit strings with thousands
commas removed; the cited text is every cited source's title and text."""

from __future__ import annotations

import re

from agent.citations.text import STOPWORDS

_WORDS = re.compile(r"[A-Za-z]+")
_NUMBERS = re.compile(r"\d+(?:[.,]\d+)*")


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBERS.findall(text)}


def baseline_passes(claim: str, cited_texts: list[str]) -> bool:
    source = "\n".join(cited_texts)
    source_words = {w.lower() for w in _WORDS.findall(source)}
    if not _numbers(claim) <= _numbers(source):
        return False
    words = _WORDS.findall(claim)
    content = [w for w in words if len(w) >= 3 and w.lower() not in STOPWORDS]
    if content and sum(w.lower() in source_words for w in content) < len(content) / 2:
        return False
    return all(w.lower() in source_words for w in words if w[0].isupper())
