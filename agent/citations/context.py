"""What the article around a claim already establishes: its title, its scope (lead or
section heading) and the sentences next to the claim. A name written there (the topic's
own subject, say) is not required of every source the claim cites; the judge still sees it
as a hint."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArticleContext:
    """Optional article context of the claims of one `CitationGate.check` call."""

    title: str = ""
    scope: str = ""
    neighbours: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "\n".join(part for part in (self.title, self.scope, *self.neighbours) if part)

    def key(self) -> str:
        """Part of the verdict cache key: the same claim in another article may differ."""
        return self.text
