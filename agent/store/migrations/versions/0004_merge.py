"""Join the schema branches made in parallel in one round (nights, page, races, security, web)
into one head, so the next migration has a single parent.

revision = "0004_merge"
"""

revision = "0004_merge"
down_revision = ("0003_nights", "0002_page", "0002_races", "0002_security", "0002_web")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: the branches' own migrations did the work."""


def downgrade() -> None:
    """Nothing to undo here; each branch's migration undoes its own tables."""
