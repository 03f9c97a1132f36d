"""What readers produce (SourceItem) and what an import reports back (ImportReport)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class SourceItem:
    """One raw, untrusted source as a reader found it, before normalisation."""

    title: str = ""
    text: str = ""
    url: str | None = None
    kind: str = "web"
    author: str | None = None
    published_at: str | None = None
    is_html: bool = False  # text (and title) may carry markup that must be reduced to text
    origin: str | None = None  # the file or URL it came from, kept on the stored row


@dataclass
class Skipped:
    """An input (file, URL, line) left out of the batch, or kept with a warning, and why."""

    input: str
    reason: str


@dataclass
class ImportReport:
    """Counts of one import; `skipped` makes the command exit non-zero."""

    added: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    unchanged: int = 0
    inputs: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[Skipped] = field(default_factory=list)

    def merge(self, other: ImportReport) -> ImportReport:
        self.added += other.added
        self.duplicates += other.duplicates
        self.unchanged += other.unchanged
        self.inputs += other.inputs
        self.skipped += other.skipped
        self.warnings += other.warnings
        return self

    @property
    def ok(self) -> bool:
        return not self.skipped

    def summary(self) -> str:
        return (f"{len(self.added)} new, {len(self.duplicates)} duplicates, "
                f"{self.unchanged} already known, {len(self.skipped)} skipped "
                f"(from {self.inputs} input{'s' if self.inputs != 1 else ''})")

    def to_json(self) -> dict:
        return {"added": len(self.added), "duplicates": len(self.duplicates),
                "unchanged": self.unchanged, "inputs": self.inputs,
                "skipped": [asdict(s) for s in self.skipped],
                "warnings": [asdict(w) for w in self.warnings],
                "added_ids": self.added, "duplicate_ids": self.duplicates}
