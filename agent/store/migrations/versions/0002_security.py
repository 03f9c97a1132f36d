"""Security (issue 15): sources a topic trusts, trusted feeds, a source's history, and the
canonical URL a page declared kept apart from the source's identity.

revision = "0002_security"
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_security"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _columns(inspector: sa.Inspector, table: str) -> set[str]:
    return {column["name"] for column in inspector.get_columns(table)}


def upgrade() -> None:
    # 0001 builds its tables from schema.py as it is now, so on a new store they may exist.
    inspector = sa.inspect(op.get_bind())
    present = set(inspector.get_table_names())
    if "declared_url" not in _columns(inspector, "sources"):
        with op.batch_alter_table("sources") as batch:
            batch.add_column(sa.Column("declared_url", sa.Text, nullable=True))
    if "trusted" not in _columns(inspector, "feeds"):
        with op.batch_alter_table("feeds") as batch:
            batch.add_column(sa.Column("trusted", sa.Boolean, nullable=False,
                                       server_default=sa.false()))
    if "trusted_sources" not in present:
        op.create_table(
            "trusted_sources",
            sa.Column("topic", sa.String(200), sa.ForeignKey("topics.slug"), primary_key=True),
            sa.Column("source_id", sa.String(40), sa.ForeignKey("sources.id"), primary_key=True),
            sa.Column("via", sa.String(200), nullable=False),
            sa.Column("created_at", TS, nullable=False),
        )
    if "source_history" not in present:
        op.create_table(
            "source_history",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("source_id", sa.String(40), sa.ForeignKey("sources.id"), nullable=False),
            sa.Column("action", sa.String(40), nullable=False),
            sa.Column("detail", sa.JSON, nullable=False),
            sa.Column("actor", sa.String(200), nullable=False),
            sa.Column("created_at", TS, nullable=False),
        )
        op.create_index("ix_source_history_source_id", "source_history", ["source_id"])


def downgrade() -> None:
    op.drop_table("source_history")
    op.drop_table("trusted_sources")
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("trusted")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("declared_url")
