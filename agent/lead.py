"""The lead follows the article: when merged revisions change what the lead states, a lead
edit rewrites it from the article's own sentences, each lead sentence citing what the
sentences it draws on cite, through the same citation gate as any other edit.

When it runs (graphs/lead.py, a node of the refresh graph before triage): the lead's
*basis* is the oldest revision of the run of revisions, ending at the current one, whose
lead reads as the current lead does (the revision that last wrote the lead, or the import).
The lead is stale when the article's sentences changed since the basis in a way that touches
what the lead states (`touches`): a sentence no longer stated that shares a figure with a
lead sentence, a new sentence stating a figure that shares TOUCH_WORDS content words with
one, or a figure of the lead that no sentence of the article states any more. A lead edit
already proposed against an article whose sections read as the current ones (pending,
rejected or refused) settles it: the next one comes when the sections change again.

What the model may do (prompts/lead.md): answer lead sentences, each with the ids (a1, a2,
...) of the offered article sentences it draws on. Code gives each sentence the citations of
those sentences, then holds back (before the gate) a sentence that draws on an id not
offered, cites anything its drawn sentences do not cite, states a figure they do not state,
or whose content words are mostly not theirs (instructions copied, facts invented); the rest
goes through the citation gate against the cited sources' stored text. An old lead sentence
the answer keeps word for word stays uncited only while the article still states each of its
figures. Extract mode (ABSORB_DRAFT_MODE=extract, the local model): the model picks ids only
and code inserts those article sentences verbatim, checked as extract drafting checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field, WithJsonSchema, create_model
from rapidfuzz import fuzz

from agent.citations.numbers import extract_quantities, number_findings
from agent.citations.text import content_token_set
from agent.markdown import split_sentences
from agent.models import (Article, DroppedSentence, Edit, Revision, Sentence, Verdict, VerdictLabel,
                          is_source_id)
from agent.prompting import delimit_source, load_prompt

LEAD_ID = "_lead"  # slugify() never makes a leading underscore: no section can have this id
LEAD_HEADING = "Lead"
LEAD_KIND = "lead"
PROMPT = "lead"
PROMPT_EXTRACT = "lead_extract"
STAGE = "lead_drawn"
MAX_CANDIDATES = 30
MAX_LEAD_SENTENCES = 5
TOUCH_WORDS = 3
MIN_COVERAGE = 0.6
REWRITE_SIMILARITY = 55  # rapidfuzz ratio at which a new lead sentence rewrites an old one
_INLINE = re.compile(r"\s*\[([^\]\s]+)\]")


def lead_sentences(article: Article) -> list[Sentence]:
    """The lead as sentences: its cited sentences, or the plain summary split into sentences."""
    if article.lead:
        return list(article.lead)
    return [Sentence(text=t) for t in split_sentences(" ".join(article.summary.split()))]


def with_lead(article: Article, sentences: list[Sentence]) -> Article:
    """The article with this lead (summary kept as its plain text)."""
    return article.model_copy(update={"lead": list(sentences),
                                      "summary": " ".join(s.text for s in sentences)})


def is_lead(edit: Edit) -> bool:
    return edit.kind == LEAD_KIND


def _key(sentence: Sentence) -> tuple[str, tuple[str, ...]]:
    return sentence.text, tuple(sentence.citations)


def article_sentences(article: Article) -> list[Sentence]:
    return [s for section in article.sections for s in section.sentences()]


def still_applies(article: Article, edit: Edit) -> bool:
    """The lead is as the edit found it and the article still states what it draws on."""
    present = {_key(s) for s in article_sentences(article)}
    return (lead_sentences(article) == edit.old_sentences
            and all(_key(s) in present for s in edit.drawn_from))


def _texts(sentences: list[Sentence]) -> list[str]:
    return [s.text for s in sentences]


def unsupported_figures(text: str, evidence: list[str]) -> list[str]:
    """Figures of `text` (in digits) that none of the evidence texts states."""
    return [f.text for f in number_findings(text, evidence) if f.sure]


@dataclass
class Staleness:
    basis: Revision
    removed: list[Sentence]
    added: list[Sentence]
    why: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return bool(self.why)


def lead_basis(history: list[Revision]) -> Revision:
    """The oldest revision of the run ending at the last one whose lead reads as its lead."""
    current = history[-1]
    lead = lead_sentences(current.article)
    basis = current
    for revision in reversed(history[:-1]):
        if lead_sentences(revision.article) != lead:
            break
        basis = revision
    return basis


def figures(text: str) -> list:
    """The quantities of `text` written in digits that state an amount: not dates or years."""
    return [q for q in extract_quantities(text) if not q.spelled and q.date is None
            and not (not q.kind and 1000 <= q.value <= 2100 and float(q.value).is_integer())]


def touches(lead: list[Sentence], removed: list[Sentence], added: list[Sentence],
            before: Article, after: Article) -> list[str]:
    """Why the changes from `before` to `after` touch what the lead states (empty: they do
    not): a sentence that stated one of its figures is gone, a new sentence states a figure
    of the same kind on what a lead sentence says (TOUCH_WORDS content words in common), or
    a figure of the lead the article stated before is no longer stated."""
    why: list[str] = []
    was, now = _texts(article_sentences(before)), _texts(article_sentences(after))
    for number, sentence in enumerate(lead, start=1):
        mine = figures(sentence.text)
        if not mine:
            continue
        words = content_token_set(sentence.text)
        for gone in removed:
            if any(q.matches(o) for q in mine for o in figures(gone.text)):
                why.append(f"lead sentence {number}: a sentence stating its figure is no longer "
                           f"in the article ({gone.text[:80]})")
                break
        kinds = {q.kind for q in mine if q.kind}
        for new in added:
            if {q.kind for q in figures(new.text)} & kinds and \
                    len(words & content_token_set(new.text)) >= TOUCH_WORDS:
                why.append(f"lead sentence {number}: a new sentence states a figure on what it "
                           f"says ({new.text[:80]})")
                break
        lost = set(unsupported_figures(sentence.text, now)) - set(unsupported_figures(sentence.text, was))
        if lost:
            why.append(f"lead sentence {number}: the article no longer states {', '.join(sorted(lost))}")
    return list(dict.fromkeys(why))


def staleness(history: list[Revision]) -> Staleness | None:
    """Whether the sections changed since the lead was last written in a way it should follow."""
    if not history:
        return None
    return staleness_between(lead_basis(history), history[-1])


def staleness_between(basis: Revision, current: Revision) -> Staleness | None:
    """`staleness` once the revision that last wrote the lead (`basis`) is known."""
    if basis.id == current.id:
        return None
    before = article_sentences(basis.article)
    after = article_sentences(current.article)
    old_keys, new_keys = {_key(s) for s in before}, {_key(s) for s in after}
    removed = [s for s in before if _key(s) not in new_keys]
    added = [s for s in after if _key(s) not in old_keys]
    if not removed and not added:
        return None
    found = Staleness(basis, removed, added)
    found.why = touches(lead_sentences(current.article), removed, added, basis.article,
                        current.article)
    return found


def considered(bases: Iterable[Revision], current: Revision) -> bool:
    """A lead edit was already proposed (on one of `bases`, the base revisions of the topic's
    proposals with a lead edit) for sections that read as the current ones."""
    return any(base.article.sections == current.article.sections for base in bases)


# -- what the model sees and answers --------------------------------------------------------

@dataclass(frozen=True)
class Offered:
    id: str
    sentence: Sentence
    heading: str
    changed: bool


def offered_sentences(article: Article, lead: list[Sentence], added: list[Sentence],
                      limit: int = MAX_CANDIDATES) -> list[Offered]:
    """Article sentences the lead may draw on: the changed ones first, then those sharing most
    words with the lead, `limit` in all, in article order within each group."""
    target = content_token_set(" ".join(s.text for s in lead))
    fresh = {_key(s) for s in added}
    scored = []
    for order, section in enumerate(article.sections):
        for position, sentence in enumerate(section.sentences()):
            changed = _key(sentence) in fresh
            shared = len(content_token_set(sentence.text) & target)
            if changed or shared:
                scored.append((not changed, -shared, order, position, section.heading, sentence))
    chosen = sorted(scored, key=lambda item: item[:4])[:limit]
    chosen.sort(key=lambda item: (item[0], item[2], item[3]))
    seen: set[tuple] = set()
    out = []
    for item in chosen:
        if _key(item[5]) in seen:
            continue
        seen.add(_key(item[5]))
        out.append(Offered(f"a{len(out) + 1}", item[5], item[4], item[0] is False))
    return out


class LeadSentence(BaseModel):
    text: str = Field(description="One sentence of the new lead, without citation markers.")
    draws_on: list[str] = Field(description="Ids (a1, a2, ...) of the article sentences it is built from.")


class LeadAnswer(BaseModel):
    sentences: list[LeadSentence] = Field(description="The whole lead after the update, in order.")
    rationale: str = Field("", description="What changed in the lead and why, in one sentence.")


class LeadChoice(BaseModel):
    ids: list[str] = Field(description="Ids of the article sentences that make the lead, in order.")


def choice_schema(ids: list[str]) -> type[LeadChoice]:
    """Extract mode: ids offered only, in the schema (a grammar enforces it); validation stays
    lenient, an id not offered is dropped in code."""
    return create_model("LeadChoice", __base__=LeadChoice, ids=(
        list[Annotated[str, WithJsonSchema({"type": "string", "enum": ids})]],
        Field(description="Ids of the article sentences that make the lead, in order.",
              json_schema_extra={"minItems": 1, "maxItems": MAX_LEAD_SENTENCES})))


def lead_messages(article: Article, lead: list[Sentence], changes: Staleness,
                  offered: list[Offered], *, extract: bool = False) -> list[BaseMessage]:
    current = "\n".join(f"L{n}. {s.text}" for n, s in enumerate(lead, start=1)) or "(no lead yet)"
    changed = [f"- no longer stated: {s.text}" for s in changes.removed[:10]]
    changed += [f"- new: {s.text}" for s in changes.added[:10]]
    blocks = "\n".join(delimit_source(o.id, o.heading, o.sentence.text) for o in offered)
    return load_prompt(PROMPT_EXTRACT if extract else PROMPT).render(
        topic_title=article.title, lead=current, changes="\n".join(changed) or "(none)",
        why="\n".join(f"- {w}" for w in changes.why), sentences=blocks,
        max_sentences=MAX_LEAD_SENTENCES)


# -- from the answer to an edit --------------------------------------------------------------

@dataclass
class Drafted:
    """The new lead before the gate: sentences with resolved citations, and what code held back."""

    sentences: list[Sentence]
    drawn: dict[tuple, list[Sentence]]
    held: list[DroppedSentence]
    kept_old: list[Sentence]


def _held(sentence: Sentence, reason: str, label: VerdictLabel = VerdictLabel.unsupported) -> DroppedSentence:
    return DroppedSentence(sentence=sentence, verdict=Verdict(label=label, stage=STAGE, reason=reason))


def resolve(answer: LeadAnswer, offered: list[Offered], old_lead: list[Sentence],
            article: Article) -> Drafted:
    """Each answered sentence with the citations of what it draws on; those code can tell are
    not built from the article are held back with why."""
    by_id = {o.id: o for o in offered}
    old_texts = {s.text: s for s in old_lead}
    now = _texts(article_sentences(article))
    out = Drafted([], {}, [], [])
    for answered in answer.sentences[: MAX_LEAD_SENTENCES * 2]:
        inline = [m for m in _INLINE.findall(answered.text)]
        text = " ".join(_INLINE.sub("", answered.text).split())
        text = re.sub(r"\s+([,.;:!?])", r"\1", text)
        if not text:
            continue
        ids = [i.strip() for i in answered.draws_on]
        if not ids and text in old_texts:
            old = old_texts[text]
            missing = unsupported_figures(text, now)
            if missing:
                out.held.append(_held(old, f"the article no longer states {', '.join(missing)}"))
            elif old not in out.kept_old:
                out.kept_old.append(old)
                out.sentences.append(old)
            continue
        unknown = [i for i in ids if i not in by_id]
        drawn = [by_id[i].sentence for i in dict.fromkeys(ids) if i in by_id]
        citations = list(dict.fromkeys(c for s in drawn for c in s.citations if is_source_id(c)))
        sentence = Sentence(text=text, citations=citations)
        if unknown or not drawn:
            shown = ", ".join(u[:20] for u in unknown) or "nothing"
            out.held.append(_held(sentence, f"draws on {shown}, not one of the article's sentences offered"))
            continue
        strays = [c for c in inline if c not in citations and c not in by_id]
        if strays:
            out.held.append(_held(sentence, f"cites {', '.join(strays[:3])}, which none of the "
                                            "sentences it draws on cites"))
            continue
        evidence = _texts(drawn)
        missing = unsupported_figures(text, evidence)
        if missing:
            out.held.append(_held(sentence, f"states {', '.join(missing)}, which the sentences it "
                                            "draws on do not"))
            continue
        words = content_token_set(text)
        theirs = content_token_set(" ".join(evidence))
        if words and len(words & theirs) / len(words) < MIN_COVERAGE:
            out.held.append(_held(sentence, "most of its words are in none of the sentences it "
                                            "draws on: not built from the article"))
            continue
        if not citations:
            out.held.append(_held(sentence, "the sentences it draws on cite no stored source",
                                  VerdictLabel.uncited))
            continue
        if _key(sentence) not in out.drawn:
            out.drawn[_key(sentence)] = drawn
            out.sentences.append(sentence)
    return out


def resolve_choice(answer: LeadChoice, offered: list[Offered]) -> Drafted:
    """Extract mode: the chosen article sentences, verbatim, with their own citations."""
    by_id = {o.id: o for o in offered}
    out = Drafted([], {}, [], [])
    for raw in answer.ids[:MAX_LEAD_SENTENCES]:
        chosen = by_id.get(raw.strip())
        if chosen is None:
            out.held.append(_held(Sentence(text=raw[:40]), f"{raw[:20]} is not one of the ids offered"))
            continue
        sentence = Sentence(text=chosen.sentence.text,
                            citations=[c for c in chosen.sentence.citations if is_source_id(c)])
        if not sentence.citations:
            out.held.append(_held(sentence, "the sentence cites no stored source", VerdictLabel.uncited))
        elif _key(sentence) not in out.drawn:
            out.drawn[_key(sentence)] = [chosen.sentence]
            out.sentences.append(sentence)
    return out


def build_lead_edit(edit_id: str, old_lead: list[Sentence], drafted: Drafted,
                    verdicts: list[Verdict], rationale: str, article: Article) -> Edit | None:
    """The lead edit: gated sentences that passed, the old lead sentences kept, the rest held
    back (a held-back rewrite of an old sentence leaves the old one, while the article still
    states its figures); None when it would change nothing. `verdicts`: one per new sentence
    of `drafted`, in its order."""
    now = _texts(article_sentences(article))
    new = [s for s in drafted.sentences if s not in drafted.kept_old]
    by_key = dict(zip((_key(s) for s in new), verdicts, strict=True))
    final: list[Sentence] = []
    passed: list[Verdict] = []
    dropped = list(drafted.held)
    for sentence in drafted.sentences:
        if sentence in drafted.kept_old:
            final.append(sentence)
            continue
        verdict = by_key[_key(sentence)]
        if verdict.passed:
            final.append(sentence)
            passed.append(verdict)
        else:
            dropped.append(DroppedSentence(sentence=sentence, verdict=verdict))
            old = _replaced(sentence, [o for o in old_lead if o not in final])
            if old is not None and not unsupported_figures(old.text, now):
                final.append(old)
    if not final or final == old_lead:
        return None
    drawn = [d for s in final if _key(s) in drafted.drawn for d in drafted.drawn[_key(s)]]
    return Edit(id=edit_id, kind=LEAD_KIND, section_id=LEAD_ID, heading=LEAD_HEADING,
                old_sentences=list(old_lead), new_paragraphs=[final], verdicts=passed,
                dropped=dropped, rationale=rationale, source_ids=[],
                drawn_from=list({_key(d): d for d in drawn}.values()))


def _replaced(sentence: Sentence, old: list[Sentence]) -> Sentence | None:
    """The old lead sentence a new one rewrites, if one reads alike enough."""
    scored = [(fuzz.ratio(sentence.text, o.text), i) for i, o in enumerate(old)]
    best = max(scored, default=(0.0, -1))
    return old[best[1]] if best[0] >= REWRITE_SIMILARITY else None
