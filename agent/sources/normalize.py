"""Normalisation of untrusted source fields: clean Unicode, HTML to inert text, canonical URLs."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import lxml.etree
import lxml.html

from agent.models import Source, source_id_for
from agent.sources.items import SourceItem

MAX_TITLE_CHARS = 500
MAX_TEXT_CHARS = 200_000
MAX_FIELD_CHARS = 200

# Control characters (tab and newline are folded separately), zero-width and bidi controls,
# soft hyphen, Hangul fillers, tag characters and private use: invisible text is a classic
# way to smuggle instructions past a human reviewer into a model prompt.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5"
    "\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff\uffa0\ufff0-\ufffb"
    "\ue000-\uf8ff\ud800-\udfff\U000e0000-\U000e0fff\U000f0000-\U0010ffff]"
)
_TAG_LIKE = re.compile(r"</?[A-Za-z!?][^<>]*>")
# Anything that would become live again if some renderer forgot to escape it.
_ACTIVE = re.compile(r"(?:java|vb|live)\s*script\s*:|data\s*:\s*text/html|\bon[a-z]{3,}\s*=", re.I)
_DROP_TAGS = ("script", "style", "noscript", "iframe", "object", "embed", "template", "svg",
              "math", "head", "form", "button", "select", "textarea", "canvas", "frameset")
_BLOCK_TAGS = ("p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr",
               "blockquote", "pre", "section", "article", "header", "footer", "table", "hr",
               "dd", "dt", "figure", "figcaption", "aside", "main", "nav")
_HTML_PARSER = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True,
                                    recover=True, encoding="utf-8")

TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "mc_cid", "mc_eid",
    "igshid", "_hsenc", "_hsmi", "mkt_tok", "ref_src", "ref_url", "spm", "vero_id", "s_cid",
    "cmpid", "wt_mc", "oly_anon_id", "oly_enc_id", "__s", "_ga", "_gl", "trk", "trkcampaign",
})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def strip_invisible(text: str) -> str:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _INVISIBLE.sub("", text.replace("\t", " "))


def defang(text: str) -> str:
    """Remove tag-like remains and active URL schemes that survived text extraction."""
    for _ in range(3):  # entity tricks can hide one tag inside another's text
        cleaned = _ACTIVE.sub("", _TAG_LIKE.sub("", text))
        if cleaned == text:
            break
        text = cleaned
    return text


def html_to_text(markup: str) -> str:
    """Reduce an HTML fragment or page to its visible text; nothing executable survives."""
    if not markup.strip():
        return ""
    try:
        root = lxml.html.fromstring(markup.encode("utf-8", "replace"), parser=_HTML_PARSER)
    except (lxml.etree.ParserError, ValueError):
        return defang(markup)
    for element in list(root.iter(*_DROP_TAGS)):
        element.drop_tree()
    for element in root.iter(*_BLOCK_TAGS):
        element.tail = "\n" + (element.tail or "")
    text = "".join(part for part in root.itertext() if isinstance(part, str))
    if root.tag in _BLOCK_TAGS:
        text = text.rstrip("\n")
    return text


def fold_text(text: str) -> str:
    """Fold spaces within lines and keep paragraph breaks (at most one blank line)."""
    lines = [" ".join(line.split()) for line in text.split("\n")]
    folded = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", folded).strip()


def fold_line(text: str) -> str:
    return " ".join(text.split())


def clean_text(text: str, *, is_html: bool = False) -> str:
    """Invisible characters out, whitespace folded. Markup is turned into text only when the
    reader says the field is HTML (feed bodies): plain text keeps `a<b and c>d`,
    `std::vector<int>` and the words `javascript:` or `onload=` exactly as written, since it
    is evidence; it is escaped where it is rendered, never altered where it is stored."""
    text = strip_invisible(text)
    if is_html:
        text = html_to_text(text)
        text = defang(strip_invisible(text))  # entities may have decoded into tags or controls
    return fold_text(text)


def clean_line(text: str | None, *, is_html: bool = False, limit: int = MAX_FIELD_CHARS) -> str:
    if not text:
        return ""
    return fold_line(clean_text(text, is_html=is_html))[:limit]


def canonical_url(url: str | None, base: str | None = None) -> str | None:
    """http(s) URL with lower-case host, no credentials, fragment or tracking parameters."""
    if not url:
        return None
    url = _INVISIBLE.sub("", url).strip()
    try:
        if base:
            url = urljoin(base, url)
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return None
        host = parts.hostname.rstrip(".").encode("idna").decode("ascii").lower()
        port = parts.port
    except (ValueError, UnicodeError):
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = re.sub(r"/{2,}", "/", parts.path) or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not k.lower().startswith("utm_") and k.lower() not in TRACKING_PARAMS]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query)), ""))


def content_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.lower().split()).encode("utf-8")).hexdigest()


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit]


def normalise(item: SourceItem, *, base_url: str | None = None) -> Source | None:
    """A clean Source with its stable id and content hash; None when nothing is left."""
    title = _truncate(clean_line(item.title, is_html=item.is_html, limit=10 * MAX_TITLE_CHARS),
                      MAX_TITLE_CHARS)
    text = _truncate(clean_text(item.text or "", is_html=item.is_html), MAX_TEXT_CHARS)
    if not text and not title:
        return None
    url = canonical_url(item.url, base_url)
    kind = re.sub(r"[^a-z0-9_-]+", "-", clean_line(item.kind).lower()).strip("-")[:40] or "web"
    body = text or title
    return Source(
        id=source_id_for(url, f"{title}\n{text}"),
        url=url,
        title=title,
        kind=kind,
        author=clean_line(item.author, is_html=item.is_html) or None,
        published_at=clean_line(item.published_at, limit=40) or None,
        text=text,
        content_hash=content_hash(body),
    )
