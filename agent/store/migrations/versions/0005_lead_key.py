"""Each revision's lead key (agent.store.rows.lead_key), so a refresh finds the revision that
last wrote the lead with one query instead of parsing every revision of the topic: with 300
revisions of the seed article that search cost 258 ms of CPU per refresh, and it grew with
every night's merge.

revision = "0005_lead_key"
"""

import json
import sys

import sqlalchemy as sa
from alembic import op

from agent.store.rows import lead_key

revision = "0005_lead_key"
down_revision = "0004_merge"
branch_labels = None
depends_on = None

BATCH = 500
NOTICE_FROM = 3000


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
    missing = bind.execute(sa.select(sa.func.count()).select_from(table)
                           .where(table.c.lead_sha.is_(None))).scalar_one()
    if missing >= NOTICE_FROM:  # about 3,000 revisions a second: say why the command waits
        print(f"absorb: upgrading the store once: the lead key of {missing} revisions ...",
              file=sys.stderr, flush=True)
    update = (sa.update(table).where(table.c.id == sa.bindparam("b_id"))
              .values(lead_sha=sa.bindparam("b_key")))
    last = 0
    while True:  # in batches by id: a long-lived store holds thousands of revisions
        rows = bind.execute(sa.select(table.c.id, table.c.article)
                            .where(table.c.lead_sha.is_(None), table.c.id > last)
                            .order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            break
        bind.execute(update, [{"b_id": row.id, "b_key": lead_key(
            row.article if isinstance(row.article, dict) else json.loads(row.article))}
            for row in rows])
        last = rows[-1].id


def downgrade() -> None:
    op.drop_index("ix_revisions_lead", table_name="revisions")
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of the table would have to drop
    # it, which its foreign keys refuse.
    op.drop_column("revisions", "lead_sha")
