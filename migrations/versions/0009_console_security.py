"""console sign-in: atomic lock-out, TOTP second factor

Placeholder: filled in by the change that needs it (kept so revision numbers stay in order).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""
from alembic import op  # noqa: F401

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
