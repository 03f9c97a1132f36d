"""Nights (issue 13): what each refresh run worked on, for the night budget's estimate.

revision = "0003_nights"
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_nights"
down_revision = "0002_nights"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0001 builds its tables from schema.py as it is now, so on a new store it may exist.
    if "run_work" not in set(sa.inspect(op.get_bind()).get_table_names()):
        op.create_table(
            "run_work",
            sa.Column("run_id", sa.Integer, primary_key=True),
            sa.Column("topic", sa.String(200), nullable=False),
            sa.Column("triaged_sources", sa.Integer, nullable=False),
            sa.Column("drafted_sections", sa.Integer, nullable=False),
            sa.Column("judged_claims", sa.Integer, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("run_work")
