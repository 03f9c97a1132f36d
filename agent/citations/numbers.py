"""Numbers, amounts, units and dates in a sentence, normalised so that "4.3K", "4,300" and
"4300" compare equal, and the check that each one of a sentence occurs in a cited text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

MULTIPLIERS = {
    "k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9,
    "billion": 1e9, "t": 1e12, "tn": 1e12, "trillion": 1e12, "hundred": 1e2,
}
# Units that change the scale of the quantity; counted nouns (GPUs, tokens) are plain numbers.
UNITS = {
    "w": ("W", 1.0), "kw": ("W", 1e3), "mw": ("W", 1e6), "gw": ("W", 1e9), "tw": ("W", 1e12),
    "watts": ("W", 1.0), "kilowatts": ("W", 1e3), "megawatts": ("W", 1e6),
    "gigawatts": ("W", 1e9), "kwh": ("Wh", 1e3), "mwh": ("Wh", 1e6), "gwh": ("Wh", 1e9),
    "twh": ("Wh", 1e12), "%": ("%", 1.0), "percent": ("%", 1.0), "per cent": ("%", 1.0),
    "x": ("x", 1.0), "×": ("x", 1.0), "times": ("x", 1.0), "fold": ("x", 1.0),
}
WORD_NUMBERS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90, "dozen": 12, "hundred": 100,
}
MONTHS = {
    name: index
    for index, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
         ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
         ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
         ("december", "dec")], start=1)
    for name in names
}

_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_MDY = re.compile(_MONTH + r"\s+(?:(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+)?(?P<year>\d{4})\b", re.I)
_DATE_DMY = re.compile(r"\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH + r",?\s+(?P<year>\d{4})\b", re.I)
_DATE_ISO = re.compile(r"\b(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})\b")
_DATE_MD = re.compile(_MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?\b", re.I)
_DATE_DM = re.compile(r"\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH, re.I)
# A month named alone, capitalised and spelled out ("in November"); "May" is too ambiguous.
_DATE_M = re.compile(r"\b(?P<month>January|February|March|April|June|July|August|September|"
                     r"October|November|December)\b")

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
_MULT = r"thousand|million|billion|trillion|bn|mn|tn|[KkMBT](?![a-zA-Z])"
_UNIT = (r"%|per\s?cent\b|percent\b|[kMGT]?Wh?\b|(?:kilo|mega|giga)?watts\b|×|x(?![a-zA-Z])"
         r"|times\b|-?fold\b")
_QUANTITY = re.compile(
    r"(?<![A-Za-z0-9.,])(?<![A-Za-z]-)(?P<cur>[$€£¥])?(?P<num>" + _NUM + r")"
    r"(?:\s?(?:-|–|—|to)\s?[$€£¥]?(?P<num2>" + _NUM + r"))?"
    r"(?:\s?(?P<mult>" + _MULT + r"))?(?:\s?(?P<unit>" + _UNIT + r"))?"
    r"(?P<suffix>st|nd|rd|th|s(?![a-zA-Z])|\+)?(?![A-Za-z0-9])"
)
_WORD_QUANTITY = re.compile(
    r"\b(?P<word>" + "|".join(WORD_NUMBERS) + r"|one|a)(?:[\s-](?P<mult>hundred|thousand|million|billion|trillion))?"
    r"(?:[\s-](?P<unit>percent|times|fold))?\b", re.I)


# "a third of Grok" is a fraction; "a third cousin" is an ordinal and not checked.
_FRACTION = re.compile(r"\b(?:a|one)[\s-](?P<word>half|third|quarter|fifth|tenth)(?=\s+of\b)", re.I)
FRACTIONS = {"half": 0.5, "third": 1 / 3, "quarter": 0.25, "fifth": 0.2, "tenth": 0.1}


@dataclass(frozen=True)
class Quantity:
    """One normalised number: raw value (with K/M/B applied), unit kind and its scaled value."""

    text: str
    value: float
    kind: str = ""
    scaled: float = 0.0
    tolerance: float = 0.0
    date: tuple[int | None, int | None, int | None] | None = None

    def matches(self, other: Quantity) -> bool:
        """True if `other` (found in a source) states this quantity."""
        if self.date is not None:
            if other.date is None:
                return False
            # A source date without a year ("March 4th") matches; the year is checked on its own.
            return all(mine is None or mine == theirs or (part == 0 and theirs is None)
                       for part, (mine, theirs) in enumerate(zip(self.date, other.date)))
        if other.date is not None:
            return False
        if self.kind and other.kind:
            if self.kind != other.kind:
                return False
            return abs(self.scaled - other.scaled) <= max(self.tolerance * self.scaled / (self.value or 1), 1e-9 * abs(self.scaled))
        return abs(self.value - other.value) <= max(self.tolerance, 1e-9 * abs(self.value))


def _number(text: str) -> tuple[float, int]:
    cleaned = text.replace(",", "")
    decimals = len(cleaned.split(".")[1]) if "." in cleaned else 0
    return float(cleaned), decimals


def _quantities(text: str, mult: str | None, unit: str | None, cur: str | None, surface: str,
                numbers: list[str]) -> list[Quantity]:
    factor = MULTIPLIERS.get(mult.lower(), 1.0) if mult else 1.0
    kind, scale = ("", 1.0)
    if unit:
        kind, scale = UNITS.get(unit.lower().replace(" ", "").lstrip("-"), ("", 1.0))
    if cur:
        kind, scale = "$", 1.0
    found = []
    for number in numbers:
        value, decimals = _number(number)
        # "4.3K" states a precision of 50 and "220K" one of about a percent; "4,300" is exact.
        if not mult:
            tolerance = 0.0
        elif decimals:
            tolerance = 0.5 * 10 ** (-decimals) * factor
        else:
            tolerance = 0.005 * value * factor
        found.append(Quantity(surface, value * factor, kind, value * factor * scale, tolerance))
    return found


@lru_cache(maxsize=1024)
def extract_quantities(text: str) -> tuple[Quantity, ...]:
    """Every number, amount, unit and date of `text`, normalised; dates also yield their year."""
    quantities: list[Quantity] = []
    taken = [False] * len(text)

    def claim(match: re.Match[str]) -> bool:
        if any(taken[match.start() : match.end()]):
            return False
        for index in range(match.start(), match.end()):
            taken[index] = True
        return True

    for pattern in (_DATE_ISO, _DATE_DMY, _DATE_MDY, _DATE_MD, _DATE_DM, _DATE_M):
        for match in pattern.finditer(text):
            groups = match.groupdict()
            month_text = groups["month"]
            month = int(month_text) if month_text.isdigit() else MONTHS[month_text.lower().rstrip(".")]
            if month_text.lower() == "may" and not groups.get("day") and text[match.start()].islower():
                continue  # "may 2020" in running text is more likely the verb
            if month_text.lower() in ("may", "march") and text[match.start()].islower():
                continue
            if not claim(match):
                continue
            day = int(groups["day"]) if groups.get("day") else None
            year = int(groups["year"]) if groups.get("year") else None
            quantities.append(Quantity(match.group(0), float(year or 0), date=(year, month, day)))
            if year is not None:
                quantities.append(Quantity(groups["year"], float(year)))
    for match in _QUANTITY.finditer(text):
        if any(taken[match.start() : match.end()]):
            continue
        claim(match)
        numbers = [match.group("num")] + ([match.group("num2")] if match.group("num2") else [])
        if len(numbers) == 2 and len(numbers[0]) == 4 and len(numbers[1]) == 2 and numbers[0].isdigit():
            numbers[1] = numbers[0][:2] + numbers[1]  # "2018-19" is 2018 to 2019
        quantities.extend(_quantities(text, match.group("mult"), match.group("unit"),
                                      match.group("cur"), match.group(0).strip(), numbers))
    for match in _WORD_QUANTITY.finditer(text):
        word = match.group("word").lower()
        if word in ("one", "a") and not match.group("mult"):
            continue
        if any(taken[match.start() : match.end()]):
            continue
        claim(match)
        base = 1.0 if word in ("one", "a") else float(WORD_NUMBERS[word])
        quantities.extend(_quantities(text, match.group("mult"), match.group("unit"), None,
                                      match.group(0), [str(int(base))]))
    for match in _FRACTION.finditer(text):
        if claim(match):
            quantities.append(Quantity(match.group(0), FRACTIONS[match.group("word").lower()], "fraction"))
    return tuple(quantities)


def missing_quantities(sentence: str, evidence_texts: list[str]) -> list[str]:
    """Surface forms of the sentence's quantities that none of the evidence texts states."""
    available = [q for text in evidence_texts for q in extract_quantities(text)]
    missing: list[str] = []
    for quantity in extract_quantities(sentence):
        if not any(quantity.matches(other) for other in available):
            if quantity.text not in missing:
                missing.append(quantity.text)
    return missing
