"""`absorb audit`: flag what a reader of the page would want flagged; the report is data."""

from __future__ import annotations

import typer

from agent.cli.common import echo, emit_json, err, fail, store_session, topic_argument


def audit(
    slug: str = topic_argument(),
    judge_mode: str = typer.Option("none", "--judge", metavar="llm|none",
                                   help="llm: also run the citation gate's LLM judge on every "
                                   "cited sentence (costs tokens); none: deterministic checks only."),
    as_json: bool = typer.Option(False, "--json", help="The whole report as JSON on stdout."),
    suggest: bool = typer.Option(False, "--suggest", help="For each flagged sentence, the "
                                 "references that fit it, with evidence and how sure."),
    fix: bool = typer.Option(False, "--fix", help="Propose the confident suggestions as one "
                             "proposal for an editor to review (nothing merges)."),
) -> None:
    """Flag uncited sentences, unresolved markers, unused references and suspect citations."""
    from agent.audit import audit_article, judge_article

    if judge_mode not in ("llm", "none"):
        fail("--judge must be llm or none")
    judge = judge_mode == "llm"

    if suggest or fix:
        from agent.cli.audit_suggest import repair

        repair(slug, judge=judge, as_json=as_json, fix=fix)
        return
    with store_session() as store:
        revision = store.revisions.current(slug)
        if revision is None:
            fail(f"topic '{slug}' has no article yet: `absorb import FILE --topic {slug}` gives it one")
        # The stored sources carry their text (revisions list them by title only).
        texts = store.sources.get_many(revision.article.cited_ids())
        report = audit_article(revision.article, topic=slug, revision=revision.number, texts=texts)
        if judge:
            report.verdicts = judge_article(store, revision.article)
    if as_json:
        emit_json({**report.model_dump(mode="json"), "counts": report.counts()})
        return
    headings = {s.id: s.heading for s in revision.article.sections}
    for finding in report.findings:
        where = headings.get(finding.section_id or "", "References")
        sentence = f" \u201c{finding.sentence[:90]}\u201d" if finding.sentence else ""
        echo(f"{finding.kind}\t{where}{sentence}\t{finding.detail}")
    for item in report.verdicts:
        echo(f"verdict\t{headings.get(item['section_id'], '')} \u201c{item['sentence'][:90]}\u201d\t"
             f"{item['verdict']['label']} ({item['verdict']['stage']}): {item['verdict']['reason']}")
    counts = report.counts()
    err.print(f"{report.sentences} sentences: {counts['uncited']} uncited, {counts['unresolved']} "
              f"unresolved markers, {counts['suspect_citation']} suspect citations, "
              f"{counts['uncited_reference']} references never cited")
