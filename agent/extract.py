"""Extractive drafting (ABSORB_DRAFT_MODE=extract): the model chooses source sentences, code
writes them.

A model too small to write faithful sentences can still choose. The prompt lists the task's
source sentences closest to the section (a bounded number), each with an id (s1, s2, ...);
the answer is a short list of those ids, an enum in the schema so constrained decoding
cannot invent one, each with the paragraph it joins. Code inserts every chosen sentence
verbatim, citing the source it came from, and ignores ids it did not offer or already used.

The evidence of such a sentence is the sentence itself. `verify_extracts` runs the gate's
deterministic stages and then its own quote verification (agent.citations.verify) with the
sentence as the quote: the text is located in the cited source and its numbers, names and
negation are re-checked against it, all in code, with no judge call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field, WithJsonSchema, create_model
from rapidfuzz import fuzz

from agent.citations import Claim
from agent.citations.checks import screen
from agent.citations.judge import ClaimJudgement, JudgedQuote
from agent.citations.text import content_token_set, split_sentences
from agent.citations.verify import judged_verdict
from agent.llm import call_structured
from agent.llm_errors import LLMError, LLMNotConfigured
from agent.models import Article, Section, Sentence, Source, Verdict
from agent.prompting import delimit_source, load_prompt, prompt_tag

if TYPE_CHECKING:
    from graphs.state import RunContext

PROMPT = "draft_extract"
MAX_CANDIDATES = 5
MAX_PER_SOURCE = 2
MAX_CHOSEN = 2
MIN_CONTENT_WORDS = 4
MAX_SENTENCE_CHARS = 320
SAME_SENTENCE = 85  # rapidfuzz ratio at which a candidate restates a sentence already there
PARAGRAPH_CHARS = 150
SHOWN_PARAGRAPHS = 2
STAGE = "verbatim"
VERBATIM_REASON = "the sentence is its source's own text, found there by code"
# A sentence cut off where the source text was clipped ends without a full stop; one that
# opens with a pronoun leans on a sentence the article does not have.
_COMPLETE = re.compile(r"[.!?][\"'”’)\]]*$")
_DANGLING = re.compile(r"^(it|its|this|these|that|those|they|their|he|she|his|her|such|both|"
                       r"also|however|but|and)\b", re.I)


@dataclass(frozen=True)
class Candidate:
    """One source sentence offered to the model."""

    id: str
    source_id: str
    text: str


def _usable(text: str) -> bool:
    return (len(text) <= MAX_SENTENCE_CHARS and bool(_COMPLETE.search(text))
            and not _DANGLING.match(text) and len(content_token_set(text)) >= MIN_CONTENT_WORDS)


def candidates(heading: str, section: Section | None, sources: list[Source],
               limit: int = MAX_CANDIDATES) -> list[Candidate]:
    """The complete sentences of `sources` sharing most words with the section, best first;
    none the section already states, at most MAX_PER_SOURCE per source, `limit` in all."""
    existing = [s.text for s in section.sentences()] if section else []
    target = content_token_set(" ".join([heading, *existing]))
    scored: list[tuple[float, int, str, str]] = []
    for order, source in enumerate(sources):
        for start, end in split_sentences(source.text):
            text = " ".join(source.text[start:end].split())
            if not _usable(text):
                continue
            words = content_token_set(text)
            shared = len(words & target)
            if shared and not any(fuzz.ratio(text, old) >= SAME_SENTENCE for old in existing):
                scored.append((shared / len(words) ** 0.5, order, source.id, text))
    scored.sort(key=lambda item: (-item[0], item[1]))
    chosen: list[tuple[str, str]] = []
    per_source: dict[str, int] = {}
    for _, _, source_id, text in scored:
        if per_source.get(source_id, 0) >= MAX_PER_SOURCE:
            continue
        if any(fuzz.ratio(text, other) >= SAME_SENTENCE for _, other in chosen):
            continue  # the same sentence from a duplicate source
        per_source[source_id] = per_source.get(source_id, 0) + 1
        chosen.append((source_id, text))
        if len(chosen) == limit:
            break
    return [Candidate(f"s{i}", source_id, text) for i, (source_id, text) in enumerate(chosen, 1)]


class ExtractChoice(BaseModel):
    id: str = Field(description="The id of a candidate sentence, e.g. s1.")
    paragraph: int = Field(description="The number of the paragraph it is added to, at its end.")


class ExtractAnswer(BaseModel):
    chosen: list[ExtractChoice] = Field(description="The ids of at most two candidate "
                                        "sentences that belong in the section.")


def answer_schema(ids: list[str], paragraphs: int) -> type[ExtractAnswer]:
    """ExtractAnswer whose schema offers only these ids and paragraph numbers (so a grammar
    or a strict server enforces them) and one to MAX_CHOSEN choices: the candidates come
    from sources triage routed to the section, and a greedy 270M model given the choice
    of an empty list takes it every time. Validation stays lenient: an id that was not
    offered loses that choice, not the section, and an empty answer adds nothing."""
    numbers = list(range(1, max(paragraphs, 1) + 1))
    choice = create_model(
        "ExtractChoice", __base__=ExtractChoice,
        id=(Annotated[str, WithJsonSchema({"type": "string", "enum": ids})],
            Field(description="The id of a candidate sentence, e.g. s1.")),
        paragraph=(Annotated[int, WithJsonSchema({"type": "integer", "enum": numbers})],
                   Field(description="The number of the paragraph it is added to, at its end.")))
    return create_model("ExtractAnswer", __base__=ExtractAnswer, chosen=(
        list[choice], Field(description="The ids of one or two candidate sentences that "
                            "belong in the section.",
                            json_schema_extra={"minItems": 1, "maxItems": MAX_CHOSEN})))


def _paragraph_lines(section: Section | None) -> str:
    if section is None or not section.paragraphs:
        return "(empty: this is a new section; use paragraph 1)"
    lines = []
    for number, paragraph in enumerate(section.paragraphs[:SHOWN_PARAGRAPHS], 1):
        text = " ".join(s.text for s in paragraph)
        clipped = text if len(text) <= PARAGRAPH_CHARS else text[:PARAGRAPH_CHARS] + " …"
        lines.append(f"paragraph {number}: {clipped}")
    hidden = len(section.paragraphs) - SHOWN_PARAGRAPHS
    return "\n".join(lines + ([f"(and {hidden} more paragraphs)"] if hidden > 0 else []))


def extract_messages(article: Article, heading: str, section: Section | None,
                     offered: list[Candidate]) -> list[BaseMessage]:
    """Short on purpose: on a shared 2-core CPU the tiny model reads ~20-300 tokens/s, so
    every candidate's title or another section's heading would cost seconds."""
    blocks = "\n".join(delimit_source(c.id, "", c.text) for c in offered)
    return load_prompt(PROMPT).render(topic_title=article.title, section_heading=heading,
                                      section_text=_paragraph_lines(section), candidates=blocks)


@dataclass
class Applied:
    paragraphs: list[list[Sentence]]
    chosen: list[Candidate]
    unknown: list[str]
    repeated: int

    @property
    def rationale(self) -> str:
        parts = [f"chose {', '.join(c.id for c in self.chosen) or 'none'} of the offered "
                 "source sentences, inserted verbatim"]
        if self.unknown:
            parts.append(f"ignored ids not offered: {', '.join(self.unknown)}")
        if self.repeated:
            parts.append(f"ignored {self.repeated} repeated choice(s)")
        return "; ".join(parts)


def apply_choices(old: list[list[Sentence]], answer: ExtractAnswer,
                  offered: list[Candidate]) -> Applied:
    """The section with each chosen sentence appended to its paragraph (the last one when
    the number is out of range), citing its source; old sentences all stay."""
    by_id = {c.id: c for c in offered}
    paragraphs = [list(p) for p in old] or [[]]
    applied = Applied(paragraphs, [], [], 0)
    for choice in answer.chosen:
        candidate = by_id.get(choice.id.strip())
        if candidate is None:
            applied.unknown.append(choice.id[:20])
        elif candidate in applied.chosen:
            applied.repeated += 1
        elif len(applied.chosen) < MAX_CHOSEN:
            applied.chosen.append(candidate)
            index = choice.paragraph - 1 if 1 <= choice.paragraph <= len(paragraphs) else -1
            paragraphs[index].append(Sentence(text=candidate.text, citations=[candidate.source_id]))
    applied.paragraphs = [p for p in paragraphs if p]
    return applied


async def draft_by_choice(ctx: RunContext, state: Mapping, article: Article, section: Section | None,
                          sources: list[Source], *,
                          section_local: Callable[[LLMError], bool]) -> dict:
    """The draft node's update in extract mode: paragraphs to
    check, or `failure` when the call failed in a way that costs this section only."""
    old = section.paragraphs if section else []
    offered = candidates(state["heading"], section, sources)
    done = {"attempts": 0, "max_revisions": 0}
    if not offered:
        return {"paragraphs": [[s.model_dump() for s in p] for p in old],
                "rationale": "no complete source sentence shares words with the section", **done}
    if ctx.draft_model is None:
        raise LLMNotConfigured()
    schema = answer_schema([c.id for c in offered], len(old))
    try:
        answer = await call_structured(
            ctx.draft_model, schema, extract_messages(article, state["heading"], section, offered),
            node="draft", section=state["section_id"], run_id=ctx.run_id,
            prompt_version=prompt_tag(PROMPT), recorder=ctx.recorder,
            method=ctx.settings.structured_method, budget=ctx.budget, settings=ctx.settings)
    except LLMError as exc:
        if not section_local(exc):
            raise
        return {"failure": {"section_id": state["section_id"], "heading": state["heading"],
                            "category": exc.category, "error": str(exc)}}
    applied = apply_choices(old, answer, offered)
    return {"paragraphs": [[s.model_dump() for s in p] for p in applied.paragraphs],
            "rationale": applied.rationale, **done}


def verify_extracts(claims: list[Claim], sources: Mapping[str, Source],
                    candidates: Mapping[str, Source] | None = None) -> list[Verdict]:
    """One verdict per claim: stages 1-5 of the gate, then its quote verification with the
    sentence itself as the quote. A verbatim sentence passes with stage 'verbatim'; anything
    else fails where the gate would."""
    others = {**(candidates or {}), **sources}
    verdicts = []
    for claim in claims:
        screening = screen(claim.text, claim.citations, sources, others)
        if screening.failure is not None:
            verdicts.append(screening.failure)
            continue
        judgement = ClaimJudgement(
            claim_id="c1", label="supported", reason=VERBATIM_REASON,
            quotes=[JudgedQuote(source_id=key, text=claim.text) for key in claim.citations])
        verdict = judged_verdict(claim.text, claim.citations, judgement, screening, sources, others)
        verdicts.append(verdict.model_copy(update={"stage": STAGE}) if verdict.passed else verdict)
    return verdicts
