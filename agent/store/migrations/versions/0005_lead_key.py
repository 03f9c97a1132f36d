"""Each revision's lead key (agent.store.rows.lead_key), so a refresh finds the revision that
last wrote the lead with one query instead of parsing every revision of the topic: with 300
revisions of the seed article that search cost 258 ms of CPU per refresh, and it grew with
every night's merge.

revision = "0005_lead_key"
"""

import json

import sqlalchemy as sa
from alembic import op

from agent.store.rows import lead_key

revision = "0005_lead_key"
down_revision = "0004_merge"
branch_labels = None
depends_on = None

BATCH = 200


def upgrade() -> None:
    bind = op.get_bind()
    # 0001 builds its tables from schema.py as it is now, so on a new store it may exist.
    present = {c["name"] for c in sa.inspect(bind).get_columns("revisions")}
    if "lead_sha" not in present:
        with op.batch_alter_table("revisions") as batch:
            batch.add_column(sa.Column("lead_sha", sa.String(64), nullable=True))
    if "ix_revisions_lead" not in {i["name"] for i in sa.inspect(bind).get_indexes("revisions")}:
        op.create_index("ix_revisions_lead", "revisions", ["topic", "number", "lead_sha"])
    table = sa.table("revisions", sa.column("id", sa.Integer), sa.column("article", sa.JSON),
                     sa.column("lead_sha", sa.String(64)))
    last = 0
    while True:  # in batches by id: a long-lived store holds thousands of revisions
        rows = bind.execute(sa.select(table.c.id, table.c.article)
                            .where(table.c.lead_sha.is_(None), table.c.id > last)
                            .order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            break
        for row in rows:
            article = row.article if isinstance(row.article, dict) else json.loads(row.article)
            bind.execute(sa.update(table).where(table.c.id == row.id)
                         .values(lead_sha=lead_key(article)))
        last = rows[-1].id


def downgrade() -> None:
    op.drop_index("ix_revisions_lead", table_name="revisions")
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of the table would have to drop
    # it, which its foreign keys refuse.
    op.drop_column("revisions", "lead_sha")
