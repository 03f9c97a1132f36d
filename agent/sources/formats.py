"""Input formats: detection, the seed's bus listing, JSON Lines, Markdown and plain text."""

from __future__ import annotations

import codecs
import json
import re
from pathlib import PurePath

from agent.markdown import PageError, parse_page
from agent.models import SourceKind
from agent.sources.errors import Undecodable, UnknownFormat
from agent.sources.feeds import parse_feed
from agent.sources.html import extract_page
from agent.sources.items import SourceItem, Skipped

FORMATS = ("auto", "bus", "jsonl", "feed", "html", "text", "dir", "url")
_SHOWING = re.compile(r"^Showing \d+ of \d+", re.I)
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
MAX_TITLE_LINE = 300
JSONL_FIELDS = ("url", "title", "kind", "author", "published_at", "text")


def decode_text(data: bytes) -> str:
    """Text files must be UTF-8 (or carry a BOM): guessing a legacy encoding would store
    mojibake as if it were the source's words."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise Undecodable(f"not valid {encoding} text (bad byte at offset {exc.start})") from None
    if b"\x00" in data[:8192]:
        raise Undecodable("binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Undecodable(f"not UTF-8 text (bad byte at offset {exc.start})") from None


def detect(data: bytes, name: str = "", content_type: str = "") -> str:
    """bus, jsonl, feed, html or text, from the name, the content type and the first bytes."""
    suffix = PurePath(name.split("?")[0]).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    head = data[:4096]
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            head = head.decode(encoding, "ignore").encode("utf-8", "ignore")
            break
    head_text = head.decode("latin-1").lstrip().lower()
    content_type = content_type.lower()
    if head_text.startswith(("<rss", "<feed", "<rdf:rdf")) or "rss" in content_type or "atom" in content_type:
        return "feed"
    if head_text.startswith("<?xml"):
        return "html" if "<html" in head_text and "<rss" not in head_text and "<feed" not in head_text else "feed"
    if head_text.startswith(("<!doctype html", "<html", "<head", "<body", "<!--")) or "html" in content_type:
        return "html"
    if suffix in (".xml", ".rss", ".atom"):
        return "feed"
    if suffix in (".html", ".htm", ".xhtml"):
        return "html"
    if head_text.startswith("{"):
        return "jsonl"
    return "text"


def _blocks(text: str) -> list[str]:
    return [block.strip() for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if block.strip()]


def _is_title(block: str) -> bool:
    return "\n" not in block and len(block) <= MAX_TITLE_LINE


def parse_bus(text: str) -> list[SourceItem]:
    """Title line, then summary paragraph, repeated; on a page, only what follows the
    reference list counts, and the closing "Showing N of M" line is not an item."""
    try:
        listing = parse_page(text).bus_text
    except PageError:
        listing = ""
    blocks = [b for b in _blocks(listing or text) if not _SHOWING.match(b)]
    items: list[SourceItem] = []
    index = 0
    while index < len(blocks):
        block = blocks[index]
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if _is_title(block) and following is not None:
            items.append(SourceItem(title=block, text=following, kind=SourceKind.web.value))
            index += 2
            continue
        # A lone paragraph (or a title at the very end) is still a story; keep it whole.
        title = block if _is_title(block) else block.split("\n", 1)[0][:MAX_TITLE_LINE]
        items.append(SourceItem(title=title, text=block, kind=SourceKind.web.value))
        index += 1
    return items


def page_has_bus(text: str) -> bool:
    try:
        return bool(parse_page(text).bus_text.strip())
    except PageError:
        return False


def parse_jsonl(text: str, name: str) -> tuple[list[SourceItem], list[Skipped]]:
    """One object per line; a bad line is reported and the others are kept."""
    items: list[SourceItem] = []
    bad: list[Skipped] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            bad.append(Skipped(f"{name}:{number}", f"not JSON ({str(exc)[:80]})"))
            continue
        if not isinstance(record, dict):
            bad.append(Skipped(f"{name}:{number}", "not a JSON object"))
            continue
        fields = {key: record[key] for key in JSONL_FIELDS if isinstance(record.get(key), str)}
        if "text" not in fields and isinstance(record.get("summary"), str):
            fields["text"] = record["summary"]
        fields.setdefault("kind", SourceKind.web.value)
        items.append(SourceItem(**fields))
    return items, bad


def parse_text(text: str, name: str) -> SourceItem:
    """A Markdown or plain-text document as one source: its first heading (or line) is
    the title, the file name when it has neither."""
    lines = text.strip().splitlines()
    title = PurePath(name).stem
    body = text
    if lines:
        first = lines[0].strip()
        if first.startswith("#") or len(first) <= MAX_TITLE_LINE:
            title = first.lstrip("#").strip() or title
            body = "\n".join(lines[1:]).strip() or first
    return SourceItem(title=title, text=body, kind=SourceKind.file.value)


def read_items(data: bytes, fmt: str, *, name: str, base_url: str | None = None,
               content_type: str = "") -> tuple[list[SourceItem], list[Skipped]]:
    """Items of one input in a known or detected format, and per-input warnings."""
    if fmt == "auto":
        fmt = detect(data, name, content_type)
    if fmt == "feed":
        items, problem = parse_feed(data, base_url=base_url, content_type=content_type)
        warnings = [Skipped(name, f"broken feed, {len(items)} entries kept: {problem}")] if problem else []
        return items, warnings
    if fmt == "html":
        return [extract_page(data, url=base_url)], []
    text = decode_text(data)
    if fmt == "jsonl":
        return parse_jsonl(text, name)
    if fmt == "bus" or (fmt == "text" and PurePath(name).suffix.lower() in (".md", ".markdown", ".txt")
                        and page_has_bus(text)):
        items = parse_bus(text)
        if not items:
            raise UnknownFormat("no bus items found (expected a title line, then a summary paragraph)")
        return items, []
    if fmt == "text":
        if not text.strip():
            raise UnknownFormat("empty file")
        return [parse_text(text, name)], []
    raise UnknownFormat(f"unknown format '{fmt}' (one of: {', '.join(FORMATS)})")
