"""Proposals and their edits: created by runs or editors, decided per edit by editors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from agent.models import Edit, EditStatus, Proposal, ProposalStatus, utcnow
from agent.store.errors import NotFound
from agent.store.rows import proposal_of, status_of
from agent.store.schema import applied_edits, edits, proposals, revisions

PENDING = EditStatus.pending.value


@dataclass(frozen=True)
class EditDecision:
    """How an edit was decided: by whom, when, and the revision that applied it (if merged)."""

    status: EditStatus
    by: str | None = None
    at: datetime | None = None
    revision_id: int | None = None
    revision_number: int | None = None


def swap_edit_status(conn: sa.Connection, edit_ids: list[str], to: EditStatus, *, by: str,
                     at: datetime, expect: str = PENDING) -> list[str]:
    """Compare-and-swap: move only the edits still at `expect`; returns the ids that moved.

    On PostgreSQL a concurrent writer of the same rows waits for this transaction and then
    re-checks the condition, so of two racing decisions exactly one moves each edit."""
    if not edit_ids:
        return []
    moved = conn.execute(sa.update(edits).where(edits.c.id.in_(edit_ids), edits.c.status == expect)
                         .values(status=to.value, decided_by=by, decided_at=at)
                         .returning(edits.c.id))
    return [row.id for row in moved]


def settle_proposal(conn: sa.Connection, proposal_id: int, *, comment: str | None = None,
                    merged_revision_id: int | None = None) -> ProposalStatus:
    """Recompute the proposal's status from its edit rows, in the caller's transaction."""
    rows = conn.execute(sa.select(edits.c.status).where(edits.c.proposal_id == proposal_id)).all()
    status = status_of([EditStatus(r.status) for r in rows])
    values: dict = {"status": status.value}
    if status != ProposalStatus.pending:
        values["decided_at"] = utcnow()
    if comment:
        values["comment"] = comment
    if merged_revision_id is not None:
        values["merged_revision_id"] = merged_revision_id
    conn.execute(sa.update(proposals).where(proposals.c.id == proposal_id).values(**values))
    return status


class ProposalRepo:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def create(self, topic: str, *, run_id: int | None, base_revision_id: int | None,
               edits_: list[Edit], actor: str, comment: str = "") -> Proposal:
        """One proposal per run: a resumed run that creates it again gets the first one back."""
        if run_id is not None:
            existing = self.for_run(run_id)
            if existing is not None:
                return existing
        try:
            with self.engine.begin() as conn:
                row = conn.execute(sa.insert(proposals).values(
                    topic=topic, run_id=run_id, base_revision_id=base_revision_id,
                    status=ProposalStatus.pending.value, comment=comment, actor=actor,
                    created_at=utcnow()).returning(*proposals.c)).one()
                if edits_:  # one statement for all the edits
                    conn.execute(sa.insert(edits), [
                        {"id": edit.id, "proposal_id": row.id, "position": position,
                         "section_id": edit.section_id, "status": edit.status.value,
                         "payload": edit.model_dump(mode="json")}
                        for position, edit in enumerate(edits_)])
                # Read back in the same transaction: what `get` would return, one round fewer.
                created = self._load(conn, row)
        except sa.exc.IntegrityError:
            existing = self.for_run(run_id) if run_id is not None else None
            if existing is None:
                raise
            return existing
        return created

    def _load(self, conn: sa.Connection, row: sa.Row, unrecorded: list | None = None) -> Proposal:
        edit_rows = conn.execute(
            sa.select(edits, applied_edits.c.revision_id)
            .join(applied_edits, applied_edits.c.edit_id == edits.c.id, isouter=True)
            .where(edits.c.proposal_id == row.id).order_by(edits.c.position))
        proposal, repair = proposal_of(row, edit_rows)
        if repair and unrecorded is not None:
            unrecorded.append((row.id, repair))
        return proposal

    def _repair(self, unrecorded: list[tuple[int, list[str]]]) -> None:
        """Write what a read found (after its connection closed: SQLite has one writer)."""
        for proposal_id, edit_ids in unrecorded:
            with self.engine.begin() as conn:
                conn.execute(sa.update(edits).where(edits.c.id.in_(edit_ids),
                                                    edits.c.status != EditStatus.merged.value)
                             .values(status=EditStatus.merged.value))
                settle_proposal(conn, proposal_id)

    def decisions(self, proposal_id: int) -> dict[str, EditDecision]:
        """Every edit's decision: status, who, when, and the revision that applied it."""
        query = (sa.select(edits.c.id, edits.c.status, edits.c.decided_by, edits.c.decided_at,
                           applied_edits.c.revision_id, revisions.c.number)
                 .join(applied_edits, applied_edits.c.edit_id == edits.c.id, isouter=True)
                 .join(revisions, revisions.c.id == applied_edits.c.revision_id, isouter=True)
                 .where(edits.c.proposal_id == proposal_id))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {r.id: EditDecision(EditStatus.merged if r.revision_id else EditStatus(r.status),
                                   r.decided_by, r.decided_at, r.revision_id, r.number)
                for r in rows}

    def get(self, proposal_id: int) -> Proposal:
        unrecorded: list = []
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(proposals).where(proposals.c.id == proposal_id)).one_or_none()
            if row is None:
                raise NotFound(f"no proposal {proposal_id} (see `absorb review list`)")
            found = self._load(conn, row, unrecorded)
        self._repair(unrecorded)
        return found

    def for_run(self, run_id: int) -> Proposal | None:
        unrecorded: list = []
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(proposals).where(proposals.c.run_id == run_id)).one_or_none()
            found = None if row is None else self._load(conn, row, unrecorded)
        self._repair(unrecorded)
        return found

    def any_decided(self, proposal_id: int) -> bool:
        """Whether an editor (or a merge) decided some edit of the proposal: its status is no
        longer pending, or a revision applied it (what `get` would repair to merged)."""
        query = (sa.select(edits.c.id)
                 .join(applied_edits, applied_edits.c.edit_id == edits.c.id, isouter=True)
                 .where(edits.c.proposal_id == proposal_id,
                        sa.or_(edits.c.status != EditStatus.pending.value,
                               applied_edits.c.revision_id.is_not(None)))
                 .limit(1))
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def first_with_merged_edit(self, topic: str, match: Callable[[dict], bool]) -> int | None:
        """The first of the topic's proposals (by id) with a merged edit whose stored payload
        (JSON, unparsed) `match` accepts; an edit a revision applied counts as merged, as
        `get`'s repair has it. Only the matching proposal need then be read whole."""
        query = (sa.select(edits.c.proposal_id, edits.c.payload)
                 .join(proposals, proposals.c.id == edits.c.proposal_id)
                 .join(applied_edits, applied_edits.c.edit_id == edits.c.id, isouter=True)
                 .where(proposals.c.topic == topic,
                        sa.or_(edits.c.status == EditStatus.merged.value,
                               applied_edits.c.revision_id.is_not(None)))
                 .order_by(edits.c.proposal_id, edits.c.position))
        with self.engine.connect() as conn:
            return next((row.proposal_id for row in conn.execute(query) if match(row.payload)), None)

    def bases_with_section(self, topic: str, section_id: str) -> list[int]:
        """The base revisions of the topic's proposals that hold an edit of `section_id` (the
        lead step asks for its own: a topic's every proposal is not read for that)."""
        query = (sa.select(proposals.c.base_revision_id).distinct()
                 .join(edits, edits.c.proposal_id == proposals.c.id)
                 .where(proposals.c.topic == topic, edits.c.section_id == section_id,
                        proposals.c.base_revision_id.is_not(None))
                 .order_by(proposals.c.base_revision_id))
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def list(self, *, status: str | None = None, topic: str | None = None,
             statuses: Sequence[str] | None = None) -> list[Proposal]:
        """`statuses`: only proposals stored with one of these (the open ones: a topic refreshed
        every night has thousands of decided proposals, and `review list` read them all)."""
        query = sa.select(proposals).order_by(proposals.c.id)
        if status:
            query = query.where(proposals.c.status == status)
        if statuses is not None:
            query = query.where(proposals.c.status.in_(list(statuses)))
        if topic:
            query = query.where(proposals.c.topic == topic)
        unrecorded: list = []
        with self.engine.connect() as conn:
            found = [self._load(conn, row, unrecorded) for row in conn.execute(query).all()]
        self._repair(unrecorded)
        return found

    def mark(self, proposal_id: int, status: ProposalStatus,
             only_from: tuple[ProposalStatus, ...] = ()) -> bool:
        """Move the status without recording a decision (stale, or pending again); with
        `only_from`, a compare-and-swap: a decision that landed meanwhile is not overwritten."""
        query = sa.update(proposals).where(proposals.c.id == proposal_id)
        if only_from:
            query = query.where(proposals.c.status.in_([s.value for s in only_from]))
        with self.engine.begin() as conn:
            return conn.execute(query.values(status=status.value)).rowcount == 1
