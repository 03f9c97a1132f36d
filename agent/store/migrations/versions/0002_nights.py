"""Nights (issue 13): stable citation numbers per topic; why a source is undecided or held back.

revision = "0002_nights"
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_nights"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # 0001 builds its tables from schema.py as it is now, so on a new store they may exist.
    present = set(sa.inspect(op.get_bind()).get_table_names())
    if "citation_numbers" not in present:
        op.create_table(
            "citation_numbers",
            sa.Column("topic", sa.String(200), sa.ForeignKey("topics.slug"), primary_key=True),
            sa.Column("source_id", sa.String(40), primary_key=True),
            sa.Column("number", sa.Integer, nullable=False),
            sa.Column("created_at", TS, nullable=False),
            sa.UniqueConstraint("topic", "number", name="uq_citation_numbers_topic_number"),
        )
    if "source_notes" not in present:
        op.create_table(
            "source_notes",
            sa.Column("topic", sa.String(200), sa.ForeignKey("topics.slug"), primary_key=True),
            sa.Column("source_id", sa.String(40), primary_key=True),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("section_ids", sa.JSON, nullable=False),
            sa.Column("prompt_version", sa.String(80), nullable=False),
            sa.Column("model", sa.String(200), nullable=False, server_default=""),
            sa.Column("run_id", sa.Integer, nullable=True),
            sa.Column("detail", sa.JSON, nullable=False),
            sa.Column("updated_at", TS, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("source_notes")
    op.drop_table("citation_numbers")
