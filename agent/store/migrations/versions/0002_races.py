"""Races (issue 14): who decided each edit and when, so a late opposite decision can say so.

revision = "0002_races"
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_races"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # 0001 builds its tables from schema.py as it is now, so on a new store they may exist.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("edits")}
    with op.batch_alter_table("edits") as batch:
        if "decided_by" not in present:
            batch.add_column(sa.Column("decided_by", sa.String(200), nullable=True))
        if "decided_at" not in present:
            batch.add_column(sa.Column("decided_at", TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("edits") as batch:
        batch.drop_column("decided_at")
        batch.drop_column("decided_by")
