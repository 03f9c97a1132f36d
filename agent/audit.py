"""Audit of an existing article: what a careful reader would flag, sentence by sentence.

Deterministic and free: uncited sentences, markers that resolve to no reference, listed
references nobody cites, and citations whose source shares no content word with the
sentence (the seed's minbpe sentence citing a 2016 GPU blog post).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent.models import Article, Source, is_source_id
from agent.citations.text import content_token_set as content_words


class Finding(BaseModel):
    kind: str = Field(description="uncited | unresolved | suspect_citation | uncited_reference")
    section_id: str | None = None
    sentence_index: int | None = Field(None, description="0-based index within the section.")
    sentence: str | None = None
    citation: str | None = None
    detail: str = ""


class AuditReport(BaseModel):
    topic: str
    revision: int
    sentences: int
    findings: list[Finding]
    verdicts: list[dict] = Field(default_factory=list, description="LLM judge verdicts (--judge).")

    def counts(self) -> dict[str, int]:
        kinds = ["uncited", "unresolved", "suspect_citation", "uncited_reference"]
        return {k: sum(1 for f in self.findings if f.kind == k) for k in kinds}


def _source_words(source: Source) -> set[str]:
    return content_words(f"{source.title} {source.text}")


def audit_article(article: Article, *, topic: str, revision: int,
                  texts: dict[str, Source] | None = None) -> AuditReport:
    """`texts` holds the stored sources (with their text; a revision lists sources by title
    only): a sentence is compared with its source's text whenever the source has text."""
    findings: list[Finding] = []
    total = 0
    cited: set[str] = set()
    for section in article.sections:
        for index, sentence in enumerate(section.sentences()):
            total += 1
            where = {"section_id": section.id, "sentence_index": index, "sentence": sentence.text}
            if not sentence.citations:
                findings.append(Finding(kind="uncited", detail="no citation", **where))
                continue
            words = content_words(sentence.text)
            for key in sentence.citations:
                source = (texts or {}).get(key) or article.sources.get(key)
                if not is_source_id(key) or source is None:
                    findings.append(Finding(kind="unresolved", citation=key,
                                            detail=f"marker [{key}] resolves to no reference", **where))
                    continue
                cited.add(key)
                if not words & _source_words(source):
                    against = "its text" if source.text else "its title (the source has no text)"
                    findings.append(Finding(
                        kind="suspect_citation", citation=key,
                        detail=f"shares no content word with '{source.title[:80]}', {against}",
                        **where))
    for key, source in article.sources.items():
        if key not in cited:
            findings.append(Finding(kind="uncited_reference", citation=key,
                                    detail=f"reference never cited: {source.title[:80]}"))
    return AuditReport(topic=topic, revision=revision, sentences=total, findings=findings)


def judge_article(store, article: Article) -> list[dict]:  # noqa: ANN001 - agent.store.Store
    """The citation gate with its LLM judge over every cited sentence of an article."""
    from agent.citations import CitationGate, Claim
    from agent.llm import build_chat_model
    from agent.settings import get_settings
    from agent.store.verdicts import StoreVerdictCache

    settings = get_settings()
    gate = CitationGate(build_chat_model("judge", settings), method=settings.structured_method,
                        cache=StoreVerdictCache(store.engine), recorder=store.runs, settings=settings)
    cited = [(section.id, sentence) for section in article.sections
             for sentence in section.sentences() if sentence.citations]
    ids = sorted({c for _, s in cited for c in s.citations if is_source_id(c)})
    sources = store.sources.get_many(ids)
    verdicts = gate.check([Claim(s.text, list(s.citations)) for _, s in cited], sources)
    return [{"section_id": section_id, "sentence": sentence.text,
             "verdict": verdict.model_dump(mode="json")}
            for (section_id, sentence), verdict in zip(cited, verdicts, strict=True)]
