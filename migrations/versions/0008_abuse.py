"""web chat rate limits, paging caps, time-limited blocks

Placeholder: filled in by the change that needs it (kept so revision numbers stay in order).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""
from alembic import op  # noqa: F401

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
