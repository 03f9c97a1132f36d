"""The judge prompt: loaded through the project's prompt loader when it exists, else by a
small loader with the same contract (a `version:` line, `$placeholders`, strict variables)."""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"


class Prompt(Protocol):
    version: str

    def render(self, **variables: Any) -> str: ...


@dataclass(frozen=True)
class _FilePrompt:
    """A prompt file: `version: X`, a `---` line, then a string.Template body."""

    name: str
    version: str
    template: str

    def render(self, **variables: Any) -> str:
        template = string.Template(self.template)
        expected = set(template.get_identifiers())
        given = set(variables)
        if expected != given:
            raise ValueError(f"prompt {self.name!r}: missing {sorted(expected - given)}, "
                             f"extra {sorted(given - expected)}")
        return template.substitute(variables)


def _load_file(name: str) -> _FilePrompt:
    raw = (PROMPTS_DIR / f"{name}.md").read_text(encoding="utf-8")
    header, separator, body = raw.partition("\n---\n")
    version = ""
    for line in header.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "version":
            version = value.strip()
    if not separator or not version:
        raise ValueError(f"prompt {name!r} needs a 'version:' line and a '---' separator")
    return _FilePrompt(name, version, body.lstrip("\n"))


@lru_cache(maxsize=8)
def load_judge_prompt(name: str = "judge") -> Prompt:
    """The shared loader when the project has one, so every prompt follows one contract."""
    try:
        from agent.prompting import load_prompt  # type: ignore[import-not-found]
    except ImportError:
        return _load_file(name)
    return load_prompt(name)
