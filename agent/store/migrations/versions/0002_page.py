"""Page (issue 19): the people and organisations each source names; an imported page's strip.

revision = "0002_page"
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_page"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # 0001 builds its tables from schema.py as it is now, so on a new store it may exist.
    if "source_mentions" not in set(sa.inspect(op.get_bind()).get_table_names()):
        op.create_table(
            "source_mentions",
            sa.Column("source_id", sa.String(40), primary_key=True),
            sa.Column("key", sa.String(200), primary_key=True),
            sa.Column("name", sa.String(200), nullable=False),
            sa.Column("origin", sa.String(20), nullable=False),
            sa.Column("created_at", TS, nullable=False),
        )
    if "page_strips" not in set(sa.inspect(op.get_bind()).get_table_names()):
        op.create_table(
            "page_strips",
            sa.Column("topic", sa.String(200), sa.ForeignKey("topics.slug"), primary_key=True),
            sa.Column("names", sa.JSON, nullable=False),
            sa.Column("created_at", TS, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("page_strips")
    op.drop_table("source_mentions")
