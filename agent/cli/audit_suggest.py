"""`absorb audit TOPIC --suggest|--fix`: which references fit the sentences the audit flags."""

from __future__ import annotations

from agent.cli.common import echo, emit_json, err, fail, store_session

# Sources a repair may offer besides the page's own list: everything on the topic's bus that
# is not off-topic or a copy of another.
OFFERED = ["new", "proposed", "absorbed", "held_back", "undecided"]


def _marks(keys: list[str], numbering: dict[str, int]) -> str:
    return "".join(f"[{numbering.get(k, k)}]" for k in keys) or "(none)"


def repair(slug: str, *, judge: bool, as_json: bool, fix: bool) -> None:
    from agent.numbering import numbers_for
    from agent.repair import suggest
    from agent.repair_fix import fix_proposal
    from agent.store.errors import UnknownTopic

    with store_session() as store:
        revision = store.revisions.current(slug)
        if revision is None:
            fail(f"topic '{slug}' has no article yet: `absorb import FILE --topic {slug}` gives it one")
        article = revision.article
        texts = store.sources.get_many(list(article.sources))
        try:
            stored = {s.id: s for s, _ in store.sources.for_topic(slug, OFFERED)}
        except UnknownTopic:
            stored = {}
        numbering = numbers_for(store, slug, article)
        suggestions = suggest(article, numbering, topic=slug, revision=revision.number,
                              texts=texts, stored=stored)
        if judge:
            from agent.repair_judge import judge_suggestions

            judge_suggestions(store, suggestions, {**stored, **texts})
        numbering = numbers_for(store, slug, article,
                                extra=[f.source_id for s in suggestions for f in s.fits])
        proposal = None
        if fix:
            from agent.cli.review_cmd import editor_actor

            proposal = fix_proposal(store, slug, revision, suggestions, numbering, actor=editor_actor())
    counts = {kind: sum(s.confidence == kind for s in suggestions)
              for kind in ("confident", "unsure", "none")}
    if as_json:
        emit_json({"topic": slug, "revision": revision.number, "counts": counts,
                   "suggestions": [s.as_json(numbering) for s in suggestions],
                   "proposal": proposal.id if proposal else None})
    else:
        for s in suggestions:
            where = f"{s.heading} \u201c{s.sentence[:90]}\u201d"
            if s.confidence == "none":
                advice = "no listed reference fits"
            elif s.confidence == "unsure":
                advice = f"unsure, not a fix: perhaps {_marks([f.source_id for f in s.fits], numbering)}"
            else:
                advice = f"{_marks(s.citations, numbering)} -> {_marks(s.new_citations(), numbering)}"
            echo(f"{s.confidence}\t{where}\t{'; '.join(s.problems)}\t{advice}\t{s.why}")
            for f in s.fits:
                echo(f"\t[{numbering.get(f.source_id, f.source_id)}] {f.title[:70]}\t{f.evidence()}")
    err.print(f"{len(suggestions)} sentences to repair: {counts['confident']} confident, "
              f"{counts['unsure']} unsure, {counts['none']} with no listed reference that fits")
    if fix:
        if proposal is None:
            err.print("nothing to propose: no confident suggestion changes a citation")
        else:
            err.print(f"proposal {proposal.id}: {len(proposal.edits)} edits; "
                      f"`absorb review show {proposal.id}` to review it")
    elif counts["confident"]:
        err.print(f"`absorb audit {slug} --fix` proposes the {counts['confident']} confident ones")
