"""What the demo prints about the audit and the proposal: the counts, a few telling lines,
and the command for everything else."""

from __future__ import annotations

import re
from collections.abc import Mapping

from agent.audit import AuditReport, Finding
from agent.models import Proposal, Sentence, Source, Verdict

SHOWN_FINDINGS = 5
# A citation to a source that shares no word with its sentence tells most about a page;
# then a marker that leads nowhere, a claim with no source, a reference nobody cites.
TELLING_ORDER = ("suspect_citation", "unresolved", "uncited", "uncited_reference")
_CLIP = 110
_FAILED_SECTION = re.compile(r"section '([^']+)' failed \(([a-z_]+)\)")
REASONS = {"timeout": "its model call passed the local timeout; its sources stay new for the "
                      "next refresh",
           "invalid_output": "the model gave no usable answer",
           "truncated": "the answer was cut off at the output token limit"}


def clip(text: str, limit: int = _CLIP) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def telling_findings(report: AuditReport, limit: int = SHOWN_FINDINGS) -> list[Finding]:
    """Up to `limit` findings, taking the kinds in TELLING_ORDER in turn, each in page order,
    one per sentence (a sentence with three findings would fill the list alone)."""
    shown: set[str | None] = set()
    queues = {kind: [f for f in report.findings if f.kind == kind] for kind in TELLING_ORDER}
    chosen: list[Finding] = []
    while len(chosen) < limit and any(queues.values()):
        for kind in TELLING_ORDER:
            queue = queues[kind]
            while queue and queue[0].sentence is not None and queue[0].sentence in shown:
                queue.pop(0)
            if queue and len(chosen) < limit:
                finding = queue.pop(0)
                shown.add(finding.sentence)
                chosen.append(finding)
    return chosen


def audit_lines(report: AuditReport, headings: Mapping[str, str]) -> list[str]:
    counts = report.counts()
    lines = [f"{report.sentences} sentences: {counts['uncited']} uncited, {counts['unresolved']} "
             f"unresolved markers, {counts['suspect_citation']} suspect citations, "
             f"{counts['uncited_reference']} references never cited; the most telling:"]
    for finding in telling_findings(report):
        where = headings.get(finding.section_id or "", "References")
        quoted = f" “{clip(finding.sentence, 80)}”" if finding.sentence else ""
        lines.append(f"  {finding.kind} · {where}{quoted}: {clip(finding.detail, 90)}")
    lines.append(f"  (all {len(report.findings)}: absorb audit {report.topic})")
    return lines


def _accepted(proposal: Proposal) -> list[tuple[str, Sentence, Verdict]]:
    rows = []
    for edit in proposal.edits:
        fresh = [s for s in edit.new_sentences() if s not in edit.old_sentences]
        rows.extend((edit.heading, s, v) for s, v in zip(fresh, edit.verdicts))
    return rows


def proposal_lines(proposal: Proposal, sources: Mapping[str, Source],
                   outcome: str = "") -> list[str]:
    """Accepted sentences with their verified quotes, held-back ones with the reason, and
    sections whose call failed."""
    accepted = _accepted(proposal)
    held = [(e.heading, d) for e in proposal.edits for d in e.dropped]
    failed = _FAILED_SECTION.findall(outcome)
    lines = [f"accepted ({len(accepted)}): each is a source's own sentence, its quote found "
             "in that source by code"]
    for heading, sentence, verdict in accepted:
        lines.append(f"  + {heading}: “{clip(sentence.text)}”")
        for quote in verdict.quotes[:1]:
            title = sources[quote.source_id].title if quote.source_id in sources else quote.source_id
            lines.append(f"      quote [{verdict.label.value}/{verdict.stage}] from “{clip(title, 60)}”, "
                         f"characters {quote.start}-{quote.end}: “{clip(quote.text, 90)}”")
    if not held and not failed:
        lines.append("held back: nothing (every chosen sentence was found in its source)")
        return lines
    lines.append(f"held back ({len(held)} sentences, {len(failed)} sections): they never reach "
                 "the article")
    for heading, dropped in held:
        verdict = dropped.verdict
        lines.append(f"  - {heading}: “{clip(dropped.sentence.text, 90)}” "
                     f"[{verdict.label.value}/{verdict.stage}] {clip(verdict.reason, 90)}")
    for heading, category in failed:
        lines.append(f"  - section {heading}: {REASONS.get(category, category)}")
    return lines


def counts(proposal: Proposal | None, outcome: str = "") -> tuple[int, int, int]:
    """Accepted sentences, held-back sentences, failed sections."""
    failed = len(_FAILED_SECTION.findall(outcome))
    if proposal is None:
        return 0, 0, failed
    return len(_accepted(proposal)), sum(len(e.dropped) for e in proposal.edits), failed
