"""`absorb audit --suggest --judge`: the citation gate's judge confirms or strikes each fit.

Only a fit whose source has text can be judged: the sentence is checked against that one
source, as if it cited it. A supported verdict carries its verified quote and makes the
suggestion confident; an unsupported one removes the fit. Fits without text stay as the
lexical match left them.
"""

from __future__ import annotations

from agent.models import Source
from agent.repair import Suggestion
from agent.store import Store


def judge_suggestions(store: Store, suggestions: list[Suggestion], sources: dict[str, Source]) -> None:
    from agent.citations import CitationGate, Claim
    from agent.llm import build_chat_model
    from agent.settings import get_settings
    from agent.store.verdicts import StoreVerdictCache

    asked = [(s, f) for s in suggestions for f in s.fits
             if sources.get(f.source_id) is not None and sources[f.source_id].text]
    if not asked:
        return
    settings = get_settings()
    gate = CitationGate(build_chat_model("judge", settings), method=settings.structured_method,
                        cache=StoreVerdictCache(store.engine), recorder=store.runs, settings=settings)
    verdicts = gate.check([Claim(s.sentence, [f.source_id]) for s, f in asked],
                          {f.source_id: sources[f.source_id] for _, f in asked})
    struck: set[int] = set()
    for (suggestion, fit), verdict in zip(asked, verdicts, strict=True):
        if verdict.passed:
            fit.judged = "supported"
            fit.quote = next((q.text for q in verdict.quotes if q.source_id == fit.source_id), None)
        else:
            fit.judged = f"not supported: {verdict.label.value} ({verdict.stage}) {verdict.reason}".strip()
            struck.add(id(fit))
    for suggestion in suggestions:
        if not any(f.judged for f in suggestion.fits):
            continue
        kept = [f for f in suggestion.fits if id(f) not in struck]
        if any(f.quote for f in kept):
            suggestion.fits = [f for f in kept if f.quote or f.judged is None]
            suggestion.confidence, suggestion.why = "confident", "the judge verified a quote"
        elif not kept:
            suggestion.fits, suggestion.confidence = [], "none"
            suggestion.why = "no listed reference fits (the judge found none of them supports it)"
        else:
            suggestion.fits, suggestion.confidence = kept, "unsure"
            suggestion.why += "; the judge struck the references it could read"
