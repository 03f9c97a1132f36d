"""Build tests/data/perturbations.jsonl from the knowledge-bus items of the seed page.

Deterministic: the same seed gives the same file. Each case is one sentence of a bus item's
summary (verbatim, paraphrased or perturbed) cited to that item (or, for wrong_source, to a
related item). Run: python tests/data/make_perturbations.py [SEED] [OUT]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SEED = HERE.parents[2] / "shared" / "seeds" / "absorb.md"
DEFAULT_OUT = HERE / "perturbations.jsonl"
END_MARKER = "Showing 50 of 99"

SYNONYMS = {
    "enables": "allows", "enable": "allow", "integrates": "combines", "combines": "merges",
    "features": "offers", "continuous": "uninterrupted", "multiple": "several",
    "launches": "releases", "bundles": "packages", "supports": "handles", "address": "tackle",
    "running": "executing", "returning": "giving back", "immediately": "right away",
    "achieved": "reached", "rapidly": "quickly", "predicts": "forecasts", "argues": "contends",
    "represents": "constitutes", "major": "significant", "abruptly": "suddenly",
    "halting": "stopping", "underscores": "highlights", "rampant": "widespread",
    "overlapping": "redundant", "contributed": "added", "eroding": "weakening",
    "prioritize": "put first", "dominate": "outweigh", "demonstrate": "show",
    "converged": "agreed", "reflecting": "showing", "massive": "huge", "soon": "shortly",
    "developed": "built", "diverse": "varied", "handle": "manage", "reached": "attained",
    "comparable": "similar", "provides": "offers", "unified": "single", "dynamically": "adaptively",
    "optimizes": "improves", "employs": "uses", "outlines": "describes", "fundamental": "basic",
    "forcing": "compelling", "executing": "carrying out", "maximize": "get the most",
    "allowing": "enabling", "clarifying": "making clear", "relieve": "ease",
    "simultaneously": "at the same time", "proving": "showing", "isolating": "containing",
    "minimizes": "reduces", "achieving": "reaching", "processes": "handles", "powering": "driving",
    "acute": "severe", "leased": "rented", "growing": "expanding",
    "executing": "carrying out", "scaling": "rising", "consume": "use", "remain": "stay",
    "decentralization": "decentralisation", "optimization": "optimisation",
}
NEGATION_INSERTS = [
    (r"\b(is|are|was|were|can|will|has|have)\b", r"\1 not"),
    (r"\b(enables|integrates|combines|features|supports|provides|launches|predicts|argues|"
     r"faces|optimizes|abstracts|outlines|minimizes|processes|models|employs|now supports)\b",
     "verb"),
    (r"\b(developed|achieved|reached|invested|leased|contributed|converged)\b", "past"),
]
PRESENT_TO_BASE = {"processes": "process", "faces": "face", "now supports": "support",
                   "launches": "launch"}
NEGATION_REMOVALS = [
    (r"\bare not\b", "are"), (r"\bis not\b", "is"), (r"\bwithout halting\b", "while halting"),
    (r"\bwithout compromising\b", "while compromising"), (r"\brequiring no\b", "requiring"),
    (r"\bDespite 7 years without\b", "After 7 years with"), (r"\bUnlike\b", "Like"),
    (r"\bwithout disruption\b", "with disruption"), (r"\bnot\b ", ""),
]
ADDITIONS = [
    ", according to a 2023 Gartner survey", ", a first for the industry",
    ", and the company plans to triple that by 2027", ", while cutting costs by 40%",
    ", backed by a $2B investment from SoftBank",
    ", which regulators in the European Union have since approved",
    ", making it the most widely adopted approach among large enterprises",
    ", a result that independent benchmarks have since confirmed",
    ", and it is expected to become the industry standard within a year",
    ", as first reported by The Information",
    ", after a six-month pilot with two hyperscalers",
    ", which also halved energy use per query",
]
SWAP_POOL = ["Oracle", "OpenAI", "Microsoft Azure", "Intel", "Databricks", "Cohere",
             "Samsung", "IBM Research", "Perplexity", "Snowflake", "Qualcomm", "Baidu",
             "Salesforce", "Cerebras", "Tesla", "CoreWeave", "Adobe", "Stripe"]
NUMBER_WORDS = {"two": "five", "three": "four", "four": "six", "third": "quarter"}


def read_bus_items(seed: Path) -> list[tuple[str, str]]:
    """(title, summary) pairs after the numbered reference list, up to the end marker."""
    lines = seed.read_text(encoding="utf-8").splitlines()
    last_reference = max(i for i, line in enumerate(lines) if re.match(r"\s*\d+\.\s*\[\d+\]", line))
    body = []
    for line in lines[last_reference + 1 :]:
        if line.startswith(END_MARKER):
            break
        if line.strip():
            body.append(line.strip())
    return [(body[i], body[i + 1]) for i in range(0, len(body) - 1, 2)]


def sentences(summary: str) -> list[str]:
    """Complete sentences only: the summaries are cut mid-word at the end."""
    protected = summary.replace("vs. ", "vs\u2024 ")
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", protected)
    return [p.replace("\u2024", ".") for p in parts if re.search(r"[.!?]$", p)]


def paraphrase(sentence: str, limit: int | None = None) -> str | None:
    """Synonyms for up to `limit` words (all if None), plus a reordered three-word list."""
    changed = 0

    def swap(match: re.Match[str]) -> str:
        nonlocal changed
        word = match.group(0)
        replacement = SYNONYMS.get(word.lower())
        if replacement is None or (limit is not None and changed >= limit):
            return word
        changed += 1
        return replacement[0].upper() + replacement[1:] if word[0].isupper() else replacement

    text = re.sub(r"[A-Za-z]+", swap, sentence)
    # Reorder a list of three plain words: "A, B, and C" -> "B, C, and A" keeps the meaning.
    listed = re.search(r"(?<![\w/-])([a-z]\w*), ([a-z]\w*), and ([a-z]\w*)(?![\w/-])", text)
    if listed and limit is None and not re.search(r"[A-Z]\w* $", text[: listed.start()]):
        text = text[: listed.start()] + f"{listed[2]}, {listed[3]}, and {listed[1]}" + text[listed.end():]
        changed += 1
    return text if changed >= 1 and text != sentence else None


def paraphrases(sentence: str) -> list[str]:
    variants = [paraphrase(sentence), paraphrase(sentence, limit=1)]
    unique: list[str] = []
    for text in variants:
        if text is not None and text not in unique:
            unique.append(text)
    return unique


def changed_numbers(sentence: str) -> list[str]:
    """Each number raised, and lowered where that stays sensible; number words replaced."""
    variants = []
    for match in re.finditer(r"(?<![A-Za-z\d.])(\d+(?:\.\d+)?)", sentence):
        number = match.group(1)
        if "." in number:
            whole, fraction = number.split(".")
            changes = [f"{int(whole) + 1}.{fraction}", f"{whole}.{int(fraction) + 1}"]
        elif len(number) == 4 and number.startswith(("19", "20")):
            changes = [str(int(number) + 2), str(int(number) - 1)]
        else:
            value = int(number)
            changes = [str(value * 2 if value < 10 else value + max(10, value // 2))]
            if value > 2:
                changes.append(str(value - max(1, value // 4)))
        for new in changes:
            variants.append(sentence[: match.start(1)] + new + sentence[match.end(1):])
    for word, new in NUMBER_WORDS.items():
        found = re.search(rf"\b{word}\b", sentence)
        if found:
            variants.append(sentence[: found.start()] + new + sentence[found.end():])
    return variants


def entity_spans(sentence: str, known: set[str]) -> list[tuple[int, int]]:
    spans = []
    for match in re.finditer(r"\b[A-Z][A-Za-z0-9]*(?:[- ][A-Z][A-Za-z0-9]*)*\b", sentence):
        first_word = match.group(0).split()[0]
        if match.start() == 0 and first_word not in known:
            continue
        spans.append((match.start(), match.end()))
    return spans


def swapped_entities(sentence: str, source: str, known: set[str], seed: int) -> list[str]:
    variants = []
    for offset, (start, end) in enumerate(entity_spans(sentence, known)[:2]):
        for step in range(len(SWAP_POOL)):
            name = SWAP_POOL[(seed + offset + step) % len(SWAP_POOL)]
            if name.split()[0].lower() not in source.lower():
                rest = sentence[end:]
                if rest.startswith("'") and not rest.startswith("'s"):
                    rest = "'s" + rest[1:]  # "DoorDash Labs'" -> "Oracle's"
                variants.append(sentence[:start] + name + rest)
                break
    return variants


def negated(sentence: str) -> list[str]:
    """A negation removed (where the sentence has one) and one inserted."""
    variants = []
    for pattern, replacement in NEGATION_REMOVALS:
        if re.search(pattern, sentence):
            variants.append(re.sub(pattern, replacement, sentence, count=1))
            break
    for pattern, mode in NEGATION_INSERTS:
        match = re.search(pattern, sentence)
        if not match or re.match(r"\s+not\b", sentence[match.end():]):
            continue
        verb = match.group(1)
        if mode == "verb":
            new = f"does not {PRESENT_TO_BASE.get(verb, verb[:-1])}"
        elif mode == "past":
            new = f"did not {verb[:-2] if verb.endswith('ed') else verb}"
            new = new.replace("achiev", "achieve").replace("leas", "lease")
        else:
            new = re.sub(pattern, mode, verb)
        variants.append(sentence[: match.start()] + new + sentence[match.end():])
        break
    return variants


def with_addition(sentence: str, index: int) -> str:
    return sentence[:-1] + ADDITIONS[index % len(ADDITIONS)] + sentence[-1]


def tokens(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{4,}", text.lower())}


def related_item(index: int, items: list[tuple[str, str]]) -> int:
    """The most similar other item that is not a near duplicate of this one."""
    mine = tokens(items[index][1])
    best, best_score = -1, -1.0
    for other, (_, summary) in enumerate(items):
        theirs = tokens(summary)
        score = len(mine & theirs) / len(mine | theirs)
        if other != index and score < 0.3 and score > best_score:
            best, best_score = other, score
    return best


def build(seed: Path) -> list[dict]:
    items = read_bus_items(seed)
    known = {m for _, s in items for m in re.findall(r"(?<=[a-z,] )([A-Z][A-Za-z0-9]+)", s)}
    known |= {t.split()[0].rstrip("'s") for t, _ in items}
    cases: list[dict] = []

    def add(category: str, claim: str, cite: int, label: str, extra: int | None = None) -> None:
        sources = {f"bus{cite + 1:02d}": {"title": items[cite][0], "text": items[cite][1]}}
        if extra is not None:
            sources[f"bus{extra + 1:02d}"] = {"title": items[extra][0], "text": items[extra][1]}
        number = sum(1 for c in cases if c["category"] == category) + 1
        cases.append({"id": f"pert-{category}-{number:03d}", "claim": claim,
                      "citations": [f"bus{cite + 1:02d}"], "sources": sources, "label": label,
                      "category": category, "context": {"article": "AI Infrastructure",
                                                        "section": items[cite][0]}})

    counter = 0
    for index, (_, summary) in enumerate(items):
        for sentence in sentences(summary):
            counter += 1
            add("supported", sentence, index, "supported")
            for text in paraphrases(sentence):
                add("paraphrase", text, index, "supported")
            for text in changed_numbers(sentence):
                add("changed_number", text, index, "not_supported")
            for text in swapped_entities(sentence, summary, known, counter):
                add("swapped_entity", text, index, "not_supported")
            for text in negated(sentence):
                add("negation", text, index, "not_supported")
            add("unsupported_addition", with_addition(sentence, counter), index, "not_supported")
            add("wrong_source", sentence, related_item(index, items), "not_supported", extra=index)
    return cases


def main(argv: list[str]) -> None:
    seed = Path(argv[1]) if len(argv) > 1 else DEFAULT_SEED
    out = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
    cases = build(seed)
    with out.open("w", encoding="utf-8") as handle:
        for case in cases:
            handle.write(json.dumps(case, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for case in cases:
        counts[case["category"]] = counts.get(case["category"], 0) + 1
    print(f"{len(cases)} cases -> {out}: {counts}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
