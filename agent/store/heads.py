"""The migration tree's heads, read without Alembic or SQLAlchemy: how a command tells that a
store is at the schema's head before it decides how to open it."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

MIGRATIONS = Path(__file__).with_name("migrations")


@cache
def scanned_heads() -> frozenset[str]:
    """The heads read from the migration files' `revision`/`down_revision` lines, without
    importing Alembic (about 0.1 s of every command's start-up). Only a shortcut: when the
    store's versions differ from these, Alembic itself decides what to run."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("[0-9]*.py"):
        values: dict[str, object] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id in ("revision", "down_revision")):
                values[node.targets[0].id] = ast.literal_eval(node.value)
        revision, down = values.get("revision"), values.get("down_revision")
        if isinstance(revision, str):
            revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(d) for d in down)
    return frozenset(revisions - parents)
