"""How `absorb review show` and `absorb propose` print a proposal: per edit the verdict
summary, who decided it, a sentence-aligned diff (`-` old, `+` new, word marks inside),
each new sentence's verdict in words with its quote, what is no longer stated, what was held back."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

_LABEL_STYLE = {"supported": "green", "partially": "yellow", "unsupported": "red",
                "contradicted": "red", "uncited": "red"}


def _elide(text: str, keep: int = 60) -> str:
    """Long unchanged sentences shrink to their ends, so the change stays in view."""
    if len(text) <= 2 * keep + 5:
        return text
    return f"{text[:keep]} … {text[-keep:]}"


def _words(chunks, plain: bool, side: str) -> Text:
    from agent.diff import printable

    out = Text()
    for chunk in chunks:
        text = printable(chunk.text)
        if chunk.op == "equal":
            out.append(text)
        elif plain:
            out.append(f"[-{text}-]" if chunk.op == "delete" else f"{{+{text}+}}")
        else:
            out.append(text, style="red strike" if side == "old" else "green underline")
    return out


def _print_card(card, numbering: dict, out: Console, plain: bool) -> None:
    from agent.diff import printable
    from agent.markdown import render_sentence
    from agent.review_view import editor_name

    e = card.edit
    head = Text(f"\nedit {card.number} · ", style="bold")
    head.append(printable(e.heading), style="bold")
    head.append(f" · {e.status.value}" + (" · new section" if e.new_section else "")
                + (" · the lead, from the article's own sentences" if e.kind == "lead" else ""))
    head.append(f" · {card.summary}")
    head.append(f" · {e.id}", style="dim")
    out.print(head)
    if card.noop:
        out.print(Text("  changes nothing: every drafted sentence was held back (no decision needed)",
                       style="dim"))
    if e.status.value == "pending" and not card.applies and not card.noop:
        out.print(Text("  ! the section changed since this was drafted: approving refuses it",
                       style="yellow"))
    if e.rationale:
        out.print(Text(printable(f"  why: {e.rationale}"), style="italic"))
    for decision in card.decisions:
        line = f"  {decision.action} by {editor_name(decision.actor)} at {decision.decided_at:%Y-%m-%d %H:%M}"
        out.print(Text(printable(line + (f": \u201c{decision.comment}\u201d" if decision.comment else "")),
                       style="bold"))
    for line in card.lines:
        row = line.row
        if row.kind in ("same", "moved"):
            out.print(Text(printable("    " + _elide(render_sentence(row.new, numbering))), style="dim"))
            continue
        if row.kind in ("changed", "removed"):
            old = Text("  - ")
            old.append_text(_words(row.old_words, plain, "old"))
            if row.kind == "removed":
                old.append("  (no longer stated)", style="yellow")
            out.print(old)
        if row.kind in ("changed", "added"):
            new = Text("  + ")
            new.append_text(_words(row.new_words, plain, "new"))
            markers = "".join(f" [{numbering[k]}]" if k in numbering else f" [{k}]"
                              for k in row.new.citations)
            new.append(markers)
            out.print(new)
            tag = f"    [{card.number}.{row.number} {line.label}"
            tag += "" if line.taken is None else (", taken" if line.taken else ", left out")
            verdict = Text(tag + "] ", style=_LABEL_STYLE.get(row.verdict.label.value if row.verdict
                                                               else "", "dim"))
            verdict.append(printable(line.reason if line.label != "verified" else f"checked by {line.check}"))
            out.print(verdict)
            for quote in line.quotes:
                out.print(Text(printable(f"      quote [{quote.number or '?'}]: \"{quote.text}\""),
                               style="cyan"))
            if line.label != "verified":
                out.print(Text(printable(f"      detail: {line.technical}"), style="dim"))
    if card.removed:
        out.print(Text(f"  no longer stated ({len(card.removed)}): "
                       + printable(" | ".join(s.text for s in card.removed)), style="yellow"))
    if card.held:
        out.print(Text("  held back by the gate (not part of the edit):", style="bold"))
    for item in card.held:
        out.print(Text(printable(f"    - {render_sentence(item.sentence, numbering)}")))
        out.print(Text(printable(f"      {item.reason} (detail: {item.technical})"), style="dim"))
    if card.sources:
        out.print(Text("  sources:", style="bold"))
    for number, ref in card.sources:
        fields = [ref.title or ref.url or ref.id, ref.kind, *([ref.published_at] if ref.published_at else []),
                  *([ref.url] if ref.url and ref.url != ref.title else [])]
        out.print(Text(printable(f"   [{number}] " + " · ".join(fields))))


def print_page(page, out: Console) -> None:
    from agent.diff import printable
    from agent.review_view import editor_name

    plain = out.color_system is None
    p = page.proposal
    out.print(Text(printable(f"proposal {p.id} · {p.topic} · {p.status.value} · by {editor_name(p.actor)} · "
                             f"base revision {page.base_number}, current {page.current_number} · "
                             f"{page.decided_count} of {len(page.to_decide)} edits decided"), style="bold"))
    if p.comment:
        out.print(Text(printable(f"comment: {p.comment}")))
    for card in page.cards:
        _print_card(card, page.numbering, out, plain)
    if any(c.unverified for c in page.cards if c.edit.status.value == "pending"):
        out.print(Text("\napprove takes verified sentences only; add unverified ones with "
                       "--include EDIT.SENTENCE or --include-unverified", style="dim"))


