"""Proposals and their edits: created by runs or editors, decided per edit by editors."""

from __future__ import annotations

import sqlalchemy as sa

from agent.models import Edit, EditStatus, Proposal, ProposalStatus, utcnow
from agent.store.errors import NotFound
from agent.store.schema import applied_edits, edits, proposals


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
                proposal_id = conn.execute(sa.insert(proposals).values(
                    topic=topic, run_id=run_id, base_revision_id=base_revision_id,
                    status=ProposalStatus.pending.value, comment=comment, actor=actor,
                    created_at=utcnow()).returning(proposals.c.id)).scalar_one()
                for position, edit in enumerate(edits_):
                    conn.execute(sa.insert(edits).values(
                        id=edit.id, proposal_id=proposal_id, position=position,
                        section_id=edit.section_id, status=edit.status.value,
                        payload=edit.model_dump(mode="json")))
        except sa.exc.IntegrityError:
            existing = self.for_run(run_id) if run_id is not None else None
            if existing is None:
                raise
            return existing
        return self.get(proposal_id)

    def _load(self, conn: sa.Connection, row: sa.Row) -> Proposal:
        edit_rows = conn.execute(sa.select(edits).where(edits.c.proposal_id == row.id)
                                 .order_by(edits.c.position))
        loaded = []
        for e in edit_rows:
            edit = Edit.model_validate(e.payload)
            edit.status = EditStatus(e.status)
            loaded.append(edit)
        return Proposal(id=row.id, topic=row.topic, run_id=row.run_id,
                        base_revision_id=row.base_revision_id, status=ProposalStatus(row.status),
                        edits=loaded, comment=row.comment, actor=row.actor,
                        created_at=row.created_at, merged_revision_id=row.merged_revision_id)

    def get(self, proposal_id: int) -> Proposal:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(proposals).where(proposals.c.id == proposal_id)).one_or_none()
            if row is None:
                raise NotFound(f"no proposal {proposal_id} (see `absorb review list`)")
            return self._load(conn, row)

    def for_run(self, run_id: int) -> Proposal | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(proposals).where(proposals.c.run_id == run_id)).one_or_none()
            return None if row is None else self._load(conn, row)

    def list(self, *, status: str | None = None, topic: str | None = None) -> list[Proposal]:
        query = sa.select(proposals).order_by(proposals.c.id)
        if status:
            query = query.where(proposals.c.status == status)
        if topic:
            query = query.where(proposals.c.topic == topic)
        with self.engine.connect() as conn:
            return [self._load(conn, row) for row in conn.execute(query).all()]

    def set_edit_status(self, edit_ids: list[str], status: EditStatus) -> None:
        if not edit_ids:
            return
        with self.engine.begin() as conn:
            conn.execute(sa.update(edits).where(edits.c.id.in_(edit_ids)).values(status=status.value))

    def set_status(self, proposal_id: int, status: ProposalStatus, *, comment: str | None = None,
                   merged_revision_id: int | None = None) -> None:
        values: dict = {"status": status.value, "decided_at": utcnow()}
        if comment is not None:
            values["comment"] = comment
        if merged_revision_id is not None:
            values["merged_revision_id"] = merged_revision_id
        with self.engine.begin() as conn:
            conn.execute(sa.update(proposals).where(proposals.c.id == proposal_id).values(**values))

    def mark(self, proposal_id: int, status: ProposalStatus) -> None:
        """Move the status without recording a decision (stale, or approved before merging)."""
        with self.engine.begin() as conn:
            conn.execute(sa.update(proposals).where(proposals.c.id == proposal_id)
                         .values(status=status.value))

    def revision_ids(self, proposal_id: int) -> set[int]:
        """Revisions that merged edits of this proposal."""
        query = (sa.select(applied_edits.c.revision_id).distinct()
                 .join(edits, edits.c.id == applied_edits.c.edit_id)
                 .where(edits.c.proposal_id == proposal_id))
        with self.engine.connect() as conn:
            return {row.revision_id for row in conn.execute(query)}
