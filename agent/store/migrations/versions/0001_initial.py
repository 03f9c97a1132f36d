"""Initial schema: topics, revisions, sources, feeds, runs, LLM calls, proposals, edits.

revision = "0001_initial"
"""

from alembic import op

from agent.store.schema import metadata

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The first migration builds the tables from their definitions; every later change to
    # schema.py needs its own migration with explicit operations (tests/test_store.py checks
    # that the migrated database matches schema.py).
    metadata.create_all(bind=op.get_bind())


def downgrade() -> None:
    metadata.drop_all(bind=op.get_bind())
