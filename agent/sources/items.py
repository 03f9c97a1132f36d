"""What readers produce (SourceItem) and what an import reports back (ImportReport)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import PurePath


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
    declared_url: str | None = None  # a canonical URL the page claims for itself: a hint only


@dataclass
class Skipped:
    """An input (file, URL, line) left out of the batch, or kept with a warning, and why."""

    input: str
    reason: str


@dataclass
class Malformed(Skipped):
    """A record (a JSONL line) that could not be read; the rest of its input still counts."""


@dataclass
class NoText(Skipped):
    """A record or item left out because it had no text: it could support nothing."""


@dataclass
class ImportReport:
    """Counts of one import; a skipped input or a malformed record makes the command exit
    non-zero. Records are lines of JSONL or items of a feed; inputs are files and URLs."""

    added: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    unchanged: int = 0
    inputs: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[Skipped] = field(default_factory=list)
    malformed: list[Skipped] = field(default_factory=list)  # e.g. "file.jsonl:3", not JSON
    no_text: int = 0  # items left out because they had no text (each also a warning)
    seen_ids: list[str] = field(default_factory=list)  # every source this import touched

    def merge(self, other: ImportReport) -> ImportReport:
        self.added += other.added
        self.duplicates += other.duplicates
        self.unchanged += other.unchanged
        self.inputs += other.inputs
        self.skipped += other.skipped
        self.warnings += other.warnings
        self.malformed += other.malformed
        self.no_text += other.no_text
        self.seen_ids += other.seen_ids
        return self

    @property
    def ok(self) -> bool:
        return not self.skipped and not self.malformed

    def summary(self) -> str:
        records = ""
        if self.malformed or self.no_text:
            where = ", ".join(PurePath(s.input).name for s in self.malformed[:10])
            more = ", ..." if len(self.malformed) > 10 else ""
            parts = ([f"{len(self.malformed)} malformed ({where}{more})"] if self.malformed else []) \
                + ([f"{self.no_text} without text"] if self.no_text else [])
            records = f"{len(self.malformed) + self.no_text} records skipped: {', '.join(parts)}; "
        return (f"{len(self.added)} new, {len(self.duplicates)} duplicates, "
                f"{self.unchanged} already known, {records}{len(self.skipped)} skipped "
                f"(from {self.inputs} input{'s' if self.inputs != 1 else ''})")

    def to_json(self) -> dict:
        return {"added": len(self.added), "duplicates": len(self.duplicates),
                "unchanged": self.unchanged, "inputs": self.inputs,
                "skipped": [asdict(s) for s in self.skipped],
                "warnings": [asdict(w) for w in self.warnings],
                "malformed": [asdict(m) for m in self.malformed], "no_text": self.no_text,
                "added_ids": self.added, "duplicate_ids": self.duplicates}
