"""Numbers, amounts, units and dates in a sentence, normalised so that "4.3K", "4,300" and
"4300" compare equal, and the check that each one of a sentence occurs in a cited text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from agent.citations.text import SOURCE_CACHE_SIZE, content_tokens

MULTIPLIERS = {
    "k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9,
    "billion": 1e9, "t": 1e12, "tn": 1e12, "trillion": 1e12, "hundred": 1e2,
}
# Units that change the scale of the quantity; counted nouns (GPUs, tokens) are plain numbers.
# Each maps to (dimension, factor to the dimension's base unit). Quantities in different
# units of one dimension ("10 kg" / "22 lb") compare within CONVERSION_TOLERANCE, since a
# conversion is rounded; in the same unit they compare exactly.
UNITS = {
    "w": ("W", 1.0), "kw": ("W", 1e3), "mw": ("W", 1e6), "gw": ("W", 1e9), "tw": ("W", 1e12),
    "watts": ("W", 1.0), "kilowatts": ("W", 1e3), "megawatts": ("W", 1e6),
    "gigawatts": ("W", 1e9), "kwh": ("Wh", 1e3), "mwh": ("Wh", 1e6), "gwh": ("Wh", 1e9),
    "twh": ("Wh", 1e12), "%": ("%", 1.0), "percent": ("%", 1.0), "per cent": ("%", 1.0),
    "x": ("x", 1.0), "×": ("x", 1.0), "times": ("x", 1.0), "fold": ("x", 1.0),
    "km": ("m", 1e3), "kilometres": ("m", 1e3), "kilometers": ("m", 1e3),
    "kilometre": ("m", 1e3), "kilometer": ("m", 1e3), "m": ("m", 1.0), "metres": ("m", 1.0),
    "meters": ("m", 1.0), "metre": ("m", 1.0), "meter": ("m", 1.0), "cm": ("m", 0.01),
    "centimetres": ("m", 0.01), "centimeters": ("m", 0.01), "mm": ("m", 0.001),
    "mi": ("m", 1609.344), "miles": ("m", 1609.344), "mile": ("m", 1609.344),
    "ft": ("m", 0.3048), "feet": ("m", 0.3048), "foot": ("m", 0.3048),
    "inches": ("m", 0.0254), "inch": ("m", 0.0254),
    "kg": ("g", 1e3), "kilograms": ("g", 1e3), "kilogrammes": ("g", 1e3),
    "kilogram": ("g", 1e3), "grams": ("g", 1.0), "tonnes": ("g", 1e6), "tonne": ("g", 1e6),
    "lb": ("g", 453.59237), "lbs": ("g", 453.59237), "pounds": ("g", 453.59237),
    "pound": ("g", 453.59237), "oz": ("g", 28.349523), "ounces": ("g", 28.349523),
    "km2": ("m2", 1e6), "km²": ("m2", 1e6), "sqkm": ("m2", 1e6), "squarekilometres": ("m2", 1e6),
    "squarekilometers": ("m2", 1e6), "sqmi": ("m2", 2.589988e6), "squaremiles": ("m2", 2.589988e6),
    "hectares": ("m2", 1e4), "ha": ("m2", 1e4), "acres": ("m2", 4046.8564),
    "km/h": ("m/s", 1 / 3.6), "kph": ("m/s", 1 / 3.6), "mph": ("m/s", 0.44704),
    "litres": ("l", 1.0), "liters": ("l", 1.0), "gallons": ("l", 3.785411),
    "°c": ("K", 1.0), "°f": ("K", 5 / 9), "degreescelsius": ("K", 1.0),
    "degreesfahrenheit": ("K", 5 / 9),
}
# Temperature scales are offset, not only scaled (0 °C = 32 °F).
OFFSETS = {"°f": -32.0, "degreesfahrenheit": -32.0}
CONVERSION_TOLERANCE = 0.05
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
# A month starts a word or is capitalised: web extractions glue words ("RegisterAugust 25,
# 2016", "2018June 12"), but "Tamar 2020" holds no date. The lookahead on the names' first
# letters spares the engine trying every name at every other place (~2x faster a paragraph).
_MONTH_START = (r"(?:\b|(?-i:(?=[A-Z])))(?=[" + "".join(sorted({m[0] for m in MONTHS})) + "])")
_DATE_MDY = re.compile(_MONTH_START + _MONTH + r"\s+(?:(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+)?(?P<year>\d{4})\b",
                       re.I)
_DATE_DMY = re.compile(r"\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH + r",?\s+(?P<year>\d{4})\b", re.I)
_DATE_ISO = re.compile(r"\b(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})\b")
# A day is not the hour of a time ("18 October 15:30" is the 18th, not the 15th).
_DATE_MD = re.compile(_MONTH_START + _MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?\b(?![:.]\d)", re.I)
_DATE_DM = re.compile(r"\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH, re.I)
# A month named alone, capitalised and spelled out ("in November"); "May" is too ambiguous.
_DATE_M = re.compile(r"\b(?P<month>January|February|March|April|June|July|August|September|"
                     r"October|November|December)\b")

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
_MULT = r"thousand|million|billion|trillion|bn|mn|tn|[KkMBT](?![a-zA-Z])"
_UNIT = (r"%|per\s?cent\b|percent\b|[kMGT]?Wh?\b|(?:kilo|mega|giga)?watts\b|×|x(?![a-zA-Z])"
         r"|times\b|-?fold\b|km/h\b|kph\b|mph\b|(?:sq\.?\s?|square\s)(?:km|mi|miles|kilometres|kilometers)\b"
         r"|km[2²]|(?:kilo|centi)?(?:metres?|meters?)\b|km\b|cm\b|mm\b|m\b|mi\b|miles?\b|ft\b|feet\b"
         r"|foot\b|inch(?:es)?\b|kg\b|kilogram(?:me)?s?\b|grams\b|tonnes?\b|lbs?\b|pounds?\b"
         r"|oz\b|ounces\b|hectares\b|ha\b|acres\b|litres\b|liters\b|gallons\b"
         r"|°\s?[CF]\b|degrees\s(?:Celsius|Fahrenheit)\b")
_QUANTITY = re.compile(
    r"(?<![A-Za-z0-9.,])(?<![A-Za-z]-)(?P<cur>[$€£¥])?(?P<num>" + _NUM + r")"
    r"(?:\s?(?:-|–|—|to)\s?[$€£¥]?(?P<num2>" + _NUM + r"))?"
    r"(?:\s?(?P<mult>" + _MULT + r"))?(?:\s?(?P<unit>" + _UNIT + r"))?"
    r"(?P<suffix>st|nd|rd|th|s(?![a-zA-Z])|\+)?(?![A-Za-z0-9])"
)
_WORD_QUANTITY = re.compile(
    r"\b(?P<word>" + "|".join(WORD_NUMBERS) + r"|one|a)(?:[\s-](?P<mult>hundred|thousand|million|billion|trillion))?"
    r"(?:[\s-](?P<unit>percent|times|fold))?\b", re.I)


# Decades: "the 2000s", "the 2000's", "the '90s".
_DECADE = re.compile(r"(?<![\w.,])(?:(?P<full>\d{3}0)|['’](?P<short>\d0))['’]?s\b")
# A quantity in parentheses right after another of the same dimension restates it in
# another unit ("10 kg (22 lb)"): required only through the quantity it converts.
_CONVERSION_GAP = re.compile(r"\s*[(\[]\s*(?:about|approx\.?|approximately|c\.|~|or)?\s*$")

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
    unit: str = ""
    start: int = -1
    end: int = -1
    spelled: bool = False  # written in words ("three", "a third of")

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
            if self.unit != other.unit and self.unit and other.unit:
                return abs(self.scaled - other.scaled) <= CONVERSION_TOLERANCE * abs(self.scaled)
            return abs(self.scaled - other.scaled) <= max(self.tolerance * self.scaled / (self.value or 1), 1e-9 * abs(self.scaled))
        return abs(self.value - other.value) <= max(self.tolerance, 1e-9 * abs(self.value))


def _number(text: str) -> tuple[float, int]:
    cleaned = text.replace(",", "")
    decimals = len(cleaned.split(".")[1]) if "." in cleaned else 0
    return float(cleaned), decimals


def _unit_key(unit: str) -> str:
    return re.sub(r"[\s.]", "", unit.lower()).lstrip("-")


def _quantities(mult: str | None, unit: str | None, cur: str | None, surface: str,
                numbers: list[str], span: tuple[int, int], spelled: bool = False) -> list[Quantity]:
    factor = MULTIPLIERS.get(mult.lower(), 1.0) if mult else 1.0
    kind, scale, key = "", 1.0, ""
    if unit:
        key = _unit_key(unit)
        kind, scale = UNITS.get(key, ("", 1.0))
    if cur:
        kind, scale, key = "$", 1.0, cur
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
        scaled = (value * factor + OFFSETS.get(key, 0.0)) * scale
        found.append(Quantity(surface, value * factor, kind, scaled, tolerance, unit=key,
                              start=span[0], end=span[1], spelled=spelled))
    return found


@lru_cache(maxsize=SOURCE_CACHE_SIZE)
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
            quantities.append(Quantity(match.group(0), float(year or 0), date=(year, month, day),
                                       start=match.start(), end=match.end(),
                                       spelled=year is None and day is None))
            if year is not None:
                quantities.append(Quantity(groups["year"], float(year), start=match.start(),
                                           end=match.end()))
    for match in _DECADE.finditer(text):
        if claim(match):
            full, short = match.group("full"), match.group("short")
            year = int(full) if full else (1900 + int(short) if int(short) >= 30 else 2000 + int(short))
            quantities.append(Quantity(match.group(0), float(year), "decade", float(year),
                                       start=match.start(), end=match.end()))
    for match in _QUANTITY.finditer(text):
        if any(taken[match.start() : match.end()]):
            continue
        claim(match)
        numbers = [match.group("num")] + ([match.group("num2")] if match.group("num2") else [])
        if len(numbers) == 2 and len(numbers[0]) == 4 and len(numbers[1]) == 2 and numbers[0].isdigit():
            numbers[1] = numbers[0][:2] + numbers[1]  # "2018-19" is 2018 to 2019
        quantities.extend(_quantities(match.group("mult"), match.group("unit"),
                                      match.group("cur"), match.group(0).strip(), numbers,
                                      match.span()))
    for match in _WORD_QUANTITY.finditer(text):
        word = match.group("word").lower()
        if word in ("one", "a") and not match.group("mult"):
            continue
        if any(taken[match.start() : match.end()]):
            continue
        claim(match)
        base = 1.0 if word in ("one", "a") else float(WORD_NUMBERS[word])
        quantities.extend(_quantities(match.group("mult"), match.group("unit"), None,
                                      match.group(0), [str(int(base))], match.span(), True))
    for match in _FRACTION.finditer(text):
        if claim(match):
            quantities.append(Quantity(match.group(0), FRACTIONS[match.group("word").lower()],
                                       "fraction", start=match.start(), end=match.end(),
                                       spelled=True))
    return tuple(quantities)


@dataclass(frozen=True)
class NumberFinding:
    """A quantity of the sentence that no evidence text states; `sure` when that alone shows
    the sentence unsupported (see `number_findings`)."""

    text: str
    sure: bool


def _noun_after(text: str, end: int) -> str | None:
    """The first content word after a quantity, stemmed ("six lanes", "eight more frames")."""
    tokens = content_tokens(re.split(r"[.;:!?]", text[end : end + 40], maxsplit=1)[0])
    return tokens[0] if tokens else None


def _conversions(quantities: tuple[Quantity, ...], sentence: str) -> dict[int, int]:
    """Index of each parenthesised conversion -> index of the quantity it restates."""
    derived: dict[int, int] = {}
    for index, quantity in enumerate(quantities):
        for other_index, other in enumerate(quantities):
            if (other.kind and other.kind == quantity.kind and other.kind not in ("%", "$", "x")
                    and 0 <= other.end <= quantity.start
                    and _CONVERSION_GAP.fullmatch(sentence[other.end : quantity.start])):
                derived[index] = other_index
    return derived


def _noun_counts_differ(sentence: str, quantity: Quantity, texts: list[str]) -> bool:
    """The evidence counts the same noun with one other number ("six lanes" / "eight
    lanes"); several counts of it ("five of the nine frames", "eight more frames") leave
    room for a number the sentence worked out."""
    noun = _noun_after(sentence, quantity.end)
    if noun is None:
        return False
    counts = {other.value for text in texts for other in extract_quantities(text)
              if other.date is None and other.end >= 0 and not other.kind
              and not (1000 <= other.value <= 2100 and other.value.is_integer())  # a year
              and _noun_after(text, other.end) == noun}
    return len(counts) == 1 and not any(quantity.matches(Quantity("", value)) for value in counts)


def _year(quantity: Quantity) -> int | None:
    if quantity.date is not None:
        return quantity.date[0]
    value = quantity.value
    return int(value) if not quantity.kind and value.is_integer() and 1000 <= value <= 2100 else None


def _inferred_year(index: int, quantities: tuple[Quantity, ...], available: list[Quantity]) -> bool:
    """The year of a date the evidence states without its year ("set to begin in June 2019"
    beside a page dated December 2018 that says "the first planned for June"), within a year
    of a year the evidence states: the writer worked it out from the page's own dates, so
    it is a hint for the judge, not a sure failure. A changed year of a dated source ("14
    June 2018" for "14 June 2019") still is one."""
    year = quantities[index]
    if year.date is not None or _year(year) is None:
        return False
    dates = [q for q in quantities if q.date is not None and q.date[0] == int(year.value)
             and (q.start, q.end) == (year.start, year.end)]
    yearless = [q for q in available if q.date is not None and q.date[0] is None]
    if not dates or not any(dates[0].matches(other) for other in yearless):
        return False
    stated = {found for found in map(_year, available) if found is not None}
    return any(abs(found - int(year.value)) <= 1 for found in stated)


def number_findings(sentence: str, evidence_texts: list[str]) -> list[NumberFinding]:
    """The sentence's quantities that no evidence text states, after normalisation.

    Sure: a quantity written in digits (a changed number, date or amount), or a number
    written as a word where the evidence counts the same noun with another number. Not
    sure (a hint for the judge): a spelled-out number or month that the evidence may state
    another way ("the other two applicants" after naming two), and the year of a date the
    evidence states without one, next to a year it does state (`_inferred_year`). A parenthesised conversion
    ("10 kg (22 lb)") is not required when the quantity it converts is stated."""
    available = [q for text in evidence_texts for q in extract_quantities(text)]
    quantities = extract_quantities(sentence)
    stated = [any(q.matches(other) for other in available) for q in quantities]
    for index, quantity in enumerate(quantities):
        # "twelve summer concerts" is not stated by "under 12" when the evidence counts the
        # concerts as nine: a count of the same noun is the one that must agree.
        if stated[index] and not quantity.kind and quantity.date is None and _year(quantity) is None \
                and _noun_counts_differ(sentence, quantity, evidence_texts):
            stated[index] = False
    derived = _conversions(quantities, sentence)
    for index, primary in derived.items():  # a quantity and its conversion stand or fall together
        stated[index] = stated[primary] = stated[index] or stated[primary]
    findings: dict[str, NumberFinding] = {}
    for index, quantity in enumerate(quantities):
        if stated[index]:
            continue
        if quantity.spelled:
            sure = _noun_counts_differ(sentence, quantity, evidence_texts)
        else:
            sure = not _inferred_year(index, quantities, available)
        previous = findings.get(quantity.text)
        findings[quantity.text] = NumberFinding(quantity.text, sure or bool(previous and previous.sure))
    return list(findings.values())


def missing_quantities(sentence: str, evidence_texts: list[str], *, sure_only: bool = False) -> list[str]:
    """Surface forms of the sentence's quantities that none of the evidence texts states
    (only the sure ones with `sure_only`)."""
    return [f.text for f in number_findings(sentence, evidence_texts) if f.sure or not sure_only]
