"""The citation gate's verdict cache in the store's database, shared by runs and workers."""

from __future__ import annotations

from contextlib import suppress

import sqlalchemy as sa

from agent.models import Verdict, utcnow
from agent.store.schema import verdict_cache


# Built once, values bound per call: a statement built per lookup cost more CPU than the
# lookup itself (SQLAlchemy builds and keys each new statement), and a run makes two per
# section it checks.
_GET = sa.select(verdict_cache.c.verdict).where(verdict_cache.c.key == sa.bindparam("key"))
_PUT = sa.insert(verdict_cache)


class StoreVerdictCache:
    """Implements agent.citations.VerdictCache; a verdict written twice keeps the first."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def get(self, key: str) -> Verdict | None:
        with self.engine.connect() as conn:
            row = conn.execute(_GET, {"key": key}).scalar_one_or_none()
        return None if row is None else Verdict.model_validate(row)

    def put(self, key: str, verdict: Verdict) -> None:
        # A concurrent run may have cached the same verdict first: either copy is right.
        with suppress(sa.exc.IntegrityError), self.engine.begin() as conn:
            conn.execute(_PUT, {"key": key, "verdict": verdict.model_dump(mode="json"),
                                "created_at": utcnow()})
