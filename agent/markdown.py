"""Import and export of topic pages in the seed's Markdown-like format.

A page is: an optional header (topic title, summary paragraph, a people line), the
article title (`# Title`), sections (`## Heading` or, as in the seed, a bare short line),
prose with `[N]` and `[web:N]` markers, a numbered reference list (`[N]Title · kind ·
date`, bare URLs), and, after it, the knowledge-bus listing, which is not article text.

Inside the article, citations are source ids; numbers exist only in rendered text. A topic's
numbers are stored (agent.numbering): import reports the page's own numbers so they are kept,
and export renders the numbers it is given (first appearance only when it is given none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.models import Article, Section, Sentence, Source, is_source_id, slugify, source_id_for

MAX_PAGE_BYTES = 20 * 1024 * 1024

_MARKER = re.compile(r"\[([A-Za-z]+:\d+|\d+)\]")
_MARKER_RUN = re.compile(r"\s*(?:\[(?:[A-Za-z]+:\d+|\d+)\])+")
_REFERENCE = re.compile(r"^\s*(?:\d+\.\s*)?\[(\d+)\]\s*(.*?)\s*$")
_REF_INTRO = re.compile(r"^(numbered to match inline|## references|references$)", re.I)
_URL = re.compile(r"^\s*(?:<)?(https?://\S+?)(?:>)?\s*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ][\d:]+Z?)?$")
_FILENAME_LINE = re.compile(r"^[\w.-]+\.(?:md|txt|markdown)$", re.I)
_SHOWING = re.compile(r"^Showing \d+ of \d+", re.I)
# Reference kinds glued to the title in the seed ("...Transformationblog · 2016-10-24").
_KIND_SUFFIXES = {"X / Twitter": "tweet", "tweet": "tweet", "blog": "blog", "expert": "expert",
                  "paper": "paper", "news": "news", "web": "web"}
_ABBREVIATIONS = {"e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "prof", "inc", "ltd", "co",
                  "corp", "jr", "sr", "st", "no", "fig", "approx", "cf", "al", "est", "dept"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SENTENCE_END = re.compile(r"([.!?…]+[\"'”’)\]]*)((?:\s*\[(?:[A-Za-z]+:\d+|\d+)\])*)(\s+)(?=\S)")


class PageError(ValueError):
    """The input is not a page absorb can import; the message is one line for the user."""


@dataclass
class ParsedPage:
    article: Article
    bus_text: str = ""
    people: list[tuple[str, int]] = field(default_factory=list)
    unresolved_markers: list[str] = field(default_factory=list)
    numbers: dict[str, int] = field(default_factory=dict)
    """The page's own reference number of each source (the first, if it is listed twice)."""


def decode_page(data: bytes) -> str:
    if len(data) > MAX_PAGE_BYTES:
        raise PageError(f"file is {len(data) / 1e6:.1f} MB; pages larger than "
                        f"{MAX_PAGE_BYTES // (1024 * 1024)} MiB are refused")
    if b"\x00" in data[:8192]:
        raise PageError("file is binary, not a text page")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PageError(f"file is not UTF-8 text (bad byte at offset {exc.start})") from None
    # Control characters (terminal escapes among them) are never article text.
    return _CONTROL.sub("", text)


def split_sentences(paragraph: str) -> list[str]:
    """Split prose into sentences; citation markers after the full stop stay with it."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(paragraph):
        before = paragraph[start:match.start(1)]
        last_word = before.rsplit(None, 1)[-1] if before.split() else ""
        bare = last_word.lower().lstrip("(\"'“")
        if match.group(1).startswith(".") and not match.group(2):
            if bare in _ABBREVIATIONS or re.fullmatch(r"(?:[a-z]\.)+[a-z]?", bare) or len(bare) == 1:
                continue
        end = match.end(2)
        pieces.append(paragraph[start:end].strip())
        start = match.end(3)
    tail = paragraph[start:].strip()
    if tail and pieces and not _strip_markers(tail):
        pieces[-1] = f"{pieces[-1]} {tail}"  # markers after the last full stop cite that sentence
    elif tail:
        pieces.append(tail)
    return [p for p in pieces if p]


def _strip_markers(raw: str) -> str:
    text = _MARKER_RUN.sub("", raw)
    text = re.sub(r"\s+([,.;:!?…)])", r"\1", text)
    return " ".join(text.split())


def parse_sentence(raw: str, numbers: dict[int, str]) -> tuple[Sentence, list[str]]:
    """One sentence with its markers resolved through the reference numbers."""
    citations: list[str] = []
    unresolved: list[str] = []
    for marker in _MARKER.findall(raw):
        if marker.isdigit():
            key = numbers.get(int(marker), f"ref:{marker}")
        else:
            key = marker
        if not is_source_id(key):
            unresolved.append(key)
        if key not in citations:
            citations.append(key)
    return Sentence(text=_strip_markers(raw), citations=citations), unresolved


def _parse_reference(number: int, body: str) -> Source:
    parts = [p.strip() for p in body.split(" · ")]
    date = parts.pop() if len(parts) > 1 and _DATE.match(parts[-1]) else None
    kind = "web"
    if len(parts) > 1:
        kind = _KIND_SUFFIXES.get(parts[-1], parts[-1])
        parts.pop()
        title = " · ".join(parts)
    else:
        title = parts[0] if parts else ""
        for suffix, mapped in _KIND_SUFFIXES.items():
            if title.endswith(suffix) and len(title) > len(suffix):
                title, kind = title[: -len(suffix)], mapped
                break
    url_match = _URL.match(title)
    url = url_match.group(1) if url_match else None
    return Source(id=source_id_for(url, title or f"reference {number}"), url=url, title=title,
                  kind=kind, published_at=date)


def _split_references(lines: list[str]) -> tuple[list[str], dict[int, Source], list[str]]:
    """Cut the page into article lines, the reference list and the bus listing after it."""
    # The list begins a block (after a blank line or its heading): a paragraph wrapped just
    # before a `[1]` marker has a line that looks like a reference too.
    first_ref = next((i for i, line in enumerate(lines) if _REFERENCE.match(line) and (
        i == 0 or not lines[i - 1].strip() or _REF_INTRO.match(lines[i - 1].strip()))), None)
    if first_ref is None:
        return lines, {}, []
    article_end = first_ref
    while article_end > 0 and (not lines[article_end - 1].strip()
                               or _REF_INTRO.match(lines[article_end - 1].strip())):
        article_end -= 1
    references: dict[int, Source] = {}
    last: int | None = None
    i = first_ref
    while i < len(lines):
        line = lines[i]
        ref = _REFERENCE.match(line)
        url = _URL.match(line)
        if ref:
            last = int(ref.group(1))
            references[last] = _parse_reference(last, ref.group(2))
        elif url and last is not None and references[last].url is None:
            source = references[last]
            references[last] = source.model_copy(update={
                "url": url.group(1), "id": source_id_for(url.group(1), source.title)})
        elif line.strip():
            break
        i += 1
    return lines[:article_end], references, lines[i:]


def _paragraphs(lines: list[str]) -> list[str]:
    blocks: list[str] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            blocks.append(" ".join(current))
            current = []
    if current:
        blocks.append(" ".join(current))
    return blocks


def _is_bare_heading(block: str) -> bool:
    return (len(block) <= 80 and not _MARKER.search(block) and not re.search(r"[.!?:;,]$", block)
            and len(block.split()) <= 10)


def _parse_people(block: str) -> list[tuple[str, int]] | None:
    pairs = re.findall(r"(\D+?)(\d+)", block)
    if len(pairs) >= 3 and "".join(n + c for n, c in pairs) == block and " " not in block[-3:]:
        return [(name.strip(), int(count)) for name, count in pairs]
    return None


def parse_page(text: str) -> ParsedPage:
    """Parse a whole page; raises PageError when there is no article in it."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines and _FILENAME_LINE.match(lines[0].strip()):
        lines.pop(0)
    article_lines, references, bus_lines = _split_references(lines)
    title_at = next((i for i, l in enumerate(article_lines) if re.match(r"^#\s+\S", l)), None)
    header: list[str] = []
    if title_at is not None:
        header = _paragraphs(article_lines[:title_at])
        title = article_lines[title_at].lstrip("#").strip()
        body = _paragraphs(article_lines[title_at + 1:])
    else:
        blocks = _paragraphs(article_lines)
        if not blocks:
            raise PageError("no article found: the file has no title and no text")
        title, body = blocks[0].lstrip("#").strip(), blocks[1:]
    people: list[tuple[str, int]] = []
    summary = ""
    for block in header[1:] if header else []:
        found = _parse_people(block)
        if found is not None:
            people = found
        elif not summary:
            summary = block
    if header and not title:
        title = header[0]
    numbers = {n: s.id for n, s in references.items()}
    lead: list[Sentence] = []
    uses_markdown_headings = any(b.startswith("## ") for b in body)
    sections: list[Section] = []
    taken: set[str] = set()
    repeats: dict[str, int] = {}
    unresolved: list[str] = []
    for block in body:
        is_heading = block.startswith("## ") if uses_markdown_headings else _is_bare_heading(block)
        if is_heading:
            heading = block.lstrip("#").strip()
            base = slugify(heading)
            seen = repeats.get(base, 0)
            repeats[base] = seen + 1
            section_id = _unique_id(base if not seen else f"{base}-{seen + 1}", taken)
            taken.add(section_id)
            sections.append(Section(id=section_id, heading=heading))
            continue
        if not sections:
            found = _parse_people(block)  # an exported page's strip follows its lead
            if found is not None and not people:
                people = found
                continue
            summary = summary or block
            continue
        paragraph = []
        for raw in split_sentences(block):
            sentence, missing = parse_sentence(raw, numbers)
            unresolved.extend(missing)
            paragraph.append(sentence)
        sections[-1].paragraphs.append(paragraph)
    if not title or not sections:
        raise PageError("no article found: expected a title and at least one section with text")
    if _MARKER.search(summary):  # a cited lead (an exported page's): kept with its citations
        for raw in split_sentences(summary):
            sentence, missing = parse_sentence(raw, numbers)
            unresolved.extend(missing)
            lead.append(sentence)
        summary = " ".join(s.text for s in lead)
    article = Article(title=title, summary=summary, lead=lead, sections=sections,
                      sources={s.id: s for s in references.values()})
    page_numbers: dict[str, int] = {}
    for number in sorted(references):
        page_numbers.setdefault(references[number].id, number)
    return ParsedPage(article=article, bus_text="\n".join(bus_lines).strip(), people=people,
                      unresolved_markers=unresolved, numbers=page_numbers)


def _unique_id(candidate: str, taken: set[str]) -> str:
    """Repeated headings get -2, -3, ...; a heading that already ends so gets a further suffix."""
    n = 2
    unique = candidate
    while unique in taken:
        unique, n = f"{candidate}-{n}", n + 1
    return unique


def render_sentence(sentence: Sentence, numbering: dict[str, int]) -> str:
    if not sentence.citations:
        return sentence.text
    markers = "".join(f"[{numbering[k]}]" if k in numbering else f"[{k}]"
                      for k in sentence.citations)
    match = re.search(r"([.!?…]+[\"'”’)\]]*)$", sentence.text)
    if match:
        return f"{sentence.text[: match.start()]} {markers}{match.group(1)}"
    return f"{sentence.text} {markers}"


def reference_numbering(article: Article) -> dict[str, int]:
    """Cited sources first, by first appearance; listed but uncited ones after them."""
    cited = article.cited_ids()
    cited_set = set(cited)
    order = cited + [sid for sid in article.sources if sid not in cited_set]
    return {sid: n for n, sid in enumerate((s for s in order if s in article.sources), start=1)}


BUS_FOOTER = "More coming as the knowledge bus expands."


def export_page(article: Article, numbering: dict[str, int] | None = None, *,
                people: list[tuple[str, int]] | None = None,
                bus: list[tuple[str, str]] | None = None, bus_total: int | None = None) -> str:
    """The page; `numbering` is the topic's stored numbers (agent.numbering.numbers_for), and
    the reference list follows it, so numbers never move between exports. `people` (the
    mentions strip, after the lead) and `bus` ((title, opening) of the latest bus items, after
    the references) are laid out as the seed lays them out."""
    if numbering is None:
        numbering = reference_numbering(article)
    numbering = {sid: n for sid, n in sorted(numbering.items(), key=lambda item: item[1])
                 if sid in article.sources}
    out = [f"# {article.title}", ""]
    if article.lead:
        out += [" ".join(render_sentence(s, numbering) for s in article.lead), ""]
    elif article.summary:
        out += [article.summary, ""]
    strip = "".join(f"{name}{count}" for name, count in people or []
                    if name.strip() and not name.strip()[-1].isdigit())
    if _parse_people(strip) is not None:
        out += [strip, ""]
    for section in article.sections:
        out += [f"## {section.heading}", ""]
        for paragraph in section.paragraphs:
            out += [" ".join(render_sentence(s, numbering) for s in paragraph), ""]
    if numbering:
        out += ["## References", ""]
        for sid, number in numbering.items():
            source = article.sources[sid]
            fields = [source.title or (source.url or sid), source.kind]
            if source.published_at:
                fields.append(source.published_at)
            out.append(f"{number}. [{number}]" + " · ".join(fields))
            if source.url and source.url != source.title:
                out.append(f"   {source.url}")
        out.append("")
    if bus and numbering:  # without a reference list the listing would read as article text
        for title, opening in bus:
            out += [" ".join(title.split()), "", " ".join(opening.split()), ""]
        out += [f"Showing {len(bus)} of {bus_total or len(bus)}. {BUS_FOOTER}", ""]
    return "\n".join(out)
