"""Delimiters in judge prompts that untrusted text cannot forge: every character that looks
like an angle bracket (after NFKC, and from a confusables table for those NFKC leaves
alone: ˂ ᐸ ❮ ≪ « ‹ 〈 ⟨ ...) counts as one, and any run of three or more is defused, so a
source or claim cannot open or close a <<<SOURCE>>> or <<<CLAIM>>> block of its own."""

from __future__ import annotations

import re
import unicodedata

# Look-alikes of "<" and ">", with how many brackets each one reads as.
CONFUSABLES: dict[str, str] = {
    **dict.fromkeys("˂ᐸ❮‹〈⟨〈❬❰ᑉ⧼﹤＜", "<"), "≪": "<<", "«": "<<", "⟪": "<<", "《": "<<",
    "⋘": "<<<", "⫷": "<<<",
    **dict.fromkeys("˃ᐳ❯›〉⟩〉❭❱ᑀ⧽﹥＞", ">"), "≫": ">>", "»": ">>", "⟫": ">>", "》": ">>",
    "⋙": ">>>", "⫸": ">>>",
}
_RUN = 3
_INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u00ad]")


def _canonical(char: str) -> str:
    if char in CONFUSABLES:
        return CONFUSABLES[char]
    folded = unicodedata.normalize("NFKC", char)
    return folded if folded and set(folded) <= {"<", ">"} else ""


_ASCII_RUN = re.compile(r"<{3,}|>{3,}")


def neutralise(text: str) -> str:
    """The text with every run of three or more bracket-like characters (invisible
    characters between them ignored) replaced by "[<]" or "[>]"."""
    if text.isascii():
        # No look-alike, invisible character or NFKC change in ASCII: only "<" and ">"
        # count, so a regex finds the runs (~1,000 characters: ~1 ms -> ~20 us).
        return _ASCII_RUN.sub(lambda run: f"[{run.group(0)[0]}]", text)
    return _neutralise_any(text)


def _neutralise_any(text: str) -> str:
    out: list[str] = []
    run: list[str] = []
    run_canonical = ""

    def flush() -> None:
        nonlocal run, run_canonical
        if len(run_canonical) >= _RUN:
            out.append(f"[{run_canonical[0]}]")
        else:
            out.extend(run)
        run, run_canonical = [], ""

    for char in text:
        if run and _INVISIBLE.fullmatch(char):
            continue  # "<\u200b<\u200b<" is still a run
        canonical = _canonical(char)
        if canonical and (not run_canonical or canonical[0] == run_canonical[0]):
            run.append(char)
            run_canonical += canonical
            continue
        flush()
        if canonical:
            run.append(char)
            run_canonical = canonical
        else:
            out.append(char)
    flush()
    return "".join(out)


def fence(kind: str, attributes: str, body: str) -> str:
    """A delimited block: `<<<KIND attributes>>>`, the neutralised body, `<<<END KIND ...>>>`."""
    return f"<<<{kind} {attributes}>>>\n{neutralise(body.strip())}\n<<<END {kind} {attributes.split()[0]}>>>"
