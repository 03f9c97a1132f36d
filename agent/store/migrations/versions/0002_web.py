"""Web review (issue 16): per-edit decisions with who, when, comment and the sentences taken;
merged sentences that no check verified, marked in the article until one does.

revision = "0002_web"
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_web"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # 0001 builds its tables from schema.py as it is now, so on a new store they may exist.
    present = set(sa.inspect(op.get_bind()).get_table_names())
    if "edit_decisions" not in present:
        op.create_table(
            "edit_decisions",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("edit_id", sa.String(80), nullable=False),
            sa.Column("proposal_id", sa.Integer, nullable=False),
            sa.Column("action", sa.String(20), nullable=False),
            sa.Column("actor", sa.String(200), nullable=False),
            sa.Column("comment", sa.Text, nullable=False, server_default=""),
            sa.Column("sentences", sa.JSON, nullable=True),
            sa.Column("original", sa.JSON, nullable=True),
            sa.Column("decided_at", TS, nullable=False),
        )
        op.create_index("ix_edit_decisions_edit_id", "edit_decisions", ["edit_id"])
        op.create_index("ix_edit_decisions_proposal_id", "edit_decisions", ["proposal_id"])
    if "unverified_sentences" not in present:
        op.create_table(
            "unverified_sentences",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("topic", sa.String(200), nullable=False),
            sa.Column("key", sa.String(64), nullable=False),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("label", sa.String(20), nullable=False),
            sa.Column("edit_id", sa.String(80), nullable=False),
            sa.Column("proposal_id", sa.Integer, nullable=False),
            sa.Column("actor", sa.String(200), nullable=False),
            sa.Column("created_at", TS, nullable=False),
            sa.Column("cleared_at", TS, nullable=True),
            sa.Column("cleared_by", sa.String(200), nullable=True),
        )
        op.create_index("ix_unverified_sentences_topic", "unverified_sentences", ["topic"])


def downgrade() -> None:
    op.drop_table("unverified_sentences")
    op.drop_table("edit_decisions")
