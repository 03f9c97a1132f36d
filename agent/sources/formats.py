"""Input formats: detection, the seed's bus listing, JSON Lines, Markdown and plain text."""

from __future__ import annotations

import codecs
import io
import json
import re
from pathlib import PurePath

import feedparser

from agent.markdown import PageError, parse_page
from agent.models import SourceKind
from agent.sources.errors import Undecodable, UnknownFormat
from agent.sources.feeds import parse_feed
from agent.sources.html import extract_page
from agent.sources.items import Malformed, NoText, SourceItem, Skipped

FORMATS = ("auto", "bus", "jsonl", "feed", "html", "text", "dir", "url")
_SHOWING = re.compile(r"^Showing \d+ of \d+", re.I)
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
MAX_TITLE_LINE = 300
JSONL_FIELDS = ("url", "title", "kind", "author", "published_at", "text")
MAX_SNIFF_BYTES = 1024 * 1024


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


_PROLOG = re.compile(r"\s+|<\?.*?\?>|<!--.*?-->|<!doctype(?:[^\[>]|\[.*?\])*>", re.I | re.S)
_ROOT = re.compile(r"<([a-z_][\w.:-]*)", re.I)
FEED_ROOTS = frozenset({"rss", "feed", "rdf", "channel"})


def root_element(head: str) -> str | None:
    """The local name of the first element after the XML prolog (declaration, comments,
    processing instructions, DOCTYPE, whitespace), lower-cased; None if it is not in `head`."""
    position = 0
    while True:
        match = _PROLOG.match(head, position)
        if not match or match.end() == position:
            break
        position = match.end()
    root = _ROOT.match(head, position)
    return root.group(1).lower().rsplit(":", 1)[-1] if root else None


def _is_feed(data: bytes) -> bool:
    """When the first bytes do not tell, feedparser decides, as feed readers do."""
    parsed = feedparser.parse(io.BytesIO(data[:MAX_SNIFF_BYTES]))
    return bool(parsed.get("version")) and bool(parsed.get("entries"))


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
    head_text = head.decode("latin-1").lstrip()
    lowered = head_text.lower()
    content_type = content_type.lower()
    root = root_element(head_text)
    if root in FEED_ROOTS or "rss" in content_type or "atom" in content_type:
        return "feed"
    if root in ("html", "head", "body") or lowered.startswith("<!doctype html") or "html" in content_type:
        return "html"
    xml_name = suffix in (".xml", ".rss", ".atom")
    if (root is None and lowered.startswith(("<?", "<!"))) or lowered.startswith("<?xml") or xml_name:
        # A prolog longer than the sniffed head, or XML whose root says nothing.
        return "feed" if _is_feed(data) or "<html" not in lowered else "html"
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
    objects = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            bad.append(Malformed(f"{name}:{number}", f"not JSON ({str(exc)[:80]})"))
            continue
        if not isinstance(record, dict):
            bad.append(Malformed(f"{name}:{number}", "not a JSON object"))
            continue
        objects += 1
        fields = {key: record[key] for key in JSONL_FIELDS if isinstance(record.get(key), str)}
        if "text" not in fields and isinstance(record.get("summary"), str):
            fields["text"] = record["summary"]
        if not fields.get("text", "").strip():
            bad.append(NoText(f"{name}:{number}", "a record with no text was left out"))
            continue
        fields.setdefault("kind", SourceKind.web.value)
        items.append(SourceItem(**fields))
    if not objects:
        raise UnknownFormat(f"no JSON records found ({len(bad)} lines, none a JSON object): "
                            "is this JSON Lines?")
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
    if not data.strip():
        raise UnknownFormat("empty file")
    if fmt == "auto":
        fmt = detect(data, name, content_type)
    if fmt == "feed":
        items, problem = parse_feed(data, base_url=base_url, content_type=content_type)
        warnings = [Skipped(name, f"broken feed, {len(items)} entries read: {problem}")] if problem else []
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
