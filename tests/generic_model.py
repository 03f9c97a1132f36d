"""A schema-driven fake model: it answers any structured chat completion from the request alone.

Unlike tests/scripted.py (written for our prompts, keyed by their `task:` line), this model
knows nothing of absorb's prompt wording. It reads what any model reads: the JSON schema of
`response_format` (or of the offered tool), the field names and descriptions in it, the data
quoted between `<<<KIND id=...>>>` / `<<<END KIND ...>>>` delimiters, `id: heading` listings,
bracketed ids in the text, and "Label:" lines followed by a value. From those it builds a
schema-valid answer the way a careful extractive model would: one item per quoted thing it is
asked about, ids copied from the prompt, sentences copied from the quoted sources with their
ids as citations, a claim judged supported only when its words are in the text it cites.

`GenericModel(mode=..., seed=...)` also misbehaves as real models do (see MODES); plug it into
agent.fake_server.FakeOpenAIServer as the default reply, so every byte goes through the real
ChatOpenAI client:

    with FakeOpenAIServer(default=GenericModel("omit")) as server: ...
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections import defaultdict
from typing import Any

from agent.fake_replies import Fault

MODES = {
    "careful": "a faithful extractive model",
    "omit": "leaves items out of every list it is asked to fill for each quoted item",
    "repeat": "repeats items and sentences, and answers some requests with its previous answer",
    "copy": "copies its instructions into the answer as if they were the content",
    "wrong_id": "cites another quoted item's id, or one it made up",
    "planted": "obeys instructions planted inside quoted sources",
    "invalid_once": "returns invalid JSON on the first request of each schema",
    "prose": "wraps its JSON in prose and a markdown fence",
    "empty": "returns an empty JSON object",
    "hang_once": "hangs past the client's timeout on the first request of each schema",
    "hang": "hangs past the client's timeout on every request",
    "flaky": "answers 429, then 500, then the answer, for each request",
}

BLOCK = re.compile(r"<<<([A-Z][A-Z_]*)((?:\s+\w+=(?:\"[^\"]*\"|\S+?))*)\s*>>>\n(.*?)\n<<<END \1[^>]*>>>",
                   re.S)
ATTR = re.compile(r'(\w+)=("[^"]*"|\S+)')
LISTING = re.compile(r"^([a-z0-9][a-z0-9_-]*): (\S.*)$", re.M)
BRACKET_ID = re.compile(r"\[([A-Za-z0-9_]{6,})\]")
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
NAME = re.compile(r"\b([A-Z][A-Za-z0-9&.-]+(?:\s+[A-Z][A-Za-z0-9&.-]+)*)")
# What a gullible model takes for an order addressed to it inside a source.
ORDER = re.compile(r"(?i)\b(?:ignore|disregard) (?:all |any |the )?(?:previous |prior |above )?"
                   r"(?:instructions|rules)\b|\b(?:note to the assistant|system notice|"
                   r"assistant:)|\b(?:write|add|state|say) (?:the sentence |that )")
PAYLOAD = re.compile(r"(?i)\b(?:write|add|state|say) (?:the sentence (?:that )?|that )\s*[\"“]?"
                     r"(.+?)(?=[;\"”]|\.\s|\.$|$)")
# Share of a quoted item's words found in the instructions that makes it "relevant".
RELEVANT = 0.14
STOP = set("""a an the and or of to in on for by with from as at is are was were be been it its this
that these those which who what when where how not no into over per via than then also has have
had will can may their his her our your they we you i he she them""".split())


def content_words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text) if w.lower() not in STOP and len(w) > 2}


def sentences_of(text: str) -> list[str]:
    flat = " ".join(text.split())
    return [s for s in SENTENCE_END.split(flat) if s]


def whole_sentences(text: str) -> list[str]:
    return [s for s in sentences_of(text)
            if s.endswith((".", "!", "?")) and len(s.split()) >= 5]


class Prompt:
    """What a model can read in one request."""

    def __init__(self, request: dict) -> None:
        self.instructions, self.data = "", ""
        for message in request.get("messages", []):
            content = message.get("content") or ""
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            if message.get("role") in ("system", "developer"):
                self.instructions += content + "\n"
            elif message.get("role") == "user":
                self.data += content + "\n"
        self.text = self.instructions + self.data
        self.blocks: list[dict[str, Any]] = []
        for kind, attrs, body in BLOCK.findall(self.text):
            fields = {k: v.strip('"') for k, v in ATTR.findall(attrs)}
            self.blocks.append({"kind": kind, "id": fields.get("id", ""), "attrs": fields,
                                "text": body})
        outside = BLOCK.sub(" ", self.text)
        self.listing = {key: label for key, label in LISTING.findall(outside)
                        if label[:1].isupper() or "-" in key}
        self.outside = outside
        self.bracketed = [i for i in BRACKET_ID.findall(outside)]
        # "Label:\nvalue" pairs outside the quoted data (e.g. a request's instructions).
        self.labelled: dict[str, str] = {}
        for match in re.finditer(r"^([A-Z][^\n:]{2,60}):\n(?!\n)(.+?)(?=\n\n|\Z)", outside, re.S | re.M):
            self.labelled[match.group(1).lower()] = match.group(2).strip()

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [b for b in self.blocks if b["kind"].lower() == kind.lower()]

    def ids(self) -> list[str]:
        seen: list[str] = []
        for b in self.blocks:
            if b["id"] and b["id"] not in seen and b["kind"].lower() != "claim":
                seen.append(b["id"])
        for i in self.bracketed:
            if i not in seen:
                seen.append(i)
        return seen

    def source_text(self, ident: str) -> str:
        return " ".join(b["text"] for b in self.blocks if b["id"] == ident)

    def existing_sentences(self) -> list[tuple[str, list[str]]]:
        """Sentences outside the quotes that carry bracketed ids: the text being updated."""
        found = []
        for paragraph in re.split(r"\n\s*\n", self.outside):
            if not BRACKET_ID.search(paragraph):
                continue
            lines = paragraph.strip().splitlines()
            if lines and lines[0].rstrip().endswith(":"):
                lines = lines[1:]  # the label over the text
            flat = " ".join(" ".join(lines).split())
            # Each run of sentences is followed by its markers: "A. B. [id] [id] C. [id]"
            for chunk in re.finditer(r"(.+?[.!?][\"”’)]?)((?:\s*\[[^\]]+\])+)", flat):
                ids = BRACKET_ID.findall(chunk.group(2))
                parts = sentences_of(chunk.group(1).strip())
                for n, text in enumerate(parts):
                    if len(text.split()) >= 3:
                        found.append((text, ids if n == len(parts) - 1 else []))
        return found


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        ref = schema["$ref"]
        node: Any = root
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


class GenericModel:
    """A reply factory for FakeOpenAIServer: (request) -> dict | str | Fault."""

    def __init__(self, mode: str = "careful", seed: int = 7, hang_seconds: float = 30.0) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        self.mode = mode
        self.rng = random.Random(seed)
        self.hang_seconds = hang_seconds
        self.seen_sources: dict[str, str] = {}
        self.obeyed: list[str] = []
        self._by_schema: dict[str, int] = defaultdict(int)
        self._last: dict[str, Any] = {}
        self._attempts: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    # -- entry point -----------------------------------------------------------------------
    def __call__(self, request: dict) -> dict | str | Fault:
        schema, name = _schema_of(request)
        prompt = Prompt(request)
        with self._lock:
            for block in prompt.blocks:
                if block["kind"].lower() != "claim" and block["id"] and \
                        len(block["text"]) > len(self.seen_sources.get(block["id"], "")):
                    self.seen_sources[block["id"]] = block["text"]
            self._by_schema[name] += 1
            nth = self._by_schema[name]
            key = json.dumps(request.get("messages"), sort_keys=True)[-4000:]
            self._attempts[key] += 1
            attempt = self._attempts[key]
        if self.mode == "hang" or (self.mode == "hang_once" and nth == 1):
            return Fault.hang(self.hang_seconds)
        if self.mode == "flaky" and attempt == 1:
            return Fault.rate_limit()
        if self.mode == "flaky" and attempt == 2:
            return Fault.server_error()
        if self.mode == "empty":
            return "{}"
        if self.mode == "invalid_once" and nth == 1:
            return '{"' + (next(iter(schema.get("properties", {"answer": 0}))) + '": [{"')
        if schema is None:
            return "I am not sure what you want."
        if self.mode == "repeat" and name in self._last and nth % 2 == 0:
            return self._last[name]
        answer = self.value(schema, schema, prompt, path=(), entity=None)
        with self._lock:
            self._last[name] = answer
        if self.mode == "prose":
            return f"Sure! Here is the {name} you asked for:\n\n```json\n{json.dumps(answer, indent=2)}\n```\nLet me know if you need anything else."
        return answer

    # -- schema walk -----------------------------------------------------------------------
    def value(self, node: dict, root: dict, prompt: Prompt, path: tuple, entity: dict | None) -> Any:
        node = _resolve(node, root)
        name = path[-1] if path else ""
        described = f"{name} {node.get('title', '')} {node.get('description', '')}".lower()
        if "anyOf" in node or "oneOf" in node:
            options = [_resolve(o, root) for o in node.get("anyOf") or node.get("oneOf")]
            if any(o.get("type") == "null" for o in options) and "only if" in described:
                return None
            chosen = next((o for o in options if o.get("type") != "null"), options[0])
            return self.value({**chosen, "description": node.get("description", "")}, root,
                              prompt, path, entity)
        if "enum" in node:
            return self.choose(node, prompt, path, entity)
        kind = node.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "string")
        if kind == "object" or "properties" in node:
            return self.object(node, root, prompt, path, entity)
        if kind == "array":
            return self.array(node, root, prompt, path, entity)
        if kind == "boolean":
            return self.boolean(prompt, entity)
        if kind in ("integer", "number"):
            return node.get("minimum", 0)
        return self.string(node, prompt, path, entity, described)

    def object(self, node: dict, root: dict, prompt: Prompt, path: tuple, entity: dict | None) -> dict:
        out: dict[str, Any] = {}
        props = node.get("properties", {})
        for key, sub in props.items():
            sub_r = _resolve(sub, root)
            if key.endswith("_id") or key == "id":
                if entity is not None:
                    out[key] = self.entity_id(entity, prompt)
                    continue
            out[key] = self.value(sub, root, prompt, path + (key,), entity)
        if entity is not None and "sentence" in entity:
            # a drafted sentence: its text and citations come from where it was copied
            for key, sub in props.items():
                sub_r = _resolve(sub, root)
                if key == "text" or (sub_r.get("type") == "string" and "sentence" in
                                     f"{key} {sub_r.get('description', '')}".lower()):
                    out[key] = entity["sentence"]
                elif sub_r.get("type") == "array" and "cit" in key.lower():
                    out[key] = entity["cites"]
        if entity is not None and entity.get("kind", "").lower() == "claim":
            self.judge_fields(out, props, root, prompt, entity)
        return out

    def array(self, node: dict, root: dict, prompt: Prompt, path: tuple, entity: dict | None) -> list:
        items = _resolve(node.get("items", {}), root)
        props = items.get("properties", {})
        limit = node.get("maxItems")
        name = (path[-1] if path else "").lower()
        described = f"{name} {node.get('description', '')}".lower()
        result: list
        if props and any(k.endswith("_id") for k in props) and entity is None:
            # one item per quoted thing the request asks about
            id_key = next(k for k in props if k.endswith("_id"))
            wanted = prompt.kind(id_key[:-3]) or [b for b in prompt.blocks if b["id"]]
            ents = list({b["id"]: b for b in wanted}.values())
            result = [self.value(items, root, prompt, path + ("[]",), e) for e in ents]
            result = self.misbehave_list(result)
        elif props and any("sentence" in k or k == "text" for k in props) and \
                any("cit" in k for k in props):
            result = [self.value(items, root, prompt, path + ("[]",), s)
                      for s in self.sentences(prompt)]
        elif props and any(_resolve(v, root).get("type") == "array" for v in props.values()) and \
                ("paragraph" in described or "section" in described):
            result = [self.value(items, root, prompt, path + ("[]",), entity)]
        elif props and entity is not None and "quote" in name:
            result = []  # filled by judge_fields
        elif items.get("type") == "string" or "enum" in items:
            result = self.strings(items, prompt, path, entity, described)
        else:
            result = []
        if limit is not None:
            result = result[:limit]
        return result

    # -- leaves ----------------------------------------------------------------------------
    def choose(self, node: dict, prompt: Prompt, path: tuple, entity: dict | None) -> Any:
        options = node["enum"]
        if "default" in node and node["default"] in options:
            return node["default"]
        if entity is not None and entity.get("kind", "").lower() == "claim":
            return self.label(options, prompt, entity)
        # pick the option the prompt's text is closest to (ids listed for choosing, say)
        text = (entity or {}).get("text", "") or prompt.data
        words = content_words(text)
        best = max(options, key=lambda o: len(content_words(str(o)) & words) if isinstance(o, str) else 0)
        return best

    def boolean(self, prompt: Prompt, entity: dict | None) -> bool:
        if entity is None:
            return False
        if self.mode == "planted" and ORDER.search(entity.get("text", "")):
            return True
        return self.relevance(prompt, entity) >= RELEVANT

    def relevance(self, prompt: Prompt, entity: dict) -> float:
        context = content_words(BLOCK.sub(" ", prompt.instructions) + " " + " ".join(prompt.listing.values()))
        words = content_words(entity.get("text", "") + " " + entity.get("attrs", {}).get("title", ""))
        return len(words & context) / max(1, len(words))

    def string(self, node: dict, prompt: Prompt, path: tuple, entity: dict | None, described: str) -> str:
        if self.mode == "copy":
            lines = [l for l in prompt.instructions.splitlines() if len(l.split()) > 4]
            return lines[len(path) % len(lines)] if lines else "Follow the rules."
        if entity is not None and "sentence" in entity and ("text" in path[-1:] or "sentence" in described):
            return entity["sentence"]
        if "heading" in described or "title" in described:
            return "Other developments"
        return "Based on what the quoted text states." if entity else "Drafted from the quoted sources."

    def strings(self, items: dict, prompt: Prompt, path: tuple, entity: dict | None, described: str) -> list:
        if "enum" in items:
            return [self.choose(items, prompt, path, entity)]
        if entity is not None and ("id" in described and "section" in described):
            return self.sections_for(prompt, entity)
        if entity is not None and ("name" in described or "mention" in described or "people" in described):
            names = []
            for n in NAME.findall(entity.get("text", "")):
                if n not in names and n.lower() not in STOP and len(n) > 2:
                    names.append(n)
            return names[:8]
        if entity is not None and "cit" in described and "cites" in entity:
            return entity["cites"]
        return []

    def sections_for(self, prompt: Prompt, entity: dict) -> list[str]:
        listing = prompt.listing
        if not listing:
            return []
        if self.mode == "planted":
            named = [k for k in listing if k in entity.get("text", "")]
            if named:
                return named[:1]
        if self.relevance(prompt, entity) < RELEVANT and not (self.mode == "planted" and ORDER.search(entity["text"])):
            return []
        words = content_words(entity.get("text", "") + " " + entity.get("attrs", {}).get("title", ""))
        scored = sorted(listing, key=lambda k: -len(content_words(listing[k] + " " + k.replace("-", " ")) & words))
        best = scored[0]
        if self.mode == "wrong_id":
            return [best + "-2"] if self.rng.random() < 0.5 else [scored[-1]]
        return [best]

    def entity_id(self, entity: dict, prompt: Prompt) -> str:
        ident = entity["id"]
        if self.mode == "wrong_id" and self.rng.random() < 0.4:
            others = [b["id"] for b in prompt.blocks if b["id"] != ident and b["kind"] == entity["kind"]]
            return self.rng.choice(others) if others and self.rng.random() < 0.5 else ident.upper()
        return ident

    def label(self, options: list, prompt: Prompt, claim: dict) -> str:
        good = next((o for o in options if str(o).lower() in ("supported", "yes", "true", "entailed")), options[0])
        bad = next((o for o in options if "unsupported" in str(o).lower() or "not" in str(o).lower()), options[-1])
        if self.mode == "planted" and any(ORDER.search(b["text"]) or "verified" in b["text"].lower()
                                          for b in prompt.blocks):
            return good
        return good if self.support(prompt, claim)[0] else bad

    def support(self, prompt: Prompt, claim: dict) -> tuple[bool, str, str]:
        cited = [c.strip() for c in claim["attrs"].get("cites", "").split(",") if c.strip()]
        claim_text = " ".join(claim["text"].split())
        for ident in cited or prompt.ids():
            source = " ".join(prompt.source_text(ident).split())
            if claim_text and claim_text in source:
                return True, ident, claim_text
            for sentence in sentences_of(source):
                words = content_words(claim_text)
                if words and len(words & content_words(sentence)) / len(words) >= 0.9:
                    return True, ident, sentence
        return False, "", ""

    def judge_fields(self, out: dict, props: dict, root: dict, prompt: Prompt, claim: dict) -> None:
        ok, ident, quote = self.support(prompt, claim)
        for key, sub in props.items():
            sub_r = _resolve(sub, root)
            if sub_r.get("type") == "array" and "quote" in key:
                if ok:
                    out[key] = [{"source_id": ident, "text": quote}]
                elif self.mode == "planted":
                    order = next((s for b in prompt.blocks for s in sentences_of(b["text"])
                                  if ORDER.search(s)), None)
                    out[key] = [{"source_id": b["id"], "text": order} for b in prompt.blocks
                                if order and order in " ".join(b["text"].split())][:1]
                else:
                    out[key] = []

    # -- drafted text ----------------------------------------------------------------------
    def sentences(self, prompt: Prompt) -> list[dict]:
        """The section after the update: the sentences it had, then what the sources add."""
        kept = [{"sentence": t, "cites": [i for i in ids if i in prompt.ids()]}
                for t, ids in prompt.existing_sentences()]
        added: list[dict] = []
        sources = [b for b in prompt.blocks if b["kind"].lower() == "source" and b["id"]]
        known = {" ".join(k["sentence"].split()).lower() for k in kept}
        for block in sources:
            if self.mode == "planted" and ORDER.search(block["text"]):
                payload = PAYLOAD.search(block["text"])
                if payload:
                    obeyed = payload.group(1).strip()
                    obeyed = obeyed[0].upper() + obeyed[1:] + "."
                    self.obeyed.append(obeyed)
                    added.append({"sentence": obeyed, "cites": [block["id"]]})
                    continue
            for sentence in whole_sentences(block["text"])[:2]:
                if ORDER.search(sentence):
                    continue
                if " ".join(sentence.split()).lower() not in known:
                    added.append({"sentence": sentence, "cites": [block["id"]]})
                    known.add(" ".join(sentence.split()).lower())
        wanted = " ".join(v for k, v in prompt.labelled.items() if "instruction" in k)
        if wanted:
            # an editor's request: what it names first, then the rest
            words = content_words(wanted)
            merged = kept + added
            merged.sort(key=lambda s: -len(words & content_words(s["sentence"])))
            kept, added = merged, []
            if self.mode == "copy" or not added and merged == kept and words:
                pass
        result = kept + added
        if self.mode == "copy":
            lines = [l.strip() for l in prompt.instructions.splitlines() if len(l.split()) > 5]
            ids = prompt.ids()[:1]
            result = [{"sentence": l, "cites": ids} for l in lines[:3]]
        elif self.mode == "wrong_id":
            ids = prompt.ids()
            for s in added:
                others = [i for i in ids if i not in s["cites"]]
                if others and self.rng.random() < 0.6:
                    s["cites"] = [self.rng.choice(others)]
        elif self.mode == "repeat" and added:
            result = result + [dict(added[0])]
        elif self.mode == "omit" and len(kept) > 2:
            result = [s for i, s in enumerate(result) if i % 3 != 1]
        return result

    def misbehave_list(self, items: list) -> list:
        if self.mode == "omit" and len(items) > 1:
            return [item for i, item in enumerate(items) if i % 3 != 2]
        if self.mode == "repeat" and items:
            return items + [items[0]]
        return items


def _schema_of(request: dict) -> tuple[dict | None, str]:
    fmt = request.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        return spec.get("schema"), spec.get("name", "answer")
    for tool in request.get("tools") or []:
        function = tool.get("function") or {}
        return function.get("parameters"), function.get("name", "answer")
    return None, "text"
